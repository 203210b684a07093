"""The engine's own lint rules, on the specs SpiffWorkflow parsed: lanes name roles, forms exist and are
valid JSON Schemas, deadlines are ISO 8601 durations, escalation profiles and SoD rules exist, service
tasks call registered operators, a timer start event can be scheduled, and every script and
expression passes the sandbox.

========================== ==============================================================
rule                       what it catches
========================== ==============================================================
lane-role                  a human task in no lane (and no role from its pool or the settings), or in a
                           lane that names no known role
task-property              an unknown task property; start_roles naming an unknown role
form                       a form that does not exist, is not a valid schema or sits on the wrong element
due-in                     a due_in that is not an ISO 8601 duration, or given with due_at_var
escalation-profile         a profile that ``processes/escalation_profiles.json`` does not define
sod-rule                   a segregation-of-duties rule the domain does not know
operator                   a service task calling an operator that is not registered
timer-start                a timer start event that cannot be scheduled
script                     a script or expression the sandbox refuses
========================== ==============================================================
"""

from __future__ import annotations

from collections.abc import Iterable
from difflib import get_close_matches
from typing import Any

from SpiffWorkflow.bpmn.specs.mixins import ManualTaskMixin, NoneTaskMixin, UserTaskMixin
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent

from engine.core import domain, forms, ladders, timer_syntax, timers
from engine.core.bpmn_graph import Diagram, is_bpmn
from engine.core.bpmn_source import NS
from engine.core.durations import is_duration
from engine.core.errors import Problem
from engine.core.properties import read_properties
from engine.core.settings import EngineSettings

Specs = tuple[Any, dict[str, Any]]  # (BpmnProcessSpec, {process_id: BpmnProcessSpec})


def check(diagram: Diagram, specs: Specs, found_forms: dict[str, Any], settings: EngineSettings,
          profiles: dict[str, Any], form_overrides: dict[str, Any],
          lane_sources: dict[str, str] | None = None) -> list[Problem]:
    """Every problem of the engine's own rules; the forms the tasks reference are added to
    ``found_forms`` (from ``form_overrides`` first, else the forms folder). ``lane_sources``: the tasks
    drawn outside lanes whose role came from their pool or the settings (``lane_roles.fill``)."""
    from engine.core.operators import registry
    from engine.core.sandbox import check_source

    d = diagram
    problems: list[Problem] = []
    operators = registry()
    roles, sod_rules = domain.current().roles, domain.current().sod_rules
    for ts in _all_task_specs(specs):  # a multi-instance task is two specs of one id (the child holds the extensions)
        bpmn_id = getattr(ts, "bpmn_id", None)
        if bpmn_id is None:
            continue
        props = read_properties(getattr(ts, "extensions", None))
        human = isinstance(ts, UserTaskMixin | ManualTaskMixin | NoneTaskMixin)
        if human:
            lane = getattr(ts, "lane", None)
            if not lane:
                problems.append(d.problem(bpmn_id, "this human task is in no lane, and neither its pool nor the "
                                                   "settings give it a role",
                                          "put it in a lane named after the role that does it, name its pool after "
                                          "that role, or set AIMSFLOW_DEFAULT_LANE_ROLE", "lane-role"))
            elif lane not in roles and (lane_sources or {}).get(bpmn_id) == "setting":
                problems.append(d.problem(bpmn_id, f"this human task is in no lane and AIMSFLOW_DEFAULT_LANE_ROLE "
                                                   f"names {lane!r}, which is not a known role",
                                          f"set AIMSFLOW_DEFAULT_LANE_ROLE to one of {', '.join(sorted(roles))}, or "
                                          "put the task in a lane", "lane-role"))
            elif lane not in roles:
                hint = get_close_matches(lane, list(roles), n=1)
                problems.append(d.problem(bpmn_id, f"lane {lane!r} is not a known role",
                                          f"did you mean {hint[0]!r}?" if hint else
                                          f"use one of {', '.join(sorted(roles))}", "lane-role"))
        if props.unknown:
            problems.append(d.problem(bpmn_id, f"unknown task propert{'ies' if len(props.unknown) > 1 else 'y'} "
                                               f"{', '.join(props.unknown)}",
                                      "known: form, assignee_var, due_in, due_at_var, escalation_profile, "
                                      "sod_rules, start_roles", "task-property"))
        if props.form:
            problems.extend(_form(d, bpmn_id, props.form, human or isinstance(ts, StartEvent), found_forms,
                                  settings, form_overrides))
        if props.due_in and not is_duration(props.due_in):
            problems.append(d.problem(bpmn_id, f"due_in {props.due_in!r} is not an ISO 8601 duration",
                                      "write e.g. P5D (5 days), P1M (a month) or PT4H", "due-in"))
        if props.due_in and props.due_at_var:
            problems.append(d.problem(bpmn_id, "it has both due_in and due_at_var", "give one of them", "due-in"))
        if props.escalation_profile and props.escalation_profile not in profiles:
            problems.append(d.problem(bpmn_id, f"escalation_profile {props.escalation_profile!r} is not defined",
                                      f"known: {', '.join(sorted(profiles)) or 'none'}", "escalation-profile"))
        for rule in props.sod_rules:
            if rule not in sod_rules:
                problems.append(d.problem(bpmn_id, f"sod_rules names {rule!r}, which is not a rule",
                                          f"use {', '.join(sorted(sod_rules))}", "sod-rule"))
        for role in props.start_roles:
            if role not in roles:
                problems.append(d.problem(bpmn_id, f"start_roles names unknown role {role!r}",
                                          f"use {', '.join(sorted(roles))}", "task-property"))
        op_name = getattr(ts, "operation_name", None)
        if op_name is not None and op_name not in operators:
            hint = get_close_matches(op_name, list(operators), n=1)
            problems.append(d.problem(bpmn_id, f"service task calls operator {op_name!r}, which is not registered",
                                      f"did you mean {hint[0]!r}?" if hint else "register it, or call one of "
                                      + ", ".join(sorted(operators)), "operator"))
    start_problem = timers.start_timer_problem(specs[0])
    if start_problem is not None:
        problems.append(d.problem(start_problem[0], start_problem[1], "", "timer-start"))
    problems = list(dict.fromkeys(problems))  # said once, though both specs of a multi-instance task say it
    for element_id, mode, source in expressions(d.process):
        for message in check_source(source, mode):
            syntax = "SyntaxError" in message
            problems.append(d.problem(element_id, f"{'script' if mode == 'exec' else 'expression'} refused: "
                                                  + message.replace("SyntaxError: ", ""),
                                      "correct the Python syntax on that line" if syntax else
                                      "write it as plain Python over the process data: no imports, no _underscore "
                                      "names, no open, eval or exec", "script"))
    # timers: ISO 8601 (quoted or not) or an expression the sandbox accepts (timer_syntax.py)
    problems.extend(d.problem(element_id, message, "", "timer")
                    for element_id, message in timer_syntax.lint(d.process, lambda s: check_source(s, "eval")))
    return problems


def _form(d: Diagram, bpmn_id: str, name: str, may_have_form: bool, found: dict[str, Any],
          settings: EngineSettings, overrides: dict[str, Any]) -> list[Problem]:
    if not may_have_form:
        return [d.problem(bpmn_id, "only user tasks and start events take a form",
                          "remove the form property, or make it a user task", "form")]
    if name in found:
        return []
    if name in overrides:
        schema_errors = forms.schema_problems(overrides[name])
        if schema_errors:
            return [d.problem(bpmn_id, f"form {name}: " + "; ".join(schema_errors), "fix the form in the forms editor",
                              "form")]
        found[name] = overrides[name]
        return []
    try:
        found[name] = forms.load_form(settings.forms_dir / f"{name}.schema.json", settings.max_form_bytes)
    except ValueError as exc:
        return [d.problem(bpmn_id, str(exc), f"add forms/{name}.schema.json or fix the form property", "form")]
    return []


def _all_task_specs(specs: Specs) -> Iterable[Any]:
    spec, subs = specs
    yield from spec.task_specs.values()
    for sub in subs.values():
        if sub is not None:
            yield from sub.task_specs.values()


_EXPRESSION_XPATHS = (
    (".//bpmn:conditionExpression", "eval"),
    (".//bpmn:script", "exec"),
    (".//spiffworkflow:preScript", "exec"),
    (".//spiffworkflow:postScript", "exec"),
    (".//bpmn:completionCondition", "eval"),
    (".//bpmn:loopCardinality", "eval"),
)


def expressions(root: Any) -> Iterable[tuple[str, str, str]]:
    """(element id, "eval"|"exec", source) for every script and expression the engine will run."""
    for xpath, mode in _EXPRESSION_XPATHS:
        for node in root.iterfind(xpath, NS):
            if node.text and node.text.strip():
                yield _owner_id(node), mode, node.text.strip()
    for node in root.iterfind(".//spiffworkflow:parameter", NS):
        if node.get("value"):
            yield _owner_id(node), "eval", node.get("value")
    for node in root.iterfind(".//spiffworkflow:messagePayload", NS):
        if node.text and node.text.strip():
            yield _owner_id(node), "eval", node.text.strip()


def _owner_id(node: Any) -> str:
    while node is not None:
        if node.get("id") and is_bpmn(node):
            return str(node.get("id"))
        node = node.getparent()
    return ""


def load_escalation_profiles(settings: EngineSettings, problems: list[Problem] | None = None) -> dict[str, Any]:
    """The named ladders of ``processes/escalation_profiles.json`` (every name the file defines, so a
    task naming an invalid profile gets that profile's problems, not "not defined"); each problem is
    appended to ``problems`` naming the profile and the fix (``ladders.py`` validates)."""
    path = settings.escalation_profiles_path
    result = ladders.read_profiles(path)
    if problems is not None:
        problems.extend(Problem(path.name, name, message, rule="escalation-profile", label=f"profile {name!r}")
                        for name, message in result.problems)
    return {name: result.profiles.get(name) for name in result.names}
