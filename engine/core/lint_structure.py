"""Structural lint: a diagram must run as it is drawn, or say plainly why not.

The rules read the XML (:class:`engine.core.bpmn_graph.Diagram`), before SpiffWorkflow parses it, so
they also name what SpiffWorkflow would refuse in its own words, loop forever on, or run differently
from the drawing. They cover bpmnlint's ``recommended`` structural rules, written for this engine:

=========================== ======== ===============================================================
rule                        severity what it catches
=========================== ======== ===============================================================
duplicate-id                error    two elements share an id (the engine would keep one of them)
unsupported-element         error    complex gateways, business rule tasks, sequential ad hoc
unsupported-event           error    a trigger the engine ignores (link, compensation, signal end ...)
flow-reference              error    a sequence flow, boundary event or default flow pointing nowhere
event-reference             error    a trigger naming a message, signal, error or escalation not defined
data-reference              error    a data association the engine cannot resolve (or would hang on)
property-shape              error    a task property without a name or a value
script-missing              error    a script task without a script
start-event-required        error    a process or sub-process without a start event
end-event-required          error    a process or sub-process without an end event
single-blank-start-event    error    two start events without a trigger in one process
sub-process-start           error    a sub-process needs exactly one start event, and a blank one
no-disconnected             error    an element with no sequence flow in or out
unreachable                 error    an element no path from a start event reaches
dead-end                    error    a path that reaches no end event (an implicit end, a gateway
                                     without outgoing flows, a loop without exit)
no-implicit-split           error    an activity or event with several outgoing flows (the engine
                                     refuses it); on a start event, a warning
conditional-flows           error    a flow leaving a deciding gateway with neither condition nor default
condition-ignored           error    a condition on a flow the engine never evaluates (after a task,
                                     an event or a parallel gateway); on a default flow, a warning
gateway-choice              error    an exclusive or inclusive gateway whose one flow is conditional and
                                     which has no default (it fails when the condition is false)
gateway-exhaustive          warning  a gateway without default whose conditions may all be false
no-duplicate-sequence-flows error    two flows with the same source, target and condition
fake-join                   warning  branches of a parallel split meeting at a task or an exclusive
                                     gateway, which runs once per branch instead of waiting
superfluous-gateway         warning  a gateway with one flow in and one out
label-required              error    an unnamed human task (people would see its id); elsewhere a warning
=========================== ======== ===============================================================

Where bpmnlint differs: ``fake-join`` warns only where tokens can really arrive at the same time
(behind a parallel or inclusive split, a start event with several flows, or a non-interrupting
boundary event), because a task reached by an exclusive loop back runs as drawn; ``no-implicit-split``
is an error only where SpiffWorkflow cannot run it. Timer expressions and event-based gateways have
rules of their own elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from engine.core.bpmn_graph import (
    DEFINITION_WORDS,
    KIND_WORDS,
    Diagram,
    Flow,
    Node,
    describe,
    is_bpmn,
    local,
)
from engine.core.bpmn_source import BPMN_NS, SPIFF_NS
from engine.core.errors import WARNING, Problem
from engine.core.lint_conditions import coverage
from engine.core.lint_paths import exempt, fake_joins, implicit_split, paths

Rule = Callable[[Diagram, dict[str, tuple[Any, ...]]], Iterable[Problem]]

#: the triggers the engine runs on each kind of event (anything else it would silently ignore)
SUPPORTED_TRIGGERS = {
    "startEvent": {"messageEventDefinition", "signalEventDefinition", "timerEventDefinition",
                   "conditionalEventDefinition"},
    "endEvent": {"messageEventDefinition", "cancelEventDefinition", "errorEventDefinition",
                 "escalationEventDefinition", "terminateEventDefinition"},
    "intermediateCatchEvent": {"messageEventDefinition", "signalEventDefinition", "timerEventDefinition",
                               "conditionalEventDefinition"},
    "intermediateThrowEvent": {"escalationEventDefinition", "messageEventDefinition", "signalEventDefinition"},
    "boundaryEvent": {"cancelEventDefinition", "errorEventDefinition", "escalationEventDefinition",
                      "messageEventDefinition", "signalEventDefinition", "timerEventDefinition",
                      "conditionalEventDefinition"},
}

#: how to draw an unsupported trigger instead
TRIGGER_FIXES: dict[str | tuple[str, str], str] = {
    "linkEventDefinition": "draw a sequence flow where the link would jump",
    "compensateEventDefinition": "model the undoing as ordinary tasks on an error or escalation path",
    ("endEvent", "signalEventDefinition"): "throw the signal from an intermediate throw event just before a "
                                           "plain end event",
    ("startEvent", "errorEventDefinition"): "catch the error with an error boundary event on the sub-process "
                                            "or call activity that raises it",
    ("startEvent", "escalationEventDefinition"): "catch the escalation with an escalation boundary event on the "
                                                 "sub-process or call activity that raises it",
}

UNSUPPORTED_ELEMENTS = {
    "complexGateway": ("the engine does not run complex gateways",
                       "use an exclusive, inclusive or parallel gateway"),
    "businessRuleTask": ("the engine does not run business rule tasks: it deploys no DMN decision tables",
                         "compute the decision in a script task, or call an operator from a service task"),
}

#: rules whose errors keep a file from SpiffWorkflow's parser (it would crash unhelpfully or loop forever)
BLOCKING = frozenset({"duplicate-id", "flow-reference", "data-reference", "property-shape"})

HUMAN = frozenset({"userTask", "manualTask", "task"})
DECIDING = frozenset({"exclusiveGateway", "inclusiveGateway"})


def check(diagram: Diagram, domains: dict[str, tuple[Any, ...]] | None = None,
          only: frozenset[str] | None = None, skip: frozenset[str] = frozenset()) -> list[Problem]:
    """Every structural problem of ``diagram`` (of the rule groups in ``only``, if given, and not in
    ``skip``); ``domains`` are the values form fields can take (``lint_conditions.form_domains``), used
    to tell whether a gateway's conditions cover every case."""
    if diagram.process is None:
        return []
    problems: list[Problem] = []
    for name, rule in RULES:
        if (only is None or name in only) and name not in skip:
            problems.extend(rule(diagram, domains or {}))
    return problems


# --------------------------------------------------------------------------- ids and references

def duplicate_ids(d: Diagram, _: Any) -> Iterator[Problem]:
    for element_id, elements in d.ids.items():
        if len(elements) > 1:
            which = "; ".join(f"{describe(e)} on line {e.sourceline}" for e in elements)
            yield Problem(d.file, element_id, f"{len(elements)} elements share this id ({which}); the engine "
                                              "would keep only one of them",
                          "give each element an id of its own (in the modeler: select it and change its ID)",
                          rule="duplicate-id", label=describe(elements[0]), line=elements[0].sourceline)


def flow_references(d: Diagram, _: Any) -> Iterator[Problem]:
    for flow in d.all_flows():
        for end, ref, node in (("source", flow.source_ref, flow.source), ("target", flow.target_ref, flow.target)):
            if node is not None:
                continue
            other = d.nodes.get(ref)
            if not ref:
                message = f"it has no {end}"
            elif other is not None:
                message = (f"it connects {d.label(other)}, which lies in another sub-process; a sequence flow "
                           "cannot cross the border of a sub-process")
            else:
                message = f"its {end} {ref!r} is not a step of this process"
            yield d.problem(flow, message, "reconnect it in the modeler, or delete it", "flow-reference")
    for node in d.all_nodes():
        if node.kind == "boundaryEvent" and node.attached_to is None:
            ref = node.element.get("attachedToRef", "")
            target = d.nodes.get(ref)
            message = ("it is attached to nothing" if not ref else
                       f"it is attached to {d.label(target)}, which is not an activity of the same process"
                       if target is not None else f"it is attached to {ref!r}, which is not in this process")
            yield d.problem(node, message, "attach it to the border of a task or sub-process, or delete it",
                            "flow-reference")
        if node.default and not any(f.id == node.default for f in node.outgoing):
            yield d.problem(node, f"its default flow {node.default!r} is not one of its outgoing sequence flows",
                            "choose one of its outgoing flows as the default in the modeler", "flow-reference")


def data_references(d: Diagram, _: Any) -> Iterator[Problem]:
    for node in d.all_nodes():
        for direction, tag, ref_tag in (("input", "dataInputAssociation", "sourceRef"),
                                        ("output", "dataOutputAssociation", "targetRef")):
            for ref in node.element.iterfind(f"{{{BPMN_NS}}}{tag}/{{{BPMN_NS}}}{ref_tag}"):
                problem = _data_problem(d, node, direction, (ref.text or "").strip())
                if problem is not None:
                    yield problem


def _data_problem(d: Diagram, node: Node, direction: str, ref: str) -> Problem | None:
    target = d.element(ref) if ref else None
    fix = "connect the association to a data object in the same sub-process, or delete it"
    if target is None:
        return d.problem(node, f"its data {direction} association refers to {ref!r}, which is not in this diagram",
                         fix, "data-reference")
    kind = local(target)
    if kind == "dataStoreReference":
        return d.problem(node, f"it reads or writes {describe(target)}; the engine does not support data stores",
                         "keep the data in process variables (form fields, script and operator results)",
                         "data-reference")
    if kind != "dataObjectReference":
        return d.problem(node, f"its data {direction} association connects {describe(target)}, which is not a "
                               "data object", fix, "data-reference")
    object_id = target.get("dataObjectRef", "")
    # SpiffWorkflow looks in the task's own process or sub-process and the one around it, no further
    # (a data object declared further out makes its parser loop forever)
    near = [node.scope, *([node.scope.parent] if node.scope.parent is not None else [])]
    declared = {child.get("id") for scope in near for child in scope.element
                if is_bpmn(child) and local(child) == "dataObject"}
    if object_id in declared:
        return None
    if d.element(object_id) is None or local(d.element(object_id)) != "dataObject":
        return d.problem(node, f"the data object reference it uses ({ref!r}) points at {object_id!r}, which is not a "
                               "data object of this process",
                         "point the reference at a data object, or delete it", "data-reference")
    return d.problem(node, f"{describe(target)} is declared more than one sub-process further out; the engine "
                           "looks only in the task's own sub-process and the one around it",
                     "declare the data object in the sub-process of the task or the one directly around it",
                     "data-reference")


#: attribute naming a root element -> (the element it must name, words)
_EVENT_REFERENCES = {"messageRef": ("message", "message"), "signalRef": ("signal", "signal"),
                     "errorRef": ("error", "error"), "escalationRef": ("escalation", "escalation")}


def event_references(d: Diagram, _: Any) -> Iterator[Problem]:
    """A trigger naming a message, signal, error or escalation the file does not define (SpiffWorkflow's
    parser fails on it with an error of its own making)."""
    for node in d.all_nodes():
        holders = [node.element, *(c for c in node.element if is_bpmn(c) and local(c).endswith("EventDefinition"))]
        for holder in holders:
            for attribute, (kind, words) in _EVENT_REFERENCES.items():
                ref = holder.get(attribute)
                if not ref:
                    continue
                target = d.element(ref)
                if target is None or local(target) != kind:
                    yield d.problem(node, f"it refers to the {words} {ref!r}, which this file does not define",
                                    f"choose a {words} defined in this file, or define it", "event-reference")


def property_shape(d: Diagram, _: Any) -> Iterator[Problem]:
    process = d.process
    if process is None:
        return
    for prop in process.iter(f"{{{SPIFF_NS}}}property"):
        missing = [a for a in ("name", "value") if prop.get(a) is None]
        if missing:
            yield d.problem(_owner(prop) or process.get("id", ""), f"a task property has no {' and no '.join(missing)}",
                            "give every task property a name and a value, or delete it", "property-shape")


def _owner(node: Any) -> str:
    while node is not None:
        if is_bpmn(node) and node.get("id"):
            return str(node.get("id"))
        node = node.getparent()
    return ""


# --------------------------------------------------------------------------- what the engine runs

def unsupported(d: Diagram, _: Any) -> Iterator[Problem]:
    for node in d.all_nodes():
        if node.kind in UNSUPPORTED_ELEMENTS:
            yield d.problem(node, *UNSUPPORTED_ELEMENTS[node.kind], "unsupported-element")
        if node.kind == "adHocSubProcess" and node.element.get("ordering", "").lower() == "sequential":
            yield d.problem(node, "the engine does not run ad hoc sub-processes in sequential order",
                            "set its ordering to parallel, or draw the order with sequence flows",
                            "unsupported-element")
        if node.kind in SUPPORTED_TRIGGERS:
            yield from _triggers(d, node)


def _triggers(d: Diagram, node: Node) -> Iterator[Problem]:
    if node.kind == "boundaryEvent" and not node.definitions:
        yield d.problem(node, "a boundary event needs a trigger, and this one has none",
                        "give it a timer, message, signal, error, escalation or conditional trigger, or delete it",
                        "unsupported-event")
        return
    supported = SUPPORTED_TRIGGERS[node.kind]
    for definition in node.definitions:
        if definition in supported:
            continue
        fix = (TRIGGER_FIXES.get((node.kind, definition)) or TRIGGER_FIXES.get(definition)
               or "use one of the triggers it supports here: "
               + ", ".join(sorted(DEFINITION_WORDS[t] for t in supported)))
        trigger = DEFINITION_WORDS.get(definition, definition)
        yield d.problem(node, f"the engine does not support {trigger} triggers on {KIND_WORDS[node.kind]}s: it "
                              "would run this one as if it had no trigger", fix, "unsupported-event")


def describe_kind(kind: str) -> str:
    return KIND_WORDS.get(kind, kind)


def script_missing(d: Diagram, _: Any) -> Iterator[Problem]:
    for node in d.all_nodes():
        if node.kind == "scriptTask":
            script = node.element.find(f"{{{BPMN_NS}}}script")
            if script is None or not (script.text or "").strip():
                yield d.problem(node, "it has no script, so it would fail when it runs",
                                "write its script, or make it a plain task", "script-missing")


# --------------------------------------------------------------------------- start and end

def start_and_end(d: Diagram, _: Any) -> Iterator[Problem]:
    for scope in d.scopes:
        starts = [n for n in scope.nodes if n.kind == "startEvent"]
        ends = [n for n in scope.nodes if n.kind == "endEvent"]
        if scope.ad_hoc:
            for node in starts + ends:
                yield d.problem(node, "an ad hoc sub-process may not contain start or end events",
                                "delete it: the activities of an ad hoc sub-process start when it starts",
                                "sub-process-start")
            continue
        what = "process" if scope.parent is None else "sub-process"
        if not starts:
            yield d.problem(scope, f"the {what} has no start event, so an instance has nowhere to begin",
                            "add a start event and connect it to the first step", "start-event-required")
        if not ends:
            yield d.problem(scope, f"the {what} has no end event, so no path through it finishes",
                            "add an end event after the last step of each path", "end-event-required")
        blank = [n for n in starts if not n.definitions]
        if scope.event_triggered:
            for node in blank:
                yield d.problem(node, "the start event of an event sub-process needs a trigger",
                                "give it a message, signal, timer or conditional trigger", "sub-process-start")
        elif scope.parent is not None:
            if len(starts) > 1:
                yield d.problem(scope, f"a sub-process needs exactly one start event; this one has {len(starts)}",
                                "keep one start event and connect the others' paths to it", "sub-process-start")
            for node in starts:
                if node.definitions:
                    yield d.problem(node, "the start event of a sub-process must have no trigger: the sub-process "
                                          "starts when the flow reaches it",
                                    "remove its trigger (or make the sub-process an event sub-process)",
                                    "sub-process-start")
        elif len(blank) > 1:
            yield d.problem(scope, f"the process has {len(blank)} start events without a trigger, so nothing says "
                                   "where an instance begins",
                            "keep one blank start event; give the others a message, signal or timer trigger",
                            "single-blank-start-event")


# --------------------------------------------------------------------------- conditions and gateways

def conditions(d: Diagram, domains: dict[str, tuple[Any, ...]]) -> Iterator[Problem]:
    for flow in d.all_flows():
        source = flow.source
        if source is None:
            continue
        if source.kind in DECIDING:
            if flow.condition is None and flow.id != source.default and len(source.outgoing) > 1:
                yield d.problem(flow, f"it leaves {d.label(source)} without a condition and is not the gateway's "
                                      "default flow, so the gateway cannot tell when to take it",
                                "give it a condition, or make it the default flow (one flow per gateway)",
                                "conditional-flows")
            elif flow.condition is not None and flow.id == source.default:
                yield d.problem(flow, f"it is the default flow of {d.label(source)}, so its condition is never "
                                      "evaluated", "remove the condition, or make another flow the default",
                                "condition-ignored", WARNING)
        elif flow.condition is not None and not source.is_gateway and len(source.outgoing) > 1:
            continue  # an implicit conditional split: no-implicit-split says it once, for the element
        elif flow.condition is not None and source.kind != "eventBasedGateway":
            if source.kind == "parallelGateway":
                fix = "use an inclusive gateway to take only the flows whose condition holds, or remove the condition"
            else:
                fix = (f"put an exclusive gateway after {d.label(source)} and move the condition onto a flow "
                       "leaving it")
            yield d.problem(flow, f"the engine does not evaluate conditions on flows leaving a "
                                  f"{describe_kind(source.kind)}: this flow is always taken", fix, "condition-ignored")
    for node in d.all_nodes():
        if node.kind in DECIDING:
            yield from _choice(d, node, domains)


def _choice(d: Diagram, gateway: Node, domains: dict[str, tuple[Any, ...]]) -> Iterator[Problem]:
    if not gateway.outgoing or any(f.id == gateway.default for f in gateway.outgoing):
        return
    if any(f.condition is None for f in gateway.outgoing):
        return  # conditional-flows names them, or a lone unconditional flow is the default
    result = coverage([f.condition or "" for f in gateway.outgoing], domains)
    if result.covered:
        return
    when = f" (for example when {result.counterexample})" if result.counterexample else ""
    if len(gateway.outgoing) == 1:
        yield d.problem(gateway, f"its only outgoing flow has a condition and it has no default flow: when the "
                                 f"condition is false{when}, the instance stops with an error",
                        "remove the condition, or add a default flow for the other case", "gateway-choice")
    else:
        yield d.problem(gateway, f"it has no default flow, and its {len(gateway.outgoing)} conditions need not cover "
                                 f"every case{when}; then no flow can be taken and the instance stops with an error",
                        "make one outgoing flow the default, or add a flow for the remaining cases",
                        "gateway-exhaustive", WARNING)


def duplicate_flows(d: Diagram, _: Any) -> Iterator[Problem]:
    for scope in d.scopes:
        seen: dict[tuple[str, str, str], Flow] = {}
        for flow in scope.flows:
            key = (flow.source_ref, flow.target_ref, flow.condition or "")
            if key in seen:
                yield d.problem(flow, f"it repeats {d.label(seen[key])}: the same source, target and condition",
                                "delete one of the two", "no-duplicate-sequence-flows")
            else:
                seen[key] = flow


def superfluous_gateways(d: Diagram, _: Any) -> Iterator[Problem]:
    for node in d.all_nodes():
        if node.is_gateway and node.kind != "eventBasedGateway" and len(node.incoming) == 1 \
                and len(node.outgoing) == 1:
            yield d.problem(node, "it has one incoming and one outgoing flow, so it neither chooses nor joins",
                            "delete it and connect the two flows directly", "superfluous-gateway", WARNING)


def labels(d: Diagram, _: Any) -> Iterator[Problem]:
    if d.process is not None and not (d.process.get("name") or "").strip():
        yield d.problem(d.process.get("id", ""), "the process has no name, so lists show its id",
                        "name the process in the modeler", "label-required", WARNING)
    for node in d.all_nodes():
        if node.name or node.kind in ("subProcess", "transaction", "adHocSubProcess", "parallelGateway",
                                      "eventBasedGateway") or exempt(node):
            continue
        if node.is_gateway and len(node.outgoing) < 2:
            continue  # a joining gateway says nothing a name could add
        if node.kind in HUMAN:
            yield d.problem(node, "it has no name, so people would see it in their inbox by its id",
                            'name it after what the person does, e.g. "Approve the request"', "label-required")
        else:
            yield d.problem(node, "it has no name, so the diagram, the instance timeline and these messages cannot "
                                  "say what it is", "give it a short name", "label-required", WARNING)
    for flow in d.all_flows():
        if flow.condition is not None and not flow.name and flow.source is not None \
                and flow.source.kind in DECIDING and flow.id != flow.source.default:
            yield d.problem(flow, "this conditional flow has no name, so the diagram does not say when it is taken",
                            'name it after its condition, e.g. "Rejected"', "label-required", WARNING)


RULES: tuple[tuple[str, Rule], ...] = (
    ("duplicate-id", duplicate_ids),
    ("flow-reference", flow_references),
    ("data-reference", data_references),
    ("property-shape", property_shape),
    ("event-reference", event_references),
    ("unsupported", unsupported),
    ("script-missing", script_missing),
    ("start-and-end", start_and_end),
    ("paths", paths),
    ("no-implicit-split", implicit_split),
    ("conditions", conditions),
    ("no-duplicate-sequence-flows", duplicate_flows),
    ("fake-join", fake_joins),
    ("superfluous-gateway", superfluous_gateways),
    ("label-required", labels),
)
