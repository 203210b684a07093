"""The records a form field may name by reference (``"x-ref": "<kind>"`` in ``forms/*.schema.json``):
what people call each kind, the records to choose from and whether a reference names one. The core
checks every such field before a start or a completion runs anything, so a bad reference is an error
next to its field, never a missing page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.core.domain import Reference

#: rows listed per kind at most (the newest first); a longer register is still checked in full
LIMIT = 500


def _describe(row: Any) -> str:
    for name in ("title", "name", "description", "certification_body", "course", "competence"):
        text = getattr(row, name, None)
        if isinstance(text, str) and text.strip():
            short = " ".join(text.split())
            return f"{row.ref} — {short[:80]}{'…' if len(short) > 80 else ''}"
    return str(row.ref)


def _models(names: tuple[str, ...]) -> list[Any]:
    """The register classes named, imported on first use (a command that checks no form loads none)."""
    from engine.aims import registers

    return [getattr(registers, name) for name in names]


def _register(*names: str) -> tuple[Callable[[Session], list[tuple[str, str]]], Callable[[Session, str], bool]]:
    def options(session: Session) -> list[tuple[str, str]]:
        rows: list[Any] = []
        for model in _models(names):
            rows.extend(session.scalars(select(model).order_by(model.ref).limit(LIMIT)))
        return [(row.ref, _describe(row)) for row in rows]

    def exists(session: Session, value: str) -> bool:
        return any(session.scalar(select(model.id).where(model.ref == value)) is not None
                   for model in _models(names))

    return options, exists


def _control_order(control_id: str) -> tuple[Any, ...]:
    """``A.2.2`` before ``A.10.1``; organisation controls (``ORG-01``) after Annex A."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in control_id.split("."))


def _controls(session: Session) -> list[tuple[str, str]]:
    """The Annex A controls (shipped with the engine) and the organisation's own controls, each as
    "A.6.2.5 — AI system deployment"."""
    from engine.aims import catalogue
    from engine.aims.registers import Control

    titles = {c.control_id: c.title for c in catalogue.controls()}
    for control_id, title in session.execute(select(Control.control_id, Control.title)):
        titles.setdefault(control_id, title)
    return [(cid, f"{cid} — {titles[cid]}") for cid in sorted(titles, key=_control_order)]


def _control_exists(session: Session, value: str) -> bool:
    from engine.aims import catalogue
    from engine.aims.registers import Control

    return value in catalogue.control_ids() or session.scalar(
        select(Control.id).where(Control.control_id == value)) is not None


def _reference(label: str, *names: str) -> Reference:
    options, exists = _register(*names)
    return Reference(label, options, exists)


REFERENCES: dict[str, Reference] = {
    "ai_system": _reference("AI system", "AISystem"),
    "risk": _reference("risk", "Risk"),
    "evidence": _reference("evidence item", "Evidence"),
    "document": _reference("document", "Document"),
    "nonconformity": _reference("nonconformity", "Nonconformity"),
    "management_review": _reference("management review", "ManagementReview"),
    "internal_audit": _reference("internal audit", "Audit"),
    "certification_cycle": _reference("certification cycle", "CertificationCycle"),
    "control": Reference("control", _controls, _control_exists),
    "action": _reference("action", "CorrectiveAction", "ReviewAction", "RiskTreatmentAction", "ActionItem"),
    "training": _reference("training record", "TrainingRecord"),
    "competence": _reference("competence requirement", "CompetenceRequirement"),
}
