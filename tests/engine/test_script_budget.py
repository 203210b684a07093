"""The sandbox's budgets on their own (engine.core.script_budget): what a loop past its time, a single
operation past its size and memory growth in small steps do, that a script cannot swallow its timeout or
its memory error, and that ordinary scripts are untouched. ``test_runaway_scripts.py`` drives the same
through diagrams, the database and the worker."""

from __future__ import annotations

import time
from typing import Any

import pytest

from engine.core.sandbox import RestrictedEnvironment
from engine.core.script_budget import Budget, ScriptMemoryExceeded, ScriptTimeout, ScriptTooLarge, resident_bytes

FAST = Budget(seconds=0.3)


def execute(script: str, budget: Budget = FAST) -> dict[str, Any]:
    data: dict[str, Any] = {}
    RestrictedEnvironment(budget).execute(script, data)
    return data


@pytest.mark.parametrize("script", [
    "while True:\n    pass",
    "while True:\n    try:\n        while True:\n            pass\n    except Exception:\n        pass",
    "try:\n    while True:\n        pass\nexcept Exception:\n    done = True",
    "n = sum(1 for a in range(10**7) for b in range(10**7))",
    "f = lambda n: f(n - 1) + f(n - 1) if n else 1\nx = f(60)",
    "def f(n):\n    return f(n - 1) + f(n - 1) if n else 1\nx = f(60)",
], ids=["while_true", "swallowed_in_the_loop", "swallowed_then_ended", "nested_comprehension", "lambda",
        "function"])
def test_budget_stops_a_script_that_runs_past_its_time(script: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ScriptTimeout, match="time budget of 0.3 s") as caught:
        execute(script)
    assert time.perf_counter() - started < 2.0
    assert caught.value.limit == "script_time_limit"


@pytest.mark.parametrize(("script", "limit"), [
    ("x = 9**9**9", "script_max_int_bits"),
    ("x = pow(9, 9**9)", "script_max_int_bits"),
    ("x = 2\nx **= 10**9", "script_max_int_bits"),
    ("x = 1 << 10**10", "script_max_int_bits"),
    ("x = 'a' * 10**10", "script_max_size"),
    ("x = [0] * 10**10", "script_max_size"),
    ("x = [0]\nx *= 10**10", "script_max_size"),
    ("d = {'k': 'a'}\nd['k'] *= 10**10", "script_max_size"),
    ("x = list(range(10**10))", "script_max_size"),
    ("x = 'a'.ljust(10**10)", "script_max_size"),
    ("x = '-'.join(['a' * 10**6] * 20)", "script_max_size"),
    ("x = f'{1:>{10**10}}'", "script_max_size"),
    ("x = '%10000000000s' % 'a'", "script_max_size"),
    ("x = 'a' * 10**7\nx = x + x", "script_max_size"),
], ids=["pow", "pow_builtin", "augmented_pow", "shift", "str_mul", "list_mul", "augmented_mul", "item_mul",
        "range", "ljust", "join", "fstring_width", "percent_width", "concat"])
def test_budget_refuses_a_huge_value_before_building_it(script: str, limit: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ScriptTooLarge, match="past the script size budget") as caught:
        execute(script)
    assert time.perf_counter() - started < 1.0
    assert caught.value.limit == limit


def test_budget_leaves_ordinary_scripts_alone() -> None:
    data = execute("x = 3 * 4 + 2 ** 10 + len('ab' * 3)\n"
                   "y = f'{x:>6}|{x!r:<5}|' + '%5d' % 3 + ', '.join(['a', 'b'])\n"
                   "z = sum(i for i in range(100))\n"
                   "w = [0] * 5\nw *= 2\ns = 'a'.zfill(3).replace('0', 'o')\n"
                   "n = 0\nwhile n < 1000:\n    n += 1\n")
    assert data == {"x": 1042, "y": "  1042|1042 |    3a, b", "z": 4950, "w": [0] * 10, "s": "ooa", "n": 1000}


def test_budget_is_per_run_and_leaves_no_deadline_behind() -> None:
    env = RestrictedEnvironment(FAST)
    with pytest.raises(ScriptTimeout):
        env.execute("while True:\n    pass", {})
    data: dict[str, Any] = {}
    env.execute("n = 0\nwhile n < 10:\n    n += 1", data)  # a fresh deadline: the next run is not failed
    assert data == {"n": 10}
    assert env.evaluate("n * 2", data) == 20


def test_budget_of_zero_seconds_means_no_time_limit() -> None:
    assert execute("n = 0\nwhile n < 10**5:\n    n += 1", Budget(seconds=0)) == {"n": 10**5}


#: a memory budget small enough for tests; without it, the time budget would stop a runaway only after
#: gigabytes (memory the test process freed earlier is used first, so the time budget is not tight)
HUNGRY = Budget(seconds=3, max_memory_mb=48)
LINUX = resident_bytes() is not None


@pytest.mark.skipif(not LINUX, reason="the memory budget reads /proc/self/statm")
@pytest.mark.parametrize("script", [
    "x = []\nwhile True:\n    x.append('a' * 10**6)",
    "x = ['a' * 1000 for i in range(10**7)]",
    "x = {(i, j): 'a' * 1000 for i in range(10**4) for j in range(10**4)}",
    "def grow(acc):\n    acc.append('a' * 10**6)\n    return grow(acc)\nx = grow([])",
    "x = []\nwhile True:\n    try:\n        x.append('a' * 10**6)\n    except Exception:\n        pass",
    "try:\n    x = []\n    while True:\n        x.append('a' * 10**6)\nexcept Exception:\n    x = None\n",
], ids=["append_loop", "list_comprehension", "dict_comprehension", "recursion", "swallowed_in_the_loop",
        "swallowed_then_ended"])
def test_budget_stops_a_script_that_grows_the_memory_in_small_steps(script: str) -> None:
    before = resident_bytes()
    assert before is not None
    started = time.perf_counter()
    with pytest.raises(ScriptMemoryExceeded, match="memory budget of 48 MB") as caught:
        execute(script, HUNGRY)
    assert time.perf_counter() - started < 3  # stopped by the memory budget, not the time budget
    assert caught.value.limit == "script_max_memory"
    assert "AIMSFLOW_SCRIPT_MAX_MEMORY" in str(caught.value)
    grown = (resident_bytes() or 0) - before  # freed memory mostly stays with the process: about the peak
    assert grown < (48 + 64) * 2**20, f"the process grew by {grown / 2**20:.0f} MB"


@pytest.mark.skipif(not LINUX, reason="the memory budget reads /proc/self/statm")
def test_budget_memory_is_per_run_and_zero_means_no_limit() -> None:
    env = RestrictedEnvironment(HUNGRY)
    with pytest.raises(ScriptMemoryExceeded):
        env.execute("x = ['a' * 10**6 for i in range(100)]", {})
    data: dict[str, Any] = {}
    env.execute("x = ['a' * 10**5 for i in range(100)]\nn = len(x)\nx = None", data)  # 10 MB: within budget
    assert data == {"n": 100, "x": None}
    assert execute("x = len(['a' * 10**6 for i in range(100)])", Budget(max_memory_mb=0)) == {"x": 100}
