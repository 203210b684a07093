"""Structural lint, the paths: every element reachable from a start event and able to reach an end
event, splits only where the engine splits, and parallel paths meeting where something waits for them.

Rules (named in the table of ``lint_structure``): ``no-disconnected``, ``unreachable``, ``dead-end``,
``no-implicit-split``, ``fake-join``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from engine.core.bpmn_graph import Diagram, Node, Scope, reachable
from engine.core.bpmn_source import BPMN_NS
from engine.core.errors import WARNING, Problem


def exempt(node: Node) -> bool:
    """Elements that are not on the normal flow: event sub-processes, compensation handlers."""
    return (node.triggered_by_event or node.for_compensation
            or (node.kind == "boundaryEvent" and "compensateEventDefinition" in node.definitions))


def _forward(node: Node) -> list[Node]:
    return [f.target for f in node.outgoing if f.target is not None] + node.boundary + _link_targets(node)


def _link_targets(node: Node) -> list[Node]:
    """A link throw event continues at the link catch events of the same name (BPMN's semantics; the
    engine does not run links, which ``unsupported-event`` says, but the paths are judged as drawn)."""
    if node.kind != "intermediateThrowEvent" or "linkEventDefinition" not in node.definitions:
        return []
    name = _link_name(node)
    return [n for n in node.scope.nodes if n.kind == "intermediateCatchEvent" and _link_name(n) == name]


def _link_name(node: Node) -> str | None:
    definition = node.element.find(f"{{{BPMN_NS}}}linkEventDefinition")
    return None if definition is None else definition.get("name")


def paths(d: Diagram, _: Any) -> Iterator[Problem]:
    for scope in d.scopes:
        if scope.ad_hoc:
            continue
        nodes = [n for n in scope.nodes if len(d.ids.get(n.id, ())) == 1 and not exempt(n)]
        starts = [n for n in scope.nodes if n.kind == "startEvent"]
        reached = reachable(starts, _forward)
        ends = [n for n in scope.nodes if n.kind == "endEvent"]
        back = _backward(scope)
        finishing = reachable(ends, lambda n, back=back: back.get(n, []))
        stuck = {n for n in nodes if n in reached and n not in finishing}
        for node in nodes:
            if not node.incoming and not node.outgoing and node.kind != "boundaryEvent":
                yield d.problem(node, "it is not connected: no sequence flow comes in or goes out, so it never runs",
                                "connect it with sequence flows, or delete it", "no-disconnected")
            elif node not in reached:
                if node.kind != "boundaryEvent" or node.attached_to is not None:  # else flow-reference says it
                    yield _unreachable(d, node)
            elif node in stuck and not _forward(node):
                yield _dead_end(d, node)
            elif node in stuck and _is_trap_entry(node, stuck, back):
                yield d.problem(node, "from here the flow goes round in a loop that never reaches an end event",
                                "give the loop an exit: a gateway with a flow towards an end event", "dead-end")


def _backward(scope: Scope) -> dict[Node, list[Node]]:
    back: dict[Node, list[Node]] = {}
    for node in scope.nodes:
        for after in _forward(node):
            back.setdefault(after, []).append(node)
    return back


def _is_trap_entry(node: Node, stuck: set[Node], back: dict[Node, list[Node]]) -> bool:
    """``node`` is where the flow enters a loop without exit: it lies on a loop of ``stuck`` nodes, no
    path from it stops at an implicit end (reported instead), and something off that loop leads to it."""
    inside = [m for m in _forward(node) if m in stuck]
    if node not in reachable(inside, lambda n: [m for m in _forward(n) if m in stuck]):
        return False
    ahead = reachable([node], lambda n: [m for m in _forward(n) if m in stuck])
    if any(not _forward(n) for n in ahead):
        return False
    return any(b not in ahead for b in back.get(node, [])) or not back.get(node)


def _unreachable(d: Diagram, node: Node) -> Problem:
    if node.kind == "boundaryEvent" and node.attached_to is not None:
        return d.problem(node, f"it is attached to {d.label(node.attached_to)}, which no path from the start "
                               "event reaches, so it never fires",
                         "connect that activity to the flow, or delete both", "unreachable")
    if not node.incoming and not _link_sources(node):
        return d.problem(node, "no sequence flow leads to it, so it never runs",
                         "draw a sequence flow into it from the step before, or delete it", "unreachable")
    before = sorted({d.label(f.source) or f.source.id for f in node.incoming if f.source is not None}
                    | {d.label(n) for n in _link_sources(node)})
    return d.problem(node, f"no path from the start event reaches it: it follows only {' and '.join(before)}, "
                           f"which never {'run' if len(before) > 1 else 'runs'}",
                     "connect it to the flow that begins at the start event, or delete it", "unreachable")


def _link_sources(node: Node) -> list[Node]:
    return [n for n in node.scope.nodes if node in _link_targets(n)]


def _dead_end(d: Diagram, node: Node) -> Problem:
    if node.is_gateway:
        return d.problem(node, "it has no outgoing sequence flow, so an instance that reaches it stops with an error",
                         "draw the flows it should lead to, or delete it and connect the flow directly", "dead-end")
    return d.problem(node, "the flow stops here: it has no outgoing sequence flow and is not an end event",
                     "draw a sequence flow from it to the next step or to an end event", "dead-end")


def implicit_split(d: Diagram, _: Any) -> Iterator[Problem]:
    for node in d.all_nodes():
        if node.is_gateway or len(node.outgoing) < 2:
            continue
        count = len(node.outgoing)
        if node.kind == "startEvent":
            yield d.problem(node, f"it has {count} outgoing sequence flows, so every instance starts on all of "
                                  "them at once", "if the paths are meant to run side by side, draw a parallel gateway "
                                  "after the start event; if only one is meant, an exclusive gateway",
                            "no-implicit-split", WARNING)
        elif any(f.condition is not None for f in node.outgoing):
            # Camunda takes every conditional flow whose condition holds (an implicit inclusive split);
            # SpiffWorkflow's parser refuses several flows out of an activity or event
            yield d.problem(node, f"it has {count} outgoing sequence flows with conditions (an implicit conditional "
                                  "split, which the engine does not run)",
                            "add an exclusive gateway after it to take one flow, or an inclusive gateway to take "
                            "every flow whose condition holds, and move the conditions onto the flows leaving the "
                            "gateway", "no-implicit-split")
        else:
            # BPMN reads this as a parallel split; SpiffWorkflow's parser refuses it
            yield d.problem(node, f"it has {count} outgoing sequence flows: an implicit parallel split, which the "
                                  "engine does not run",
                            "an implicit parallel split: add a parallel gateway after it to run the paths side by "
                            "side (or an exclusive gateway to choose one)", "no-implicit-split")


def fake_joins(d: Diagram, _: Any) -> Iterator[Problem]:
    reported: set[Node] = set()
    for scope in d.scopes:
        if scope.ad_hoc:
            continue
        for fork, branches in _forks(scope):
            counts: dict[Node, int] = {}
            for branch in branches:
                for node in _branch(branch, fork):
                    counts[node] = counts.get(node, 0) + 1
            for node, count in counts.items():
                if count < 2 or len(node.incoming) < 2 or node in reported:
                    continue
                if node.kind in ("endEvent", "parallelGateway", "inclusiveGateway", "eventBasedGateway"):
                    continue
                reported.add(node)
                yield d.problem(node, f"the parallel paths from {d.label(fork)} arrive here separately, so it runs "
                                      "once for each path instead of waiting for all of them",
                                "put a parallel gateway before it to wait for every path (an inclusive gateway after "
                                "an inclusive split)", "fake-join", WARNING)


def _forks(scope: Scope) -> Iterator[tuple[Node, list[list[Node]]]]:
    """Each element that sends tokens down several paths at once, with the first nodes of each path."""
    for node in scope.nodes:
        targets = [f.target for f in node.outgoing if f.target is not None]
        if node.kind in ("parallelGateway", "inclusiveGateway") and len(targets) > 1 \
                or node.kind == "startEvent" and len(targets) > 1:
            yield node, [[t] for t in targets]
        gentle = [b for b in node.boundary if not b.interrupting]
        if gentle and targets:
            yield node, [targets] + [[f.target for f in b.outgoing if f.target is not None] for b in gentle]


def _branch(starts: list[Node], fork: Node) -> set[Node]:
    """What one path reaches before a gateway that waits for all paths (or back at the fork)."""
    def step(node: Node) -> list[Node]:
        if node is fork or (node.kind in ("parallelGateway", "inclusiveGateway") and len(node.incoming) > 1):
            return []
        # a non-interrupting boundary event on the way starts a token of its own: a fork of its own
        return [f.target for f in node.outgoing if f.target is not None] + [b for b in node.boundary if b.interrupting]
    return reachable(starts, step)
