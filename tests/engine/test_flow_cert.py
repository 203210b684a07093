"""``aims_cert_prep``, ``aims_external_audit`` and ``aims_cert_maintenance`` end to end through the
services (FLOWS.md (d)): the happy path to certification, every gateway branch, and the register rows
each path leaves behind."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from engine.aims import soa
from engine.aims.registers import ActionItem, Approval, ExternalFinding, ReadinessReview
from engine.core import messaging, services
from engine.core.clock import FixedClock
from engine.core.errors import Forbidden, InvalidInput, SodViolation, ValidationError
from engine.core.models import ProcessInstance
from engine.core.runtime import Context
from engine.core.settings import EngineSettings

from . import cert_flow as cf
from .cert_flow import CertFlow
from .helpers import email, grant, user

pytestmark = pytest.mark.demo


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
    assert (start["source"], start["severity"], start["external_due_date"], start["requirement_ref"]) == \
        ("external_audit_stage2", "minor", "2027-04-30", "A.6.2.6")
    assert start["source_ref"] == "EXF-001" and start["title"].startswith("CB-1: A.6.2.6")
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


# --------------------------------------------------------------------------- SoA branches


def test_soa_gap_rounds_stop_after_three_and_reopened_entries_go_back(flow: CertFlow) -> None:
    flow.start()
    flow.complete("priya", "ut_define_cert_project", cf.project())
    still_g4 = {"implementation_status": "implemented", "implementation_description": "MLOps inventory kept",
                "evidence": ["EVD-018"]}
    flow.complete_gap_entries("A.4.4", **still_g4)  # A.8.5 gets its justification; A.4.4 keeps unaccepted evidence
    for _ in range(2):
        assert [flow.item_of(t)["control_id"] for t in flow.tasks()] == ["A.4.4"]
        flow.complete_gap_entries("A.4.4", **still_g4)
    assert flow.specs() == ["ut_review_soa"]  # three rounds: on to the AIMS owner with the gap left
    assert flow.data()["soa_gap_rounds"] == 3
    assert [g.code for g in soa.compute(flow.session, flow.clock).gaps] == ["G4", "G6"]
    with pytest.raises(ValidationError, match="remaining_gaps_comment"):
        flow.complete("priya", "ut_review_soa", {"entries_confirmed": False})
    flow.complete("priya", "ut_review_soa", {"entries_confirmed": False, "reopen_controls": ["A.4.4"],
                                             "remaining_gaps_comment": "EVD-018 is not accepted yet"})
    [task] = flow.tasks("ut_complete_soa_entry")
    assert task.assignee_id == user(flow.session, "lucas").id
    assert flow.item_of(task)["details"] == ["EVD-018 is not accepted yet"]
    flow.complete_gap_entries()  # in progress with a target date: G4 gone
    assert flow.specs() == ["ut_review_soa"]
    flow.complete("priya", "ut_review_soa", {"entries_confirmed": True, "soa_notes": "G6 goes to the risk owner"})
    assert soa.working_version(flow.session).status == "in_review"  # type: ignore[union-attr]
    with pytest.raises(Forbidden):
        flow.complete("priya", "ut_approve_soa", cf.APPROVE)  # not top management
    grant(flow.session, "priya", "top_management")
    with pytest.raises(SodViolation, match="SOD-01"):
        flow.complete("priya", "ut_approve_soa", cf.APPROVE)  # she prepared it
    flow.complete("grace", "ut_approve_soa", {"decision": "request_changes", "comment": "justify A.4.4 better"})
    assert flow.specs() == ["ut_review_soa"]
    assert soa.working_version(flow.session).status == "generated"  # type: ignore[union-attr]
    flow.complete("priya", "ut_review_soa", {"entries_confirmed": True})
    flow.complete("amara", "ut_approve_soa", cf.APPROVE)
    approved = soa.approved_version(flow.session)
    assert approved is not None and approved.approved_by_id == user(flow.session, "amara").id
    decisions = [(a.decision, a.comment) for a in flow.session.scalars(
        select(Approval).where(Approval.subject_type == "soa_version").order_by(Approval.id))]
    assert decisions == [("request_changes", "justify A.4.4 better"), ("approve", None)]


# --------------------------------------------------------------------------- readiness branches


def test_blockers_go_to_remediation_actions_and_are_checked_again_after_14_days(flow: CertFlow) -> None:
    flow.to_soa_approved()
    assert flow.specs() == ["ut_plan_remediation"]
    first = flow.data()["readiness"]
    assert first["blockers_count"] > 0 and any(b.startswith("RC-09") for b in first["blockers"])
    late = {"actions": [{"description": "Approve the AIIA of AIS-004", "owner_id": email("ravi"),
                         "due_date": "2027-02-10"}]}
    with pytest.raises(InvalidInput, match="2027-02-10 is after 2027-02-01, the latest"):
        flow.complete("priya", "ut_plan_remediation", late)
    assert flow.specs() == ["ut_plan_remediation"]  # nothing changed
    plan = {"actions": [{"description": "Approve the AIIA of AIS-004", "owner_id": email("ravi"),
                         "due_date": "2027-01-15"}],
            "known_gaps": [{"check": "RC-18", "rationale": "supplier SUP-002 assessed in January"}]}
    flow.complete("priya", "ut_plan_remediation", plan)
    [action] = flow.session.scalars(select(ActionItem).where(ActionItem.source_ref == first["review_ref"]))
    assert (action.owner_id, str(action.due_date), action.needs_verification) == (
        user(flow.session, "ravi").id, "2027-01-15", True)
    [child] = flow.children("aims_action")
    assert flow.data(child)["owner_id"] == email("ravi") and flow.data(child)["source_ref"] == first["review_ref"]
    assert flow.specs() == []  # waiting 14 days
    flow.wake("2026-11-10T09:00:00+00:00")
    assert flow.specs() == []  # not yet
    flow.wake("2026-11-16T09:30:00+00:00")
    assert flow.specs() == ["ut_plan_remediation"]  # still blocked: a new round
    cf.clear_blockers(flow.session)
    flow.complete("priya", "ut_plan_remediation", {"known_gaps": [{"check": "RC-19", "rationale": "form live soon"}]})
    flow.wake("2026-11-30T10:00:00+00:00")
    assert flow.specs() == ["ut_readiness_decision"]
    reviews = list(flow.session.scalars(select(ReadinessReview).where(
        ReadinessReview.instance_id == flow.instance.id).order_by(ReadinessReview.id)))  # type: ignore[union-attr]
    assert [(r.status, r.blockers_count == 0) for r in reviews] == [
        ("remediation", False), ("remediation", False), ("results_ready", True)]


def test_go_no_go_is_top_managements_and_no_go_sends_back_to_remediation(ready: CertFlow) -> None:
    flow = ready
    flow.to_soa_approved()
    assert flow.specs() == ["ut_readiness_decision"]
    grant(flow.session, "priya", "top_management")
    with pytest.raises(SodViolation, match="SOD-10"):
        flow.complete("priya", "ut_readiness_decision", cf.GO)
    flow.complete("amara", "ut_readiness_decision", cf.NO_GO)
    assert flow.specs() == ["ut_plan_remediation"]  # no blockers, but top management said no
    flow.complete("priya", "ut_plan_remediation", {"actions": [{
        "description": "Run a second internal audit of 8.x", "owner_id": email("daniel"), "due_date": "2026-12-15"}]})
    flow.wake("2026-11-17T09:00:00+00:00")
    assert flow.specs() == ["ut_readiness_decision"]
    flow.complete("amara", "ut_readiness_decision", {"decision": "go_with_known_risks", "rationale": "audit is done",
                                                     "known_risks": "A.8.3 form goes live in January"})
    assert flow.specs() == ["ut_record_audit_schedule"]
    decided = [r.decision for r in flow.session.scalars(select(ReadinessReview).where(
        ReadinessReview.decision.is_not(None)).order_by(ReadinessReview.id))]
    assert decided == ["no_go", "go_with_known_risks"]


def test_stage1_checkpoint_postpones_twice_then_ends(flow: CertFlow) -> None:
    flow.to_soa_approved()
    assert flow.specs() == ["ut_plan_remediation"]
    flow.wake("2027-01-16T01:00:00+00:00")  # stage 1 (2027-02-15) minus 30 days
    assert flow.specs() == ["ut_postpone_or_proceed"]
    postpone = {"decision": "postpone_stage1", "new_target_stage1_date": "2027-04-01",
                "rationale": "the AIIA of AIS-004 needs six more weeks"}
    flow.complete("grace", "ut_postpone_or_proceed", postpone)
    cycle = flow.cycle()
    assert (str(cycle.target_stage1_date), str(cycle.target_stage2_date)) == ("2027-04-01", "2027-04-29")
    assert flow.specs() == ["ut_plan_remediation"]  # back in the readiness loop
    flow.wake("2027-03-02T01:00:00+00:00")  # the new stage 1 minus 30 days
    flow.complete("grace", "ut_postpone_or_proceed", postpone | {"new_target_stage1_date": "2027-06-01"})
    assert flow.instance is not None and (flow.instance.status, flow.instance.end_event) == ("completed",
                                                                                           "E_POSTPONED")
    assert flow.specs() == []


def test_stage1_checkpoint_can_proceed_with_blockers(flow: CertFlow) -> None:
    flow.to_soa_approved()
    flow.wake("2027-01-16T01:00:00+00:00")
    flow.complete("grace", "ut_postpone_or_proceed", {"decision": "proceed_with_blockers",
                                                      "rationale": "the CB agreed to see the remaining gaps"})
    assert flow.specs() == ["ut_readiness_decision"]
    assert flow.cycle().target_stage1_date == date(2027, 2, 15)


# --------------------------------------------------------------------------- external audit branches


def test_stage1_not_ready_returns_to_readiness_with_the_cb_concern_as_a_blocker(ready: CertFlow) -> None:
    flow = ready
    flow.to_stage1()
    flow.run_audit(cf.STAGE1, "2027-02-16", cf.outcome("not_ready", cf.finding("CB-S1", "stage1_concern"),
                                                       next_audit=cf.STAGE2))
    flow.complete("priya", "ut_submit_to_cb", cf.CA_PLAN)
    flow.complete("priya", "ut_record_cb_response", cf.ACCEPTED)
    assert flow.cycle().status == "stage1_completed"
    [nc] = flow.children("aims_nc_capa")
    assert flow.data(nc)["source"] == "external_audit_stage1"
    # back in the readiness loop; the planned stage 1 date has passed, so top management sets new dates
    assert flow.specs() == ["ut_postpone_or_proceed"]
    cf.measure_objectives(flow.session, flow.clock.now().date())  # the objectives' owners kept measuring
    flow.complete("grace", "ut_postpone_or_proceed", {"decision": "postpone_stage1", "rationale": "CB concern first",
                                                      "new_target_stage1_date": "2027-05-03"})
    assert flow.specs() == ["ut_plan_remediation"]
    latest = flow.session.scalars(select(ReadinessReview).order_by(ReadinessReview.id.desc())).first()
    assert latest is not None
    assert [(c["id"], c["detail"]) for c in latest.checks if c["blocker"]] == [
        ("RC-21", "EXF-001 (stage1_concern) is plan_accepted")]


def close_stand_in_nc(flow: CertFlow, nc: ProcessInstance) -> services.Outcome:
    [task] = flow.tasks("ut_close_nc", nc)
    return services.complete_task(flow.ctx, user(flow.session, "priya"), task.id, {})


def test_stage1_concerns_are_waited_for_before_stage2(ready: CertFlow) -> None:
    flow = ready
    flow.to_stage1()
    flow.run_audit(cf.STAGE1, "2027-02-16", cf.outcome(
        "ready_with_concerns", cf.finding("CB-S1", "stage1_concern"), cf.finding("CB-S2", "stage1_concern"),
        cf.finding("CB-O1", "ofi"), next_audit=cf.STAGE2))
    ncs = flow.children("aims_nc_capa")
    assert len(ncs) == 2  # the OFI starts no corrective action
    assert flow.specs() == ["ut_submit_to_cb", "ut_submit_to_cb"]
    for task in flow.tasks("ut_submit_to_cb"):
        services.complete_task(flow.ctx, user(flow.session, "priya"), task.id, cf.CA_PLAN)
    for task in flow.tasks("ut_record_cb_response"):
        services.complete_task(flow.ctx, user(flow.session, "priya"), task.id, cf.ACCEPTED)
    assert flow.specs() == []  # waiting for the two concerns to close
    close_stand_in_nc(flow, ncs[0])
    assert flow.specs() == []  # one concern still open
    close_stand_in_nc(flow, ncs[1])
    assert flow.specs() == ["ut_record_audit_schedule"]  # stage 2
    assert [a.type for a in flow.external_audits()] == ["stage1", "stage2"]


def test_open_concerns_14_days_before_stage2_go_to_top_management(ready: CertFlow) -> None:
    flow = ready
    flow.to_stage1()
    flow.run_audit(cf.STAGE1, "2027-02-16", cf.outcome("ready_with_concerns", cf.finding("CB-S1", "stage1_concern"),
                                                       next_audit=cf.STAGE2))
    flow.complete("priya", "ut_submit_to_cb", cf.CA_PLAN)
    flow.complete("priya", "ut_record_cb_response", cf.ACCEPTED)
    flow.wake("2027-03-01T01:00:00+00:00")  # stage 2 (2027-03-15) minus 14 days
    assert flow.specs() == ["ut_stage2_go_decision"]
    flow.complete("grace", "ut_stage2_go_decision", {"decision": "ask_cb_to_postpone", "new_stage2_date": "2027-04-12",
                                                     "rationale": "the concern needs a new data lineage tool"})
    assert flow.specs() == [] and str(flow.cycle().target_stage2_date) == "2027-04-12"
    flow.wake("2027-03-29T01:00:00+00:00")  # the new stage 2 minus 14 days
    flow.complete("grace", "ut_stage2_go_decision", {"decision": "proceed",
                                                     "rationale": "the CB will look at it during stage 2"})
    assert flow.specs() == ["ut_record_audit_schedule"]


def test_stage2_is_repeated_when_majors_are_not_verified_within_six_months(ready: CertFlow) -> None:
    flow = ready
    flow.to_stage1()
    flow.run_audit(cf.STAGE1, "2027-02-16", cf.outcome("ready_for_stage2", next_audit=cf.STAGE2))
    flow.run_audit(cf.STAGE2, "2027-03-17", cf.outcome("recommend_after_ca", cf.finding("CB-M1", "major_nc")),
                   interviewees=["tomas"])
    [nc] = flow.children("aims_nc_capa")
    assert flow.data(nc)["severity"] == "major"
    flow.complete("priya", "ut_submit_to_cb", cf.EVIDENCE)
    flow.complete("priya", "ut_record_cb_response", cf.REJECTED)
    assert flow.specs() == ["ut_submit_to_cb"]  # not accepted: submit again
    first_stage2 = flow.external_audits()[1]
    assert first_stage2.status == "findings_open" and flow.cycle().status == "stage2_scheduled"
    flow.wake("2027-09-17T01:00:00+00:00")  # last stage 2 day plus 6 months
    assert first_stage2.details["stage2_repeat_required"] is True and first_stage2.status == "closed"
    assert [a.type for a in flow.external_audits()] == ["stage1", "stage2", "stage2"]
    assert flow.specs() == ["ut_record_audit_schedule"]  # the repeated stage 2


def test_refused_certification_ends_the_preparation(ready: CertFlow) -> None:
    flow = ready
    flow.to_stage1()
    flow.run_audit(cf.STAGE1, "2027-02-16", cf.outcome("ready_for_stage2", next_audit=cf.STAGE2))
    flow.run_audit(cf.STAGE2, "2027-03-17", cf.outcome("not_recommend"), interviewees=["tomas"])
    flow.complete("priya", "ut_record_cert_decision", cf.REFUSED)
    assert flow.instance is not None and flow.instance.end_event == "E_REFUSED"
    assert flow.cycle().status == "refused" and flow.children("aims_cert_maintenance") == []


def test_bad_input_is_refused_and_changes_nothing(ready: CertFlow) -> None:
    flow = ready
    flow.start()
    with pytest.raises(InvalidInput, match="target_stage2_date 2027-02-20 must be more than 14 days after"):
        flow.complete("priya", "ut_define_cert_project", cf.project(stage2="2027-02-20"))
    assert flow.specs() == ["ut_define_cert_project"]
    assert flow.cycle().target_stage2_date == date(2027, 4, 26)  # the demo's date, untouched
    flow.complete("priya", "ut_define_cert_project", cf.project())
    flow.complete_gap_entries()
    flow.complete("priya", "ut_review_soa", {"entries_confirmed": True})
    flow.complete("grace", "ut_approve_soa", cf.APPROVE)
    flow.complete("grace", "ut_readiness_decision", cf.GO)
    flow.complete("priya", "ut_record_audit_schedule", cf.schedule(cf.STAGE1, "2027-02-16"))
    flow.wake(f"{cf.STAGE1}T08:00:00+00:00")
    flow.complete("priya", "ut_log_audit_days", cf.audit_log(cf.STAGE1, "2027-02-16"))
    with pytest.raises(InvalidInput, match="outcome 'recommend' does not fit a stage1 audit"):
        flow.complete("priya", "ut_record_audit_outcome", cf.outcome("recommend", next_audit=cf.STAGE2))
    with pytest.raises(ValidationError, match="cb_due_date"):
        flow.complete("priya", "ut_record_audit_outcome", cf.outcome(
            "ready_with_concerns", {k: v for k, v in cf.finding("CB-S1", "stage1_concern").items()
                                    if k != "cb_due_date"}, next_audit=cf.STAGE2))
    assert flow.session.scalars(select(ExternalFinding)).all() == []
    assert flow.specs() == ["ut_record_audit_outcome"]


# --------------------------------------------------------------------------- maintenance


def certified(flow: CertFlow, as_of: date) -> None:
    """CERT-2026 certified on 2027-04-10 with an approved SoA, the registers in order at ``as_of``."""
    cf.clear_blockers(flow.session, as_of)
    version, statement = soa.generate(flow.session, flow.clock)
    for item in statement.rows:
        if item.gaps:
            soa.update_entry(flow.session, flow.clock, version, item.control_id, cf.soa_entry(
                {"control_id": item.control_id, "owner_id": item.owner or email("priya")}))
    soa.publish(flow.session, flow.clock, version, user(flow.session, "grace").id)
    cycle = flow.cycle()
    cycle.status, cycle.certificate_number = "certified", "AIMS-0042"
    cycle.issued_at, cycle.expires_at = date(2027, 4, 10), date(2030, 4, 10)
    cycle.surveillance_1_due, cycle.surveillance_2_due = date(2028, 4, 10), date(2029, 4, 10)
    cycle.recertification_due = date(2029, 7, 10)
    flow.session.flush()


def start_maintenance(flow: CertFlow, audit_type: str = "surveillance", audit_no: int = 1) -> ProcessInstance:
    flow.instance = services.start_process(flow.ctx, user(flow.session, "priya"), "aims_cert_maintenance", {
        "cycle_ref": "CERT-2026", "audit_type": audit_type, "audit_no": audit_no}).instance
    return flow.instance


def to_surveillance_outcome(flow: CertFlow, result: str) -> ProcessInstance:
    certified(flow, date(2028, 1, 10))
    instance = start_maintenance(flow)
    assert instance.subject == "CERT-2026 surveillance 1" and flow.specs() == []
    assert instance.wake_at is not None and instance.wake_at.date() == date(2028, 1, 11)  # due minus 90 days
    flow.wake("2028-01-11T01:00:00+00:00")
    assert flow.specs() == ["ut_m_readiness_decision"]
    flow.complete("grace", "ut_m_readiness_decision", cf.GO)
    flow.run_audit("2028-03-01", "2028-03-02", cf.outcome(result), interviewees=["tomas"])
    return instance


def test_surveillance_keeps_the_certificate_and_starts_the_next_one(flow: CertFlow) -> None:
    instance = to_surveillance_outcome(flow, "recommend")
    assert (instance.status, instance.end_event) == ("completed", "E_MAINTAINED")
    assert flow.cycle().status == "surveillance_1_completed"
    [audit] = flow.external_audits()
    assert (audit.type, audit.status, audit.outcome) == ("surveillance", "closed", "recommend")
    [following] = flow.children("aims_cert_maintenance")
    assert flow.data(following)["audit_no"] == 2 and following.subject == "CERT-2026 surveillance 2"
    assert following.wake_at is not None and following.wake_at.date() == date(2029, 1, 10)


@pytest.mark.parametrize("reinstated", [True, False], ids=["reinstated", "withdrawn"])
def test_suspended_certificate_is_reinstated_or_withdrawn_after_six_months(flow: CertFlow, reinstated: bool) -> None:
    instance = to_surveillance_outcome(flow, "suspend")
    assert flow.cycle().status == "suspended"
    flow.complete("priya", "ut_reinstatement_plan", {"plan": {
        "actions": "close the major NC on event logging", "target_date": "2028-05-01", "cb_contacted": True}})
    assert flow.specs() == []
    if reinstated:
        # the certification body's letter names the cycle, not the process number: correlated by cycle_ref
        outcome = messaging.correlate_message(flow.ctx, user(flow.session, "priya"), "msg_cb_reinstated",
                                              {"cycle_ref": "CERT-2026"}, {"letter": "EVD-301"})
        assert outcome.instance.id == instance.id and outcome.messages_delivered == 1
        assert (instance.status, instance.end_event) == ("completed", "E_MAINTAINED")
        assert flow.cycle().status == "surveillance_1_completed"
        assert len(flow.children("aims_cert_maintenance")) == 1
    else:
        flow.wake("2028-09-04T01:00:00+00:00")  # six months after the plan
        assert (instance.status, instance.end_event) == ("completed", "E_WITHDRAWN")
        assert flow.cycle().status == "withdrawn" and flow.children("aims_cert_maintenance") == []


def test_recertification_renews_the_certificate_after_remediation_and_a_no_go(flow: CertFlow) -> None:
    certified(flow, date(2029, 7, 9))
    flow.cycle().details = {"maintenance_started": ["surveillance-1", "surveillance-2", "recertification-1"]}
    instance = start_maintenance(flow, "recertification")
    assert instance.wake_at is not None and instance.wake_at.date() == date(2029, 7, 10)
    flow.wake("2029-07-10T01:00:00+00:00")
    assert flow.specs() == ["ut_m_readiness_decision"]  # the full set of checks passes
    flow.complete("amara", "ut_m_readiness_decision", cf.NO_GO)
    assert flow.specs() == ["ut_m_plan_remediation"]
    flow.complete("priya", "ut_m_plan_remediation", {"actions": [{
        "description": "Refresh the supplier assessments", "owner_id": email("fatima"), "due_date": "2029-09-01"}]})
    flow.complete("amara", "ut_m_readiness_decision", cf.GO)
    flow.run_audit("2029-10-01", "2029-10-03", cf.outcome("recommend"), interviewees=["tomas"])
    assert (instance.status, instance.end_event) == ("completed", "E_MAINTAINED")
    cycle = flow.cycle()
    assert (cycle.status, cycle.expires_at, cycle.surveillance_1_due) == ("certified", date(2033, 4, 10),
                                                                          date(2031, 4, 10))
    [following] = flow.children("aims_cert_maintenance")
    assert (flow.data(following)["audit_type"], flow.data(following)["audit_no"]) == ("surveillance", 1)


# --------------------------------------------------------------------------- with the real shared flows


@pytest.fixture
def real(ctx: Context, clock: FixedClock) -> CertFlow:
    """No stand-ins: the shipped aims_nc_capa and aims_action take the start requests."""
    flow = CertFlow(ctx, clock)
    cf.clear_blockers(flow.session)
    return flow


def test_cb_findings_start_the_shipped_nc_flow_and_remediation_the_shipped_action_flow(real: CertFlow) -> None:
    flow = real
    flow.to_stage1()
    flow.run_audit(cf.STAGE1, "2027-02-16", cf.outcome("ready_for_stage2", next_audit=cf.STAGE2))
    flow.run_audit(cf.STAGE2, "2027-03-17", cf.outcome(
        "recommend_after_ca", cf.finding("CB-1", "major_nc"), cf.finding("CB-2", "minor_nc", "9.2.2")),
        interviewees=["tomas"])
    ncs = flow.children("aims_nc_capa")
    assert len(ncs) == 2 and all(nc.status == "running" for nc in ncs)
    first = flow.data(ncs[0])
    assert (first["source"], first["severity"], first["source_ref"], first["requirement_ref"]) == (
        "external_audit_stage2", "major", "EXF-001", "A.6.2.6")
    assert all(flow.specs(nc) for nc in ncs)  # each waits for its first human step


def test_remediation_starts_the_shipped_action_flow(real: CertFlow) -> None:
    flow = real
    flow.to_soa_approved()
    flow.complete("amara", "ut_readiness_decision", cf.NO_GO)
    flow.complete("priya", "ut_plan_remediation", {"actions": [{
        "description": "Run a second internal audit of 8.x", "owner_id": email("daniel"), "due_date": "2026-12-15"}]})
    [action] = flow.children("aims_action")
    assert action.status == "running" and flow.data(action)["owner_id"] == email("daniel")
    [task] = flow.tasks(instance=action)
    assert task.assignee_id == user(flow.session, "daniel").id
