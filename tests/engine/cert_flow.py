"""``CertFlow`` drives ``aims_cert_prep`` (with its ``aims_external_audit`` calls) and
``aims_cert_maintenance`` through the services with valid form data, so tests can walk any path and
then look at the registers.

People (demo organisation): priya is the AIMS owner who prepares everything, grace and amara (top
management) approve the SoA and decide go/no-go, lucas and fatima own the controls with SoA gaps,
tomas is interviewed by the certification body.

``aims_nc_capa`` and ``aims_action`` are stand-ins (``tests/data/standins``) deployed over whatever is
deployed, so these tests assert the start requests and drive the message the real flows send back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.aims.registers import (
    AIObjective,
    Audit,
    CertificationCycle,
    ExternalAudit,
    ManagementReview,
    Nonconformity,
    ObjectiveMeasurement,
    Risk,
)
from engine.core import definitions, runtime, services
from engine.core.clock import FixedClock
from engine.core.models import HumanTask, ProcessInstance
from engine.core.runtime import Context
from engine.core.settings import EngineSettings

from .helpers import DATA, email, user

STAGE1 = "2027-02-15"
STAGE2 = "2027-03-15"


def deploy_standins(session: Session, settings: EngineSettings, clock: FixedClock) -> None:
    files = [definitions.SourceFile.read(DATA / "standins" / f"{name}.bpmn")
             for name in ("aims_nc_capa", "aims_action")]
    definitions.deploy(session, files, settings, clock)


def clear_blockers(session: Session, as_of: date = date(2026, 11, 1)) -> None:
    """Do in the registers what the demo organisation still has to do before certification (the work
    the readiness blockers ask for), as if done just before ``as_of``: AIS-004 leaves the scope until
    its assessments are done, the others are assessed, the risks above appetite are accepted and
    linked to controls, the audit cycle and the management review after it are complete, NC-2026-003
    has an approved plan, the scope, the AI policy and dated evidence are reviewed, every objective was measured
    a week before, training that expires is refreshed and the context issues and suppliers are reviewed.
    Calling it again moves the dates."""
    from engine.aims.registers import (
        AISystem,
        ContextIssue,
        Document,
        Evidence,
        ImpactAssessment,
        RiskAcceptance,
        Supplier,
        TrainingRecord,
    )

    moment = datetime.combine(as_of, datetime.min.time(), UTC)
    next_year = as_of + timedelta(days=365)
    for system in session.scalars(select(AISystem)):
        if system.ref == "AIS-004":
            system.in_aims_scope = False
        system.last_risk_assessment_at = as_of - timedelta(days=7)
    for aiia in session.scalars(select(ImpactAssessment)):
        aiia.next_review_due = next_year
    for document in session.scalars(select(Document)):
        document.next_review_at = next_year
    for evidence in session.scalars(select(Evidence).where(Evidence.valid_until.is_not(None))):
        evidence.valid_until = next_year
    for training in session.scalars(select(TrainingRecord).where(TrainingRecord.expires_at.is_not(None))):
        training.expires_at = next_year
    for issue in session.scalars(select(ContextIssue)):
        issue.next_review_at = next_year
    for supplier in session.scalars(select(Supplier).where(Supplier.assessment_due.is_not(None))):
        supplier.assessment_due = next_year
    for ref in ("RSK-001", "RSK-006", "RSK-007"):
        risk = session.scalar(select(Risk).where(Risk.ref == ref))
        assert risk is not None
        if not risk.planned_controls:
            risk.planned_controls = ["A.6.2.6"]
        acceptance = session.scalar(select(RiskAcceptance).where(RiskAcceptance.ref == f"RA-T-{ref}"))
        if acceptance is None:
            acceptance = RiskAcceptance(ref=f"RA-T-{ref}", status="granted", risk_id=risk.id, created_at=moment,
                                        updated_at=moment, residual_score_at_acceptance=risk.residual_score or 12,
                                        level="high", required_authority="top_management",
                                        acceptor_authority_level="top_management")
            session.add(acceptance)
        acceptance.valid_until = next_year
    for granted in session.scalars(select(RiskAcceptance).where(RiskAcceptance.status == "granted")):
        granted.valid_until = next_year  # re-accepted on time
    for audit_row in session.scalars(select(Audit)):
        audit_row.status, audit_row.actual_end = "closed", as_of - timedelta(days=23)
    review = session.scalar(select(ManagementReview).where(ManagementReview.ref == "MR-2026-2"))
    assert review is not None
    review.held_at = moment - timedelta(days=12)
    review.minutes_approved_at = moment - timedelta(days=5)
    nc = session.scalar(select(Nonconformity).where(Nonconformity.ref == "NC-2026-003"))
    assert nc is not None
    nc.status = "plan_approved"
    measure_objectives(session, as_of - timedelta(days=7))


def measure_objectives(session: Session, on: date) -> None:
    """Every objective measured on ``on`` (its owner keeps measuring while the certification goes on)."""
    moment = datetime.combine(on, datetime.min.time(), UTC)
    for objective in session.scalars(select(AIObjective).order_by(AIObjective.id)):
        ref = f"MEAS-T-{objective.ref}-{on.isoformat()}"
        if session.scalar(select(ObjectiveMeasurement.id).where(ObjectiveMeasurement.ref == ref)) is None:
            session.add(ObjectiveMeasurement(ref=ref, status="recorded", objective_id=objective.id, value=1.0,
                                             measured_on=on, created_at=moment, updated_at=moment))
    session.flush()


def project(stage1: str = STAGE1, stage2: str = STAGE2) -> dict[str, Any]:
    return {"project": {
        "certification_body": "Example Certification Services Ltd", "cb_accredited_for_42001": True,
        "accreditation_body": "National accreditation body", "cb_contact": "lead.auditor@cb.example",
        "internal_point_of_contact_id": email("priya"), "scope_ref": "DOC-SCOPE-001 v1.0",
        "ai_system_ids": ["AIS-001", "AIS-002", "AIS-003"], "sites": ["London"], "headcount_in_scope": 640,
        "aims_operating_since": "2025-11-16", "target_stage1_date": stage1, "target_stage2_date": stage2}}


JUSTIFIED = "Required by the risk assessment and by our roles as AI provider and producer."


def soa_entry(item: dict[str, Any], **change: Any) -> dict[str, Any]:
    """A control owner's answer that clears the item's gaps (or ``change`` it)."""
    data: dict[str, Any] = {"applicable": True, "justification": JUSTIFIED, "system_scope": "all_systems",
                            "control_owner_id": item.get("owner_id") or email("priya")}
    if item["control_id"] == "A.4.4":
        data |= {"implementation_status": "in_progress", "target_date": "2027-01-31"}
    else:
        data |= {"implementation_status": "planned", "target_date": "2027-01-31"}
    return data | change


def schedule(start: str, end: str, interviewees: list[str] | None = None) -> dict[str, Any]:
    return {"schedule": {"planned_start": start, "planned_end": end, "cb_lead_auditor": "Dr A. Auditor",
                         "mode": "hybrid", "audit_plan_file": "EVD-201 audit plan.pdf",
                         "interviewee_ids": [email(k) for k in interviewees or []]}}


def audit_log(start: str, end: str) -> dict[str, Any]:
    return {"audit_log": {"actual_start": start, "actual_end": end,
                          "requests": [{"request": "Show the SoA approval", "evidence_ref": "SOA-002",
                                        "provided_at": start}]}}


def finding(cb_ref: str, kind: str = "minor_nc", control: str = "A.6.2.6", due: str = "2027-04-30") -> dict[str, Any]:
    data = {"cb_ref": cb_ref, "type": kind, "clause_or_control": control,
            "statement": f"{control}: monitoring results were not reviewed every month"}
    if kind in ("stage1_concern", "major_nc", "minor_nc"):
        data["cb_due_date"] = due
    return data


def outcome(result: str, *findings: dict[str, Any], next_audit: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"report_ref": "EVD-202 CB report.pdf", "outcome": result, "findings": list(findings)}
    if next_audit:
        data["next_audit_date"] = next_audit
    return data


GO = {"decision": "go", "rationale": "all blockers are cleared and the warnings are understood"}
NO_GO = {"decision": "no_go", "rationale": "the internal audit evidence is too thin for stage 1"}
APPROVE = {"decision": "approve"}
CA_PLAN = {"submission": {"submission_type": "ca_plan", "package_file": "EVD-203 CA plan.pdf",
                          "submitted_at": "2027-03-20"}}
EVIDENCE = {"submission": {"submission_type": "ca_evidence", "package_file": "EVD-204 CA evidence.zip",
                           "submitted_at": "2027-04-20"}}
ACCEPTED = {"cb_response": {"cb_response": "accepted", "cb_response_file": "EVD-205 CB letter.pdf"}}
REJECTED = {"cb_response": {"cb_response": "rejected", "cb_response_file": "EVD-206 CB letter.pdf",
                            "cb_comment": "evidence does not cover all systems"}}
GRANTED = {"cert_decision": {"decision": "granted", "decision_date": "2027-04-10", "certificate_number": "AIMS-0042",
                             "certificate_file": "EVD-207 certificate.pdf"}}
REFUSED = {"cert_decision": {"decision": "refused", "decision_date": "2027-04-10"}}


@dataclass
class CertFlow:
    ctx: Context
    clock: FixedClock
    instance: ProcessInstance | None = None

    @property
    def session(self) -> Session:
        return self.ctx.session

    def start(self, key: str = "priya", cycle_ref: str | None = "CERT-2026") -> ProcessInstance:
        data = {"cycle_ref": cycle_ref} if cycle_ref else {}
        self.instance = services.start_process(self.ctx, user(self.session, key), "aims_cert_prep", data).instance
        return self.instance

    def tasks(self, spec: str | None = None, instance: ProcessInstance | None = None) -> list[HumanTask]:
        inst = instance or self.instance
        assert inst is not None
        return [t for t in services.open_tasks(self.ctx, inst.id) if spec is None or t.task_spec == spec]

    def specs(self, instance: ProcessInstance | None = None) -> list[str]:
        return sorted(t.task_spec for t in self.tasks(instance=instance))

    def data(self, instance: ProcessInstance | None = None) -> dict[str, Any]:
        inst = instance or self.instance
        assert inst is not None
        return services.instance_data(self.ctx, inst.id)

    def item_of(self, task: HumanTask, *names: str) -> dict[str, Any]:
        instance = self.session.get(ProcessInstance, task.instance_id)
        assert instance is not None
        spiff = runtime.spiff_task(runtime.restore(self.ctx, instance).workflow, task)
        for name in names or ("gap_item", "interviewee", "nc_finding"):
            if isinstance(spiff.data.get(name), dict):
                return dict(spiff.data[name])
        return {}

    def complete(self, key: str, spec: str, data: dict[str, Any], instance: ProcessInstance | None = None,
                 control: str | None = None) -> services.Outcome:
        tasks = self.tasks(spec, instance)
        if control is not None:
            tasks = [t for t in tasks if self.item_of(t).get("control_id") == control]
        assert len(tasks) == 1, f"expected one open {spec} {control or ''}, found {self.specs(instance)}"
        return services.complete_task(self.ctx, user(self.session, key), tasks[0].id, data)

    def wake(self, at: str, instance: ProcessInstance | None = None) -> services.Outcome:
        """Move the clock to ``at`` and fire the instance's due timers (the worker's tick)."""
        self.clock.set(at)
        inst = instance or self.instance
        assert inst is not None
        return services.wake_instance(self.ctx, inst.id)

    # --- whole steps

    def complete_gap_entries(self, only: str | None = None, **change: Any) -> None:
        """Each open SoA entry task answered by its owner; ``change`` applies to control ``only`` (or all)."""
        for task in self.tasks("ut_complete_soa_entry"):
            item = self.item_of(task)
            answer = soa_entry(item, **change) if only in (None, item["control_id"]) else soa_entry(item)
            who = next(k for k in ("lucas", "fatima", "priya", "tomas", "meilin", "ravi")
                       if email(k) == item["owner_id"])
            services.complete_task(self.ctx, user(self.session, who), task.id, answer)

    def to_soa_approved(self) -> None:
        """Start, define the project, fill the gaps, review and approve the SoA."""
        self.start()
        self.complete("priya", "ut_define_cert_project", project())
        self.complete_gap_entries()
        self.complete("priya", "ut_review_soa", {"entries_confirmed": True})
        self.complete("grace", "ut_approve_soa", APPROVE)

    def to_stage1(self) -> None:
        """Up to the stage 1 schedule (readiness has no blockers: ``clear_blockers`` was called)."""
        self.to_soa_approved()
        self.complete("grace", "ut_readiness_decision", GO)

    def run_audit(self, start: str, end: str, result: dict[str, Any], interviewees: list[str] | None = None) -> None:
        """Schedule, wait for the planned start, log the days and record the outcome of the current call."""
        self.complete("priya", "ut_record_audit_schedule", schedule(start, end, interviewees))
        for task in self.tasks("ut_confirm_participation"):
            who = self.item_of(task)["user_id"]
            key = next(k for k in ("tomas", "meilin", "ravi", "lucas") if email(k) == who)
            services.complete_task(self.ctx, user(self.session, key), task.id, {"availability": "confirmed"})
        self.wake(f"{start}T08:00:00+00:00")
        self.complete("priya", "ut_log_audit_days", audit_log(start, end))
        self.complete("priya", "ut_record_audit_outcome", result)

    # --- registers

    def cycle(self) -> CertificationCycle:
        row = self.session.scalar(select(CertificationCycle).where(CertificationCycle.ref == "CERT-2026"))
        assert row is not None
        return row

    def external_audits(self) -> list[ExternalAudit]:
        return list(self.session.scalars(select(ExternalAudit).where(ExternalAudit.cycle_id == self.cycle().id)
                                         .order_by(ExternalAudit.id)))

    def children(self, process_id: str | None = None) -> list[ProcessInstance]:
        assert self.instance is not None
        stmt = select(ProcessInstance).where(ProcessInstance.parent_instance_id == self.instance.id)
        if process_id:
            stmt = stmt.where(ProcessInstance.process_id == process_id)
        return list(self.session.scalars(stmt.order_by(ProcessInstance.id)))
