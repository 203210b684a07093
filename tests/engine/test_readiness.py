"""Readiness checks RC-01 ... RC-21 and the readiness dashboard figures on the demo organisation."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.aims import readiness
from engine.aims.registers import (
    Audit,
    CertificationCycle,
    ExternalAudit,
    ExternalFinding,
    ManagementReview,
    Nonconformity,
)
from engine.core import services
from engine.core.clock import FixedClock
from engine.core.runtime import Context

from .helpers import email, user
from .risk_flow import RiskFlow

pytestmark = pytest.mark.demo


def results(report: readiness.Report) -> dict[str, str]:
    return {c.id: c.result for c in report.checks}


def test_demo_readiness_finds_the_blockers_the_demo_plants(session: Session, clock: FixedClock) -> None:
    report = readiness.run_checks(session, clock)
    assert [c.id for c in report.checks] == [f"RC-{i:02d}" for i in range(1, 21)]
    assert [c.id for c in report.blockers] == ["RC-06", "RC-07", "RC-08", "RC-09", "RC-14", "RC-15", "RC-16"]
    assert [c.id for c in report.warnings] == ["RC-02", "RC-11", "RC-18", "RC-19"]
    checks = {c.id: c for c in report.checks}
    assert checks["RC-08"].detail == "no approved SoA; SoA gaps: G4 A.4.4, G1 A.8.5, G6 RSK-006"
    assert checks["RC-09"].detail == "AIS-004 has no approved AIIA"
    assert checks["RC-16"].detail == "NC-2026-003 minor without an approved plan (root_cause_analysis)"
    assert checks["RC-17"].detail == "operating since 2025-11-16 (351 days)"
    assert checks["RC-19"].detail == "A.8.3 in_progress without valid evidence"
    assert report.score_pct == 45.0  # 9 of 20 pass
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
    assert board.soa_gaps == {"G4": 1, "G1": 1, "G6": 1}
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
    assert board.overdue_tasks_by_flow == {"aims_risk_assessment": 2}
    assert board.overdue_tasks_by_owner == {email("sofia"): 1, "role assessor": 1}
