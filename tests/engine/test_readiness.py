"""Readiness checks RC-01 ... RC-21 and the readiness dashboard figures on the demo organisation."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.aims import readiness
from engine.aims.registers import (
    Audit,
    CertificationCycle,
    CompetenceRequirement,
    ContextIssue,
    DataResource,
    ExternalAudit,
    ExternalFinding,
    ManagementReview,
    Nonconformity,
    PartyRequirement,
    Supplier,
    TrainingRecord,
)
from engine.core import services
from engine.core.clock import FixedClock
from engine.core.runtime import Context

from .helpers import grant, user
from .risk_flow import RiskFlow

pytestmark = pytest.mark.demo


def results(report: readiness.Report) -> dict[str, str]:
    return {c.id: c.result for c in report.checks}


def test_demo_readiness_finds_the_blockers_the_demo_plants(session: Session, clock: FixedClock) -> None:
    report = readiness.run_checks(session, clock)
    assert [c.id for c in report.checks] == [f"RC-{i:02d}" for i in range(1, 21)] + ["RC-22"]
    assert [c.id for c in report.blockers] == ["RC-06", "RC-07", "RC-08", "RC-09", "RC-14", "RC-15", "RC-16"]
    assert [c.id for c in report.warnings] == ["RC-11", "RC-18", "RC-19"]
    checks = {c.id: c for c in report.checks}
    assert checks["RC-08"].detail == ("no approved SoA; SoA gaps: G4 A.4.4 implemented without accepted, unexpired "
                                      "evidence; G1 A.8.5 missing justification; G6 RSK-006 open risk above Low "
                                      "with neither a control nor a valid acceptance")
    assert checks["RC-09"].detail == "AIS-004 has no approved AIIA"
    assert checks["RC-16"].detail == "NC-2026-003 minor without an approved plan (root cause analysis)"
    assert checks["RC-17"].detail == "operating since 2025-11-16 (351 days)"
    assert checks["RC-19"].detail == "A.8.3 in progress without valid evidence"
    assert checks["RC-02"].detail == "4 context issues and 7 interested parties with 8 requirements recorded"
    assert report.score_pct == 52.4  # 11 of 21 pass
    assert checks["RC-08"].to_dict()["blocker"] is True


def test_completing_the_audit_cycle_and_review_clears_rc14_and_rc15(session: Session, clock: FixedClock) -> None:
    for audit_row in session.scalars(select(Audit)):
        audit_row.status, audit_row.actual_end = "closed", date(2026, 10, 9)
    review = session.scalar(select(ManagementReview).where(ManagementReview.ref == "MR-2026-2"))
    assert review is not None
    review.held_at = datetime(2026, 10, 20, 10, tzinfo=clock.now().tzinfo)
    review.minutes_approved_at = datetime(2026, 10, 27, 10, tzinfo=clock.now().tzinfo)
    session.flush()
    checks = {c.id: c for c in readiness.run_checks(session, clock).checks}
    assert (checks["RC-14"].result, checks["RC-15"].result) == ("pass", "pass")
    assert checks["RC-15"].detail == "MR-2026-2 held after the audit cycle"


def test_rc16_blocks_an_open_major_nc_and_passes_approved_minor_plans(session: Session, clock: FixedClock) -> None:
    nc = session.scalar(select(Nonconformity).where(Nonconformity.ref == "NC-2026-003"))
    assert nc is not None
    nc.status = "plan_approved"
    session.flush()
    assert results(readiness.run_checks(session, clock, ("RC-16",))) == {"RC-16": "pass"}
    nc.severity = "major"
    session.flush()
    [check] = readiness.run_checks(session, clock, ("RC-16",)).checks
    assert (check.result, check.detail) == ("fail", "NC-2026-003 major and open")


def test_surveillance_subset_checks_previous_external_findings(session: Session, clock: FixedClock) -> None:
    cycle = session.scalar(select(CertificationCycle))
    assert cycle is not None
    now = clock.now()
    ext = ExternalAudit(ref="EXA-T1", status="closed", cycle_id=cycle.id, type="stage2", created_at=now,
                        updated_at=now)
    session.add(ext)
    session.flush()
    finding = ExternalFinding(ref="EXF-T1", status="open", external_audit_id=ext.id, type="minor_nc",
                              statement="logging gap", cb_status="plan_accepted", created_at=now, updated_at=now)
    session.add(finding)
    session.flush()
    report = readiness.run_checks(session, clock, readiness.SURVEILLANCE_CHECKS)
    assert [c.id for c in report.checks] == list(readiness.SURVEILLANCE_CHECKS)
    assert {c.id: c.detail for c in report.blockers}["RC-21"] == "EXF-T1 (minor_nc) is plan_accepted"
    finding.cb_status = "verified"
    session.flush()
    assert results(readiness.run_checks(session, clock, ("RC-21",))) == {"RC-21": "pass"}


def test_dashboard_figures_on_the_demo(session: Session, clock: FixedClock) -> None:
    board = readiness.dashboard(session, clock)
    assert board.controls_by_status == {"implemented": 32, "in_progress": 5, "planned": 1, "not_started": 0,
                                        "not_applicable": 0}
    assert [(e.ref, e.valid_until, e.days_left, e.controls) for e in board.evidence_expiring] == [
        ("EVD-001", date(2026, 11, 16), 14, ["A.2.2", "A.2.4"])]
    assert board.evidence_expired == []
    assert board.controls_missing_evidence == ["A.4.4"]
    assert board.open_ncs_by_grade == {"major": 0, "minor": 2, "ungraded": 0}
    assert (board.operating_since, board.days_operating) == (date(2025, 11, 16), 351)
    assert board.soa_gaps == {"implemented without accepted, unexpired evidence": 1, "missing justification": 1,
                              "open risk above Low with neither a control nor a valid acceptance": 1}
    assert board.overdue_tasks_by_flow == {} and board.overdue_tasks_by_owner == {}

    clock.advance(timedelta(days=20))
    later = readiness.dashboard(session, clock)
    assert [e.ref for e in later.evidence_expired] == ["EVD-001"]
    assert later.controls_missing_evidence == ["A.2.2", "A.2.4", "A.4.4"]
    assert later.days_operating == 371


def test_dashboard_counts_overdue_tasks_by_flow_and_owner(ctx: Context, clock: FixedClock) -> None:
    flow = RiskFlow(ctx)
    flow.start()  # ut_identify_risks for sofia, due in 10 days
    second = RiskFlow(ctx)
    second.start(assessor="hannah", scope="AIS-002")
    task = second.tasks()[0]
    services.release_task(ctx, user(ctx.session, "priya"), services.claim_task(
        ctx, user(ctx.session, "hannah"), task.id).id)
    task.assignee_id = None  # back to the lane: counted under its role
    ctx.session.flush()
    assert readiness.dashboard(ctx.session, clock).overdue_tasks_by_flow == {}
    clock.advance(timedelta(days=11))
    board = readiness.dashboard(ctx.session, clock)
    # in people's words: the process's name, the holder's name, the lane's role for an unclaimed task
    assert board.overdue_tasks_by_flow == {"Risk assessment and risk acceptance": 2}
    assert board.overdue_tasks_by_owner == {user(ctx.session, "sofia").name: 1, "Assessor (not yet claimed)": 1}


def by_ref(session: Session, model: type, ref: str) -> Any:
    row = session.scalar(select(model).where(model.ref == ref))
    assert row is not None, ref
    return row


def check(session: Session, clock: FixedClock, check_id: str) -> readiness.Check:
    [found] = readiness.run_checks(session, clock, (check_id,)).checks
    return found


def test_rc02_reads_the_context_issues_and_interested_parties(session: Session, clock: FixedClock) -> None:
    assert check(session, clock, "RC-02").result == "pass"
    by_ref(session, ContextIssue, "CI-02").next_review_at = date(2026, 10, 1)
    session.flush()
    warned = check(session, clock, "RC-02")
    assert (warned.kind, warned.result) == ("soft", "warn")
    assert warned.findings == (readiness.Finding("CI-02 was due for review on 2026-10-01", "context_issues",
                                                 "CI-02"),)
    by_ref(session, ContextIssue, "CI-03").retired_at = clock.now()  # the only internal issue
    requirement = by_ref(session, PartyRequirement, "REQ-001")
    requirement.addressed_by_aims, requirement.how_addressed = False, ""
    session.flush()
    failed = check(session, clock, "RC-02")
    assert (failed.kind, failed.result, failed.blocker) == ("hard", "fail", True)
    assert [(f.text, f.register, f.ref) for f in failed.findings] == [
        ("no internal context issue recorded", "context_issues", None),
        ("REQ-001 is not addressed by the AIMS and gives no reason", "party_requirements", "REQ-001"),
        ("CI-02 was due for review on 2026-10-01", "context_issues", "CI-02")]


def test_rc11_compares_training_records_with_competence_requirements(session: Session,
                                                                      clock: FixedClock) -> None:
    assert check(session, clock, "RC-11").result == "warn"  # only the completion rate, 83 % below 90 %
    grant(session, "sofia", "internal_auditor")
    auditor = by_ref(session, CompetenceRequirement, "iso42001_internal_auditor")
    failed = check(session, clock, "RC-11")
    assert failed.blocker
    assert failed.findings[0] == readiness.Finding(
        "Sofia Rossi (Internal auditor) has no completed training for ISO/IEC 42001 internal auditing", "competence",
        "iso42001_internal_auditor")
    daniel = session.scalar(select(TrainingRecord).where(TrainingRecord.user_id == user(session, "daniel").id))
    assert daniel is not None
    daniel.expires_at = date(2026, 10, 31)
    session.flush()
    texts = [(f.text, f.ref) for f in check(session, clock, "RC-11").findings]
    assert ("Daniel Kim's training “ISO/IEC 42001 Internal Auditor (2 days)” for ISO/IEC 42001 internal auditing "
            "expired on 2026-10-31", daniel.ref) in texts
    daniel.expires_at = None
    auditor.refresh_interval = "P6M"  # no expiry date: completion + the refresh interval
    session.flush()
    assert daniel.completed_at is not None
    lapsed = (daniel.completed_at + timedelta(days=183)).isoformat()[:7]
    assert any(f"Daniel Kim's training “ISO/IEC 42001 Internal Auditor (2 days)” for ISO/IEC 42001 internal auditing "
               f"expired on {lapsed}" in f.text for f in check(session, clock, "RC-11").findings)


def test_rc11_without_competence_requirements_blocks(session: Session, clock: FixedClock) -> None:
    for requirement in session.scalars(select(CompetenceRequirement)):
        requirement.retired_at = clock.now()
    session.flush()
    failed = check(session, clock, "RC-11")
    assert failed.blocker and failed.findings[0] == readiness.Finding("no competence requirement recorded",
                                                                      "competence")


def test_rc18_names_the_suppliers_of_ai_components_not_assessed(session: Session, clock: FixedClock) -> None:
    warned = check(session, clock, "RC-18")
    assert warned.findings[0] == readiness.Finding(
        "SUP-002 Veridoc Systems GmbH (fictional) supplies OCR model, document-classification model and has not "
        "been assessed", "suppliers", "SUP-002")
    assert warned.findings[-1].control == "A.10.3"
    veridoc = by_ref(session, Supplier, "SUP-002")
    veridoc.last_assessed_at, veridoc.last_assessment_result = date(2026, 10, 1), "approved"
    veridoc.assessment_due = date(2026, 10, 30)
    session.flush()
    assert [f.text for f in check(session, clock, "RC-18").findings if f.register] == [
        "SUP-002 Veridoc Systems GmbH (fictional): its assessment was due on 2026-10-30"]
    veridoc.assessment_due, veridoc.last_assessment_result = date(2027, 10, 1), "rejected"
    session.flush()
    assert [f.text for f in check(session, clock, "RC-18").findings if f.register] == [
        "SUP-002 Veridoc Systems GmbH (fictional) is under assessment although its assessment of 2026-10-01 "
        "rejected it"]


def test_rc22_warns_of_data_resources_without_provenance_quality_or_retention(session: Session,
                                                                                clock: FixedClock) -> None:
    assert check(session, clock, "RC-22").result == "pass"
    data = by_ref(session, DataResource, "DS-003")
    data.provenance, data.retention = "", None
    session.flush()
    warned = check(session, clock, "RC-22")
    assert (warned.kind, warned.result, warned.blocker) == ("soft", "warn", False)
    assert warned.findings == (readiness.Finding(
        "DS-003 Labelled payment events 2022-2026 has no provenance and no retention recorded", "data_resources",
        "DS-003"),)
    data.status = "retired"
    session.flush()
    assert check(session, clock, "RC-22").result == "pass"
