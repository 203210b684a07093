"""Nonconformities, corrective actions and the action items they raise (DOMAIN.md 4.11)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.aims.registers.common import RegisterMixin
from engine.core.db import JSONText
from engine.core.models.base import Base


class Nonconformity(RegisterMixin, Base):
    """A nonconformity and its handling (DOMAIN.md 4.11; 10.2)."""

    __tablename__ = "nonconformity"

    #: internal_audit, external_audit_stage1/2, surveillance, incident, monitoring, complaint, ...
    source: Mapped[str] = mapped_column(String(40))
    source_ref: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    requirement_ref: Mapped[str | None] = mapped_column(String(100))
    #: major, minor (set by the CB for external findings)
    severity: Mapped[str | None] = mapped_column(String(10))
    severity_fixed: Mapped[bool] = mapped_column(default=False)
    ai_system_ids: Mapped[list[int]] = mapped_column(JSONText, default=list)
    detected_at: Mapped[datetime | None]
    reported_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    plan_approver_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("nonconformity.id"))
    containment_actions: Mapped[str | None] = mapped_column(Text)
    correction: Mapped[str | None] = mapped_column(Text)
    consequences_handled: Mapped[str | None] = mapped_column(Text)
    correction_completed_at: Mapped[datetime | None]
    incident_communication_required: Mapped[bool] = mapped_column(default=False)
    #: none, restricted, suspended, rolled_back
    ai_system_action: Mapped[str | None] = mapped_column(String(20))
    rca_method: Mapped[str | None] = mapped_column(String(40))
    #: [{cause, category}]
    root_causes: Mapped[list[dict[str, Any]]] = mapped_column(JSONText, default=list)
    #: {exist, could_occur, refs, other_areas_affected}
    similar_ncs: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    #: yes, no_correction_sufficient
    ca_required: Mapped[str | None] = mapped_column(String(30))
    no_ca_justification: Mapped[str | None] = mapped_column(Text)
    effectiveness_criteria: Mapped[str | None] = mapped_column(Text)
    effectiveness_check_after: Mapped[str | None] = mapped_column(String(10))
    effectiveness_check_at: Mapped[date | None] = mapped_column(Date)
    #: effective, not_effective
    effectiveness_result: Mapped[str | None] = mapped_column(String(20))
    verifier_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    aims_change_required: Mapped[list[str]] = mapped_column(JSONText, default=list)
    external_due_date: Mapped[date | None] = mapped_column(Date)
    reopen_count: Mapped[int] = mapped_column(default=0)
    plan_rework_count: Mapped[int] = mapped_column(default=0)
    closed_at: Mapped[datetime | None]
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    lessons_learned: Mapped[str | None] = mapped_column(Text)
    #: triage rationale, incident communications, verification records, reopen history
    details: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)

    actions: Mapped[list[CorrectiveAction]] = relationship(back_populates="nc", order_by="CorrectiveAction.id")

    @property
    def cause_words(self) -> list[str]:
        """The root causes in their words, in the order the analysis gave them (an action names one by
        its index)."""
        return [str(c.get("cause") or f"root cause {i + 1}") if isinstance(c, dict) else str(c)
                for i, c in enumerate(self.root_causes or [])]


class CorrectiveAction(RegisterMixin, Base):
    """One action of a corrective-action plan (DOMAIN.md 4.11; 10.2 c). ``action_instance_id`` is
    the ``aims_action`` instance that carries it out."""

    __tablename__ = "corrective_action"

    nc_id: Mapped[int] = mapped_column(ForeignKey("nonconformity.id"), index=True)
    description: Mapped[str] = mapped_column(Text)
    #: index into the NC's root causes
    addresses_root_cause: Mapped[int | None]
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    due_date: Mapped[date | None] = mapped_column(Date)
    completed_at: Mapped[date | None] = mapped_column(Date)
    completion_note: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[list[str]] = mapped_column(JSONText, default=list)
    blocker: Mapped[str | None] = mapped_column(Text)
    action_instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))

    nc: Mapped[Nonconformity] = relationship(back_populates="actions")

    @property
    def root_cause(self) -> str | None:
        """The words of the root cause it addresses (its NC's ``root_causes``); None when there is none."""
        index = self.addresses_root_cause
        causes = self.nc.cause_words if self.nc is not None else []
        return causes[index] if index is not None and 0 <= index < len(causes) else None


class ActionItem(RegisterMixin, Base):
    """A generic action (FLOWS.md S1 ``aims_action``) whose source has no action register of its own:
    AIIA conditions, readiness remediation, SoA fixes, AIMS changes spawned by an NC."""

    __tablename__ = "action_item"

    description: Mapped[str] = mapped_column(Text)
    #: the object it serves (``NC-2026-004``, ``AIIA-002-v3``, ``CERT-2026``)
    source_ref: Mapped[str | None] = mapped_column(String(100), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    requester_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    due_date: Mapped[date | None] = mapped_column(Date)
    needs_verification: Mapped[bool] = mapped_column(default=False)
    completed_at: Mapped[date | None] = mapped_column(Date)
    completion_note: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[list[str]] = mapped_column(JSONText, default=list)
    blocker: Mapped[str | None] = mapped_column(Text)
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    verified_at: Mapped[datetime | None]
    return_count: Mapped[int] = mapped_column(default=0)
