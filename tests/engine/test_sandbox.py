"""The restricted script engine, driven through real BPMN run by SpiffWorkflow."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.spiff.parser import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from engine.core import sandbox
from engine.core.sandbox import add_duration, check_source, make_script_engine, parse_date

SCRIPT_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  id="defs" targetNamespace="http://aimsflow.test">
  <bpmn:process id="sandboxed" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="run_script" name="Run script">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:exclusiveGateway id="gw" default="f_low">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f_high</bpmn:outgoing><bpmn:outgoing>f_low</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:endEvent id="end_high"><bpmn:incoming>f_high</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="end_low"><bpmn:incoming>f_low</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="run_script"/>
    <bpmn:sequenceFlow id="f2" sourceRef="run_script" targetRef="gw"/>
    <bpmn:sequenceFlow id="f_high" sourceRef="gw" targetRef="end_high">
      <bpmn:conditionExpression>{condition}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_low" sourceRef="gw" targetRef="end_low"/>
  </bpmn:process>
</bpmn:definitions>"""

SERVICE_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  id="defs" targetNamespace="http://aimsflow.test">
  <bpmn:process id="service" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="route" name="Route">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="risk.route_acceptance" resultVariable="routing">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="score" type="int" value="likelihood * impact"/>
            <spiffworkflow:parameter id="owner" type="str" value="'a@example.com'"/>
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="route"/>
    <bpmn:sequenceFlow id="f2" sourceRef="route" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>"""


def _workflow(xml: str, process_id: str, data: dict[str, Any] | None, engine: Any) -> BpmnWorkflow:
    parser = SpiffBpmnParser()
    parser.add_bpmn_str(xml.encode())
    wf = BpmnWorkflow(parser.get_spec(process_id), {}, script_engine=engine)
    wf.get_next_task(state=TaskState.READY).data.update(data or {})
    return wf


def run(script: str, data: dict[str, Any] | None = None, condition: str = "False",
        engine: Any = None) -> BpmnWorkflow:
    """Run the script task and the gateway; returns the finished workflow."""
    xml = SCRIPT_BPMN.format(script=escape(script), condition=escape(condition))
    wf = _workflow(xml, "sandboxed", data, engine or make_script_engine())
    wf.do_engine_steps()
    assert wf.is_completed()
    return wf


def end_event(wf: BpmnWorkflow) -> str:
    """The end event the gateway routed to."""
    (end,) = [t.task_spec.bpmn_id for t in wf.get_tasks(state=TaskState.COMPLETED)
              if t.task_spec.bpmn_id in ("end_high", "end_low")]
    return end


# --- scripts that must work -------------------------------------------------------------------

LEVEL = """\
def level(score):
    if score >= 15:
        return "high"
    return "medium" if score >= 8 else "low"
risk_level = level(likelihood * impact)
"""


@pytest.mark.parametrize(("script", "data", "expected"), [
    (LEVEL, {"likelihood": 4, "impact": 5}, {"risk_level": "high"}),
    ("titles = [r['title'].upper() for r in risks if r['open']]",
     {"risks": [{"title": "a", "open": True}, {"title": "b", "open": False}]}, {"titles": ["A"]}),
    ("rework_count += 1\nlabel = 'x'\nlabel *= 2", {"rework_count": 2}, {"rework_count": 3, "label": "xx"}),
    ("counts['open'] += 1\ncounts['new'] = 0\nitems = [1]\nitems[0] -= 5",
     {"counts": {"open": 1}}, {"counts": {"open": 2, "new": 0}, "items": [-4]}),
    ("worst = max(levels, key=rank.get)", {"levels": ["low", "high", "medium"],
                                           "rank": {"low": 1, "medium": 2, "high": 3}}, {"worst": "high"}),
    ("missing = sorted(set(required) - set(done))\nboth = sorted(set(required) & set(done))\n"
     "any_extra = bool(set(done) | {'z'})",
     {"required": ["a", "b", "c"], "done": ["b"]}, {"missing": ["a", "c"], "both": ["b"], "any_extra": True}),
    ("pairs = {}\nfor k, (a, b) in enumerate(zip(xs, ys)):\n    pairs[str(k)] = a + b\n"
     "total = sum(v for v in pairs.values())",
     {"xs": [1, 2], "ys": [10, 20]}, {"pairs": {"0": 11, "1": 22}, "total": 33}),
    ("names = list(map(str, filter(lambda n: n > 1, nums)))\nfirst, *rest = nums",
     {"nums": [1, 2, 3]}, {"names": ["2", "3"], "first": 1, "rest": [2, 3]}),
    ("def f(*args, **kw):\n    return len(args) + len(kw)\nn = f(*[1, 2], **{'a': 1})", {}, {"n": 3}),
    ("print('debugging', x)\ny = x", {"x": 1}, {"y": 1}),
    ("due = add_duration(opened, 'P5D')\nday = parse_date('20240305')", {"opened": "2024-02-27"},
     {"due": "2024-03-03", "day": "2024-03-05"}),
], ids=["function_def", "list_comprehension", "augassign_names", "augassign_items", "max_key_rank_get",
        "set_ops", "nested_unpacking", "map_filter_lambda_star", "star_args_call", "print_discarded",
        "helpers"])
def test_sandbox_runs_plain_scripts(script: str, data: dict[str, Any], expected: dict[str, Any]) -> None:
    wf = run(script, data)
    for key, value in expected.items():
        assert wf.data[key] == value, key


def test_sandbox_gateway_condition_picks_the_flow() -> None:
    cond = "risk_level == 'high' and any(r > 3 for r in scores)"
    assert end_event(run(LEVEL + "scores = [1, 5]", {"likelihood": 5, "impact": 5}, cond)) == "end_high"
    assert end_event(run(LEVEL + "scores = [1, 2]", {"likelihood": 5, "impact": 5}, cond)) == "end_low"


def test_sandbox_callables_never_land_in_task_data() -> None:
    script = LEVEL + "f = lambda x: x\nln = len\nhelper = add_duration\nkept = level(1)"
    wf = run(script, {"likelihood": 1, "impact": 1})
    assert wf.data["kept"] == "low"
    for name in ("level", "f", "ln", "helper", "add_duration", "__builtins__", "_getattr_"):
        assert name not in wf.data
    assert not [k for k, v in wf.data.items() if callable(v)]


def test_sandbox_del_removes_a_variable() -> None:
    wf = run("tmp = 1\nkeep = tmp + 1\ndel tmp\ndel old", {"old": "x"})
    assert wf.data["keep"] == 2
    assert "tmp" not in wf.data and "old" not in wf.data


def test_sandbox_non_plain_result_is_an_error_naming_the_variable() -> None:
    with pytest.raises(WorkflowTaskException, match="'lazy' to a map") as info:
        run("lazy = map(str, [1])")
    assert info.value.task.task_spec.bpmn_id == "run_script"


@pytest.mark.parametrize(("data", "script", "expected"), [
    ({"parse_date": "my data"}, "seen = parse_date", "my data"),
    ({"type": "incident"}, "seen = type.upper()", "INCIDENT"),
    ({"max": 7}, "seen = max + 1", 8),
], ids=["helper_name", "refused_builtin_name", "allowed_builtin_name"])
def test_sandbox_data_key_shadows_a_helper_for_that_script(data: dict[str, Any], script: str,
                                                           expected: Any) -> None:
    wf = run(script, data)
    assert wf.data["seen"] == expected
    assert wf.data[next(iter(data))] == data[next(iter(data))]


def test_sandbox_failed_script_leaves_task_data_untouched() -> None:
    data = {"counts": {"n": 1}, "xs": [1]}
    env = make_script_engine().environment
    with pytest.raises(ZeroDivisionError):
        env.execute("counts['n'] = 99\nxs.append(2)\nnew = 1\nboom = 1 / 0", data)
    assert data == {"counts": {"n": 1}, "xs": [1]}


def test_sandbox_in_place_changes_are_written_back() -> None:
    shared, untouched = {"n": 1}, {"a": [1]}
    data = {"counts": shared, "lst": [1], "same": untouched}
    make_script_engine().environment.execute("counts['n'] += 1\nlst.append(3)", data)
    assert data["counts"] == {"n": 2} and data["lst"] == [1, 3]
    assert shared == {"n": 1}  # the script worked on a copy
    assert data["same"] is untouched  # unchanged values are not replaced by their copies


# --- refused -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("script", "message"), [
    ("import os", "import statements are not allowed"),
    ("x = 1\nfrom os import path", "import statements are not allowed"),
    ("m = __import__('os')", '"__import__" is an invalid variable name because it starts with "_"'),
    ("s = ().__class__.__base__.__subclasses__()",
     '"__class__" is an invalid attribute name because it starts with "_"'),
    ("c = getattr(x, '__class__')", '"__class__" is an invalid attribute name because it starts with "_"'),
    ("c = getattr(x, 'gi_frame', None)", '"gi_frame" is a restricted name'),
    ("c = open('/etc/passwd').read()", "name 'open' is not defined"),
    ("v = eval('1')", "Eval calls are not allowed"),
    ("exec('v = 1')", "Exec calls are not allowed"),
    ("t = type(x)", "name 'type' is not defined"),
    ("g = globals()", "name 'globals' is not defined"),
    ("v = vars()", "name 'vars' is not defined"),
    ("c = compile('1', 'f', 'eval')", "name 'compile' is not defined"),
    ("class A:\n    pass", "class definitions are not allowed"),
    ("s = '{0.__class__}'.format(x)", "format"),
    ("g = (i for i in [1])\nf = g.gi_frame", '"gi_frame" is a restricted name'),
    ("d = {}\nd.attr = 1", "'dict' object has no attribute 'attr'"),
    ("s = 'abc'\ns[0] = 'z'", "may only change items of dicts and lists"),
], ids=["import", "from_import", "dunder_import", "subclasses_walk", "getattr_dunder", "getattr_frame",
        "open", "eval", "exec", "type", "globals", "vars", "compile", "class_def", "str_format",
        "generator_frame", "attribute_write", "item_write_on_str"])
def test_sandbox_refuses(script: str, message: str) -> None:
    with pytest.raises(WorkflowTaskException) as info:
        run(script, {"x": "data"})
    assert message in str(info.value)
    assert info.value.task.task_spec.bpmn_id == "run_script"


@pytest.mark.parametrize(("condition", "message"), [
    ("__import__('os').getpid() > 0", '"__import__" is an invalid variable name'),
    ("().__class__ is None", '"__class__" is an invalid attribute name'),
    ("open('/etc/passwd') is None", "name 'open' is not defined"),
], ids=["dunder_import", "dunder_attribute", "open"])
def test_sandbox_refuses_gateway_conditions(condition: str, message: str) -> None:
    with pytest.raises(WorkflowTaskException) as info:
        run("x = 1", condition=condition)
    assert message in str(info.value)
    assert info.value.task.task_spec.bpmn_id == "gw"


@pytest.mark.parametrize(("script", "line", "error_type", "error_line"), [
    ("a = 1\nb = 2\nc = a / 0", 3, "ZeroDivisionError", "c = a / 0"),
    ("a = 1\nimport os", 2, "SyntaxError", "import os"),
    ("a = 1\n\nb = a.__dict__", 3, "SyntaxError", "b = a.__dict__"),
    ("a = 1\nb = = 2", 2, "SyntaxError", "b = = 2"),
    ("a = getattr(1, '_x')", 1, "AttributeError", "a = getattr(1, '_x')"),
], ids=["runtime_error", "import", "dunder", "syntax", "guard"])
def test_sandbox_error_carries_element_and_line(script: str, line: int, error_type: str,
                                                error_line: str) -> None:
    with pytest.raises(WorkflowTaskException) as info:
        run(script)
    exc = info.value
    assert exc.task.task_spec.bpmn_id == "run_script"
    assert (exc.line_number, exc.error_type, exc.error_line) == (line, error_type, error_line)


def test_sandbox_refused_condition_carries_line() -> None:
    with pytest.raises(WorkflowTaskException) as info:
        run("x = 1", condition="x.__class__")
    assert info.value.line_number == 1


# --- check_source -------------------------------------------------------------------------------

@pytest.mark.parametrize(("source", "mode", "problems"), [
    ("x = 1", "exec", []),
    ("ok == 'yes'", "eval", []),
    ("import os", "exec", ["line 1: import statements are not allowed"]),
    ("x = 1\nimport os\nfrom sys import path\ny = x.__class__", "exec", [
        "line 2: import statements are not allowed",
        "line 3: import statements are not allowed",
        'line 4: "__class__" is an invalid attribute name because it starts with "_"',
    ]),
    ("_secret = 1", "exec", ['line 1: "_secret" is an invalid variable name because it starts with "_"']),
    ("x = 1\ny = = 2", "exec", ["line 2: SyntaxError: invalid syntax at statement: 'y = = 2'"]),
    ("__import__('os')", "eval",
     ['line 1: "__import__" is an invalid variable name because it starts with "_"']),
    ("x = 1", "eval", ["line 1: SyntaxError: invalid syntax at statement: 'x = 1'"]),
], ids=["ok_script", "ok_condition", "import", "several", "underscore_name", "syntax", "condition_import",
        "statement_as_condition"])
def test_check_source_reports_each_problem_with_its_line(source: str, mode: Any, problems: list[str]) -> None:
    assert check_source(source, mode) == problems


def test_check_source_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError, match="mode"):
        check_source("x", "single")


# --- compiled-code cache ------------------------------------------------------------------------

def test_sandbox_compiles_each_source_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = sandbox.compile_restricted_exec

    def counting(source: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(source)
        return real(source, *args, **kwargs)

    monkeypatch.setattr(sandbox, "compile_restricted_exec", counting)
    script = "cache_probe = 41 + 1  # test_sandbox_compiles_each_source_once"
    before = sandbox.compile_cache_info()
    for _ in range(3):
        assert run(script).data["cache_probe"] == 42
    assert calls == [script]
    assert sandbox.compile_cache_info().hits >= before.hits + 2
    assert sandbox.compile_cache_info().maxsize == sandbox.COMPILE_CACHE_SIZE


# --- service tasks ------------------------------------------------------------------------------

def test_sandbox_call_service_delegates_to_the_handler() -> None:
    seen: list[tuple[str, str, dict[str, Any]]] = []

    def handler(task: Any, operation_name: str, params: dict[str, Any]) -> str:
        seen.append((task.task_spec.bpmn_id, operation_name, params))
        return '{"route": "top_management"}'

    wf = _workflow(SERVICE_BPMN, "service", {"likelihood": 3, "impact": 4}, make_script_engine(handler))
    wf.do_engine_steps()
    assert seen == [("route", "risk.route_acceptance", {"score": 12, "owner": "a@example.com"})]
    assert wf.data["routing"] == {"route": "top_management"}


def test_sandbox_call_service_without_handler_is_a_clear_error() -> None:
    wf = _workflow(SERVICE_BPMN, "service", {"likelihood": 3, "impact": 4}, make_script_engine())
    with pytest.raises(WorkflowTaskException, match="no service handler is set") as info:
        wf.do_engine_steps()
    assert info.value.task.task_spec.bpmn_id == "route"


def test_sandbox_call_service_handler_error_keeps_its_cause() -> None:
    def handler(task: Any, operation_name: str, params: dict[str, Any]) -> str:
        raise LookupError("no such risk")

    wf = _workflow(SERVICE_BPMN, "service", {"likelihood": 3, "impact": 4}, make_script_engine(handler))
    with pytest.raises(WorkflowTaskException, match="'risk.route_acceptance' failed: no such risk") as info:
        wf.do_engine_steps()
    assert isinstance(info.value.__cause__, LookupError)


# --- helpers --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("start", "duration", "expected"), [
    ("2024-01-15", "P1M", "2024-02-15"),
    ("2024-01-31", "P1M", "2024-03-02"),  # P1M adds January's 31 days, as SpiffWorkflow timers do
    ("2023-01-31", "P1M", "2023-03-03"),
    ("2024-12-15", "P1M", "2025-01-15"),
    ("2024-11-30", "P3M", "2025-03-02"),  # 30 + 31 + 31 days
    ("2024-02-27", "P5D", "2024-03-03"),  # leap year
    ("2023-02-27", "P5D", "2023-03-04"),
    ("2024-12-30", "P5D", "2025-01-04"),
    ("2024-03-01", "P2W", "2024-03-15"),
    ("2024-03-01", "P1Y", "2025-03-01"),
    ("2024-03-01", "PT4H", "2024-03-01T04:00:00"),
    ("2024-01-31T09:30:00+01:00", "P1M", "2024-03-02T09:30:00+01:00"),
    ("2024-03-30T23:00:00Z", "P5D", "2024-04-04T23:00:00+00:00"),
    (" 2024-01-01 ", " P1DT2H ", "2024-01-02T02:00:00"),
], ids=["mid_month", "jan31_leap", "jan31_common", "year_end", "p3m", "p5d_leap", "p5d_common",
        "p5d_year_end", "weeks", "year", "hours_turn_date_into_datetime", "datetime_offset_kept",
        "zulu", "whitespace"])
def test_add_duration(start: str, duration: str, expected: str) -> None:
    assert add_duration(start, duration) == expected


@pytest.mark.parametrize(("start", "duration", "message"), [
    ("2024-01-01", "5 days", "not an ISO 8601 duration"),
    ("2024-01-01", "P1W2D", "not an ISO 8601 duration"),
    ("2024-01-01", "P", "not an ISO 8601 duration"),
    ("31.01.2024", "P1D", "not an ISO 8601 date"),
    (None, "P1D", "not an ISO 8601 date"),
], ids=["words", "weeks_and_days", "empty", "german_date", "none"])
def test_add_duration_rejects_bad_input(start: Any, duration: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        add_duration(start, duration)


@pytest.mark.parametrize(("text", "expected"), [
    ("2024-03-05", "2024-03-05"),
    ("20240305", "2024-03-05"),
    ("2024-03-05T14:30Z", "2024-03-05T14:30:00+00:00"),
    ("2024-03-05 14:30:15", "2024-03-05T14:30:15"),
], ids=["date", "basic_date", "zulu", "space_separator"])
def test_parse_date_normalises(text: str, expected: str) -> None:
    assert parse_date(text) == expected


def test_parse_date_rejects_non_dates() -> None:
    with pytest.raises(ValueError, match="not an ISO 8601 date"):
        parse_date("next tuesday")


def test_sandbox_exposes_no_clock_or_dangerous_builtins() -> None:
    builtins = make_script_engine().environment.globals["__builtins__"]
    for name in ("today_iso", "now_iso", "open", "__import__", "eval", "exec", "compile", "globals",
                 "vars", "type", "__build_class__", "setattr_unguarded"):
        assert name not in builtins
    assert builtins["getattr"] is not getattr
