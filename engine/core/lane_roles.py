"""The role of a human task drawn outside any lane.

Lanes name roles (``lint_tasks``). Diagrams from other modelers often put tasks straight in a pool,
or draw no lanes at all. Such a task takes, in this order: the role its pool (the collaboration's
``participant`` whose ``processRef`` is the task's process) is named after, by role code or by the
role's label; then the ``AIMSFLOW_DEFAULT_LANE_ROLE`` setting. Without either it stays without a
lane and lint refuses it, saying so.

The role is written onto the parsed task spec (``lane``), so the runtime, the inbox and lint read it
where they read a lane; the stored XML is not changed.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.specs.mixins import ManualTaskMixin, NoneTaskMixin, UserTaskMixin

from engine.core import domain
from engine.core.bpmn_source import BPMN_NS

Specs = tuple[Any, dict[str, Any]]


def pool_roles(root: Any) -> dict[str, str]:
    """process id -> the known role its pool is named after (pools named otherwise are left out)."""
    roles = domain.current().roles
    by_word = {code.lower(): code for code in roles} | {label.strip().lower(): code for code, label in roles.items()}
    out: dict[str, str] = {}
    for participant in root.iter(f"{{{BPMN_NS}}}participant"):
        role = by_word.get((participant.get("name") or "").strip().lower())
        if role and participant.get("processRef"):
            out[participant.get("processRef")] = role
    return out


def fill(specs: Specs, roots: list[Any], default_role: str) -> dict[str, str]:
    """Give every lane-less human task of ``specs`` its pool's role (the pools of ``roots``, the parsed
    files the specs come from), or ``default_role``. Returns task id -> where its role came from
    ("pool" or "setting")."""
    pools: dict[str, str] = {}
    process_of: dict[str, str] = {}
    for root in roots:
        pools |= pool_roles(root)
        process_of |= _process_of_elements(root)
    filled: dict[str, str] = {}
    for spec in (specs[0], *(s for s in specs[1].values() if s is not None)):
        for ts in spec.task_specs.values():
            if getattr(ts, "lane", None) or not getattr(ts, "bpmn_id", None):
                continue
            if not isinstance(ts, UserTaskMixin | ManualTaskMixin | NoneTaskMixin):
                continue
            role = pools.get(process_of.get(ts.bpmn_id, ""))
            if role:
                ts.lane, filled[ts.bpmn_id] = role, "pool"
            elif default_role:
                ts.lane, filled[ts.bpmn_id] = default_role, "setting"
    return filled


def _process_of_elements(root: Any) -> dict[str, str]:
    """element id -> the id of the process that holds it (sub-processes included)."""
    out: dict[str, str] = {}
    for process in root.iterfind(f"{{{BPMN_NS}}}process"):
        for element in process.iter():
            if isinstance(element.tag, str) and element.get("id"):
                out[element.get("id")] = process.get("id", "")
    return out
