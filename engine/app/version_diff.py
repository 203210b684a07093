"""What changed between two versions of a process, as an admin reads it: elements and flows added,
removed or changed (name, lane, kind, task properties, conditions, timers, scripts, called process),
never a line diff of the XML. Moving shapes on the canvas is one line ("the layout changed"), not noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from engine.core import definitions

BPMN = definitions.BPMN_NS
SPIFF = definitions.SPIFF_NS
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
NS = definitions.NS

#: BPMN element kinds in words (the flow nodes a diagram holds)
KINDS = {
    "userTask": "user task", "manualTask": "manual task", "scriptTask": "script task",
    "serviceTask": "service task", "businessRuleTask": "business rule task", "sendTask": "send task",
    "receiveTask": "receive task", "task": "task", "callActivity": "call activity", "subProcess": "sub-process",
    "transaction": "transaction", "exclusiveGateway": "exclusive gateway", "parallelGateway": "parallel gateway",
    "inclusiveGateway": "inclusive gateway", "eventBasedGateway": "event-based gateway",
    "complexGateway": "complex gateway", "startEvent": "start event", "endEvent": "end event",
    "intermediateCatchEvent": "intermediate catch event", "intermediateThrowEvent": "intermediate throw event",
    "boundaryEvent": "boundary event",
}
_TRIGGERS = {"timerEventDefinition": "timer", "messageEventDefinition": "message",
             "signalEventDefinition": "signal", "errorEventDefinition": "error",
             "escalationEventDefinition": "escalation", "conditionalEventDefinition": "conditional",
             "terminateEventDefinition": "terminate", "cancelEventDefinition": "cancel",
             "compensateEventDefinition": "compensation", "linkEventDefinition": "link"}

#: facet -> how the compare page names it
LABELS = {
    "kind": "kind", "name": "name", "lane": "lane (role)", "condition": "condition", "default": "default flow",
    "timer": "timer", "script": "script", "called": "called process", "attached": "attached to",
    "interrupting": "interrupting", "message": "message", "signal": "signal", "instructions": "instructions",
    "pre_script": "script before", "post_script": "script after", "multi_instance": "repeats for",
    "source": "from", "target": "to",
}


@dataclass(frozen=True)
class Change:
    """One element or flow that was added, removed or changed; ``facets`` are (what, before, after)."""

    label: str
    status: str  # "added", "removed", "changed"
    facets: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class StructuralDiff:
    elements: list[Change]
    flows: list[Change]
    layout_changed: bool

    @property
    def empty(self) -> bool:
        return not self.elements and not self.flows and not self.layout_changed


def _text(node: etree._Element | None) -> str:
    return " ".join((node.text or "").split()) if node is not None else ""


def _local(node: etree._Element) -> str:
    return etree.QName(node).localname


class _Model:
    """The diagram's flow nodes and sequence flows, each as its facets."""

    def __init__(self, xml: str):
        root = definitions.parse_text("compare.bpmn", xml)
        self.names: dict[str, str] = {}
        self.nodes: dict[str, dict[str, str]] = {}
        self.flows: dict[str, dict[str, str]] = {}
        lanes = {(ref.text or "").strip(): lane.get("name") or lane.get("id", "")
                 for lane in root.iter(f"{{{BPMN}}}lane") for ref in lane.iterfind("bpmn:flowNodeRef", NS)}
        for node in root.iter():
            if not isinstance(node.tag, str) or etree.QName(node).namespace != BPMN:
                continue
            local, eid = _local(node), node.get("id", "")
            if local in KINDS:
                self.names[eid] = node.get("name") or ""
                self.nodes[eid] = self._node(node, local, lanes.get(eid, ""))
            elif local == "sequenceFlow":
                self.flows[eid] = {"name": node.get("name") or "", "source": node.get("sourceRef", ""),
                                   "target": node.get("targetRef", ""),
                                   "condition": _text(node.find("bpmn:conditionExpression", NS))}
        #: where the shapes and edges are: every element of the diagram interchange with its attributes
        self.layout = [(_local(n), sorted(n.attrib.items())) for d in root.iter(f"{{{BPMNDI}}}BPMNDiagram")
                       for n in d.iter() if isinstance(n.tag, str)]

    @staticmethod
    def _node(node: etree._Element, local: str, lane: str) -> dict[str, str]:
        triggers = [_TRIGGERS.get(_local(d), _local(d)) for d in node if isinstance(d.tag, str)
                    and _local(d).endswith("EventDefinition")]
        kind = " ".join(triggers + [KINDS[local]])
        facets = {"kind": kind, "name": node.get("name") or "", "lane": lane,
                  "default": node.get("default", ""), "called": node.get("calledElement", ""),
                  "attached": node.get("attachedToRef", ""), "script": _text(node.find("bpmn:script", NS))}
        if local == "boundaryEvent":
            facets["interrupting"] = "no" if node.get("cancelActivity") == "false" else "yes"
        timer = node.find("bpmn:timerEventDefinition", NS)
        if timer is not None:
            facets["timer"] = " ".join(f"{_local(t)[4:].lower()} {_text(t)}" for t in timer if isinstance(t.tag, str))
        for what, tag in (("message", "messageEventDefinition"), ("signal", "signalEventDefinition")):
            ref = node.find(f"bpmn:{tag}", NS)
            if ref is not None:
                facets[what] = ref.get(f"{what}Ref", "")
        loop = node.find("bpmn:multiInstanceLoopCharacteristics", NS)
        if loop is not None:
            facets["multi_instance"] = " ".join(filter(None, (
                _text(loop.find("bpmn:loopCardinality", NS)), loop.get(f"{{{SPIFF}}}collection", ""),
                _text(loop.find("bpmn:loopDataInputRef", NS)),
                "one after another" if loop.get("isSequential") == "true" else "")))
        ext = node.find("bpmn:extensionElements", NS)
        if ext is not None:
            for what, tag in (("instructions", "instructionsForEndUser"), ("pre_script", "preScript"),
                              ("post_script", "postScript")):
                facets[what] = _text(ext.find(f"spiffworkflow:{tag}", NS))
            for prop in ext.iterfind("spiffworkflow:properties/spiffworkflow:property", NS):
                facets[f"property:{prop.get('name')}"] = prop.get("value") or ""
        return {k: v for k, v in facets.items() if v}

    def label(self, eid: str) -> str:
        node = self.nodes.get(eid)
        if node is None:
            return eid
        name = node.get("name")
        return f"{node['kind'].capitalize()} '{name}'" if name else f"{node['kind'].capitalize()} ({eid})"

    def node_name(self, eid: str) -> str:
        return self.names.get(eid) or eid

    def flow_name(self, fid: str) -> str:
        """A flow by its name, else by where it goes ("to 'Approve'")."""
        flow = self.flows.get(fid)
        if flow is None:
            return fid
        return f"'{flow['name']}'" if flow["name"] else f"to '{self.node_name(flow['target'])}'"

    def flow_label(self, fid: str) -> str:
        flow = self.flows[fid]
        route = f"from '{self.node_name(flow['source'])}' to '{self.node_name(flow['target'])}'"
        return f"Flow '{flow['name']}' {route}" if flow["name"] else f"Flow {route}"


def _facet_label(key: str) -> str:
    if key.startswith("property:"):
        return f"property {key.removeprefix('property:').replace('_', ' ')}"
    return LABELS.get(key, key)


def _facets(a: dict[str, str], b: dict[str, str], names: tuple[_Model, _Model]) -> list[tuple[str, str, str]]:
    out = []
    for key in sorted(set(a) | set(b), key=lambda k: (k.startswith("property:"), k)):
        before, after = a.get(key, ""), b.get(key, "")
        if before == after:
            continue
        if key == "default":  # ids: shown by names
            before, after = names[0].flow_name(before) if before else "", names[1].flow_name(after) if after else ""
        elif key in ("attached", "source", "target"):
            before, after = names[0].node_name(before), names[1].node_name(after)
        out.append((_facet_label(key), before, after))
    return out


def structural_diff(old_xml: str, new_xml: str) -> StructuralDiff:
    """The elements and flows added, removed or changed from ``old_xml`` to ``new_xml``."""
    old, new = _Model(old_xml), _Model(new_xml)
    elements = [Change(new.label(e), "added") for e in new.nodes if e not in old.nodes]
    elements += [Change(old.label(e), "removed") for e in old.nodes if e not in new.nodes]
    for eid in (e for e in new.nodes if e in old.nodes):
        facets = _facets(old.nodes[eid], new.nodes[eid], (old, new))
        if facets:
            elements.append(Change(new.label(eid), "changed", facets))
    flows = [Change(new.flow_label(f), "added", [(LABELS["condition"], "", new.flows[f]["condition"])]
                    if new.flows[f]["condition"] else []) for f in new.flows if f not in old.flows]
    flows += [Change(old.flow_label(f), "removed") for f in old.flows if f not in new.flows]
    for fid in (f for f in new.flows if f in old.flows):
        facets = _facets(old.flows[fid], new.flows[fid], (old, new))
        if facets:
            flows.append(Change(new.flow_label(fid), "changed", facets))
    return StructuralDiff(elements, flows, old.layout != new.layout)
