"""The registers of the whole AIMS (DOMAIN.md 4.3, 4.4, 4.7-4.13): documented information, objectives,
controls and the Statement of Applicability, evidence, competence, internal audit, nonconformities
and corrective actions, management review, certification.

Rows are written only by service-task operators (``engine/operators``) and the demo loader. Register
rows carry the common fields of DOMAIN.md section 1 through :class:`RegisterMixin`; lists and dicts
are ``JSONText``. Users are foreign keys to ``user_account``; Annex A controls and clauses are named
by their ids (``A.6.2.4``, ``9.2.2``) wherever a row links to them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Float, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import JSONText
from .base import Base
from .registers import RegisterMixin

# --------------------------------------------------------------------------- reference data


class Clause(Base):
    """A requirement sub-clause of ISO/IEC 42001 (``clauses.csv``: 4.1 ... 10.2)."""

    __tablename__ = "clause"

    id: Mapped[int] = mapped_column(primary_key=True)
    clause_id: Mapped[str] = mapped_column(String(20), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text, default="")


class Control(Base):
    """The control catalogue (DOMAIN.md 4.7): the 38 Annex A controls and organisation controls."""

    __tablename__ = "control"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: ``A.6.2.4`` or ``ORG-01``
    control_id: Mapped[str] = mapped_column(String(20), unique=True)
    objective_group: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text, default="")
    #: annex_a or organisation
    source: Mapped[str] = mapped_column(String(20), default="annex_a")
    #: the implementation guidance (``B.6.2.4``)
    guidance_ref: Mapped[str | None] = mapped_column(String(20))


# --------------------------------------------------------------------------- 4.3 documented information


class Document(RegisterMixin, Base):
    """A controlled document (DOMAIN.md 4.3): the AI policy, procedures, the scope, the SoA..."""

    __tablename__ = "document"

    title: Mapped[str] = mapped_column(String(300))
    doc_type: Mapped[str] = mapped_column(String(40))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    classification: Mapped[str] = mapped_column(String(20), default="internal")
    review_interval: Mapped[str] = mapped_column(String(20), default="P1Y")
    next_review_at: Mapped[date | None] = mapped_column(Date)
    #: kept this long after supersession (covers a certification cycle)
    retention: Mapped[str] = mapped_column(String(20), default="P3Y")
    current_version_id: Mapped[int | None] = mapped_column(ForeignKey("document_version.id", use_alter=True))
    #: who must read it (roles, departments or ``all_in_scope``)
    audience: Mapped[list[str]] = mapped_column(JSONText, default=list)
    external_publication: Mapped[bool] = mapped_column(default=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)

    versions: Mapped[list[DocumentVersion]] = relationship(
        back_populates="document", foreign_keys="DocumentVersion.document_id", order_by="DocumentVersion.id")


class DocumentVersion(Base):
    """One version of a document; immutable once approved (edits make a new version). Its reviews and
    approval are ``Approval`` rows with ``subject_type = "document_version"``."""

    __tablename__ = "document_version"
    __table_args__ = (UniqueConstraint("document_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("document.id"), index=True)
    #: ``MAJOR.MINOR``
    version: Mapped[str] = mapped_column(String(20))
    #: draft, in_review, pending_approval, approved, published, superseded, withdrawn
    status: Mapped[str] = mapped_column(String(20))
    change_type: Mapped[str | None] = mapped_column(String(20))
    change_summary: Mapped[str | None] = mapped_column(Text)
    content_ref: Mapped[str | None] = mapped_column(String(500))
    sha256: Mapped[str | None] = mapped_column(String(64))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    approver_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    approved_at: Mapped[datetime | None]
    effective_from: Mapped[date | None] = mapped_column(Date)
    superseded_at: Mapped[datetime | None]
    requires_acknowledgement: Mapped[bool] = mapped_column(default=False)
    #: the AI policy checklist, review outcomes, acknowledgement figures
    details: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    row_version: Mapped[int] = mapped_column(default=1)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))

    document: Mapped[Document] = relationship(back_populates="versions", foreign_keys=[document_id])


class Acknowledgement(Base):
    """A user's acknowledgement of a document version (DOMAIN.md 4.3; 7.3 awareness)."""

    __tablename__ = "acknowledgement"
    __table_args__ = (UniqueConstraint("document_version_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_version_id: Mapped[int] = mapped_column(ForeignKey("document_version.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    #: requested, acknowledged, overdue, escalated
    status: Mapped[str] = mapped_column(String(20), default="requested")
    requested_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    channel: Mapped[str | None] = mapped_column(String(40))
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))


# --------------------------------------------------------------------------- 4.4 objectives


class AIObjective(RegisterMixin, Base):
    """An AI objective (DOMAIN.md 4.4; 6.2). ``measurements`` holds the ObjectiveMeasurement rows."""

    __tablename__ = "ai_objective"

    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    #: aims, responsible_development (A.6.1.2), responsible_use (A.9.3)
    kind: Mapped[str] = mapped_column(String(40))
    theme: Mapped[str] = mapped_column(String(40))
    policy_clause_ref: Mapped[str | None] = mapped_column(String(200))
    metric: Mapped[str | None] = mapped_column(Text)
    unit: Mapped[str | None] = mapped_column(String(40))
    baseline: Mapped[float | None] = mapped_column(Float)
    target: Mapped[float | None] = mapped_column(Float)
    measurement_frequency: Mapped[str | None] = mapped_column(String(20))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    resources: Mapped[str | None] = mapped_column(Text)
    due_date: Mapped[date | None] = mapped_column(Date)
    evaluation_method: Mapped[str | None] = mapped_column(Text)
    ai_system_ids: Mapped[list[int]] = mapped_column(JSONText, default=list)
    #: [{period, value, status, comment, evidence_ref}]
    measurements: Mapped[list[dict[str, Any]]] = mapped_column(JSONText, default=list)


# --------------------------------------------------------------------------- 4.7 SoA


class SoAVersion(RegisterMixin, Base):
    """One version of the Statement of Applicability: its entries (one per control), the gaps found
    when it was generated and, once approved, the document version that publishes it."""

    __tablename__ = "soa_version"

    #: ``status``: generated, in_review, approved, superseded
    version: Mapped[str] = mapped_column(String(20))
    generated_at: Mapped[datetime]
    gaps: Mapped[list[dict[str, Any]]] = mapped_column(JSONText, default=list)
    approved_at: Mapped[datetime | None]
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    document_version_id: Mapped[int | None] = mapped_column(ForeignKey("document_version.id"))

    entries: Mapped[list[SoAEntry]] = relationship(back_populates="soa_version", order_by="SoAEntry.id")


class SoAEntry(Base):
    """A control's line in one SoA version (DOMAIN.md 4.7)."""

    __tablename__ = "soa_entry"
    __table_args__ = (UniqueConstraint("soa_version_id", "control_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    soa_version_id: Mapped[int] = mapped_column(ForeignKey("soa_version.id"), index=True)
    control_id: Mapped[int] = mapped_column(ForeignKey("control.id"), index=True)
    #: draft, proposed, approved
    status: Mapped[str] = mapped_column(String(20), default="draft")
    applicable: Mapped[bool] = mapped_column(default=True)
    justification: Mapped[str] = mapped_column(Text, default="")
    #: not_required_by_risk_assessment, not_required_by_external_requirement, not_relevant_to_roles
    exclusion_basis: Mapped[str | None] = mapped_column(String(60))
    #: all_systems or selected_systems (then ``system_ids``)
    system_scope: Mapped[str] = mapped_column(String(20), default="all_systems")
    system_ids: Mapped[list[int]] = mapped_column(JSONText, default=list)
    #: not_started, planned, in_progress, implemented, not_applicable
    implementation_status: Mapped[str] = mapped_column(String(20), default="not_started")
    implementation_description: Mapped[str | None] = mapped_column(Text)
    control_owner_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    linked_risk_ids: Mapped[list[int]] = mapped_column(JSONText, default=list)
    evidence_ids: Mapped[list[int]] = mapped_column(JSONText, default=list)
    #: not_assessed, effective, partially_effective, ineffective
    effectiveness: Mapped[str] = mapped_column(String(30), default="not_assessed")
    last_tested_at: Mapped[date | None] = mapped_column(Date)
    target_date: Mapped[date | None] = mapped_column(Date)
    #: when and by whom the control owner last confirmed the entry (the SoA's "last review")
    reviewed_at: Mapped[datetime | None]
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[datetime]
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    row_version: Mapped[int] = mapped_column(default=1)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))

    soa_version: Mapped[SoAVersion] = relationship(back_populates="entries")
    control: Mapped[Control] = relationship()


# --------------------------------------------------------------------------- 4.8 evidence


class Evidence(RegisterMixin, Base):
    """Documented information used as proof (DOMAIN.md 4.8). Only ``accepted`` evidence whose
    ``valid_until`` has not passed counts for a control."""

    __tablename__ = "evidence"

    title: Mapped[str] = mapped_column(String(300))
    evidence_type: Mapped[str] = mapped_column(String(40))
    linked_controls: Mapped[list[str]] = mapped_column(JSONText, default=list)
    linked_clauses: Mapped[list[str]] = mapped_column(JSONText, default=list)
    linked_risk_ids: Mapped[list[int]] = mapped_column(JSONText, default=list)
    linked_ai_system_ids: Mapped[list[int]] = mapped_column(JSONText, default=list)
    linked_audit_ids: Mapped[list[int]] = mapped_column(JSONText, default=list)
    content_ref: Mapped[str | None] = mapped_column(String(500))
    sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None]
    media_type: Mapped[str | None] = mapped_column(String(100))
    period_covered_from: Mapped[date | None] = mapped_column(Date)
    period_covered_to: Mapped[date | None] = mapped_column(Date)
    collected_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    collected_at: Mapped[datetime | None]
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reviewed_at: Mapped[datetime | None]
    review_comment: Mapped[str | None] = mapped_column(Text)
    valid_until: Mapped[date | None] = mapped_column(Date, index=True)
    #: when the evidence is next reviewed (``aims_evidence_review``); ``status`` draft, submitted,
    #: accepted, rejected, expired, archived
    next_review_at: Mapped[date | None] = mapped_column(Date)
    classification: Mapped[str] = mapped_column(String(20), default="internal")
    retention_until: Mapped[date | None] = mapped_column(Date)


# --------------------------------------------------------------------------- 4.9 competence


class CompetenceRequirement(RegisterMixin, Base):
    """A competence a role or AI system needs (DOMAIN.md 4.9; 7.2). ``ref`` is its code
    (``iso42001_internal_auditor``)."""

    __tablename__ = "competence_requirement"

    role: Mapped[str | None] = mapped_column(String(50))
    ai_system_id: Mapped[int | None] = mapped_column(ForeignKey("ai_system.id"))
    competence: Mapped[str] = mapped_column(String(300))
    required_level: Mapped[str | None] = mapped_column(String(40))
    evidence_needed: Mapped[str | None] = mapped_column(Text)
    refresh_interval: Mapped[str | None] = mapped_column(String(20))


class TrainingRecord(RegisterMixin, Base):
    """A training assignment and its completion (DOMAIN.md 4.9). ``user_id`` is empty for a campaign
    addressed to an audience (``details["audience"]``)."""

    __tablename__ = "training_record"

    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    requirement_id: Mapped[int | None] = mapped_column(ForeignKey("competence_requirement.id"))
    course: Mapped[str] = mapped_column(String(300))
    provider: Mapped[str | None] = mapped_column(String(200))
    assigned_at: Mapped[date | None] = mapped_column(Date)
    due_at: Mapped[date | None] = mapped_column(Date)
    completed_at: Mapped[date | None] = mapped_column(Date)
    score: Mapped[float | None] = mapped_column(Float)
    certificate_evidence_id: Mapped[int | None] = mapped_column(ForeignKey("evidence.id"))
    #: not_checked, effective, not_effective (7.2: did the action work?)
    effectiveness_check: Mapped[str] = mapped_column(String(20), default="not_checked")
    expires_at: Mapped[date | None] = mapped_column(Date)
    details: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)


# --------------------------------------------------------------------------- 4.10 internal audit


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


# --------------------------------------------------------------------------- 4.11 NC and CA


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


# --------------------------------------------------------------------------- 4.12 management review


class ManagementReview(RegisterMixin, Base):
    """A management review (DOMAIN.md 4.12; 9.3)."""

    __tablename__ = "management_review"

    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)
    planned_at: Mapped[datetime | None]
    held_at: Mapped[datetime | None]
    chair_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    minutes_author_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    #: [{user_id, present}]
    attendees: Mapped[list[dict[str, Any]]] = mapped_column(JSONText, default=list)
    #: ReviewInput rows: [{category, provider_id, summary, attachments, nothing_to_report}]
    inputs: Mapped[list[dict[str, Any]]] = mapped_column(JSONText, default=list)
    input_pack_document_version_id: Mapped[int | None] = mapped_column(ForeignKey("document_version.id"))
    #: {suitability, adequacy, effectiveness, comment}
    conclusions: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    minutes_document_version_id: Mapped[int | None] = mapped_column(ForeignKey("document_version.id"))
    minutes_approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    minutes_approved_at: Mapped[datetime | None]
    details: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)

    decisions: Mapped[list[ReviewDecision]] = relationship(back_populates="review", order_by="ReviewDecision.id")
    actions: Mapped[list[ReviewAction]] = relationship(back_populates="review", order_by="ReviewAction.id")


class ReviewDecision(Base):
    """A decision of a management review (9.3.3)."""

    __tablename__ = "review_decision"
    __table_args__ = (UniqueConstraint("review_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("management_review.id"), index=True)
    #: ``D1``
    code: Mapped[str] = mapped_column(String(20))
    #: improvement_opportunity, aims_change, resource_need, policy_change, objective_change, ...
    type: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(Text)
    rationale: Mapped[str | None] = mapped_column(Text)

    review: Mapped[ManagementReview] = relationship(back_populates="decisions")


class ReviewAction(RegisterMixin, Base):
    """An action decided by a management review (status open, done, overdue, cancelled)."""

    __tablename__ = "review_action"

    review_id: Mapped[int] = mapped_column(ForeignKey("management_review.id"), index=True)
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("review_decision.id"))
    description: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    due_date: Mapped[date | None] = mapped_column(Date)
    completed_at: Mapped[date | None] = mapped_column(Date)
    completion_note: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[list[str]] = mapped_column(JSONText, default=list)
    action_instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))

    review: Mapped[ManagementReview] = relationship(back_populates="actions")


# --------------------------------------------------------------------------- 4.13 certification


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
