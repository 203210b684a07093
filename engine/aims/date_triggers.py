"""Dates that drive work: a phase of the worker pass (``worker.run_pass``) that starts a review when a
register date comes due (FLOWS.md lead times):

================  ===============================================  =================================
kind              due when                                         starts
================  ===============================================  =================================
risk_acceptance   a granted acceptance's ``valid_until - P30D``    ``aims_risk_assessment``
                                                                   (trigger ``acceptance_expiry``)
evidence          the day after ``valid_until`` (past validity)    ``aims_evidence_review`` (expired)
submitted         the day a file given as proof on a step was      ``aims_evidence_review``
evidence          collected (``evidence_intake``), not reviewed    (submitted)
document          ``next_review_at - P30D``                        ``aims_policy_review`` (periodic)
impact_assessment the system's valid assessment,                   ``aims_aiia`` (periodic)
                  ``next_review_due - P30D``
management_review a planned review's ``planned_at - P45D``         ``aims_management_review``
internal_audit    a planned audit of an approved programme,        ``aims_internal_audit``
                  ``planned_start - P30D``
================  ===============================================  =================================

The next review dates are the ones the review flows write when a review completes (policy publication or
no-change review, AIIA approval, evidence acceptance, risk acceptance), so "computed from its last
completed review". The SoA has no review flow of its own (its entries are reviewed and the version approved
inside ``aims_cert_prep``), so it has no kind here, and its document (``doc_type`` soa, published by
``soa.publish``) is left out of the document kind: the policy review is not the SoA's review.

Each start is recorded in ``due_date_start`` under (kind, object, due date), unique: one review per object
per due date, however many passes or workers run. Candidate rows are claimed with ``SELECT ... FOR UPDATE
SKIP LOCKED`` (PostgreSQL; SQLite serialises), one transaction per start. An object whose review flow is
already running (an instance of the flow with the object's subject, e.g. started by hand) is left for a
later pass (``deferred``); a start the flow refuses is reported and tried again at the next pass.

The engine starts these reviews (actor None), with data valid for each flow's start form.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.aims.registers import (
    AISystem,
    Audit,
    AuditProgramme,
    Document,
    DueDateStart,
    Evidence,
    ImpactAssessment,
    ManagementReview,
    Risk,
    RiskAcceptance,
)
from engine.core import audit_trail, services
from engine.core.clock import isoformat
from engine.core.errors import EngineError
from engine.core.models import InstanceState, ProcessInstance, ProcessVersion, RoleAssignment, User
from engine.core.runtime import Context
from engine.core.uow import transaction

log = logging.getLogger("aimsflow.due_dates")

#: statuses of an impact assessment that is its system's valid one (engine.aims.operators.aiia.APPROVED_STATUSES)
AIIA_VALID = ("low_tier_recorded", "approved", "approved_with_conditions")
RISK_OPEN = ("identified", "analysed", "treatment_planned", "pending_acceptance", "in_treatment", "monitoring")


@dataclass(frozen=True)
class Start:
    """What to start for one due object: its due date, the subject its flow runs under and the start data."""

    due_on: date
    subject: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Kind:
    name: str
    process_id: str
    model: Any
    lead: timedelta
    #: SQL conditions for rows that may be due at ``today`` (the date check included)
    where: Callable[[date, datetime], Sequence[ColumnElement[bool]]]
    #: the start for a row (raises EngineError when the row cannot be started, e.g. nobody to assess)
    build: Callable[[Session, Any], Start]


@dataclass
class DueReport:
    started: list[tuple[str, str, date, int]] = field(default_factory=list)  # kind, object ref, due date, instance
    deferred: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"{len(self.started)} review(s) started by due dates"


# --------------------------------------------------------------------------- the kinds


def _email(session: Session, user_id: int | None) -> str | None:
    person = session.get(User, user_id) if user_id is not None else None
    return person.email if person is not None else None


def _risk_start(session: Session, row: RiskAcceptance) -> Start:
    assert row.valid_until is not None
    risk = session.get(Risk, row.risk_id)
    assert risk is not None
    system = None
    for system_id in risk.ai_system_ids or []:
        system = session.get(AISystem, system_id)
        if system is not None:
            break
    assessor = _assessor(session, risk)
    if system is not None:
        scope, scope_ref = "ai_system", system.ref
    else:
        scope, scope_ref = "aims", risk.ref
    return Start(row.valid_until, scope_ref, {"assessment_scope": scope, "scope_ref": scope_ref,
                                              "trigger": "acceptance_expiry", "assessor_id": assessor,
                                              "risk_refs": [risk.ref]})


def _assessor(session: Session, risk: Risk) -> str:
    """The risk's last assessor if they still hold ``assessor`` or ``process_owner``, else the first
    active assessor (the start form names an assessor)."""
    roles = ("assessor", "process_owner")
    if risk.assessor_id is not None:
        held = session.scalar(select(RoleAssignment.id).join(User, User.id == RoleAssignment.user_id)
                              .where(RoleAssignment.user_id == risk.assessor_id, RoleAssignment.role.in_(roles),
                                     User.active.is_(True)).limit(1))
        if held is not None:
            return _email(session, risk.assessor_id) or ""
    fallback = session.scalar(select(User.email).join(RoleAssignment, RoleAssignment.user_id == User.id)
                              .where(RoleAssignment.role == "assessor", User.active.is_(True))
                              .order_by(User.id).limit(1))
    if fallback is None:
        raise EngineError(f"{risk.ref}: nobody holds the assessor role to reassess the risk")
    return fallback


def _evidence_start(session: Session, row: Evidence) -> Start:
    assert row.valid_until is not None
    return Start(row.valid_until, row.ref, {"evidence_ref": row.ref, "trigger": "expired"})


def _submitted_start(session: Session, row: Evidence) -> Start:
    assert row.collected_at is not None
    return Start(row.collected_at.date(), row.ref, {"evidence_ref": row.ref, "trigger": "submitted"})


def _document_start(session: Session, row: Document) -> Start:
    assert row.next_review_at is not None
    return Start(row.next_review_at, row.ref, {"document_ref": row.ref, "trigger": "periodic",
                                               "reason": f"next review due {row.next_review_at.isoformat()}"})


def _aiia_start(session: Session, row: ImpactAssessment) -> Start:
    assert row.next_review_due is not None
    system = session.get(AISystem, row.ai_system_id)
    assert system is not None
    data: dict[str, Any] = {"ai_system_id": system.ref, "trigger": "periodic", "previous_aiia_id": row.ref}
    if row.impact_tier in ("low", "medium", "high"):
        data["previous_tier"] = row.impact_tier
    return Start(row.next_review_due, system.ref, data)


def _review_start(session: Session, row: ManagementReview) -> Start:
    assert row.planned_at is not None
    return Start(row.planned_at.date(), row.ref, {"review_ref": row.ref})


def _audit_start(session: Session, row: Audit) -> Start:
    assert row.planned_start is not None
    return Start(row.planned_start, row.ref, {"audit_ref": row.ref})


def _days(n: int) -> timedelta:
    return timedelta(days=n)


KINDS: tuple[Kind, ...] = (
    Kind("risk_acceptance", "aims_risk_assessment", RiskAcceptance, _days(30),
         lambda today, now: (RiskAcceptance.status == "granted", RiskAcceptance.valid_until.is_not(None),
                             RiskAcceptance.valid_until <= today + _days(30),
                             select(Risk.id).where(Risk.id == RiskAcceptance.risk_id,
                                                   Risk.acceptance_id == RiskAcceptance.id,
                                                   Risk.status.in_(RISK_OPEN)).exists()),
         _risk_start),
    Kind("evidence", "aims_evidence_review", Evidence, _days(-1),
         lambda today, now: (Evidence.status.in_(("accepted", "expired")), Evidence.valid_until.is_not(None),
                             Evidence.valid_until < today),
         _evidence_start),
    Kind("submitted_evidence", "aims_evidence_review", Evidence, _days(0),
         lambda today, now: (Evidence.status == "submitted", Evidence.reviewed_at.is_(None),
                             Evidence.content_ref.startswith("upload:"), Evidence.collected_at.is_not(None),
                             Evidence.collected_at <= now),
         _submitted_start),
    Kind("document", "aims_policy_review", Document, _days(30),
         lambda today, now: (Document.next_review_at.is_not(None), Document.current_version_id.is_not(None),
                             Document.next_review_at <= today + _days(30),
                             Document.status.not_in(("withdrawn", "retired", "archived")),
                             Document.doc_type != "soa"),
         _document_start),
    Kind("impact_assessment", "aims_aiia", ImpactAssessment, _days(30),
         lambda today, now: (ImpactAssessment.status.in_(AIIA_VALID), ImpactAssessment.next_review_due.is_not(None),
                             ImpactAssessment.next_review_due <= today + _days(30),
                             select(AISystem.id).where(AISystem.id == ImpactAssessment.ai_system_id,
                                                       AISystem.last_aiia_id == ImpactAssessment.id,
                                                       AISystem.status != "retired").exists()),
         _aiia_start),
    Kind("management_review", "aims_management_review", ManagementReview, _days(45),
         lambda today, now: (ManagementReview.status == "planned", ManagementReview.planned_at.is_not(None),
                             ManagementReview.planned_at <= now + _days(45)),
         _review_start),
    Kind("internal_audit", "aims_internal_audit", Audit, _days(30),
         lambda today, now: (Audit.status == "planned", Audit.planned_start.is_not(None),
                             Audit.planned_start <= today + _days(30),
                             select(AuditProgramme.id).where(AuditProgramme.id == Audit.programme_id,
                                                             AuditProgramme.status.in_(("approved", "in_execution")))
                             .exists()),
         _audit_start),
)


# --------------------------------------------------------------------------- the phase


def run(ctx: Context, kinds: Sequence[Kind] = KINDS) -> DueReport:
    """Start every review that is due at ``ctx.clock.now()``; commits one start at a time."""
    report = DueReport()
    with transaction(ctx.session, ctx.clock):
        deployed = set(ctx.session.scalars(select(ProcessVersion.process_id)
                                           .where(ProcessVersion.status == "published")))
    for kind in kinds:
        if kind.process_id in deployed:  # an organisation that has not deployed a flow gets none of its reviews
            _run_kind(ctx, kind, report)
    return report


def _run_kind(ctx: Context, kind: Kind, report: DueReport) -> None:
    session, clock = ctx.session, ctx.clock
    now = clock.now()
    today = now.date()
    model = kind.model
    after = 0
    while True:
        with transaction(session, clock):
            row = session.scalar(select(model).where(model.id > after, *kind.where(today, now))
                                 .order_by(model.id).limit(1).with_for_update(skip_locked=True, of=model))
            if row is None:
                return
            after = row.id
            ref = row.ref
            try:
                start = kind.build(session, row)
            except EngineError as exc:
                report.failures.append(f"{kind.name} {ref}: {exc.message}")
                continue
            done = session.scalar(select(DueDateStart.id).where(
                DueDateStart.kind == kind.name, DueDateStart.object_id == row.id, DueDateStart.due_on == start.due_on))
            if done is not None:
                continue
            running = session.scalar(select(ProcessInstance.id).where(
                ProcessInstance.process_id == kind.process_id, ProcessInstance.subject == start.subject,
                ProcessInstance.status == InstanceState.RUNNING).limit(1))
            if running is not None:
                report.deferred.append(f"{kind.name} {ref}: {kind.process_id} already running for "
                                       f"{start.subject} (instance {running})")
                continue
            error: str | None = None
            instance_id: int | None = None
            try:
                with session.begin_nested():
                    outcome = services.start_process(ctx, None, kind.process_id, start.data)
                    instance_id = outcome.instance.id
                    session.add(DueDateStart(kind=kind.name, object_id=row.id, object_ref=ref, due_on=start.due_on,
                                             process_id=kind.process_id, instance_id=instance_id, started_at=now))
                    session.flush()
            except EngineError as exc:
                error = exc.message
            except IntegrityError:  # another worker recorded this due date first
                continue
            if error is not None:
                report.failures.append(f"{kind.name} {ref}: {error}")
                log.warning("due-date start of %s %s failed: %s", kind.name, ref, error)
                audit_trail.append(session, clock, "due_date_start_failed", actor=None, subject=ref,
                                   data={"kind": kind.name, "process_id": kind.process_id,
                                         "due_on": start.due_on.isoformat(), "error": error})
                continue
            assert instance_id is not None
            report.started.append((kind.name, ref, start.due_on, instance_id))
            audit_trail.append(session, clock, "due_date_start", actor=None, instance_id=instance_id, subject=ref,
                               data={"kind": kind.name, "process_id": kind.process_id,
                                     "due_on": start.due_on.isoformat(), "lead_days": kind.lead.days,
                                     "at": isoformat(now)})
