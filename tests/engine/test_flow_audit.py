"""``aims_audit_programme`` and ``aims_internal_audit`` end to end through the services (FLOWS.md (b)):
every gateway branch and the register rows each path leaves behind."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.aims.registers import Document, DocumentVersion, Nonconformity, SoAVersion
from engine.core import services
from engine.core.clock import FixedClock
from engine.core.errors import ConflictError, InvalidInput, SodViolation, ValidationError
from engine.core.runtime import Context

from .audit_flow import (
    CONFIRMED,
    END,
    AuditFlow,
    ProgrammeFlow,
    all_required_audits,
    finding,
    findings,
    plan,
    programme_audit,
    programme_audits,
    report,
)
from .capa_flow import NO_CA, CapaFlow
from .helpers import email, events, grant, user

pytestmark = pytest.mark.demo


@pytest.fixture
def af(ctx: Context) -> AuditFlow:
    return AuditFlow(ctx)


@pytest.fixture
def pf(ctx: Context) -> ProgrammeFlow:
    return ProgrammeFlow(ctx)


def soa_effectiveness(af: AuditFlow, control: str) -> tuple[str, str | None]:
    soa = af.session.scalar(select(SoAVersion).order_by(SoAVersion.id.desc()).limit(1))
    assert soa is not None
    entry = next(e for e in soa.entries if e.control.control_id == control)
    return entry.effectiveness, entry.last_tested_at.isoformat() if entry.last_tested_at else None


# --------------------------------------------------------------------------- internal audit: to the end


def test_audit_without_nonconformity_issues_the_report_and_closes(af: AuditFlow) -> None:
    af.start_unplanned()
    assert af.ref.startswith("IA-2027-") and af.specs() == ["ut_appoint_audit_team"]
    assert af.audit().status == "planned" and af.audit().details["unplanned"] is True
    af.appoint("daniel")
    audit = af.audit()
    assert (audit.status, audit.lead_auditor_id) == ("team_assigned", user(af.session, "daniel").id)
    assert audit.details["independence_check"]["exception_needed"] is False
    assert af.specs() == ["ut_auditor_declaration"]
    assert af.tasks()[0].assignee_id == user(af.session, "daniel").id
    af.declare("daniel")
    assert af.audit().independence_declarations[0]["user_id"] == email("daniel")

    plan_task = af.task_for("ut_prepare_audit_plan")
    assert plan_task.due_at is not None and plan_task.due_at.date().isoformat() == "2026-11-12"  # now + P10D
    af.plan_and_prepare()
    audit = af.audit()
    assert audit.status == "plan_issued"
    assert [i["item_ref"] for i in audit.checklist] == ["8.1", "8.2", "A.8.2", "A.8.3"]
    assert audit.auditee_ids == [user(af.session, "meilin").id]
    assert af.specs() == [] and af.waiting_timers() == {"tm_planned_start": "2027-02-15T00:00:00+00:00"}

    af.fire_timer("tm_planned_start")
    fieldwork = af.task_for("ut_fieldwork")
    assert fieldwork.due_at is not None and fieldwork.due_at.date().isoformat() == "2027-02-20"
    af.fieldwork()
    assert (af.audit().status, str(af.audit().actual_start)) == ("fieldwork", "2027-02-15")
    af.complete("daniel", "ut_draft_findings", findings(finding("positive", "8.1")))
    assert af.audit().status == "findings_review"
    assert af.specs() == ["ut_write_report"]  # nothing for the auditee to answer
    af.complete("daniel", "ut_write_report", report(conformity="conforms"))
    assert af.audit().status == "reporting"
    af.complete("priya", "ut_review_report", {"decision": "issue"})

    assert af.instance is not None and (af.instance.status, af.instance.end_event) == ("completed", "E_CLOSED")
    audit = af.audit()
    assert audit.status == "closed" and audit.conclusion_conformity == "conforms"
    version = af.session.get(DocumentVersion, audit.report_document_version_id)
    assert version is not None and version.status == "published" and len(version.sha256 or "") == 64
    doc = af.session.get(Document, version.document_id)
    assert doc is not None and (doc.ref, doc.doc_type) == (f"DOC-RPT-{af.ref}", "report")
    assert [(f.type, f.status) for f in af.findings()] == [("positive", "closed")]
    assert soa_effectiveness(af, "A.8.2") == ("effective", "2027-02-15")
    assert af.approvals() == [("report_review", "issue", "aims_owner")]
    assert events(af.session, af.instance.id, "audit_report_issued")[0].data["distribution"] == [
        email("meilin"), email("priya")]


def test_nonconformity_findings_start_nc_capa_and_the_audit_follows_them_up(af: AuditFlow) -> None:
    af.to_fieldwork()
    af.fieldwork(A_8_2="minor_nc", A_8_3="major_nc")
    af.complete("daniel", "ut_draft_findings", findings(finding("minor_nc", "A.8.2"), finding("major_nc", "A.8.3"),
                                                        finding("ofi", "8.1")))
    assert [(f.ref, f.type, f.status) for f in af.findings()] == [
        (f"{af.ref}-F1", "minor_nc", "communicated"), (f"{af.ref}-F2", "major_nc", "communicated"),
        (f"{af.ref}-F3", "ofi", "communicated")]
    answers = af.item_of(af.task_for("ut_auditee_response"), "response_request")
    assert [f["finding_ref"] for f in answers["findings"]] == [f"{af.ref}-F1", f"{af.ref}-F2", f"{af.ref}-F3"]
    af.complete("meilin", "ut_auditee_response", {"responses": [
        {"finding_ref": f"{af.ref}-F1", "response": "accept", "proposed_nc_owner": email("ravi")}]})
    assert [f.auditee_response for f in af.findings()] == ["accept"] * 3  # unanswered counts as accepted
    assert af.findings()[1].details["no_response"] is True
    # a major NC: top management must be on the distribution
    with pytest.raises(InvalidInput, match="top management must receive"):
        af.complete("daniel", "ut_write_report", report("meilin", "priya"))
    af.complete("daniel", "ut_write_report", report("meilin", "priya", "grace", conformity="does_not_conform"))
    outcome = af.complete("priya", "ut_review_report", {"decision": "issue"})

    assert soa_effectiveness(af, "A.8.2")[0] == "partially_effective"
    assert soa_effectiveness(af, "A.8.3")[0] == "ineffective"
    ncs = af.children("aims_nc_capa")
    assert outcome.started[:2] == ncs and len(ncs) == 2
    rows = {nc.source_ref: nc for nc in af.session.scalars(select(Nonconformity).where(
        Nonconformity.source == "internal_audit", Nonconformity.instance_id.in_([c.id for c in ncs])))}
    first, second = rows[f"{af.ref}-F1"], rows[f"{af.ref}-F2"]
    assert (first.status, first.requirement_ref, second.requirement_ref) == ("reported", "A.8.2", "A.8.3")
    assert [c.subject for c in ncs] == [first.ref, second.ref]
    assert services.instance_data(af.ctx, ncs[0].id)["verifier_hint_id"] == email("daniel")
    assert f"proposed NC owner: {email('ravi')}" in first.description
    assert f"proposed NC owner: {email('meilin')}" in second.description
    assert [(f.type, f.status) for f in af.findings()] == [
        ("minor_nc", "nc_raised"), ("major_nc", "nc_raised"), ("ofi", "logged_as_ofi")]
    assert af.audit().status == "follow_up"
    assert af.instance is not None and af.instance.status == "running"
    assert sorted(af.waiting_timers()) == ["tm_follow_up_180", "tm_follow_up_90", "tm_recheck"]


def raise_one_nc(af: AuditFlow) -> None:
    af.to_fieldwork()
    af.fieldwork(A_8_2="minor_nc")
    af.complete("daniel", "ut_draft_findings", findings(finding("minor_nc", "A.8.2")))
    af.complete("meilin", "ut_auditee_response", {"responses": [{"finding_ref": f"{af.ref}-F1", "response": "accept"}]})
    af.complete("daniel", "ut_write_report", report())
    af.complete("priya", "ut_review_report", {"decision": "issue"})


def test_audit_closes_when_its_nc_is_closed_effective(af: AuditFlow, clock: FixedClock) -> None:
    raise_one_nc(af)
    [nc_instance] = af.children("aims_nc_capa")
    nc = CapaFlow(af.ctx, clock, nc_instance)
    nc.triage(owner="meilin", approver="grace")
    nc.contain("meilin")
    nc.root_cause("meilin")
    nc.plan(NO_CA, who="meilin")
    assert af.instance is not None and af.instance.status == "running"
    nc.verify()  # daniel, the lead auditor, verifies (SOD-03) and the NC closes

    assert nc.nc().status == "closed"
    assert (af.instance.status, af.instance.end_event) == ("completed", "E_CLOSED")
    assert af.audit().status == "closed"
    [f1] = af.findings()
    assert (f1.status, f1.nc_id) == ("closed", nc.nc().id)
    delivered = events(af.session, af.instance.id, "message_delivered")
    assert [e.data["message"] for e in delivered] == ["msg_nc_closed"]


def test_nc_found_not_to_be_one_closes_the_audit_at_the_weekly_recheck(af: AuditFlow, clock: FixedClock) -> None:
    raise_one_nc(af)
    [nc_instance] = af.children("aims_nc_capa")
    nc = CapaFlow(af.ctx, clock, nc_instance)
    nc.triage(kind="no_observation")
    assert nc_instance.end_event == "E_NOT_NC"
    assert af.instance is not None and af.instance.status == "running"  # the NC flow sends nothing back
    af.fire_timer("tm_recheck")
    assert (af.instance.status, af.audit().status) == ("completed", "closed")


def test_follow_up_notices_after_90_and_180_days_leave_the_audit_waiting(af: AuditFlow) -> None:
    raise_one_nc(af)
    assert af.instance is not None
    for _ in range(12):  # weekly rechecks until 90 days have passed
        af.fire_timer("tm_recheck")
    af.fire_timer("tm_follow_up_90")
    af.fire_timer("tm_follow_up_180")
    notices = events(af.session, af.instance.id, "audit_follow_up_overdue")
    assert [(e.data["level"], e.data["open"]) for e in notices] == [
        ("aims_owner", [f"{af.ref}-F1"]), ("top_management", [f"{af.ref}-F1"])]
    assert notices[0].data["recipients"] == [email("priya")]
    assert af.instance.status == "running" and af.audit().status == "follow_up"
    assert "tm_recheck" in af.waiting_timers()


# --------------------------------------------------------------------------- independence (G-I2, G-I1a)


def test_own_work_conflict_goes_to_top_management_who_reassign(af: AuditFlow) -> None:
    af.start_unplanned(scope_ai_systems=["AIS-001"])
    af.appoint("hannah")  # assessed RSK-001 and AIIA-001-v2 of AIS-001
    check = af.audit().details["independence_check"]
    assert {c["item"] for c in check["own_work_conflicts"]} == {"RSK-001", "AIIA-001-v2"}
    assert af.specs() == ["ut_independence_exception"]
    with pytest.raises(InvalidInput, match="reporting-line exception cannot be accepted"):
        af.complete("grace", "ut_independence_exception", {"decision": "accept_reporting_line_exception",
                                                           "justification": "small team"})
    af.complete("grace", "ut_independence_exception", {"decision": "reassign"})
    assert af.specs() == ["ut_appoint_audit_team"]
    af.appoint("daniel")
    assert af.specs() == ["ut_auditor_declaration"]
    assert af.approvals() == [("independence", "reassign", "top_management")]


def test_reporting_line_exception_is_accepted_with_a_justification(af: AuditFlow) -> None:
    af.start_unplanned(scope_controls=["A.8.2", "A.8.4"])  # A.8.4 is owned by priya, who reports to daniel's manager
    af.appoint("daniel")
    check = af.audit().details["independence_check"]
    assert check["reporting_line_only"] is True and check["reporting_line"][0]["item"] == email("priya")
    with pytest.raises(ValidationError):
        af.complete("amara", "ut_independence_exception", {"decision": "accept_reporting_line_exception"})
    af.complete("amara", "ut_independence_exception", {"decision": "accept_reporting_line_exception",
                                                       "justification": "no other trained auditor; CB informed"})
    assert af.specs() == ["ut_auditor_declaration"]
    assert af.audit().details["independence_exception"]["decision"] == "accept_reporting_line_exception"


def test_auditor_without_training_needs_an_external_auditor(af: AuditFlow) -> None:
    grant(af.session, "sofia", "internal_auditor")
    af.start_unplanned()
    af.appoint("daniel", "sofia")
    assert af.audit().details["independence_check"]["not_competent"] == [email("sofia")]
    af.complete("jonas", "ut_independence_exception", {
        "decision": "engage_external_auditor", "external_firm": "Audit & Co", "external_auditor_name": "R. Stone",
        "contract_ref": "PO-2027-11"})
    assert sorted(t.assignee_id for t in af.tasks("ut_auditor_declaration")) == sorted(
        [user(af.session, "daniel").id, user(af.session, "sofia").id])
    af.declare("daniel", "sofia")
    assert [d["user_id"] for d in af.audit().independence_declarations] == [email("daniel"), email("sofia")]


def test_auditee_on_the_team_is_refused_and_fieldwork_checks_sod_02(af: AuditFlow) -> None:
    af.start_unplanned()
    af.appoint("daniel")
    af.declare("daniel")
    with pytest.raises(InvalidInput, match="SOD-02"):
        af.complete("daniel", "ut_prepare_audit_plan", plan(("meilin", "daniel")))
    assert af.specs() == ["ut_prepare_audit_plan"]


# --------------------------------------------------------------------------- plan loop (G-I6)


def test_new_slot_requests_send_the_plan_back_at_most_twice(af: AuditFlow) -> None:
    af.start_unplanned()
    af.appoint()
    af.declare()
    for _ in range(3):
        af.complete("daniel", "ut_prepare_audit_plan", plan())
        af.complete("meilin", "ut_auditee_prepare", {"availability": "propose_new_slot",
                                                     "proposed_slot": "2027-02-16T10:00:00+00:00"})
    assert af.data()["slot_loops"] == 2
    assert af.specs() == [] and "tm_planned_start" in af.waiting_timers()  # the third request goes ahead
    assert len(af.audit().details["auditee_prep_rounds"]) == 3


# --------------------------------------------------------------------------- findings, disputes (G-I10, G-I11)


def test_every_nonconformity_on_the_checklist_needs_a_finding(af: AuditFlow) -> None:
    af.to_fieldwork()
    with pytest.raises(InvalidInput, match="every item needs a result"):
        af.complete("daniel", "ut_fieldwork", {"opening_meeting_held": True, "checklist": [
            {"item_ref": "8.1", "result": "conforming", "evidence_refs": ["x"]}],
            "interviews_held": [{"person": "M", "role": "owner", "date": END}]})
    af.fieldwork(A_8_3="major_nc")
    with pytest.raises(InvalidInput, match="need a finding: A.8.3"):
        af.complete("daniel", "ut_draft_findings", findings(finding("minor_nc", "A.8.2")))
    with pytest.raises(InvalidInput, match="not an auditee"):
        af.complete("daniel", "ut_draft_findings", findings(finding("major_nc", "A.8.3", auditee="tomas")))


def test_disputed_major_nc_upheld_and_escalated_is_arbitrated_by_the_aims_owner(af: AuditFlow) -> None:
    af.to_fieldwork()
    af.fieldwork(A_8_3="major_nc")
    af.complete("daniel", "ut_draft_findings", findings(finding("major_nc", "A.8.3"), finding("observation", "8.2")))
    f1, f2 = (f"{af.ref}-F1", f"{af.ref}-F2")
    af.complete("meilin", "ut_auditee_response", {"responses": [
        {"finding_ref": f1, "response": "dispute", "dispute_rationale": "the release was an emergency fix",
         "auditee_escalates": True},
        {"finding_ref": f2, "response": "dispute", "dispute_rationale": "covered by the runbook",
         "auditee_escalates": False}]})
    assert [f.status for f in af.findings()] == ["disputed", "disputed"]
    with pytest.raises(InvalidInput, match="missing"):
        af.complete("daniel", "ut_resolve_dispute", {"resolutions": [
            {"finding_ref": f1, "resolution": "finding_upheld", "rationale": "no exception process exists"}]})
    af.complete("daniel", "ut_resolve_dispute", {"resolutions": [
        {"finding_ref": f1, "resolution": "finding_upheld", "rationale": "no exception process exists"},
        {"finding_ref": f2, "resolution": "finding_withdrawn", "rationale": "runbook seen"}]})
    assert af.specs() == ["ut_arbitrate_finding"]
    af.complete("priya", "ut_arbitrate_finding", {"arbitration": [
        {"finding_ref": f1, "final_type": "minor_nc", "rationale": "single lapse, process exists informally"}]})
    assert [(f.type, f.status) for f in af.findings()] == [("minor_nc", "resolved"), ("major_nc" if False else
                                                                                       "observation", "withdrawn")]
    assert af.approvals() == [("arbitration", "minor_nc", "aims_owner")]
    assert af.specs() == ["ut_write_report"]


def test_arbitration_goes_to_top_management_when_the_aims_owner_is_the_auditee(af: AuditFlow) -> None:
    af.start_unplanned()
    af.appoint()
    af.declare()
    af.plan_and_prepare(auditees=("meilin", "priya"))
    af.fire_timer("tm_planned_start")
    af.fieldwork(A_8_3="major_nc")
    af.complete("daniel", "ut_draft_findings", findings(finding("major_nc", "A.8.3", auditee="priya")))
    assert af.specs() == ["ut_auditee_response"]  # only priya has a finding
    af.complete("priya", "ut_auditee_response", {"responses": [
        {"finding_ref": f"{af.ref}-F1", "response": "dispute", "dispute_rationale": "documented elsewhere",
         "auditee_escalates": True}]})
    af.complete("daniel", "ut_resolve_dispute", {"resolutions": [
        {"finding_ref": f"{af.ref}-F1", "resolution": "finding_upheld", "rationale": "nothing documented"}]})
    assert af.specs() == ["ut_arbitrate_finding_top"]
    af.complete("amara", "ut_arbitrate_finding_top", {"arbitration": [
        {"finding_ref": f"{af.ref}-F1", "final_type": "major_nc", "rationale": "upheld"}]})
    assert af.approvals() == [("arbitration", "major_nc", "top_management")]


def test_dispute_resolved_without_escalation_goes_straight_to_the_report(af: AuditFlow) -> None:
    af.to_fieldwork()
    af.fieldwork(A_8_2="minor_nc")
    af.complete("daniel", "ut_draft_findings", findings(finding("minor_nc", "A.8.2")))
    af.complete("meilin", "ut_auditee_response", {"responses": [
        {"finding_ref": f"{af.ref}-F1", "response": "dispute", "dispute_rationale": "it is an observation",
         "auditee_escalates": False}]})
    af.complete("daniel", "ut_resolve_dispute", {"resolutions": [
        {"finding_ref": f"{af.ref}-F1", "resolution": "finding_modified", "rationale": "agreed",
         "new_type": "observation"}]})
    assert af.specs() == ["ut_write_report"]
    assert [(f.type, f.status) for f in af.findings()] == [("observation", "resolved")]


# --------------------------------------------------------------------------- report QA (G-I13)


def test_report_returned_three_times_goes_to_top_management(af: AuditFlow) -> None:
    af.to_fieldwork()
    af.fieldwork()
    af.complete("daniel", "ut_draft_findings", findings())
    for _ in range(3):
        af.complete("daniel", "ut_write_report", report(conformity="conforms"))
        af.complete("priya", "ut_review_report", {"decision": "return_to_auditor", "comment": "say what was sampled"})
    af.complete("daniel", "ut_write_report", report(conformity="conforms"))
    assert af.specs() == ["ut_review_report_top"]
    with pytest.raises(SodViolation):
        grant(af.session, "daniel", "top_management")
        af.complete("daniel", "ut_review_report_top", {"decision": "issue"})
    af.complete("grace", "ut_review_report_top", {"decision": "issue"})
    assert af.instance is not None and af.instance.end_event == "E_CLOSED"
    assert [a[1] for a in af.approvals()] == ["return_to_auditor"] * 3 + ["issue"]


def test_report_of_an_audit_led_by_the_aims_owner_is_reviewed_by_top_management(af: AuditFlow) -> None:
    grant(af.session, "priya", "internal_auditor")
    from engine.aims.registers import CompetenceRequirement, TrainingRecord

    requirement = af.session.scalar(select(CompetenceRequirement).where(
        CompetenceRequirement.ref == "iso42001_internal_auditor"))
    assert requirement is not None
    record = af.session.scalar(select(TrainingRecord).where(TrainingRecord.user_id == user(af.session, "daniel").id))
    assert record is not None
    record.user_id = user(af.session, "priya").id  # priya holds the training for this test
    af.start_unplanned(scope_ai_systems=[])  # priya reviewed the impact assessment of AIS-002
    af.appoint("priya")
    af.declare("priya")
    af.complete("priya", "ut_prepare_audit_plan", plan(scope={"clauses": ["8.1", "8.2"],
                                                              "controls": ["A.8.2", "A.8.3"]}))
    af.complete("meilin", "ut_auditee_prepare", CONFIRMED)
    af.fire_timer("tm_planned_start")
    af.fieldwork("priya")
    af.complete("priya", "ut_draft_findings", findings())
    af.complete("priya", "ut_write_report", report(conformity="conforms"))
    assert af.specs() == ["ut_review_report_top"]


# --------------------------------------------------------------------------- planned audits


def test_planned_audit_is_opened_once(af: AuditFlow) -> None:
    af.start("priya", {"audit_ref": "IA-2026-03"})
    assert af.audit().title.startswith("Performance evaluation")
    other = AuditFlow(af.ctx)
    with pytest.raises(ConflictError, match="already being carried out"):
        other.start("priya", {"audit_ref": "IA-2026-03"})
    with pytest.raises(ConflictError, match="closed"):
        other.start("priya", {"audit_ref": "IA-2026-01"})


def test_start_form_needs_a_planned_audit_or_an_unplanned_one(af: AuditFlow) -> None:
    with pytest.raises(ValidationError):
        af.start("priya", {})
    with pytest.raises(ValidationError):
        af.start("priya", {"audit_ref": "IA-2026-03", "unplanned": {}})


def test_planned_audit_of_clause_9_2_conflicts_with_the_auditor_who_led_the_year_s_audits(af: AuditFlow) -> None:
    af.start("priya", {"audit_ref": "IA-2026-03"})  # 9.1-10.2; daniel led IA-2026-01 and -02
    af.appoint("daniel")
    conflicts = af.audit().details["independence_check"]["own_work_conflicts"]
    assert {c["item"] for c in conflicts} >= {"9.2"}


# --------------------------------------------------------------------------- programme


def test_programme_with_full_coverage_is_approved_creates_audits_and_closes_at_year_end(pf: ProgrammeFlow) -> None:
    pf.start("priya", {"period": "FY2027", "fy_start": "2027-01-01", "fy_end": "2027-12-31"})
    programme = pf.programme()
    assert (programme.ref, programme.status) == ("IAP-FY2027", "draft")
    seed = pf.data()["seed"]
    assert len(seed["required_items"]) == 32 + 38
    assert {"item": "AIS-001", "reason": "high-tier AI system"} in seed["due_this_year"]
    pf.complete("priya", "ut_draft_programme", programme_audits(*all_required_audits()))
    assert pf.programme().status == "pending_approval"
    assert pf.data()["draft_check"]["uncovered"] == []
    with pytest.raises(SodViolation):
        grant(pf.session, "priya", "top_management")
        pf.complete("priya", "ut_approve_programme", {"decision": "approve"})
    pf.complete("grace", "ut_approve_programme", {"decision": "approve"})

    programme = pf.programme()
    assert programme.status == "in_execution" and programme.approved_by_id == user(pf.session, "grace").id
    audits = pf.audits()
    assert [(a.status, str(a.planned_start), a.details["start_flow_at"]) for a in audits] == [
        ("planned", "2027-03-01", "2027-01-30"), ("planned", "2027-06-01", "2027-05-02")]
    assert {c["planned_audit_ref"] for c in programme.coverage_plan} == {a.ref for a in audits}
    assert pf.waiting_timers() == {"tm_year_end": "2027-12-31T23:59:59+00:00"}

    audits[0].status = "closed"  # the first audit was carried out during the year
    pf.fire_timer("tm_year_end")
    assert pf.instance is not None and pf.instance.end_event == "E_PROG_DONE"
    programme = pf.programme()
    assert programme.status == "completed"
    assert programme.details["audits_not_done"] == [audits[1].ref]
    assert programme.details["mr_input"]["category"] == "performance_audit_results"
    assert "8.1" in programme.details["not_covered"] and "4.1" in programme.details["coverage_achieved"]


def test_coverage_gap_goes_back_to_the_draft_until_justified(pf: ProgrammeFlow) -> None:
    pf.start("priya", {"fy_start": "2027-01-01"})
    assert pf.programme().ref == "IAP-FY2027"
    partial = programme_audits(programme_audit("Leadership only", ["5.1", "5.2"]))
    pf.complete("priya", "ut_draft_programme", partial)
    assert pf.specs() == ["ut_draft_programme"]
    assert "4.1" in pf.data()["draft_check"]["uncovered"]
    pf.complete("priya", "ut_draft_programme", partial | {"coverage_gap_justification": "rest in FY2028"})
    assert pf.specs() == ["ut_approve_programme"]
    assert pf.programme().details["coverage_gap_justification"] == "rest in FY2028"


def test_programme_changes_requested_then_approved(pf: ProgrammeFlow) -> None:
    pf.start("priya", {"fy_start": "2027-01-01", "cert_target_stage1": "2027-04-01"})
    pf.complete("priya", "ut_draft_programme", programme_audits(*all_required_audits()))
    assert pf.data()["draft_check"]["late_for_cert"] is True  # June audit ends after stage 1 - 30 days
    pf.complete("amara", "ut_approve_programme", {"decision": "request_changes", "comment": "finish before stage 1"})
    assert pf.specs() == ["ut_draft_programme"] and pf.programme().status == "draft"
    pf.complete("priya", "ut_draft_programme", programme_audits(*all_required_audits()))
    pf.complete("amara", "ut_approve_programme", {"decision": "approve"})
    assert pf.data()["programme_rework"] == 1 and len(pf.audits()) == 2


def test_programme_refuses_bad_dates_and_a_second_programme_for_the_period(pf: ProgrammeFlow) -> None:
    pf.start("priya", {"fy_start": "2027-01-01"})
    with pytest.raises(InvalidInput, match="audits/0/planned_end"):
        pf.complete("priya", "ut_draft_programme", programme_audits(
            programme_audit("Backwards", ["4.1"], start="2027-03-05", end="2027-03-01")))
    with pytest.raises(ConflictError, match="IAP-FY2027 already exists"):
        ProgrammeFlow(pf.ctx).start("priya", {"fy_start": "2027-01-01"})


def test_default_programme_is_the_next_fiscal_year(pf: ProgrammeFlow) -> None:
    from datetime import date, timedelta

    from engine.aims import roles

    pf.start("priya", {})
    seed = pf.data()["seed"]
    org = roles.organisation(pf.session)
    assert org is not None
    anchor = date.fromisoformat(org.details["fiscal_year_start"])  # shifted with the demo dates
    start = date.fromisoformat(seed["fy_start"])
    assert (start.month, start.day) == (anchor.month, anchor.day) and date(2026, 11, 2) < start <= date(2027, 11, 2)
    assert seed["fy_end"] == (date(start.year + 1, start.month, start.day) - timedelta(days=1)).isoformat()
    assert seed["period"] == f"FY{start.year}" and pf.programme().ref == f"IAP-FY{start.year}"
