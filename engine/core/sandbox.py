"""The restricted script engine: every script, pre/post script, condition and expression runs here.

Script tasks, ``preScript``/``postScript``, gateway conditions, timer expressions, service-task
parameters and multi-instance expressions are compiled with RestrictedPython (AST rewriting) and run
with guards:

* no ``import`` / ``from ... import`` (refused when compiling, so the deploy lint catches it);
* no name or attribute that starts with ``_`` (``__class__``, ``_private``), no frame/generator
  introspection attributes (``gi_frame``, ``f_globals``, ...), no ``str.format`` (use f-strings);
  ``getattr`` is the same guard;
* no ``eval``/``exec``/``compile``/``open``/``globals``/``vars``/``type``/``__import__``; builtins are
  RestrictedPython's ``safe_builtins`` plus a short allow-list (``sum``, ``sorted``, ``map``, ...);
* item assignment only on ``dict`` and ``list``; no class definitions;
* two pure helpers, :func:`add_duration` and :func:`parse_date`. There is deliberately no
  ``now()``/``today()``: scripts never read the wall clock, so a re-run gives the same result.

Data semantics of a script (``exec``): it runs on a deep copy of the task data; names it binds to
plain data land in the task data, ``del x`` removes ``x``, and functions, lambdas and other
callables it defines are dropped (``def level(score): ...`` works inside the script only). Binding a
name to something that is not plain data (a generator, a ``map`` object) is an error naming the
variable. A script that fails leaves the task data untouched. Augmented assignment (``n += 1``,
``counts["x"] += 1``) builds a new value instead of mutating the old one in place.

Helpers and allowed builtins are *builtins*: a task-data key with the same name (``type``,
``parse_date``) simply shadows it for that script, exactly as a Python global shadows a builtin.

Budgets (:mod:`engine.core.script_budget`): every run has a time budget (a script that loops past it
stops with ScriptTimeout), a size budget (``9**9**9``, ``'a' * 10**10``, ``[0] * 10**10``, ``1 << 10**10``,
``range(10**12)`` are refused with ScriptTooLarge before they run) and a memory budget (a script that grows
the memory in small steps stops with ScriptMemoryExceeded). The policy routes ``*``, ``**``, ``<<``,
``+``, ``%`` and f-string format specs through the budget's checked helpers and puts a deadline check
(which also watches the memory) into every loop and function body.
"""

from __future__ import annotations

import ast
import copy
import functools
import json
import operator
import re
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from types import ModuleType
from typing import Any
from uuid import UUID

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.compile import CompileResult
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import (
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safe_builtins,
    safer_getattr,
)
from RestrictedPython.PrintCollector import PrintCollector
from RestrictedPython.transformer import IOPERATOR_TO_STR, RestrictingNodeTransformer, copy_locations
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.exceptions import SpiffWorkflowException

from engine.core import durations
from engine.core.script_budget import CHECKED_OPERATORS, Budget

__all__ = [
    "Budget", "RestrictedEnvironment", "SandboxScriptEngine", "ServiceHandler", "add_duration", "check_source",
    "compile_cache_info", "make_script_engine", "parse_date",
]

#: ``(task, operation_name, {param_id: evaluated value}) -> JSON string`` (the runtime sets one per run)
ServiceHandler = Callable[[Any, str, dict[str, Any]], str]

COMPILE_CACHE_SIZE = 2048
# SpiffWorkflow finds the failing line of a runtime error by this traceback filename
_FILENAME = "<string>"


# ---------------------------------------------------------------------------------------------
# compile-time policy


def _call(name: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=ast.Name(name, ast.Load()), args=list(args), keywords=[])


def _tick(node: ast.AST) -> ast.stmt:
    return ast.fix_missing_locations(ast.copy_location(ast.Expr(value=_call("_tick_")), node))


class _Policy(RestrictingNodeTransformer):
    """RestrictedPython's policy, plus: imports and classes refused, ``x[k] op= v`` allowed; the
    budget's deadline check in every loop and function body, and its size checks around the
    operators that can build huge values in one step."""

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        node = self.node_contents_visit(node)
        op = CHECKED_OPERATORS.get(type(node.op))
        if op is None:
            return node
        return ast.fix_missing_locations(ast.copy_location(
            _call("_binop_", ast.Constant(op), node.left, node.right), node))

    def visit_FormattedValue(self, node: ast.FormattedValue) -> Any:
        node = self.node_contents_visit(node)
        if node.format_spec is not None:  # f"{x:>{n}}": the width is checked before formatting
            node.value = ast.fix_missing_locations(ast.copy_location(
                _call("_format_", node.value, ast.Constant(node.conversion), node.format_spec), node.value))
            node.conversion, node.format_spec = -1, None
        return node

    def visit_While(self, node: ast.While) -> Any:
        node = self.node_contents_visit(node)
        node.body.insert(0, _tick(node))
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> Any:
        new = super().visit_FunctionDef(node)
        assert isinstance(new, ast.FunctionDef)
        new.body.insert(0, _tick(new))
        return new

    def visit_Lambda(self, node: ast.Lambda) -> Any:
        new = super().visit_Lambda(node)
        assert isinstance(new, ast.Lambda)
        new.body = ast.fix_missing_locations(ast.copy_location(
            ast.BoolOp(op=ast.Or(), values=[_call("_tick_"), new.body]), new.body))
        return new

    def visit_Import(self, node: ast.Import) -> Any:
        self.error(node, "import statements are not allowed")
        return node

    def visit_ImportFrom(self, node: ast.ImportFrom) -> Any:
        self.error(node, "import statements are not allowed")
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> Any:
        self.error(node, "class definitions are not allowed")
        return node

    def visit_AugAssign(self, node: ast.AugAssign) -> Any:
        # 'x[k] += v' becomes '_inplaceitem_("+=", x, k, v)': x, k and v are evaluated once.
        target = node.target
        if isinstance(target, ast.Subscript) and not isinstance(target.slice, ast.Slice):
            call = ast.Call(
                func=ast.Name("_inplaceitem_", ast.Load()),
                args=[ast.Constant(IOPERATOR_TO_STR[type(node.op)]), self.visit(target.value),
                      self.visit(target.slice), self.visit(node.value)],
                keywords=[],
            )
            new = ast.Expr(value=call)
            copy_locations(new, node)
            return ast.fix_missing_locations(new)
        return super().visit_AugAssign(node)


@functools.lru_cache(maxsize=COMPILE_CACHE_SIZE)
def _compile(source: str, mode: str) -> CompileResult:
    # compile_restricted costs ~30-120 us per call; the same conditions run thousands of times.
    # Code objects are immutable, so sharing them between workflows is safe.
    if mode == "exec":
        return compile_restricted_exec(source, filename=_FILENAME, policy=_Policy)
    if mode == "eval":
        return compile_restricted_eval(source, filename=_FILENAME, policy=_Policy)
    raise ValueError(f"mode must be 'exec' or 'eval', not {mode!r}")


def compile_cache_info() -> Any:
    """``functools`` cache statistics (hits, misses, currsize) of the compiled-code cache."""
    return _compile.cache_info()


_LINE = re.compile(r"^Line (\d+|None): (.*?)\.?$", re.DOTALL)


def _problems(errors: Sequence[str]) -> list[tuple[int, str]]:
    """RestrictedPython's ``'Line 3: message.'`` strings as ``(3, 'message')``."""
    out = []
    for err in errors:
        m = _LINE.match(err)
        if m and m.group(1) != "None":
            out.append((int(m.group(1)), m.group(2)))
        else:
            out.append((0, err.rstrip(".")))
    return out


def check_source(source: str, mode: str) -> list[str]:
    """Compile ``source`` without running it; return one ``'line N: problem'`` string per problem.

    ``mode`` is ``'exec'`` (scripts) or ``'eval'`` (conditions, expressions); anything else raises
    ValueError. An empty list means the script (``mode='exec'``) or expression (``mode='eval'``) is accepted.
    Used by the deploy lint, so refused imports, ``_underscore`` names and syntax errors stop a
    deployment instead of failing a running instance.
    """
    return [f"line {line}: {message}" for line, message in _problems(_compile(source, mode).errors)]


def _code(source: str, mode: str) -> Any:
    """The compiled code; raises SyntaxError (with ``lineno``, pitfall 19) naming what was refused."""
    result = _compile(source, mode)
    if result.errors:
        problems = _problems(result.errors)
        err = SyntaxError("; ".join(f"line {line}: {msg}" if len(problems) > 1 else msg
                                    for line, msg in problems))
        err.lineno = problems[0][0]
        err.filename = _FILENAME
        raise err
    return result.code


# ---------------------------------------------------------------------------------------------
# run-time guards


def _guarded_getattr(budget: Budget, obj: Any, name: str, *default: Any) -> Any:
    """``getattr`` refusing ``_`` names, frame/generator introspection and ``str.format``."""
    if len(default) > 1:
        raise TypeError(f"getattr expected at most 3 arguments, got {2 + len(default)}")
    if isinstance(name, str) and name.startswith("_"):
        raise AttributeError(f'"{name}" is an invalid attribute name because it starts with "_"')
    if default:
        return budget.method(obj, name, safer_getattr(obj, name, default[0]))
    return _getattr_raise(budget, obj, name)


def _getattr_raise(budget: Budget, obj: Any, name: str) -> Any:
    missing = object()
    value = safer_getattr(obj, name, missing)
    if value is missing:
        raise AttributeError(f"{type(obj).__name__!r} object has no attribute {name!r}")
    return budget.method(obj, name, value)


def _guarded_write(obj: Any) -> Any:
    """Target of ``x[k] = v`` / ``del x[k]`` / ``x.a = v``: only dicts and lists may be changed."""
    if isinstance(obj, dict | list):
        return obj
    raise TypeError(f"a script may only change items of dicts and lists, not of {type(obj).__name__}")


# not the in-place operator.i* functions: 'xs += [1]' must not change an object someone else holds
_INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.add, "-=": operator.sub, "*=": operator.mul, "/=": operator.truediv,
    "//=": operator.floordiv, "%=": operator.mod, "**=": operator.pow, "<<=": operator.lshift,
    ">>=": operator.rshift, "|=": operator.or_, "^=": operator.xor, "&=": operator.and_,
}


def _inplacevar(budget: Budget, op: str, left: Any, right: Any) -> Any:
    if op[:-1] in budget.OPERATORS:  # '*=', '**=', '<<=', '+=', '%=': checked against the size budget
        return budget.binop(op[:-1], left, right)
    try:
        fn = _INPLACE[op]
    except KeyError:
        raise TypeError(f"the operator {op} is not allowed") from None
    return fn(left, right)


def _inplaceitem(budget: Budget, op: str, obj: Any, key: Any, value: Any) -> None:
    _guarded_write(obj)[key] = _inplacevar(budget, op, default_guarded_getitem(obj, key), value)


def _apply(func: Any, *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


# ---------------------------------------------------------------------------------------------
# helpers available to scripts (pure functions; no clock)

def _parse(value: Any) -> date | datetime:
    if isinstance(value, date):  # datetime is a date too
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not an ISO 8601 date or date-time "
                     "(examples: 2024-03-05, 2024-03-05T14:30:00+01:00)")


def parse_date(value: Any) -> str:
    """Normalise an ISO 8601 date or date-time to ``YYYY-MM-DD`` or ``datetime.isoformat()``.

    ``'20240305'`` -> ``'2024-03-05'``; ``'2024-03-05T14:30Z'`` -> ``'2024-03-05T14:30:00+00:00'``.
    Raises ValueError for anything else.
    """
    return _parse(value).isoformat()


def add_duration(start: Any, duration: str) -> str:
    """``start`` (ISO date or date-time string) plus an ISO 8601 ``duration``, as an ISO string.

    Months and years count calendar days the way SpiffWorkflow's timers do: ``P1M`` adds the length
    of the starting month (``2024-01-15`` -> ``2024-02-15``, ``2024-01-31`` -> ``2024-03-02``).
    A date stays a date unless the duration has hours, minutes or seconds. Raises ValueError.
    """
    if not isinstance(duration, str):
        raise ValueError(f"{duration!r} is not an ISO 8601 duration (examples: P5D, P2W, P1M, PT4H)")
    moment = _parse(start)
    is_date = not isinstance(moment, datetime)
    begin = moment if isinstance(moment, datetime) else datetime.combine(moment, time())
    end = durations.add_duration(begin, duration)
    if is_date and end.time() == time():
        return end.date().isoformat()
    return end.isoformat()


_ALLOWED_BUILTINS: dict[str, Any] = {
    "sum": sum, "min": min, "max": max, "any": any, "all": all, "len": len, "sorted": sorted,
    "reversed": reversed, "enumerate": enumerate, "zip": zip, "range": range, "dict": dict,
    "list": list, "set": set, "tuple": tuple, "str": str, "int": int, "float": float, "bool": bool,
    "abs": abs, "round": round, "isinstance": isinstance, "map": map, "filter": filter,
}
HELPERS: dict[str, Callable[..., Any]] = {"add_duration": add_duration, "parse_date": parse_date}
# safe_builtins carries '__build_class__' (we refuse classes) and an unguarded-default '_getattr_'
_DROPPED_SAFE_BUILTINS = {"__build_class__", "_getattr_"}


def _builtins(budget: Budget) -> dict[str, Any]:
    b = {k: v for k, v in safe_builtins.items() if k not in _DROPPED_SAFE_BUILTINS}
    b.update(_ALLOWED_BUILTINS)
    b["getattr"] = functools.partial(_guarded_getattr, budget)
    b["pow"] = budget.pow
    b["range"] = budget.range
    b.update(HELPERS)
    return b


# ---------------------------------------------------------------------------------------------
# plain data check for what a script leaves behind

_SCALARS = (type(None), bool, int, float, str, datetime, date, timedelta, UUID)


def _is_plain(value: Any) -> bool:
    if isinstance(value, _SCALARS):
        return True
    if isinstance(value, list | tuple):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, _SCALARS) and _is_plain(v) for k, v in value.items())
    return False


def _plain(value: Any) -> Any:
    """``value`` with sets turned into sorted lists (scripts use sets for membership maths and the
    stored state keeps only JSON-like data); raises TypeError for anything else that is not data."""
    if isinstance(value, set | frozenset):
        items = [_plain(v) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(value, list | tuple) and any(isinstance(v, set | frozenset) for v in value):
        return [_plain(v) for v in value]
    if isinstance(value, dict) and any(isinstance(v, set | frozenset | dict | list) for v in value.values()):
        return {k: _plain(v) for k, v in value.items()}
    if not _is_plain(value):
        raise TypeError(value)
    return value


def _is_code(value: Any) -> bool:
    return callable(value) or isinstance(value, ModuleType)


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    """A SpiffWorkflow script environment that runs RestrictedPython-compiled code (see module doc)
    within ``budget`` (time and size; the defaults of :class:`Budget` without one)."""

    def __init__(self, budget: Budget | None = None) -> None:
        self.budget = budget = budget or Budget()
        super().__init__({
            "__builtins__": _builtins(budget),
            "_getattr_": functools.partial(_getattr_raise, budget),
            "_getitem_": default_guarded_getitem,
            "_getiter_": lambda ob: budget.iterate(default_guarded_getiter(ob)),
            "_write_": _guarded_write,
            "_inplacevar_": functools.partial(_inplacevar, budget),
            "_inplaceitem_": functools.partial(_inplaceitem, budget),
            "_binop_": budget.binop,
            "_format_": budget.format,
            "_tick_": budget.tick,
            "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
            "_unpack_sequence_": guarded_unpack_sequence,
            "_apply_": _apply,
            "_print_": PrintCollector,  # print() works; its output is discarded
        })

    def _namespace(self, data: dict[str, Any], external_context: dict[str, Any] | None) -> dict[str, Any]:
        # guards last: task data (which users' forms feed) must never replace them
        namespace = dict(external_context or {})
        namespace.update(data)
        namespace.update(self.globals)
        return namespace

    def evaluate(self, expression: str, context: dict[str, Any],
                 external_context: dict[str, Any] | None = None) -> Any:
        """Value of ``expression`` over the task data. Raises SyntaxError (refused) or its error."""
        code = _code(expression, "eval")
        namespace = self._namespace(context, external_context)
        token = self.budget.start()
        try:
            return eval(code, namespace)
        finally:
            self.budget.finish(token)

    def execute(self, script: str, context: dict[str, Any],
                external_context: dict[str, Any] | None = None) -> bool:
        """Run ``script`` and write its plain-data results back into ``context`` (the task data).

        Raises SyntaxError (refused or unparsable; ``lineno`` set), TypeError (a variable bound to
        something that is not plain data) or whatever the script raised; ``context`` is then unchanged.
        """
        code = _code(script, "exec")
        external = external_context or {}
        data = copy.deepcopy(context)
        namespace = self._namespace(data, external)
        token = self.budget.start()
        try:
            exec(code, namespace)
        finally:
            self.budget.finish(token)

        updates: dict[str, Any] = {}
        for name, value in namespace.items():
            if name.startswith("_") or _is_code(value):
                continue
            if name in data and value is data[name]:
                if value != context[name]:  # changed in place (x["n"] = 1)
                    updates[name] = value
                continue
            if name not in data and name in external and value is external[name]:
                continue
            try:
                updates[name] = _plain(value)
            except TypeError:
                raise TypeError(f"the script set {name!r} to a {type(value).__name__}, which is not plain "
                                "data (use lists, dicts, strings, numbers; e.g. list(...) around map/filter)"
                                ) from None
        removed = [name for name in context if name not in namespace]
        context.update(updates)
        for name in removed:
            del context[name]
        return True

    def call_service(self, context: dict[str, Any], **kwargs: Any) -> str:
        raise NotImplementedError("service tasks are handled by SandboxScriptEngine.call_service")


class SandboxScriptEngine(PythonScriptEngine):
    """``PythonScriptEngine`` on a :class:`RestrictedEnvironment`; service tasks go to ``service_handler``.

    Re-attach an engine after every deserialize: SpiffWorkflow does not serialize it and would
    otherwise silently fall back to its unrestricted default engine.
    """

    def __init__(self, service_handler: ServiceHandler | None = None, budget: Budget | None = None):
        super().__init__(environment=RestrictedEnvironment(budget))
        self.service_handler = service_handler

    def validate(self, expression: str) -> None:
        """Raise SyntaxError (with ``lineno``) unless ``expression`` passes the restricted compile."""
        _code(expression, "eval")

    def evaluate(self, task: Any, expression: str, external_context: dict[str, Any] | None = None) -> Any:
        """As the base class, but the error message says why the expression failed or was refused."""
        try:
            return self.environment.evaluate(expression, task.data, external_context)
        except SpiffWorkflowException as exc:
            exc.add_note(f"Error evaluating expression '{expression}'")
            raise
        except Exception as exc:
            raise WorkflowTaskException(
                f"Error evaluating expression '{expression}': {type(exc).__name__}: {exc}",
                task=task, exception=exc,
            ) from exc

    def call_service(self, task: Any, operation_name: str, operation_params: dict[str, Any]) -> str:
        """Call ``service_handler(task, operation_name, {param_id: value})``; returns its JSON string.

        Raises WorkflowTaskException (element attached, cause chained) if no handler is set or the
        handler fails; a SpiffWorkflow exception from the handler passes through unchanged.
        """
        if self.service_handler is None:
            raise WorkflowTaskException(
                f"service operation {operation_name!r} cannot run: no service handler is set on the "
                "script engine (make_script_engine(service_handler=...))", task=task)
        params = {name: param["value"] for name, param in operation_params.items()}
        try:
            result = self.service_handler(task, operation_name, params)
        except SpiffWorkflowException:
            raise
        except Exception as exc:
            raise WorkflowTaskException(f"service operation {operation_name!r} failed: {exc}",
                                        task=task, exception=exc) from exc
        if not isinstance(result, str):  # SpiffWorkflow json.loads() the result
            result = json.dumps(result)
        return result


def make_script_engine(service_handler: ServiceHandler | None = None,
                       budget: Budget | None = None) -> SandboxScriptEngine:
    """A fresh sandboxed engine running scripts within ``budget`` (the defaults of :class:`Budget`
    without one); set it on every workflow (again after each deserialize)."""
    return SandboxScriptEngine(service_handler, budget)
