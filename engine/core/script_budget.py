"""What a sandboxed script may spend: a time budget and a size budget (see :class:`Budget`).

**Time.** The sandbox's compile policy puts a check (``_tick_()``) at the top of every ``while`` body
and every function and lambda body, and the iterator guard (``_getiter_``) checks on every item of a
``for`` loop or comprehension: Python-level work that does not end goes through one of them. The check
compares ``time.monotonic()`` with the deadline of the script that is running (a context variable, so
threads and requests never see each other's deadline) and raises :class:`ScriptTimeout` past it. A
script that catches the error does not escape: every later check raises again, and a script that
swallowed it and ended is failed all the same. A check per loop turn, not ``sys.settrace``: an error
raised from a trace function switches tracing off for the thread, so ``try``/``except`` inside a loop
would outlive it; and the explicit check does not fight coverage tools and debuggers for the hook.

**Size.** One C-level operation (``9**9**9``, ``'a' * 10**10``, ``[0] * 10**10``, ``1 << 10**10``) cannot
be interrupted once it runs, so it is estimated before it runs and refused past the size budget with
:class:`ScriptTooLarge`: the policy turns ``*``, ``**``, ``<<``, ``+``, ``%`` (and ``*=`` ...) into
:meth:`Budget.binop`, and f-string format specs into :meth:`Budget.format`; ``pow`` and ``range`` are
checked versions, and so are the ``str``/``bytes`` methods that can build large results (``join``,
``ljust``, ``rjust``, ``center``, ``zfill``, ``expandtabs``, ``replace``).

**Memory.** A script can also grow in many small steps, each below the size budget (``x.append('a' *
10**6)`` in a loop, a comprehension of millions of items): at about a gigabyte a second, the time budget
alone would let it take the machine's memory. So the same deadline check also looks, at most every
millisecond, at how much the process's resident memory grew since the script started, and raises
:class:`ScriptMemoryExceeded` past the memory budget; a script that swallows it is failed all the same,
like a timeout. Resident memory is read from ``/proc/self/statm`` (Linux; elsewhere only the size
budget bounds memory) and is the process's: what other threads allocate meanwhile counts too, and memory
the process freed earlier but still holds is used first without counting. The budget is a ceiling on
how much a runaway can take from the machine (256 MB by default), not an account of what a script owns. Not
``resource.setrlimit``: a limit on the address space is per process, so it would also stop the web
server's other requests and the worker, and a ``MemoryError`` can surface anywhere.
"""

from __future__ import annotations

import ast
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = ["Budget", "BudgetExceeded", "ScriptMemoryExceeded", "ScriptTimeout", "ScriptTooLarge"]


class BudgetExceeded(Exception):
    """A script went past its budget; ``limit`` names the setting (``script_time_limit``...)."""

    def __init__(self, message: str, limit: str):
        super().__init__(message)
        self.limit = limit


class ScriptTimeout(BudgetExceeded):
    """A script ran past its time budget."""


class ScriptTooLarge(BudgetExceeded):
    """A single operation of a script would have built a value past the size budget."""


class ScriptMemoryExceeded(BudgetExceeded):
    """A script grew the process's memory past the memory budget."""


#: how often (seconds) the deadline check also reads the process's resident memory
MEMORY_CHECK_INTERVAL = 0.001
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


#: (pid, file descriptor) of the open ``/proc/self/statm`` (a forked child opens its own); False: none here
_statm: tuple[int, int] | bool | None = None


def resident_bytes() -> int | None:
    """The process's resident memory (``/proc/self/statm``, a few microseconds), or None where there is
    no such file."""
    global _statm
    held = _statm
    if held is False:
        return None
    try:
        if not isinstance(held, tuple) or held[0] != os.getpid():
            if isinstance(held, tuple):
                os.close(held[1])  # the parent's, inherited through a fork
            held = _statm = (os.getpid(), os.open("/proc/self/statm", os.O_RDONLY | os.O_CLOEXEC))
        return int(os.pread(held[1], 64, 0).split()[1]) * _PAGE
    except (OSError, AttributeError, IndexError, ValueError):  # no /proc (or no os.pread): not Linux
        _statm = False
        return None


class _Run:
    """The budget of the script running now: its deadline, the resident memory at its first look, when
    memory is looked at next, and the budget error it hit (raised again at every later check)."""

    __slots__ = ("budget", "deadline", "memory_base", "memory_check_at", "failed")

    def __init__(self, budget: Budget, started: float, deadline: float):
        self.budget = budget
        self.deadline = deadline
        #: the resident memory at the first look, a millisecond in: a condition that is done sooner (most
        #: are) costs no look at all, and what one millisecond can build is far below any budget
        self.memory_base: int | None = None
        self.memory_check_at = started + MEMORY_CHECK_INTERVAL if budget.max_memory_mb > 0 else float("inf")
        self.failed: BudgetExceeded | None = None


_RUN: ContextVar[_Run | None] = ContextVar("aimsflow_script_run", default=None)

_SEQUENCES = (str, bytes, bytearray, list, tuple)
# '%-10.5s', '%*d': the numbers (or stars) between a '%' and its conversion letter
_PERCENT_SPEC = re.compile(r"%[-+ #0]*(\d+|\*)?(?:\.(\d+|\*))?[a-zA-Z%]")
_DIGITS = re.compile(r"\d+")


@dataclass(frozen=True)
class Budget:
    """Limits for one script or expression run.

    ``seconds``: wall time one script, condition or expression may run (0: no limit).
    ``max_size``: the most items (characters, list elements) one operation may build.
    ``max_int_bits``: the largest integer one operation may build, in bits (1,000,000 bits is about
    301,000 decimal digits, and takes milliseconds to compute).
    ``max_memory_mb``: how many megabytes (MiB) the process's resident memory may grow while one run
    lasts (0: no limit; Linux only).
    """

    seconds: float = 5.0
    max_size: int = 10_000_000
    max_int_bits: int = 1_000_000
    max_memory_mb: int = 256

    # ----------------------------------------------------------------------------- time

    def start(self) -> Any:
        """Start the clock for one run; hand the token to :meth:`finish`."""
        now = time.monotonic()
        return _RUN.set(_Run(self, now, now + self.seconds if self.seconds > 0 else float("inf")))

    def finish(self, token: Any) -> None:
        """Stop the clock; raises the run's budget error if it hit its deadline or its memory budget (and
        swallowed the error), or ends past the memory budget."""
        run = _RUN.get()
        try:
            if run is not None and run.failed is None and run.memory_base is not None:
                self._check_memory(run)
        except BudgetExceeded:
            pass  # kept in run.failed
        finally:
            _RUN.reset(token)
        if run is not None and run.failed is not None:
            raise type(run.failed)(str(run.failed), run.failed.limit)

    def _timeout(self) -> ScriptTimeout:
        return ScriptTimeout(f"the script ran longer than its time budget of {self.seconds:g} s "
                             "(setting script_time_limit, AIMSFLOW_SCRIPT_TIME_LIMIT)", "script_time_limit")

    def _out_of_memory(self) -> ScriptMemoryExceeded:
        return ScriptMemoryExceeded(f"the script grew the memory past its memory budget of {self.max_memory_mb:,} "
                                    "MB (setting script_max_memory, AIMSFLOW_SCRIPT_MAX_MEMORY)",
                                    "script_max_memory")

    def _check_memory(self, run: _Run) -> None:
        """Take the run's first look at the resident memory, or compare with it."""
        now = resident_bytes()
        if now is None:
            run.memory_check_at = float("inf")  # nothing to read here: no more looks
        elif run.memory_base is None:
            run.memory_base = now
        elif now - run.memory_base > self.max_memory_mb * 2**20:
            run.failed = self._out_of_memory()
            raise run.failed

    def _too_large(self, what: str, size: int, unit: str = "items") -> ScriptTooLarge:
        limit, setting = (self.max_int_bits, "script_max_int_bits") if unit == "bits" else \
            (self.max_size, "script_max_size")
        return ScriptTooLarge(f"{what} would build about {size:,} {unit}, past the script size budget of "
                              f"{limit:,} {unit} (setting {setting}, AIMSFLOW_{setting.upper()})", setting)

    # ----------------------------------------------------------------------------- size

    def _check_items(self, what: str, size: int) -> None:
        if size > self.max_size:
            raise self._too_large(what, size)

    def _check_bits(self, what: str, bits: int) -> None:
        if bits > self.max_int_bits:
            raise self._too_large(what, bits, "bits")

    def mul(self, a: Any, b: Any) -> Any:
        if _is_int(a) and _is_int(b):
            self._check_bits("a * b", a.bit_length() + b.bit_length())
        elif isinstance(a, _SEQUENCES) and _is_int(b):
            self._check_items(f"{type(a).__name__} * {b}", len(a) * b)
        elif _is_int(a) and isinstance(b, _SEQUENCES):
            self._check_items(f"{a} * {type(b).__name__}", len(b) * a)
        return a * b

    def pow(self, a: Any, b: Any, mod: Any = None) -> Any:
        if mod is None and _is_int(a) and _is_int(b) and b > 0 and abs(a) > 1:
            self._check_bits(f"{a} ** {b}" if b < 10**12 else "a ** b", a.bit_length() * b)
        return pow(a, b, mod)

    def lshift(self, a: Any, b: Any) -> Any:
        if _is_int(a) and _is_int(b) and a != 0 and b > 0:
            self._check_bits("a << b", a.bit_length() + b)
        return a << b

    def add(self, a: Any, b: Any) -> Any:
        if isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES):
            self._check_items(f"{type(a).__name__} + {type(b).__name__}", len(a) + len(b))
        return a + b

    def mod(self, a: Any, b: Any) -> Any:
        if isinstance(a, str | bytes):  # printf-style formatting: '%10000000000s' % x
            fmt = a.decode("latin-1") if isinstance(a, bytes) else a
            stars = [v for v in (b if isinstance(b, tuple) else (b,)) if _is_int(v)]
            for match in _PERCENT_SPEC.finditer(fmt):
                for part in match.groups():
                    if part == "*":
                        self._check_items("a '%*' format", max(stars, default=0))
                    elif part:
                        self._check_items("a '%' format", int(part))
        return a % b

    def binop(self, op: str, a: Any, b: Any) -> Any:
        """``a op b`` for the operators the policy routes here, refused past the size budget."""
        return self.OPERATORS[op](self, a, b)

    OPERATORS: ClassVar[dict[str, Callable[[Budget, Any, Any], Any]]] = {
        "*": mul, "**": pow, "<<": lshift, "+": add, "%": mod,
    }

    def format(self, value: Any, conversion: int, spec: str) -> str:
        """An f-string field ``{value!conversion:spec}`` with the width and precision of ``spec`` checked."""
        for number in _DIGITS.findall(spec):
            self._check_items("an f-string format", int(number))
        if conversion == ord("r"):
            value = repr(value)
        elif conversion == ord("s"):
            value = str(value)
        elif conversion == ord("a"):
            value = ascii(value)
        return format(value, spec)

    def range(self, *args: Any) -> range:
        r = range(*args)
        try:
            size = len(r)
        except OverflowError:
            size = self.max_size + 1
        self._check_items(f"range{args}", size)
        return r

    def tick(self) -> None:
        """Raise ScriptTimeout when the running script is past its deadline, ScriptMemoryExceeded when it
        grew the memory past its budget (looked at no more than every MEMORY_CHECK_INTERVAL), and the
        error it hit again if it swallowed one."""
        run = _RUN.get()
        if run is None:
            return
        if run.failed is not None:
            raise type(run.failed)(str(run.failed), run.failed.limit)
        now = time.monotonic()
        if now > run.deadline:
            run.failed = run.budget._timeout()
            raise run.failed
        if now >= run.memory_check_at:
            run.memory_check_at = now + MEMORY_CHECK_INTERVAL
            run.budget._check_memory(run)

    def iterate(self, it: Iterable[Any]) -> Iterator[Any]:
        """``iter(it)`` that checks the deadline on every item (``for`` loops, comprehensions)."""
        tick = self.tick
        for item in it:
            tick()
            yield item

    def method(self, obj: Any, name: str, attr: Any) -> Any:
        """``obj.name`` (already looked up as ``attr``), checked if it can build a large string."""
        if not isinstance(obj, str | bytes) or name not in _SIZED_METHODS:
            return attr
        check = _SIZED_METHODS[name]

        def checked(*args: Any, **kwargs: Any) -> Any:
            size, args = check(obj, args)
            self._check_items(f"{type(obj).__name__}.{name}()", size)
            return attr(*args, **kwargs)

        return checked


def _is_int(value: Any) -> bool:
    return isinstance(value, int)


def _width(obj: Any, args: tuple[Any, ...]) -> tuple[int, tuple[Any, ...]]:
    width = args[0] if args and _is_int(args[0]) else 0
    return max(width, len(obj)), args


def _expandtabs(obj: Any, args: tuple[Any, ...]) -> tuple[int, tuple[Any, ...]]:
    tabsize = args[0] if args and _is_int(args[0]) else 8
    return len(obj) + obj.count("\t" if isinstance(obj, str) else b"\t") * max(tabsize, 0), args


def _join(obj: Any, args: tuple[Any, ...]) -> tuple[int, tuple[Any, ...]]:
    if not args:
        return 0, args
    items = list(args[0])
    size = sum(len(i) for i in items if isinstance(i, _SEQUENCES)) + len(obj) * max(len(items) - 1, 0)
    return size, (items, *args[1:])


def _replace(obj: Any, args: tuple[Any, ...]) -> tuple[int, tuple[Any, ...]]:
    if len(args) < 2 or not isinstance(args[0], str | bytes) or not isinstance(args[1], str | bytes):
        return 0, args
    old, new = args[0], args[1]
    count = obj.count(old) if old else len(obj) + 1
    if len(args) > 2 and _is_int(args[2]) and args[2] >= 0:
        count = min(count, args[2])
    return len(obj) + count * max(len(new) - len(old), 0), args


_SIZED_METHODS: dict[str, Callable[[Any, tuple[Any, ...]], tuple[int, tuple[Any, ...]]]] = {
    "ljust": _width, "rjust": _width, "center": _width, "zfill": _width, "expandtabs": _expandtabs,
    "join": _join, "replace": _replace,
}

#: the binary operators the compile policy routes through :meth:`Budget.binop`
CHECKED_OPERATORS: dict[type[ast.operator], str] = {
    ast.Mult: "*", ast.Pow: "**", ast.LShift: "<<", ast.Add: "+", ast.Mod: "%",
}
