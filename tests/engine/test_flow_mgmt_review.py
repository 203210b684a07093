"""``aims_management_review`` end to end through the services (FLOWS.md (g)): every gateway branch and
the register rows each path leaves behind."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select, update

from engine.aims.registers import Audit, AuditFinding, ContextIssue, DocumentVersion, PartyRequirement, Supplier
from engine.app import worklist
from engine.core import services
from engine.core.errors import ConflictError, InvalidInput, SodViolation
from engine.core.runtime import Context
from web.tasks import instructions_html

from .helpers import email, events, grant, user
from .mr_flow import PACK, PROVIDERS, REQUIRED, ReviewFlow, minutes, provided, schedule

pytestmark = pytest.mark.demo


@pytest.fixture
def mr(ctx: Context) -> ReviewFlow:
    return ReviewFlow(ctx)


def test_review_collects_inputs_meets_and_hands_decisions_to_actions(mr: ReviewFlow) -> None:
    mr.begin()
    assert mr.ref == "MR-2026-2" and mr.specs() == ["ut_mr_schedule"]
    assert mr.tasks()[0].assignee_id == user(mr.session, "priya").id
    assert str(mr.review().period_start) < "2026-11-02"  # since the last closed review (MR-2026-1)
    mr.complete("priya", "ut_mr_schedule", schedule())
    review = mr.review()
    assert review.status == "collecting_inputs" and review.chair_id == user(mr.session, "jonas").id
    assert {i["category"] for i in review.inputs if i["provider_id"] == "system"} >= {
        "prev_actions_status", "performance_nc_ca_trends", "performance_audit_results"}
    [monitoring] = [json.loads(i["summary"]) for i in review.inputs
                    if i["provider_id"] == "system" and i["category"] == "performance_monitoring_results"]
    results = {o["ref"]: o for o in monitoring["objectives"]}  # the objectives' performance, latest vs target
    fraud = results["OBJ-04"]
    assert (fraud["latest"], fraud["target"], fraud["on_target"], fraud["overdue"]) == (1.7, 1.5, False, False)
    assert results["OBJ-02"]["summary"].startswith("OBJ-02 latest 93.1 % on ")
    assert results["OBJ-02"]["summary"].endswith("against a target of 97 % (not met)")
    tasks = {mr.item_of(t, "input_request")["category"]: t for t in mr.tasks("ut_mr_provide_input")}
    assert sorted(tasks) == sorted(PROVIDERS)
    assert tasks["context_changes"].assignee_id == user(mr.session, "tomas").id
    assert tasks["context_changes"].due_at is not None and tasks["context_changes"].due_at.date().isoformat() == \
        "2026-12-04"
    mr.provide_all()
    assert mr.specs() == ["ut_mr_compile_pack"]
    mr.complete("priya", "ut_mr_compile_pack", PACK)
    review = mr.review()
    assert review.status == "pack_issued"
    pack = mr.session.get(DocumentVersion, review.input_pack_document_version_id)
    assert pack is not None and pack.status == "published" and len(pack.sha256 or "") == 64
    assert mr.waiting_timers() == {"tm_meeting": "2026-12-15T10:00:00+00:00"}

    mr.fire_timer("tm_meeting")
    mr.complete("priya", "ut_mr_record_minutes", minutes())
    assert mr.review().status == "meeting_held"
    approve = mr.task_for("ut_mr_approve_minutes")
    assert approve.assignee_id == user(mr.session, "jonas").id  # the chair
    outcome = mr.approve()

    assert mr.instance is not None and (mr.instance.status, mr.instance.end_event) == ("completed", "E_DONE")
    review = mr.review()
    assert review.status == "closed" and review.minutes_approved_by_id == user(mr.session, "jonas").id
    assert review.minutes_author_id == user(mr.session, "priya").id
    assert review.conclusions["adequacy"]["rating"] == "partly"
    minutes_doc = mr.session.get(DocumentVersion, review.minutes_document_version_id)
    assert minutes_doc is not None and minutes_doc.status == "published"
    assert mr.decisions() == [("D1", "policy_change"), ("D2", "resource_need"), ("D3", "improvement_opportunity")]
    actions = mr.actions()
    # aims_action took them over
    assert [(a.status, a.decision_id is not None) for a in actions] == [("in_progress", True)] * 2
    started = mr.started("aims_action")
    assert [s.subject for s in started] == [a.ref for a in actions]
    first = services.instance_data(mr.ctx, started[0].id)
    assert (first["owner_id"], first["requester_id"], first["needs_verification"], first["action_ref"]) == (
        email("grace"), email("jonas"), True, actions[0].ref)
    assert services.instance_data(mr.ctx, started[1].id)["needs_verification"] is False
    [policy] = mr.started("aims_policy_review")
    assert policy.subject == "DOC-POL-001" and set(outcome.started) >= {policy, *started}
    data = services.instance_data(mr.ctx, policy.id)
    assert (data["trigger"], data["source_ref"]) == ("management_review", "MR-2026-2 D1")
    assert [t.task_spec for t in services.open_tasks(mr.ctx, policy.id)] == ["ut_policy_review_draft"]


def test_missing_category_is_asked_of_the_aims_owner_while_time_is_left(mr: ReviewFlow) -> None:
    old = datetime(2020, 1, 1, tzinfo=UTC)
    mr.session.execute(update(Audit).values(updated_at=old))
    mr.session.execute(update(AuditFinding).values(created_at=old))
    mr.begin()
    mr.complete("priya", "ut_mr_schedule", schedule())
    mr.provide_all(nothing=True)
    # no audit in the period: the system has no audit results to report, so the AIMS owner is asked
    [task] = mr.tasks("ut_mr_provide_input")
    assert mr.item_of(task, "input_request") == {"category": "performance_audit_results",
                                                 "provider_id": email("priya"), "due": "2026-11-05"}
    mr.complete("priya", "ut_mr_provide_input", provided("performance_audit_results"))
    assert mr.specs() == ["ut_mr_compile_pack"] and mr.data()["input_round"] == 1


def test_inputs_deadline_stops_the_collection_and_the_gap_must_be_explained(mr: ReviewFlow) -> None:
    mr.begin()
    mr.complete("priya", "ut_mr_schedule", schedule())
    mr.complete("tomas", "ut_mr_provide_input", provided("context_changes"))
    mr.fire_timer("tm_inputs_deadline")
    assert mr.specs() == ["ut_mr_compile_pack"]
    assert mr.review().details["missing_inputs"] == ["improvement_opportunities", "interested_party_changes"]
    with pytest.raises(InvalidInput, match="gaps_explanation"):
        mr.complete("priya", "ut_mr_compile_pack", PACK)
    mr.complete("priya", "ut_mr_compile_pack", PACK | {"gaps_explanation": "legal on leave; OFIs come from audit"})
    assert mr.review().status == "pack_issued"
    assert mr.instance is not None
    assert events(mr.session, mr.instance.id, "management_review_inputs_missing")[0].data["missing"] == [
        "improvement_opportunities", "interested_party_changes"]


def test_no_top_management_present_reschedules_and_the_second_time_tells_the_ceo(mr: ReviewFlow) -> None:
    mr.to_meeting()
    mr.complete("priya", "ut_mr_record_minutes", minutes(present=("priya",), absent=("jonas", "grace", "amara")))
    assert mr.specs() == ["ut_mr_schedule"] and mr.review().status == "rescheduled"
    mr.complete("priya", "ut_mr_schedule", schedule(planned_at="2027-01-20T10:00:00+00:00", due="2027-01-08"))
    mr.provide_all()
    mr.complete("priya", "ut_mr_compile_pack", PACK)
    mr.fire_timer("tm_meeting")
    mr.complete("priya", "ut_mr_record_minutes", minutes(present=("priya",), absent=("jonas", "grace", "amara")))
    assert mr.instance is not None
    notices = events(mr.session, mr.instance.id, "management_review_rescheduled")
    assert [(e.data["count"], e.data["notified"]) for e in notices] == [(1, []), (2, [email("jonas")])]


def test_minutes_sent_back_by_the_chair_are_recorded_again(mr: ReviewFlow) -> None:
    mr.to_meeting()
    mr.complete("priya", "ut_mr_record_minutes", minutes())
    mr.complete("jonas", "ut_mr_approve_minutes", {"decision": "request_changes", "comment": "add the budget figure"})
    assert mr.specs() == ["ut_mr_record_minutes"] and mr.data()["minutes_rework"] == 1
    mr.complete("priya", "ut_mr_record_minutes", minutes(decisions=[
        {"type": "no_change", "description": "Keep the AIMS as it is", "rationale": "stable"}], actions=[]))
    mr.approve()
    assert mr.decisions() == [("D1", "no_change")] and mr.actions() == []
    assert mr.started("aims_action") == [] and mr.started("aims_policy_review") == []


def test_chair_absent_or_minute_taker_top_management_another_attendee_approves(mr: ReviewFlow) -> None:
    grant(mr.session, "priya", "top_management")
    mr.to_meeting()
    mr.complete("priya", "ut_mr_record_minutes", minutes(present=("priya", "grace"), absent=("jonas", "amara")))
    task = mr.task_for("ut_mr_approve_minutes")
    assert task.assignee_id == user(mr.session, "grace").id
    with pytest.raises(SodViolation, match="SOD-07"):
        services.reassign_task(mr.ctx, user(mr.session, "jonas"), task.id, email("priya"), "chair asks priya")
    mr.approve("grace")
    assert mr.review().minutes_approved_by_id == user(mr.session, "grace").id


def test_schedule_and_minutes_are_checked(mr: ReviewFlow) -> None:
    mr.begin()
    with pytest.raises(InvalidInput, match="at least 30 days ahead"):
        mr.complete("priya", "ut_mr_schedule", schedule(planned_at="2026-11-20T10:00:00+00:00"))
    with pytest.raises(InvalidInput, match="later than 10 days before"):
        mr.complete("priya", "ut_mr_schedule", schedule(due="2026-12-10"))
    with pytest.raises(InvalidInput, match="nobody is asked for context_changes"):
        mr.complete("priya", "ut_mr_schedule", schedule() | {"input_requests": [
            {"category": "improvement_opportunities", "provider_id": email("daniel"), "due": "2026-12-01"},
            {"category": "interested_party_changes", "provider_id": email("fatima"), "due": "2026-12-01"}]})
    mr.complete("priya", "ut_mr_schedule", schedule())
    mr.provide_all()
    mr.complete("priya", "ut_mr_compile_pack", PACK)
    mr.fire_timer("tm_meeting")
    with pytest.raises(InvalidInput, match="missing context_changes"):
        mr.complete("priya", "ut_mr_record_minutes", minutes(discussed=[c for c in REQUIRED if c != "context_changes"]))
    with pytest.raises(InvalidInput, match="needs an action"):
        mr.complete("priya", "ut_mr_record_minutes", minutes(actions=[]))
    with pytest.raises(InvalidInput, match="only 3 decisions"):
        mr.complete("priya", "ut_mr_record_minutes", minutes(actions=[
            {"decision_index": 5, "description": "x", "owner_id": email("grace"), "due_date": "2027-01-31",
             "priority": "low"}]))
    assert mr.specs() == ["ut_mr_record_minutes"]


def test_ad_hoc_review_is_created_and_a_closed_review_cannot_run_again(mr: ReviewFlow) -> None:
    mr.start("grace", {"ad_hoc": True, "reason": "major incident on Ask Lumi"})
    assert mr.ref.startswith("MR-2026-") and mr.ref not in ("MR-2026-1", "MR-2026-2")
    assert mr.review().details["ad_hoc"] is True
    # ad hoc: 7 days' notice is enough (a planned review needs 30)
    mr.complete("priya", "ut_mr_schedule", schedule(planned_at="2026-11-20T10:00:00+00:00", due="2026-11-09"))
    assert mr.review().status == "collecting_inputs"
    with pytest.raises(ConflictError, match="closed"):
        ReviewFlow(mr.ctx).begin("MR-2026-1")


def test_system_inputs_carry_context_party_and_supplier_changes_from_the_registers(mr: ReviewFlow) -> None:
    """9.3.2 b and c and the suppliers' performance: what changed in the registers in the period is in the
    compiled inputs (and so in the pack), beside what the people asked for these categories provide."""
    now = mr.ctx.clock.now()
    issue = mr.session.scalar(select(ContextIssue).where(ContextIssue.ref == "CI-03"))
    supplier = mr.session.scalar(select(Supplier).where(Supplier.ref == "SUP-003"))
    requirement = mr.session.scalar(select(PartyRequirement).where(PartyRequirement.ref == "REQ-001"))
    assert issue is not None and supplier is not None and requirement is not None
    issue.retired_at = now
    supplier.last_assessed_at, supplier.last_assessment_result = now.date(), "approved_with_conditions"
    supplier.assessment_due = date(2026, 10, 1)
    requirement.addressed_by_aims, requirement.how_addressed = False, "Out of scope: handled by HR"
    mr.session.flush()
    mr.begin()
    mr.complete("priya", "ut_mr_schedule", schedule())
    facts = {i["category"]: json.loads(i["summary"]) for i in mr.review().inputs if i["provider_id"] == "system"}
    context = facts["context_changes"]
    assert context["register"] == "context_issues" and context["open"] == 3
    assert [t.split(" ")[0] for t in context["retired"]] == ["CI-03"]
    assert context["by_kind"] == {"external": 3, "internal": 0}
    parties = facts["interested_party_changes"]
    assert parties["parties"] == 7
    assert parties["not_addressed"][0].startswith("REQ-001 of Job applicants: Fair, non-discriminatory")
    assert parties["not_addressed"][0].endswith("(Out of scope: handled by HR)")
    suppliers = facts["supplier_performance"]
    assert suppliers["assessed"] == [f"SUP-003 Stratus Cloud Europe (fictional): approved with conditions on "
                                     f"{now.date()}"]
    assert suppliers["not_assessed"] == ["SUP-002 Veridoc Systems GmbH (fictional)"]
    assert suppliers["assessment_overdue"] == ["SUP-003 Stratus Cloud Europe (fictional): due 2026-10-01"]
    assert suppliers["conditions"]["SUP-001"][0].startswith("Notify Lumenvale 30 days")
    # the person asked for context changes reads the register facts in the task's instructions
    task = next(t for t in mr.tasks("ut_mr_provide_input")
                if mr.item_of(t, "input_request")["category"] == "context_changes")
    facts_in_words = mr.item_of(task, "system_inputs")["register_facts"]
    assert facts_in_words["context_changes"].startswith("3 open context issues (3 external, 0 internal); since ")
    assert facts_in_words["context_changes"].endswith(": 3 added, 0 changed, 1 retired; 0 past their review date.")
    assert "1 never assessed; 1 assessments overdue" in facts_in_words["supplier_performance"]
    detail = worklist.task_detail(mr.ctx, user(mr.session, "tomas"), task.id)
    assert detail.instructions is not None
    shown = str(instructions_html(detail.instructions, detail.data))
    assert "From the registers: 3 open context issues (3 external, 0 internal)" in shown
    # the register facts do not stand in for the people asked (see the deadline test), and reach the pack
    mr.provide_all()
    mr.complete("priya", "ut_mr_compile_pack", PACK)
    pack = mr.session.get(DocumentVersion, mr.review().input_pack_document_version_id)
    assert pack is not None
    inputs = pack.details["content"]["inputs"]
    assert [i["provider_id"] for i in inputs if i["category"] == "context_changes"] == ["system", email("tomas")]
    assert any(i["category"] == "supplier_performance" for i in inputs)
