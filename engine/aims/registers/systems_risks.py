"""AI systems, impact assessments, risks, their treatment and acceptance, and the decision records
(DOMAIN.md 4.2, 4.3, 4.5, 4.6)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.aims.registers.common import RegisterMixin
from engine.core.db import JSONText
from engine.core.models.base import Base


class AISystem(RegisterMixin, Base):
    """AI system inventory (DOMAIN.md 4.2). ``status`` is the governance status."""

    __tablename__ = "ai_system"

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    intended_purpose: Mapped[str] = mapped_column(Text, default="")
    reasonably_foreseeable_misuse: Mapped[str] = mapped_column(Text, default="")
    org_roles: Mapped[list[str]] = mapped_column(JSONText, default=list)
    system_owner_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    business_sponsor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    ai_technique: Mapped[str | None] = mapped_column(String(40))
    life_cycle_stage: Mapped[str | None] = mapped_column(String(40))
    deployment_context: Mapped[str | None] = mapped_column(String(40))
    decision_role: Mapped[str | None] = mapped_column(String(40))
    human_oversight: Mapped[str] = mapped_column(Text, default="")
    affected_parties: Mapped[list[str]] = mapped_column(JSONText, default=list)
    personal_data: Mapped[str] = mapped_column(String(40), default="none")
    continuous_learning: Mapped[bool] = mapped_column(default=False)
    impact_tier: Mapped[str | None] = mapped_column(String(10))
    regulatory_classification: Mapped[str | None] = mapped_column(String(40))
    in_aims_scope: Mapped[bool] = mapped_column(default=True)
    last_aiia_id: Mapped[int | None] = mapped_column(ForeignKey("impact_assessment.id", use_alter=True))
    next_aiia_due: Mapped[date | None] = mapped_column(Date)
    last_risk_assessment_at: Mapped[date | None] = mapped_column(Date)
    #: everything else DOMAIN.md lists (event logging, third-party components, ...)
    details: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)


class ImpactAssessment(RegisterMixin, Base):
    """AI system impact assessment, one row per version (DOMAIN.md 4.6)."""

    __tablename__ = "impact_assessment"
    __table_args__ = (UniqueConstraint("ai_system_id", "version"),)

    ai_system_id: Mapped[int] = mapped_column(ForeignKey("ai_system.id"), index=True)
    version: Mapped[int]
    trigger: Mapped[str] = mapped_column(String(40))
    impact_tier: Mapped[str | None] = mapped_column(String(10))
    screening_answers: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    #: context, impacts, societal checklist, failures, consultation, low-tier record
    content: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    overall_conclusion: Mapped[str | None] = mapped_column(String(40))
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSONText, default=list)
    decision_rationale: Mapped[str | None] = mapped_column(Text)
    assessor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reviewer_ids: Mapped[list[int]] = mapped_column(JSONText, default=list)
    approver_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    approved_at: Mapped[datetime | None]
    next_review_due: Mapped[date | None] = mapped_column(Date)
    retention_rule: Mapped[str] = mapped_column(String(60), default="system_retirement+P3Y")
    retention_until: Mapped[date | None] = mapped_column(Date)
    linked_risk_ids: Mapped[list[int]] = mapped_column(JSONText, default=list)
    rework_count: Mapped[int] = mapped_column(default=0)


class Risk(RegisterMixin, Base):
    """Risk register row (DOMAIN.md 4.5)."""

    __tablename__ = "risk"

    kind: Mapped[str] = mapped_column(String(20), default="risk")
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    ai_system_ids: Mapped[list[int]] = mapped_column(JSONText, default=list)
    source_category: Mapped[str | None] = mapped_column(String(60))
    origin: Mapped[str] = mapped_column(String(40), default="risk_assessment")
    origin_ref: Mapped[str | None] = mapped_column(String(100))
    consequences: Mapped[dict[str, str]] = mapped_column(JSONText, default=dict)
    existing_controls: Mapped[list[str]] = mapped_column(JSONText, default=list)
    inherent_likelihood: Mapped[int | None]
    inherent_impact: Mapped[int | None]
    inherent_score: Mapped[int | None]
    inherent_level: Mapped[str | None] = mapped_column(String(10))
    treatment_option: Mapped[str | None] = mapped_column(String(10))
    planned_controls: Mapped[list[str]] = mapped_column(JSONText, default=list)
    annex_a_compared: Mapped[bool] = mapped_column(default=False)
    target_residual_likelihood: Mapped[int | None]
    target_residual_impact: Mapped[int | None]
    residual_score: Mapped[int | None]
    residual_level: Mapped[str | None] = mapped_column(String(10))
    actual_residual_likelihood: Mapped[int | None]
    actual_residual_impact: Mapped[int | None]
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    assessor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    criteria_version: Mapped[str | None] = mapped_column(String(20))
    acceptance_id: Mapped[int | None] = mapped_column(ForeignKey("risk_acceptance.id", use_alter=True))
    next_review_at: Mapped[date | None] = mapped_column(Date)
    #: scoring detail and the last assessment snapshot (rationales, per-dimension impacts)
    details: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)


class RiskTreatmentAction(RegisterMixin, Base):
    """One action of a risk treatment plan (DOMAIN.md 4.5)."""

    __tablename__ = "risk_treatment_action"

    risk_id: Mapped[int] = mapped_column(ForeignKey("risk.id"), index=True)
    description: Mapped[str] = mapped_column(Text)
    control_ref: Mapped[str | None] = mapped_column(String(20))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    due_date: Mapped[date | None] = mapped_column(Date)
    completed_at: Mapped[date | None] = mapped_column(Date)
    completion_note: Mapped[str | None] = mapped_column(Text)
    #: evidence references given on completion (files or register refs)
    evidence: Mapped[list[str]] = mapped_column(JSONText, default=list)
    blocker: Mapped[str | None] = mapped_column(Text)


class RiskAcceptance(RegisterMixin, Base):
    """Acceptance of a residual risk by designated management (DOMAIN.md 4.5)."""

    __tablename__ = "risk_acceptance"

    risk_id: Mapped[int] = mapped_column(ForeignKey("risk.id"), index=True)
    residual_score_at_acceptance: Mapped[int]
    level: Mapped[str] = mapped_column(String(10))
    #: the authority the level requires: risk_owner, approver, top_management, ceo
    required_authority: Mapped[str] = mapped_column(String(20))
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    acceptor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    acceptor_authority_level: Mapped[str | None] = mapped_column(String(20))
    decision: Mapped[str | None] = mapped_column(String(40))
    rationale: Mapped[str | None] = mapped_column(Text)
    conditions: Mapped[str | None] = mapped_column(Text)
    compensating_controls: Mapped[list[str]] = mapped_column(JSONText, default=list)
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    approval_id: Mapped[int | None] = mapped_column(ForeignKey("approval.id"))


class Approval(Base):
    """An immutable decision record (DOMAIN.md 4.3): who decided what on which version, when, why."""

    __tablename__ = "approval"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[int]
    subject_ref: Mapped[str | None] = mapped_column(String(60))
    subject_version: Mapped[int | None]
    step: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    actor_role: Mapped[str | None] = mapped_column(String(50))
    decision: Mapped[str] = mapped_column(String(40))
    comment: Mapped[str | None] = mapped_column(Text)
    conditions: Mapped[Any | None] = mapped_column(JSONText, default=None)
    decided_at: Mapped[datetime]
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    task_spec: Mapped[str | None] = mapped_column(String(100))
