"""Internal audit: programmes, audits and findings (DOMAIN.md 4.10)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.aims.registers.common import RegisterMixin
from engine.core.db import JSONText
from engine.core.models.base import Base


class AuditProgramme(RegisterMixin, Base):
    """The internal audit programme of a period (DOMAIN.md 4.10; 9.2.2)."""

    __tablename__ = "audit_programme"

    period: Mapped[str] = mapped_column(String(20))
    objectives: Mapped[str] = mapped_column(Text, default="")
    #: [{clause_or_control, planned_audit_ref}]
    coverage_plan: Mapped[list[dict[str, Any]]] = mapped_column(JSONText, default=list)
    cycle_coverage_rule: Mapped[str | None] = mapped_column(Text)
    frequency_rationale: Mapped[str | None] = mapped_column(Text)
    methods: Mapped[str | None] = mapped_column(Text)
    responsibilities: Mapped[str | None] = mapped_column(Text)
    reporting_rules: Mapped[str | None] = mapped_column(Text)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    approved_at: Mapped[datetime | None]
    approval_id: Mapped[int | None] = mapped_column(ForeignKey("approval.id"))
    #: the fiscal year, the drafted audits, coverage checks and results (migration 0007)
    details: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)


class Audit(RegisterMixin, Base):
    """One internal audit (DOMAIN.md 4.10; 9.2)."""

    __tablename__ = "internal_audit"

    programme_id: Mapped[int | None] = mapped_column(ForeignKey("audit_programme.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    objectives: Mapped[str] = mapped_column(Text, default="")
    #: {clauses: [], controls: [], ai_systems: [], processes: [], units: []}
    scope: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    criteria: Mapped[list[str]] = mapped_column(JSONText, default=list)
    lead_auditor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    team_ids: Mapped[list[int]] = mapped_column(JSONText, default=list)
    auditee_ids: Mapped[list[int]] = mapped_column(JSONText, default=list)
    #: AuditorDeclaration rows: [{user_id, no_conflict, conflicts, signed_at}]
    independence_declarations: Mapped[list[dict[str, Any]]] = mapped_column(JSONText, default=list)
    planned_start: Mapped[date | None] = mapped_column(Date)
    planned_end: Mapped[date | None] = mapped_column(Date)
    actual_start: Mapped[date | None] = mapped_column(Date)
    actual_end: Mapped[date | None] = mapped_column(Date)
    method: Mapped[str | None] = mapped_column(String(20))
    checklist: Mapped[list[dict[str, Any]]] = mapped_column(JSONText, default=list)
    conclusion: Mapped[str | None] = mapped_column(Text)
    conclusion_conformity: Mapped[str | None] = mapped_column(String(40))
    report_document_version_id: Mapped[int | None] = mapped_column(ForeignKey("document_version.id"))
    distribution: Mapped[list[int]] = mapped_column(JSONText, default=list)
    details: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)


class AuditFinding(RegisterMixin, Base):
    """A finding of an internal audit (DOMAIN.md 4.10); a nonconformity finding raises an NC."""

    __tablename__ = "audit_finding"

    audit_id: Mapped[int] = mapped_column(ForeignKey("internal_audit.id"), index=True)
    #: major_nc, minor_nc, observation, ofi, positive
    type: Mapped[str] = mapped_column(String(20))
    clause_or_control: Mapped[str | None] = mapped_column(String(40))
    statement: Mapped[str] = mapped_column(Text)
    criterion: Mapped[str | None] = mapped_column(Text)
    objective_evidence: Mapped[str | None] = mapped_column(Text)
    auditee_response: Mapped[str | None] = mapped_column(String(20))
    dispute_rationale: Mapped[str | None] = mapped_column(Text)
    resolution: Mapped[str | None] = mapped_column(Text)
    nc_id: Mapped[int | None] = mapped_column(ForeignKey("nonconformity.id"))
    improvement_ref: Mapped[str | None] = mapped_column(String(40))
    auditee_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    #: the auditee's e-mail, escalation and proposed NC owner, arbitration (migration 0007)
    details: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
