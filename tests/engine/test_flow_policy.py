"""``aims_policy_review`` end to end through the services (FLOWS.md (e)): every gateway branch, the
document versions, approvals, evidence and acknowledgements each path leaves behind."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.aims import acknowledgements, roles
from engine.aims.registers import Evidence
from engine.core import definitions, directory, worker
from engine.core.errors import ConflictError, InvalidInput, NotFound, SodViolation, ValidationError
from engine.core.models import HumanTask, ProcessInstance, ProcessSchedule
from engine.core.runtime import Context

from .helpers import email, events, grant, user
from .policy_flow import CHANGES, ENDORSE, POLICY, PolicyFlow, draft

pytestmark = pytest.mark.demo


@pytest.fixture
def pol(ctx: Context) -> PolicyFlow:
    return PolicyFlow(ctx)


def staff(pol: PolicyFlow) -> list[str]:
    """E-mails of everyone asked to acknowledge the current version (every active user with a business
    role)."""
    people = {u.email for role in roles.BUSINESS_ROLES for u in directory.users_with_role(pol.session, role)}
    asked = pol.asked()
    assert sorted(people) == asked
    return asked


def test_revision_reviewed_approved_published_and_acknowledged(pol: PolicyFlow) -> None:
    instance = pol.start()
    assert instance.subject == POLICY
    assert pol.specs() == ["ut_policy_review_draft"]
    assert pol.tasks()[0].assignee_id == user(pol.session, "priya").id
    assert pol.data()["opened"]["approver_role"] == "top_management"
    pol.complete("priya", "ut_policy_review_draft", draft("major_revision", ("privacy", "roles")))
    # the v1.1 draft left in review by hand is taken over and becomes 2.0
    assert pol.versions() == {"1.0": "published", "2.0": "draft"}
    topics = pol.review_all()
    assert sorted(topics) == ["hr", "legal", "privacy"]  # major -> legal; privacy; roles -> HR
    assert pol.versions()["2.0"] == "in_review"
    assert pol.specs() == ["ut_policy_approve"]
    pol.complete("jonas", "ut_policy_approve", {"decision": "approve"})

    # effective today: published at once, announced, everyone asked to acknowledge
    assert pol.versions() == {"1.0": "superseded", "2.0": "published"}
    doc = pol.document()
    v2 = pol.version("2.0")
    assert doc.current_version_id == v2.id and len(v2.sha256 or "") == 64
    assert (str(v2.effective_from), v2.approver_id) == ("2026-11-02", user(pol.session, "jonas").id)
    assert str(doc.next_review_at) == "2027-11-02" and doc.external_publication is True
    assert doc.details["reviews"][-1]["outcome"] == "published"
    evidence = pol.session.scalar(select(Evidence).where(Evidence.content_ref == f"document:{POLICY}@2.0"))
    assert evidence is not None and evidence.linked_controls == ["A.2.2", "A.2.3", "A.2.4"]
    assert evidence.sha256 == v2.sha256 and evidence.status == "accepted"
    assert [a[:2] for a in pol.approvals()] == [("review", "endorse")] * 3 + [("approval", "approve")]
    people = staff(pol)
    assert pol.acks() == {"requested": len(people)}
    assert pol.waiting_timers() == {"tm_ack_window": "2026-12-02T09:00:00+00:00"}

    pol.acknowledge(*people)
    with pytest.raises(ConflictError, match="already acknowledged"):
        pol.acknowledge(email("tomas"))
    pol.fire_timer("tm_ack_window")
    assert pol.instance is not None and (pol.instance.status, pol.instance.end_event) == ("completed", "E_PUBLISHED")
    assert pol.acks() == {"acknowledged": len(people)} and pol.version("2.0").details["ack_rate"] == 1.0
    assert pol.instance is not None
    assert [e.data["recipients"] for e in events(pol.session, pol.instance.id, "document_announced")] == [len(people)]


def test_low_acknowledgement_rate_needs_a_follow_up(pol: PolicyFlow) -> None:
    pol.start()
    pol.complete("priya", "ut_policy_review_draft", draft())
    pol.review_all()
    pol.complete("grace", "ut_policy_approve", {"decision": "approve"})
    pol.acknowledge(email("tomas"), email("meilin"))
    pol.fire_timer("tm_ack_window")
    assert pol.specs() == ["ut_ack_followup"]
    v = pol.version("1.1")
    assert v.details["ack_rate"] < 0.95 and email("ravi") in v.details["non_acknowledgers"]
    assert pol.acks()["overdue"] == len(staff(pol)) - 2
    pol.complete("priya", "ut_ack_followup", {"actions_taken": "reminded the teams", "escalated_to_managers": True})
    assert pol.instance is not None and pol.instance.end_event == "E_PUBLISHED"
    assert pol.version("1.1").details["ack_followup"]["escalated_to_managers"] is True


def test_publication_waits_for_a_later_effective_date(pol: PolicyFlow) -> None:
    pol.start()
    pol.complete("priya", "ut_policy_review_draft", draft(ack=False, effective_from="2026-12-01"))
    pol.review_all()
    pol.complete("jonas", "ut_policy_approve", {"decision": "approve", "effective_from": "2027-01-01"})
    assert pol.versions()["1.1"] == "approved"
    assert pol.waiting_timers() == {"tm_effective_from": "2027-01-01T00:00:00+00:00"}
    pol.fire_timer("tm_effective_from")
    assert pol.versions() == {"1.0": "superseded", "1.1": "published"}
    assert str(pol.document().next_review_at) == "2028-01-01"
    assert pol.instance is not None and pol.instance.end_event == "E_PUBLISHED"  # no acknowledgement asked


def test_no_change_confirmed_records_the_review(pol: PolicyFlow) -> None:
    pol.start("priya", {"trigger": "periodic"})
    pol.complete("priya", "ut_policy_review_draft", draft("no_change_needed"))
    assert pol.specs() == ["ut_confirm_no_change"]
    pol.complete("amara", "ut_confirm_no_change", {"decision": "confirm"})
    assert pol.instance is not None and pol.instance.end_event == "E_NOCHANGE"
    doc = pol.document()
    assert str(doc.next_review_at) == "2027-11-02" and doc.details["last_reviewed_at"] == "2026-11-02"
    assert doc.details["reviews"][-1]["outcome"] == "no_change"
    assert pol.versions()["1.0"] == "published"
    evidence = pol.session.scalar(select(Evidence).where(Evidence.content_ref.like(f"review:{POLICY}:%")))
    assert evidence is not None and evidence.linked_controls == ["A.2.4"]
    assert evidence.reviewer_id == user(pol.session, "amara").id
    assert pol.approvals() == [("review", "confirm", "top_management")]


def test_no_change_sent_back_for_revision(pol: PolicyFlow) -> None:
    pol.start()
    pol.complete("priya", "ut_policy_review_draft", draft("no_change_needed"))
    pol.complete("amara", "ut_confirm_no_change", {"decision": "require_revision",
                                                  "comment": "shadow AI is not addressed"})
    assert pol.specs() == ["ut_policy_review_draft"] and pol.data()["rework_count"] == 1
    pol.complete("priya", "ut_policy_review_draft", draft(topics=("use_restrictions",)))
    assert pol.review_all() == ["hr"]  # acknowledgement required -> HR


def test_peer_review_when_no_specialist_topic_changed(pol: PolicyFlow) -> None:
    pol.start()
    pol.complete("priya", "ut_policy_review_draft", draft(topics=("transparency",), ack=False))
    assert pol.review_all() == ["peer"]


def test_changes_required_three_times_goes_to_approval_with_the_dissent(pol: PolicyFlow) -> None:
    pol.start()
    for round_no in range(4):
        pol.complete("priya", "ut_policy_review_draft", draft(topics=("transparency",), ack=False))
        assert pol.data()["rework_count"] == round_no
        pol.review_all(CHANGES)
    assert pol.specs() == ["ut_policy_approve"]
    assert pol.version("1.1").details["dissent"] == [{"topic": "peer", "comments": CHANGES["comments"]}]
    assert pol.instance is not None
    dissent = events(pol.session, pol.instance.id, "document_review_dissent")
    assert email("priya") in dissent[0].data["recipients"] and email("jonas") in dissent[0].data["recipients"]


def test_approver_requests_changes_then_rejects_the_revision(pol: PolicyFlow) -> None:
    pol.start()
    pol.complete("priya", "ut_policy_review_draft", draft(ack=False))
    pol.review_all()
    pol.complete("jonas", "ut_policy_approve", {"decision": "request_changes", "comment": "shorter, please"})
    assert pol.specs() == ["ut_policy_review_draft"] and pol.versions()["1.1"] == "draft"
    pol.complete("priya", "ut_policy_review_draft", draft(ack=False))
    pol.review_all()
    pol.complete("jonas", "ut_policy_approve", {"decision": "reject_revision", "comment": "not needed after all"})
    assert pol.instance is not None and pol.instance.end_event == "E_REJECTED"
    assert pol.versions() == {"1.0": "published", "1.1": "withdrawn"}
    assert pol.version("1.1").details["withdrawn_reason"] == "not needed after all"
    assert str(pol.document().next_review_at) == "2027-11-02"
    assert pol.document().details["reviews"][-1]["outcome"] == "revision_rejected"


def test_procedure_is_approved_by_an_approver(pol: PolicyFlow) -> None:
    pol.start("priya", {"document_ref": "DOC-PROC-001", "trigger": "regulatory_change"})
    assert pol.data()["opened"]["approver_role"] == "approver"
    pol.complete("priya", "ut_policy_review_draft", draft(ack=False, review_interval="P2Y",
                                                          review_inputs_considered=["regulatory_changes"],
                                                          aligned_policies=[{"document_ref": POLICY,
                                                                             "result": "aligned"}]))
    assert pol.review_all() == ["legal"]  # regulatory changes considered -> legal
    pol.complete("ingrid", "ut_document_approve", {"decision": "approve"})
    assert pol.versions("DOC-PROC-001") == {"1.2": "superseded", "1.3": "published"}
    assert str(pol.document("DOC-PROC-001").next_review_at) == "2028-11-02"


def test_segregation_of_duties_author_neither_reviews_nor_approves(pol: PolicyFlow) -> None:
    pol.start()
    pol.complete("priya", "ut_policy_review_draft", draft(ack=False, topics=("transparency",)))
    review = pol.tasks("ut_policy_specialist_review")[0]
    assert user(pol.session, "priya").id in review.excluded_ids
    with pytest.raises(SodViolation):
        pol.complete("priya", "ut_policy_specialist_review", ENDORSE)
    pol.review_all()
    grant(pol.session, "priya", "top_management")
    with pytest.raises(SodViolation):
        pol.complete("priya", "ut_policy_approve", {"decision": "approve"})


def test_bad_drafts_are_refused_and_change_nothing(pol: PolicyFlow) -> None:
    pol.start()
    with pytest.raises(InvalidInput, match="effective_from: 2026-10-01 is in the past"):
        pol.complete("priya", "ut_policy_review_draft", draft(effective_from="2026-10-01"))
    with pytest.raises(InvalidInput, match="at least yearly"):
        pol.complete("priya", "ut_policy_review_draft", draft(review_interval="P18M"))
    with pytest.raises(InvalidInput, match="needs a major revision"):
        pol.complete("priya", "ut_policy_review_draft", draft(aligned_policies=[
            {"document_ref": "DOC-PROC-001", "result": "conflict", "note": "retention differs"}]))
    with pytest.raises(ValidationError, match="there is no document DOC-NOPE; choose one from the list"):
        pol.complete("priya", "ut_policy_review_draft", draft(aligned_policies=[
            {"document_ref": "DOC-NOPE", "result": "aligned"}]))
    assert pol.specs() == ["ut_policy_review_draft"] and pol.versions()["1.1"] == "in_review"


def test_one_review_per_document_at_a_time(pol: PolicyFlow) -> None:
    pol.start()
    with pytest.raises(ConflictError, match="already under review"):
        PolicyFlow(pol.ctx).start()
    with pytest.raises(ValidationError, match="Document: there is no document DOC-NOPE-1"):
        PolicyFlow(pol.ctx).start("priya", {"document_ref": "DOC-NOPE-1"})


def test_yearly_timer_start_reviews_the_ai_policy(pol: PolicyFlow) -> None:
    version = definitions.latest_version(pol.session, "aims_policy_review")
    start, _ = definitions.start_event_properties(definitions.specs_for(pol.session, version))
    assert start.event_definition.expression == '"R/P1Y"'
    pol.start("jonas", {})  # the schedule passes no data
    data = pol.data()
    assert (data["trigger"], data["document_ref"]) == ("periodic", POLICY)


def test_acknowledging_needs_a_request_and_a_tick(pol: PolicyFlow) -> None:
    with pytest.raises(InvalidInput):
        acknowledgements.acknowledge(pol.ctx, user(pol.session, "tomas"), POLICY, False)
    with pytest.raises(NotFound, match="was not asked"):
        acknowledgements.acknowledge(pol.ctx, user(pol.session, "tomas"), POLICY, True)
    assert acknowledgements.pending(pol.ctx, user(pol.session, "tomas")) == []


def test_the_yearly_schedule_starts_a_review_that_waits_for_its_first_task(ctx: Context) -> None:
    """The worker starts the policy review on its timer start event's cycle; the instance runs the
    whole diagram, not just the first step after the start event."""
    schedule = ctx.session.scalar(select(ProcessSchedule).where(ProcessSchedule.process_id == "aims_policy_review"))
    assert schedule is not None and schedule.next_at is not None
    ctx.clock.set((schedule.next_at + timedelta(minutes=1)).isoformat())  # type: ignore[attr-defined]

    report = worker.run_pass(ctx.session, ctx.clock, ctx.settings)

    assert report.failures == [] and report.schedules_started == 1
    instance = ctx.session.scalar(select(ProcessInstance).where(ProcessInstance.process_id == "aims_policy_review"))
    assert instance is not None and instance.status == "running"
    open_specs = [t.task_spec for t in ctx.session.scalars(select(HumanTask).where(
        HumanTask.instance_id == instance.id, HumanTask.state == "ready"))]
    assert open_specs == ["ut_policy_review_draft"]
