"""The one reader of BPMN extension properties (``spiffworkflow:properties``) -> typed records.

Property names (DESIGN.md, "Task properties"): ``form`` (or spiff-arena's
``formJsonSchemaFilename``), ``assignee_var``, ``due_in`` / ``due_at_var``, ``escalation_profile``,
``sod_rules``; on start events also ``start_roles``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

KNOWN_PROPERTIES = frozenset({
    "form", "formJsonSchemaFilename", "formUiSchemaFilename", "assignee_var", "due_in", "due_at_var",
    "escalation_profile", "sod_rules", "start_roles",
})


@dataclass(frozen=True)
class TaskProperties:
    form: str | None = None
    assignee_var: str | None = None
    due_in: str | None = None
    due_at_var: str | None = None
    escalation_profile: str | None = None
    sod_rules: tuple[str, ...] = ()
    start_roles: tuple[str, ...] = ()
    instructions: str | None = None
    unknown: tuple[str, ...] = ()


def form_name(value: str | None) -> str | None:
    """``aiia_screening``, ``aiia_screening.schema.json`` and ``forms/x.schema.json`` name one form."""
    if not value:
        return None
    name = value.strip().rsplit("/", 1)[-1]
    for suffix in (".schema.json", ".json"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name or None


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in (value or "").split(",") if p.strip())


def read_properties(extensions: dict[str, Any] | None) -> TaskProperties:
    """Typed view of a task spec's ``extensions`` dict as SpiffBpmnParser fills it."""
    extensions = extensions or {}
    props: dict[str, str] = extensions.get("properties") or {}
    return TaskProperties(
        form=form_name(props.get("form") or props.get("formJsonSchemaFilename")),
        assignee_var=(props.get("assignee_var") or "").strip() or None,
        due_in=(props.get("due_in") or "").strip() or None,
        due_at_var=(props.get("due_at_var") or "").strip() or None,
        escalation_profile=(props.get("escalation_profile") or "").strip() or None,
        sod_rules=_split(props.get("sod_rules")),
        start_roles=_split(props.get("start_roles")),
        instructions=extensions.get("instructionsForEndUser"),
        unknown=tuple(sorted(set(props) - KNOWN_PROPERTIES)),
    )


def lookup_path(data: dict[str, Any], path: str) -> Any:
    """Value at a dotted path (``request.owner_id``) in task data, or None where a part is missing."""
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value
