"""Dates that drive work (``engine.aims.date_triggers``, a phase of ``worker.run_pass``): each kind of register date
starts its review flow at its FLOWS.md lead time, started by the engine with valid start data, once per
object and due date however many passes or workers run.

The demo organisation is loaded with its dates shifted to the test clock (2026-11-02): at that time three
documents are within 30 days of their next review; everything else is later.
"""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from engine.aims.registers import (
    AISystem,
    Audit,
    AuditProgramme,
    Document,
    DocumentVersion,
    DueDateStart,
    Evidence,
    ImpactAssessment,
    ManagementReview,
    Risk,
    RiskAcceptance,
)
from engine.core import services, worker
from engine.core.clock import FixedClock, parse_datetime
from engine.core.models import AuditEvent, ProcessInstance
from engine.core.runtime import Context
from engine.core.settings import EngineSettings

from .helpers import email

pytestmark = pytest.mark.demo

T0 = parse_datetime("2026-11-02T09:00:00Z")
DEMO_DUE_DOCUMENTS = {"DOC-POL-001", "DOC-SCOPE-001", "DOC-PROC-002"}


def run(session: Session, settings: EngineSettings, at: datetime) -> worker.PassReport:
    return worker.run_pass(session, FixedClock(at), settings)


def started(report: worker.PassReport, kind: str) -> dict[str, int]:
    """object ref -> instance id of the reviews of ``kind`` the pass started"""
    return {ref: instance for k, ref, _due, instance in report.due.started if k == kind}


def start_data(session: Session, instance_id: int) -> dict[str, Any]:
    event = session.scalar(select(AuditEvent).where(AuditEvent.instance_id == instance_id,
                                                    AuditEvent.action == "start"))
    assert event is not None
    data: dict[str, Any] = event.data["data"]
    return data


def instance(session: Session, instance_id: int) -> ProcessInstance:
    found = session.get(ProcessInstance, instance_id)
    assert found is not None
    return found


def open_specs(session: Session, settings: EngineSettings, at: datetime, instance_id: int) -> list[str]:
    ctx = Context(session, FixedClock(at), settings)
    return sorted(t.task_spec for t in services.open_tasks(ctx, instance_id))


def row(session: Session, model: Any, ref: str) -> Any:
    found = session.scalar(select(model).where(model.ref == ref))
    assert found is not None
    return found


def test_documents_due_for_review_start_the_policy_review_once(session: Session, settings: EngineSettings) -> None:
    first = run(session, settings, T0)

    docs = started(first, "document")
    assert set(docs) == DEMO_DUE_DOCUMENTS
    assert first.failures == []
    for ref, instance_id in docs.items():
        review = instance(session, instance_id)
        assert (review.process_id, review.subject, review.status, review.started_by_id) == \
            ("aims_policy_review", ref, "running", None)
        assert start_data(session, instance_id)["trigger"] == "periodic"
    assert open_specs(session, settings, T0, docs["DOC-POL-001"]) == ["ut_policy_review_draft"]

    again = run(session, settings, T0 + timedelta(hours=1))
    assert again.due.started == [] and again.due.deferred == []
    recorded = session.execute(select(DueDateStart.object_ref, DueDateStart.due_on)
                               .where(DueDateStart.kind == "document")).all()
    assert sorted(r.object_ref for r in recorded) == sorted(DEMO_DUE_DOCUMENTS)
    assert session.scalar(select(func.count()).select_from(ProcessInstance)
                          .where(ProcessInstance.process_id == "aims_policy_review")) == 3
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "due_date_start",
                                                    AuditEvent.subject == "DOC-POL-001"))
    assert event is not None and event.actor is None and event.data["due_on"] == "2026-11-16"


def test_a_document_is_not_started_before_its_lead_time(session: Session, settings: EngineSettings) -> None:
    # DOC-PROC-003 is next reviewed on 2027-01-21 (shifted demo date): due from 2026-12-22
    doc = row(session, Document, "DOC-PROC-003")
    assert doc.next_review_at == date(2027, 1, 21)
    run(session, settings, T0)
    assert "DOC-PROC-003" not in started(run(session, settings, parse_datetime("2026-12-21T23:00:00Z")), "document")
    assert "DOC-PROC-003" in started(run(session, settings, parse_datetime("2026-12-22T00:30:00Z")), "document")


def test_the_soa_document_is_not_reviewed_by_the_policy_review(session: Session, settings: EngineSettings) -> None:
    soa_document = row(session, Document, "DOC-SOA-001")
    assert soa_document.doc_type == "soa"
    version = DocumentVersion(document_id=soa_document.id, version="1.0", status="published", created_at=T0,
                              updated_at=T0)  # as soa.publish leaves it
    session.add(version)
    session.flush()
    soa_document.current_version_id, soa_document.next_review_at = version.id, date(2026, 11, 20)
    session.flush()
    assert set(started(run(session, settings, T0), "document")) == DEMO_DUE_DOCUMENTS


def test_a_review_running_already_defers_the_due_start(session: Session, settings: EngineSettings) -> None:
    ctx = Context(session, FixedClock(T0 - timedelta(days=1)), settings)
    by_hand = services.start_process(ctx, None, "aims_policy_review",
                                     {"document_ref": "DOC-SCOPE-001", "trigger": "organisational_change"})
    report = run(session, settings, T0)

    assert "DOC-SCOPE-001" not in started(report, "document")
    assert any(d.startswith("document DOC-SCOPE-001") and str(by_hand.instance.id) in d for d in report.due.deferred)


def test_a_risk_acceptance_nearing_expiry_starts_a_reassessment(session: Session, settings: EngineSettings) -> None:
    acceptance = row(session, RiskAcceptance, "RA-002")
    risk = session.get(Risk, acceptance.risk_id)
    assert risk is not None and risk.acceptance_id == acceptance.id
    acceptance.valid_until = date(2026, 12, 31)  # due from 2026-12-01 (valid_until - P30D)
    session.flush()

    assert "RA-002" not in started(run(session, settings, parse_datetime("2026-11-30T12:00:00Z")), "risk_acceptance")
    at = parse_datetime("2026-12-01T08:00:00Z")
    report = run(session, settings, at)
    instance_id = started(report, "risk_acceptance")["RA-002"]

    data = start_data(session, instance_id)
    system = session.get(AISystem, risk.ai_system_ids[0])
    assert system is not None
    assert data["trigger"] == "acceptance_expiry" and data["risk_refs"] == [risk.ref]
    assert (data["assessment_scope"], data["scope_ref"]) == ("ai_system", system.ref)
    assert data["assessor_id"] in (email("sofia"), email("lucas"), email("hannah"))
    assessment = instance(session, instance_id)
    assert assessment.process_id == "aims_risk_assessment" and assessment.status == "running"
    assert open_specs(session, settings, at, instance_id) == ["ut_identify_risks"]
    assert run(session, settings, at + timedelta(days=1)).due.started == []


def test_a_refused_or_replaced_acceptance_starts_nothing(session: Session, settings: EngineSettings) -> None:
    acceptance = row(session, RiskAcceptance, "RA-002")
    acceptance.valid_until = date(2026, 11, 20)
    risk = session.get(Risk, acceptance.risk_id)
    assert risk is not None
    risk.acceptance_id = None  # a later acceptance replaced it (or the risk was reassessed)
    session.flush()
    assert "RA-002" not in started(run(session, settings, T0), "risk_acceptance")


def test_evidence_past_its_validity_starts_an_evidence_review(session: Session, settings: EngineSettings) -> None:
    evidence = row(session, Evidence, "EVD-001")
    assert evidence.valid_until == date(2026, 11, 16)

    assert "EVD-001" not in started(run(session, settings, parse_datetime("2026-11-16T23:00:00Z")), "evidence")
    at = parse_datetime("2026-11-17T06:00:00Z")
    report = run(session, settings, at)
    instance_id = started(report, "evidence")["EVD-001"]

    assert start_data(session, instance_id) == {"evidence_ref": "EVD-001", "trigger": "expired"}
    assert instance(session, instance_id).process_id == "aims_evidence_review"
    session.refresh(evidence)
    assert evidence.status == "submitted"
    assert run(session, settings, at + timedelta(days=3)).due.started == []


def test_an_impact_assessment_at_its_next_review_starts_a_periodic_aiia(session: Session,
                                                                        settings: EngineSettings) -> None:
    assessment = row(session, ImpactAssessment, "AIIA-003-v1")
    system = session.get(AISystem, assessment.ai_system_id)
    assert system is not None and system.last_aiia_id == assessment.id
    due = assessment.next_review_due
    assert due is not None
    lead_starts = datetime(due.year, due.month, due.day, 9, tzinfo=T0.tzinfo) - timedelta(days=30)

    run(session, settings, T0)
    assert "AIIA-003-v1" not in started(run(session, settings, lead_starts - timedelta(days=1)), "impact_assessment")
    report = run(session, settings, lead_starts)
    instance_id = started(report, "impact_assessment")["AIIA-003-v1"]

    data = start_data(session, instance_id)
    assert data == {"ai_system_id": system.ref, "trigger": "periodic", "previous_aiia_id": "AIIA-003-v1",
                    "previous_tier": assessment.impact_tier}
    aiia = instance(session, instance_id)
    assert aiia.process_id == "aims_aiia" and aiia.subject == system.ref and aiia.status == "running"


def test_a_planned_management_review_starts_45_days_ahead(session: Session, settings: EngineSettings) -> None:
    review = row(session, ManagementReview, "MR-2026-2")
    assert review.status == "planned" and review.planned_at is not None
    lead_starts = review.planned_at - timedelta(days=45)

    run(session, settings, T0)
    assert "MR-2026-2" not in started(run(session, settings, lead_starts - timedelta(minutes=5)), "management_review")
    report = run(session, settings, lead_starts)
    instance_id = started(report, "management_review")["MR-2026-2"]

    assert start_data(session, instance_id) == {"review_ref": "MR-2026-2"}
    mr = instance(session, instance_id)
    assert mr.process_id == "aims_management_review" and mr.subject == "MR-2026-2"
    assert open_specs(session, settings, lead_starts, instance_id) == ["ut_mr_schedule"]
    assert run(session, settings, lead_starts + timedelta(days=2)).due.started == []


def test_a_planned_audit_of_the_approved_programme_starts_30_days_ahead(session: Session,
                                                                       settings: EngineSettings) -> None:
    audit = row(session, Audit, "IA-2026-03")
    assert audit.status == "planned" and audit.planned_start is not None
    start = audit.planned_start
    lead_starts = datetime(start.year, start.month, start.day, tzinfo=T0.tzinfo) - timedelta(days=30)

    run(session, settings, T0)
    assert "IA-2026-03" not in started(run(session, settings, lead_starts - timedelta(hours=1)), "internal_audit")
    report = run(session, settings, lead_starts)
    instance_id = started(report, "internal_audit")["IA-2026-03"]

    assert start_data(session, instance_id) == {"audit_ref": "IA-2026-03"}
    ia = instance(session, instance_id)
    assert ia.process_id == "aims_internal_audit" and ia.subject == "IA-2026-03"
    assert open_specs(session, settings, lead_starts, instance_id) == ["ut_appoint_audit_team"]
    assert run(session, settings, lead_starts + timedelta(days=1)).due.started == []


def test_an_audit_of_a_programme_not_yet_approved_waits(session: Session, settings: EngineSettings) -> None:
    audit = row(session, Audit, "IA-2026-03")
    programme = session.get(AuditProgramme, audit.programme_id)
    assert programme is not None
    programme.status = "pending_approval"
    session.flush()
    assert audit.planned_start is not None
    report = run(session, settings, datetime(audit.planned_start.year, audit.planned_start.month,
                                             audit.planned_start.day, tzinfo=T0.tzinfo))
    assert "IA-2026-03" not in started(report, "internal_audit")


def test_two_workers_start_each_due_review_once(fresh_db: sessionmaker[Session], settings: EngineSettings) -> None:
    reports: list[worker.PassReport] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def one_worker() -> None:
        try:
            with fresh_db() as session:
                barrier.wait(timeout=30)
                reports.append(worker.run_pass(session, FixedClock(T0), settings))
        except BaseException as exc:  # reported in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=one_worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)

    assert errors == [] and len(reports) == 2
    refs = [ref for r in reports for kind, ref, _due, _i in r.due.started if kind == "document"]
    assert sorted(refs) == sorted(DEMO_DUE_DOCUMENTS)
    with fresh_db() as session:
        assert session.scalar(select(func.count()).select_from(DueDateStart)) == 3
        assert session.scalar(select(func.count()).select_from(ProcessInstance)
                              .where(ProcessInstance.process_id == "aims_policy_review")) == 3
