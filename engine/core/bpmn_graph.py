"""A BPMN file's flow graph as lint reads it, and every element in words.

:class:`Diagram` holds the executable process of one file as scopes (the process, each sub-process,
transaction and ad hoc sub-process), their flow nodes and sequence flows, linked both ways. Flows are
read from ``sequenceFlow/@sourceRef`` and ``@targetRef``, as SpiffWorkflow reads them (the
``incoming``/``outgoing`` children a modeler writes are ignored). Nothing here judges the diagram;
``lint_structure`` does.

Users never see an id alone: :meth:`Diagram.label` describes an element by kind and name
(``user task "Approve the request"``, ``timer boundary event``, ``the sequence flow from user task
"Submit" to exclusive gateway "Approved?"``) and :meth:`Diagram.problem` puts that beside the id.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from engine.core.bpmn_source import BPMN_NS
from engine.core.errors import ERROR, Problem

#: BPMN element -> its kind in words
KIND_WORDS = {
    "startEvent": "start event", "endEvent": "end event", "intermediateCatchEvent": "intermediate catch event",
    "intermediateThrowEvent": "intermediate throw event", "boundaryEvent": "boundary event",
    "task": "task", "userTask": "user task", "manualTask": "manual task", "scriptTask": "script task",
    "serviceTask": "service task", "sendTask": "send task", "receiveTask": "receive task",
    "businessRuleTask": "business rule task", "callActivity": "call activity", "subProcess": "sub-process",
    "transaction": "transaction", "adHocSubProcess": "ad hoc sub-process",
    "exclusiveGateway": "exclusive gateway", "inclusiveGateway": "inclusive gateway",
    "parallelGateway": "parallel gateway", "eventBasedGateway": "event-based gateway",
    "complexGateway": "complex gateway",
    "sequenceFlow": "sequence flow", "process": "process", "lane": "lane", "participant": "pool",
    "dataObject": "data object", "dataObjectReference": "data object", "dataStoreReference": "data store",
    "dataStore": "data store", "dataInputAssociation": "data input association",
    "dataOutputAssociation": "data output association", "association": "association",
    "textAnnotation": "text annotation", "message": "message", "signal": "signal", "error": "error",
    "escalation": "escalation", "collaboration": "collaboration", "laneSet": "lane set",
}

#: event definition -> the word put before the event's kind ("timer boundary event")
DEFINITION_WORDS = {
    "timerEventDefinition": "timer", "messageEventDefinition": "message", "signalEventDefinition": "signal",
    "errorEventDefinition": "error", "escalationEventDefinition": "escalation",
    "terminateEventDefinition": "terminate", "cancelEventDefinition": "cancel",
    "conditionalEventDefinition": "conditional", "compensateEventDefinition": "compensation",
    "linkEventDefinition": "link",
}

EVENTS = frozenset({"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent"})
GATEWAYS = frozenset({"exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway",
                      "complexGateway"})
SCOPES = frozenset({"subProcess", "transaction", "adHocSubProcess"})
ACTIVITIES = frozenset({"task", "userTask", "manualTask", "scriptTask", "serviceTask", "sendTask", "receiveTask",
                        "businessRuleTask", "callActivity"}) | SCOPES
FLOW_NODES = EVENTS | GATEWAYS | ACTIVITIES


def executable_processes(root: Any) -> list[Any]:
    """The processes of a file the engine runs: every ``bpmn:process`` not marked ``isExecutable="false"``
    (a collaboration's other pools are usually drawn non-executable)."""
    return [p for p in root.iterfind(f"{{{BPMN_NS}}}process") if p.get("isExecutable", "true").lower() != "false"]


def local(element: Any) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def is_bpmn(element: Any) -> bool:
    return isinstance(element.tag, str) and etree.QName(element).namespace == BPMN_NS


@dataclass(eq=False)
class Flow:
    element: Any
    id: str
    name: str
    source_ref: str
    target_ref: str
    condition: str | None
    scope: Scope
    source: Node | None = None
    target: Node | None = None


@dataclass(eq=False)
class Node:
    element: Any
    id: str
    kind: str
    name: str
    scope: Scope
    definitions: tuple[str, ...]
    incoming: list[Flow] = field(default_factory=list)
    outgoing: list[Flow] = field(default_factory=list)
    #: boundary events attached to this activity
    boundary: list[Node] = field(default_factory=list)
    #: the activity a boundary event is attached to
    attached_to: Node | None = None
    #: the scope this sub-process opens
    inner: Scope | None = None

    @property
    def is_gateway(self) -> bool:
        return self.kind in GATEWAYS

    @property
    def is_event(self) -> bool:
        return self.kind in EVENTS

    @property
    def is_activity(self) -> bool:
        return self.kind in ACTIVITIES

    @property
    def triggered_by_event(self) -> bool:
        return self.kind == "subProcess" and self.element.get("triggeredByEvent", "false").lower() == "true"

    @property
    def for_compensation(self) -> bool:
        return self.element.get("isForCompensation", "false").lower() == "true"

    @property
    def interrupting(self) -> bool:
        """A boundary event cancels its activity (``cancelActivity``); a start event its scope."""
        attribute = "cancelActivity" if self.kind == "boundaryEvent" else "isInterrupting"
        return self.element.get(attribute, "true").lower() != "false"

    @property
    def default(self) -> str | None:
        return self.element.get("default")


@dataclass(eq=False)
class Scope:
    element: Any
    id: str
    kind: str
    name: str
    parent: Scope | None
    owner: Node | None
    nodes: list[Node] = field(default_factory=list)
    flows: list[Flow] = field(default_factory=list)

    @property
    def ad_hoc(self) -> bool:
        return self.kind == "adHocSubProcess"

    @property
    def event_triggered(self) -> bool:
        return self.owner is not None and self.owner.triggered_by_event


class Diagram:
    """One executable process of a parsed file (``root``, a ``bpmn:definitions``): ``process_id``, or
    the first executable one."""

    def __init__(self, file: str, root: Any, process_id: str | None = None):
        self.file = file
        self.root = root
        self.scopes: list[Scope] = []
        self.nodes: dict[str, Node] = {}
        self.flows: dict[str, Flow] = {}
        #: every id of the BPMN model with the elements that carry it (duplicates have several)
        self.ids: dict[str, list[Any]] = {}
        for element in root.iter():
            if is_bpmn(element) and element.get("id"):
                self.ids.setdefault(element.get("id"), []).append(element)
        processes = [p for p in executable_processes(root) if process_id is None or p.get("id") == process_id]
        self.process = processes[0] if processes else None
        if self.process is not None:
            self._read_scope(self.process, None, None)
            self._link()

    # ------------------------------------------------------------------ reading

    def _read_scope(self, element: Any, parent: Scope | None, owner: Node | None) -> Scope:
        scope = Scope(element, element.get("id", ""), local(element), element.get("name") or "", parent, owner)
        self.scopes.append(scope)
        for child in element:
            if not is_bpmn(child):
                continue
            kind = local(child)
            if kind in FLOW_NODES:
                definitions = tuple(local(d) for d in child if is_bpmn(d) and local(d).endswith("EventDefinition"))
                node = Node(child, child.get("id", ""), kind, (child.get("name") or "").strip(), scope, definitions)
                scope.nodes.append(node)
                self.nodes.setdefault(node.id, node)
                if kind in SCOPES:
                    node.inner = self._read_scope(child, scope, node)
            elif kind == "sequenceFlow":
                condition = child.find(f"{{{BPMN_NS}}}conditionExpression")
                text = condition.text.strip() if condition is not None and condition.text else None
                flow = Flow(child, child.get("id", ""), (child.get("name") or "").strip(), child.get("sourceRef", ""),
                            child.get("targetRef", ""), text if condition is not None else None, scope)
                scope.flows.append(flow)
                self.flows.setdefault(flow.id, flow)
        return scope

    def _link(self) -> None:
        for scope in self.scopes:
            local_nodes = {n.id: n for n in scope.nodes}
            for flow in scope.flows:
                flow.source = local_nodes.get(flow.source_ref)
                flow.target = local_nodes.get(flow.target_ref)
                if flow.source is not None and flow.target is not None:
                    flow.source.outgoing.append(flow)
                    flow.target.incoming.append(flow)
            for node in scope.nodes:
                if node.kind == "boundaryEvent":
                    activity = local_nodes.get(node.element.get("attachedToRef", ""))
                    if activity is not None and activity.is_activity:
                        node.attached_to = activity
                        activity.boundary.append(node)

    # ------------------------------------------------------------------ reading helpers

    def all_nodes(self) -> Iterator[Node]:
        for scope in self.scopes:
            yield from scope.nodes

    def all_flows(self) -> Iterator[Flow]:
        for scope in self.scopes:
            yield from scope.flows

    def element(self, element_id: str) -> Any:
        found = self.ids.get(element_id)
        return found[0] if found else None

    # ------------------------------------------------------------------ words

    def label(self, item: Node | Flow | Scope | Any | str) -> str:
        """The element in words: its kind and, when it has one, its name (no id)."""
        if isinstance(item, str):
            found = self.nodes.get(item) or self.flows.get(item) or self.element(item)
            if found is None:
                return ""
            item = found
        if isinstance(item, Flow):
            kind = "conditional sequence flow" if item.condition is not None else "sequence flow"
            if item.name:
                return f'{kind} "{item.name}"'
            if item.source is not None and item.target is not None:
                return f"the {kind} from {self.label(item.source)} to {self.label(item.target)}"
            return kind
        element = item.element if isinstance(item, Node | Scope) else item
        return describe(element)

    def problem(self, item: Node | Flow | Scope | str, message: str, fix: str, rule: str,
                severity: str = ERROR) -> Problem:
        """A problem on ``item`` (a node, flow, scope or an element id), labelled and located."""
        element_id = item if isinstance(item, str) else item.id
        element = self.element(element_id)
        line = element.sourceline if element is not None else None
        return Problem(self.file, element_id, message, fix, severity, rule, self.label(item), line)


def describe(element: Any) -> str:
    """``user task "Approve the request"``, ``timer boundary event``, ``process "Risk assessment"``."""
    kind = local(element)
    words = KIND_WORDS.get(kind, _spaced(kind))
    if kind in EVENTS:
        definitions = [DEFINITION_WORDS.get(local(d), "") for d in element
                       if is_bpmn(d) and local(d).endswith("EventDefinition")]
        if len(definitions) == 1 and definitions[0]:
            words = f"{definitions[0]} {words}"
        elif len(definitions) > 1:
            words = f"multiple-trigger {words}"
    if kind == "subProcess" and element.get("triggeredByEvent", "false").lower() == "true":
        words = "event sub-process"
    name = (element.get("name") or "").strip()
    return f'{words} "{name}"' if name else words


def _spaced(camel: str) -> str:
    out = "".join(" " + c.lower() if c.isupper() else c for c in camel).strip()
    return out or "element"


def reachable(starts: Iterable[Node], step: Any) -> set[Node]:
    """Every node reached from ``starts`` following ``step(node) -> iterable of nodes`` (``starts`` too)."""
    seen: set[Node] = set()
    todo = list(starts)
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        todo.extend(n for n in step(node) if n not in seen)
    return seen
