"""Certification: cycles, readiness reviews, external audits and their findings (DOMAIN.md 4.13)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Float, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.aims.registers.common import RegisterMixin
from engine.core.db import JSONText
from engine.core.models.base import Base


class CertificationCycle(RegisterMixin, Base):
    """A three-year certification cycle with a certification body (DOMAIN.md 4.13)."""

    __tablename__ = "certification_cycle"

    certification_body: Mapped[str] = mapped_column(String(300))
    accreditation_body: Mapped[str | None] = mapped_column(String(300))
    cb_accredited_for_42001: Mapped[bool] = mapped_column(default=False)
    cb_contact: Mapped[str | None] = mapped_column(String(300))
    internal_point_of_contact_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    scope_document_version_id: Mapped[int | None] = mapped_column(ForeignKey("document_version.id"))
    soa_version_id: Mapped[int | None] = mapped_column(ForeignKey("soa_version.id"))
    aims_operating_since: Mapped[date | None] = mapped_column(Date)
    target_stage1_date: Mapped[date | None] = mapped_column(Date)
    target_stage2_date: Mapped[date | None] = mapped_column(Date)
    certificate_number: Mapped[str | None] = mapped_column(String(100))
    issued_at: Mapped[date | None] = mapped_column(Date)
    expires_at: Mapped[date | None] = mapped_column(Date)
    surveillance_1_due: Mapped[date | None] = mapped_column(Date)
    surveillance_2_due: Mapped[date | None] = mapped_column(Date)
    recertification_due: Mapped[date | None] = mapped_column(Date)
    details: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)


class ReadinessReview(RegisterMixin, Base):
    """A readiness check run before the external audit (DOMAIN.md 4.13)."""

    __tablename__ = "readiness_review"

    cycle_id: Mapped[int] = mapped_column(ForeignKey("certification_cycle.id"), index=True)
    run_at: Mapped[datetime]
    #: [{id, clause_refs, result: pass|fail|warn, detail}]
    checks: Mapped[list[dict[str, Any]]] = mapped_column(JSONText, default=list)
    blockers_count: Mapped[int] = mapped_column(default=0)
    warnings_count: Mapped[int] = mapped_column(default=0)
    score_pct: Mapped[float | None] = mapped_column(Float)
    #: go, no_go, go_with_known_risks
    decision: Mapped[str | None] = mapped_column(String(30))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None]
    rationale: Mapped[str | None] = mapped_column(Text)


class ExternalAudit(RegisterMixin, Base):
    """A certification-body audit: stage 1, stage 2, surveillance, recertification (DOMAIN.md 4.13)."""

    __tablename__ = "external_audit"

    cycle_id: Mapped[int] = mapped_column(ForeignKey("certification_cycle.id"), index=True)
    #: stage1, stage2, surveillance, recertification, special, transfer
    type: Mapped[str] = mapped_column(String(20))
    planned_start: Mapped[date | None] = mapped_column(Date)
    planned_end: Mapped[date | None] = mapped_column(Date)
    actual_start: Mapped[date | None] = mapped_column(Date)
    actual_end: Mapped[date | None] = mapped_column(Date)
    cb_lead_auditor: Mapped[str | None] = mapped_column(String(200))
    mode: Mapped[str | None] = mapped_column(String(20))
    audit_plan_evidence_id: Mapped[int | None] = mapped_column(ForeignKey("evidence.id"))
    report_evidence_id: Mapped[int | None] = mapped_column(ForeignKey("evidence.id"))
    outcome: Mapped[str | None] = mapped_column(String(30))
    #: the schedule form, the CB information-request log, the evidence-pack manifest, repeat flags
    details: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)


class ExternalFinding(RegisterMixin, Base):
    """A certification body's finding; nonconformities are handled through our own NC (``nc_id``)."""

    __tablename__ = "external_finding"

    external_audit_id: Mapped[int] = mapped_column(ForeignKey("external_audit.id"), index=True)
    cb_ref: Mapped[str | None] = mapped_column(String(60))
    #: stage1_concern, major_nc, minor_nc, ofi, observation
    type: Mapped[str] = mapped_column(String(20))
    clause_or_control: Mapped[str | None] = mapped_column(String(40))
    statement: Mapped[str] = mapped_column(Text)
    cb_due_date: Mapped[date | None] = mapped_column(Date)
    nc_id: Mapped[int | None] = mapped_column(ForeignKey("nonconformity.id"))
    #: open, plan_submitted, plan_accepted, evidence_submitted, verified, closed
    cb_status: Mapped[str] = mapped_column(String(30), default="open")
