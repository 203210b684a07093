"""``aims_cert_prep``, ``aims_external_audit`` and ``aims_cert_maintenance`` end to end through the
services (FLOWS.md (d)): the happy path to certification, every gateway branch, and the register rows
each path leaves behind."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from engine import soa
from engine.clock import FixedClock
from engine.models import Approval, ExternalFinding, ReadinessReview
from engine.runtime import Context
from engine.settings import EngineSettings

from . import cert_flow as cf
from .cert_flow import CertFlow
from .helpers import email, user


@pytest.fixture
def flow(ctx: Context, clock: FixedClock, settings: EngineSettings) -> CertFlow:
    cf.deploy_standins(ctx.session, settings, clock)
    return CertFlow(ctx, clock)


@pytest.fixture
def ready(flow: CertFlow) -> CertFlow:
    cf.clear_blockers(flow.session)
    return flow


def test_happy_path_to_certification(ready: CertFlow) -> None:
    flow = ready
    instance = flow.start()
    assert instance.subject == "CERT-2026"
    assert flow.specs() == ["ut_define_cert_project"]
    flow.complete("priya", "ut_define_cert_project", cf.project())
    cycle = flow.cycle()
    assert (cycle.certification_body, str(cycle.target_stage1_date)) == ("Example Certification Services Ltd",
                                                                          cf.STAGE1)
    # the SoA gaps of the demo go to the control owners
    assert flow.specs() == ["ut_complete_soa_entry", "ut_complete_soa_entry"]
    owners = {flow.item_of(t)["control_id"]: t.assignee_id for t in flow.tasks()}
    assert owners == {"A.4.4": user(flow.session, "lucas").id, "A.8.5": user(flow.session, "fatima").id}
    flow.complete_gap_entries()
    assert flow.specs() == ["ut_review_soa"]
    flow.complete("priya", "ut_review_soa", {"entries_confirmed": True})
    assert flow.specs() == ["ut_approve_soa"]
    flow.complete("grace", "ut_approve_soa", cf.APPROVE)
    approved = soa.approved_version(flow.session)
    assert approved is not None and approved.version == "1.0" and flow.cycle().soa_version_id == approved.id
    assert soa.compute(flow.session, flow.clock, approved).hard_gaps == []
    # readiness: no blockers left, so straight to the go/no-go
    assert flow.specs() == ["ut_readiness_decision"]
    review = flow.session.scalar(select(ReadinessReview).where(ReadinessReview.instance_id == instance.id))
    assert review is not None and review.blockers_count == 0 and flow.cycle().status == "readiness_review"
    flow.complete("grace", "ut_readiness_decision", cf.GO)
    assert (review.decision, review.decided_by_id) == ("go", user(flow.session, "grace").id)
    assert flow.cycle().details["evidence_packs"][0]["audit_type"] == "stage1"
    # stage 1 (called process)
    assert flow.specs() == ["ut_record_audit_schedule"]
    assert flow.cycle().status == "stage1_scheduled"
    flow.run_audit(cf.STAGE1, "2027-02-16", cf.outcome("ready_for_stage2", next_audit=cf.STAGE2))
    assert flow.cycle().status == "stage2_scheduled"
    # stage 2 with one minor NC
    flow.run_audit(cf.STAGE2, "2027-03-17", cf.outcome("recommend_after_ca", cf.finding("CB-1")),
                   interviewees=["tomas"])
    [nc] = flow.children("aims_nc_capa")
    start = flow.data(nc)
    assert (start["source"], start["severity"], start["external_due_date"], start["verifier_hint_id"]) == \
        ("external_audit_stage2", "minor", "2027-04-30", email("priya"))
    assert start["nc_owner_id"] == "kwame.mensah@lumenvale.example"  # A.6.2.6's control owner in the SoA
    assert flow.specs() == ["ut_submit_to_cb"]
    flow.complete("priya", "ut_submit_to_cb", cf.CA_PLAN)
    flow.complete("priya", "ut_record_cb_response", cf.ACCEPTED)
    [finding] = flow.session.scalars(select(ExternalFinding))
    assert (finding.cb_ref, finding.cb_status, finding.type) == ("CB-1", "plan_accepted", "minor_nc")
    assert [(a.type, a.status, a.outcome) for a in flow.external_audits()] == [
        ("stage1", "closed", "ready_for_stage2"), ("stage2", "closed", "recommend_after_ca")]
    assert flow.specs() == ["ut_record_cert_decision"]
    flow.complete("priya", "ut_record_cert_decision", cf.GRANTED)
    assert (instance.status, instance.end_event) == ("completed", "E_CERTIFIED")
    cycle = flow.cycle()
    assert (cycle.status, cycle.certificate_number, cycle.expires_at) == ("certified", "AIMS-0042", date(2030, 4, 10))
    assert (cycle.surveillance_1_due, cycle.surveillance_2_due, cycle.recertification_due) == (
        date(2028, 4, 10), date(2029, 4, 10), date(2029, 7, 10))
    [maintenance] = flow.children("aims_cert_maintenance")
    assert maintenance.status == "running" and maintenance.wake_at is not None
    assert maintenance.wake_at.date() == date(2028, 1, 11)  # 90 days before surveillance 1
    decisions = [(a.subject_type, a.decision, a.actor_id) for a in flow.session.scalars(
        select(Approval).where(Approval.instance_id == instance.id).order_by(Approval.id))]
    assert decisions == [("soa_version", "approve", user(flow.session, "grace").id),
                         ("readiness_review", "go", user(flow.session, "grace").id),
                         ("certification_cycle", "granted", user(flow.session, "priya").id)]
