"""``aims_nc_capa`` end to end through the services (FLOWS.md (c)): every gateway branch, with the
nonconformity and corrective-action registers checked at the end."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.aims.registers import Approval
from engine.core import services
from engine.core.clock import FixedClock
from engine.core.errors import InvalidInput, SodViolation
from engine.core.models import ProcessMessage
from engine.core.runtime import Context

from .capa_flow import NO_CA, CapaFlow, plan
from .helpers import email, events, grant, user

pytestmark = pytest.mark.demo


@pytest.fixture
def capa(ctx: Context, clock: FixedClock) -> CapaFlow:
    return CapaFlow(ctx, clock)


def test_capa_happy_path_closes_an_effective_nc_with_its_actions_verified(capa: CapaFlow) -> None:
    capa.start()
    nc = capa.nc()
    assert nc.status == "reported" and nc.ref.startswith("NC-2026-") and nc.ref > "NC-2026-003"
    assert capa.specs() == ["ut_triage_nc"]
    capa.triage()
    assert nc.status == "containment" and nc.severity == "minor" and nc.owner_id == user(capa.session, "ravi").id
    contain = capa.task("ut_contain_correct")
    assert contain.assignee_id == user(capa.session, "ravi").id and contain.due_at is not None
    capa.contain()
    assert nc.status == "root_cause_analysis" and capa.specs() == ["ut_root_cause"]
    capa.root_cause()
    assert nc.status == "action_planning" and len(nc.root_causes) == 2
    capa.plan()
    assert [a.status for a in capa.actions()] == ["planned", "planned"]
    outcome = capa.approve()
    assert nc.status == "implementing"
    assert [a.status for a in capa.actions()] == ["in_progress", "in_progress"]
    assert len(outcome.started) == 2 and {i.process_id for i in outcome.started} == {"aims_action"}
    assert [i.subject for i in outcome.started] == [a.ref for a in capa.actions()]
    assert capa.specs() == []  # waiting for the actions
    capa.act(("done", "done"))
    assert nc.status == "effectiveness_review"
    assert [a.status for a in capa.actions()] == ["completed", "completed"]
    assert nc.effectiveness_check_at is not None and nc.effectiveness_check_at.isoformat() == "2026-12-02"
    assert capa.specs() == []  # the timer waits for the check date
    assert {m.status for m in capa.session.scalars(select(ProcessMessage).where(
        ProcessMessage.target_instance_id == capa.instance.id))} == {"delivered"}
    assert [t.task_spec for t in capa.reach_check_date().new_tasks] == ["ut_verify_effectiveness"]
    capa.verify()
    assert capa.instance.status == "completed" and capa.instance.end_event == "E_CLOSED"
    assert nc.status == "closed" and nc.effectiveness_result == "effective"
    assert nc.closed_by_id == user(capa.session, "daniel").id and nc.closed_at is not None
    assert nc.reopen_count == 0 and nc.lessons_learned == "automate manual reports"
    assert [a.status for a in capa.actions()] == ["verified", "verified"]
    approval = capa.session.scalar(select(Approval).where(Approval.subject_type == "nonconformity",
                                                          Approval.subject_id == nc.id))
    assert approval is not None and approval.decision == "approve" and approval.actor_role == "approver"
    assert events(capa.session, capa.instance.id, "nc_closed")


def test_capa_triage_not_a_nonconformity_ends_as_observation(capa: CapaFlow) -> None:
    capa.start()
    capa.triage(kind="no_observation")
    assert capa.instance.end_event == "E_NOT_NC" and capa.nc().status == "rejected_not_nc"
    assert events(capa.session, capa.instance.id, "nc_not_a_nonconformity")[0].data["ofi_logged"] is True


def test_capa_triage_duplicate_links_the_original(capa: CapaFlow) -> None:
    capa.start()
    capa.triage(kind="duplicate", duplicate_of="NC-2026-002")
    nc = capa.nc()
    assert capa.instance.end_event == "E_DUP" and nc.status == "duplicate"
    assert nc.duplicate_of_id is not None


def test_capa_triager_cannot_own_the_nc_and_nothing_changes(capa: CapaFlow) -> None:
    grant(capa.session, "priya", "process_owner")
    capa.start()
    with pytest.raises(InvalidInput, match="triager may not name themselves"):
        capa.triage(owner="priya")
    with pytest.raises(InvalidInput, match="must not be the NC owner"):
        capa.triage(owner="ingrid", approver="ingrid")


def test_capa_triage_form_names_the_missing_fields(capa: CapaFlow) -> None:
    from engine.core.errors import ValidationError
    capa.start()
    task = capa.task("ut_triage_nc")
    with pytest.raises(ValidationError, match="nc_owner_id"):
        services.complete_task(capa.ctx, user(capa.session, "priya"), task.id,
                               {"is_nonconformity": "yes", "rationale": "real"})
    assert capa.nc().status == "reported"


def test_capa_incident_communication_and_system_suspension(capa: CapaFlow) -> None:
    from .capa_flow import COMMS
    capa.start(ai_system_refs=["AIS-001"])
    capa.triage(severity="major", comms=True, system_action="suspended")
    contain = capa.task("ut_contain_correct")
    assert contain.due_at is not None and (contain.due_at - capa.clock.now()).days <= 2  # major: P2D
    capa.contain()
    assert capa.specs() == ["ut_incident_communication"]
    capa.complete("ut_incident_communication", "priya", COMMS)
    from engine.aims.registers import AISystem
    system = capa.session.scalar(select(AISystem).where(AISystem.ref == "AIS-001"))
    assert system is not None and system.status == "suspended"
    assert capa.nc().details["communications"][0]["audiences"] == ["regulator", "affected_users"]
    assert capa.specs() == ["ut_root_cause"]


def test_capa_plan_rejected_twice_then_resolved_by_the_aims_owner(capa: CapaFlow) -> None:
    capa.to_plan()
    for _ in range(2):
        capa.plan()
        capa.approve("reject")
        assert capa.specs() == ["ut_plan_ca"]
    capa.plan()
    capa.approve("reject")
    assert capa.specs() == ["ut_resolve_ca_plan"] and capa.nc().plan_rework_count == 3
    # every superseded plan's actions were cancelled, the last one's wait for approval
    assert [a.status for a in capa.actions()].count("planned") == 2
    capa.complete("ut_resolve_ca_plan", "priya", {"decision": "approve_plan_as_is", "comment": "good enough"})
    assert capa.nc().status == "implementing" and len(capa.action_instances()) == 2
    assert [a.status for a in capa.actions()].count("cancelled") == 4


def test_capa_resolution_can_give_the_nc_to_another_owner(capa: CapaFlow) -> None:
    capa.to_plan()
    capa.nc().plan_rework_count = 2
    capa.plan()
    capa.approve("reject")
    capa.complete("ut_resolve_ca_plan", "priya", {"decision": "reassign_owner", "new_owner_id": email("meilin"),
                                                  "comment": "ravi has no capacity"})
    task = capa.task("ut_contain_correct")
    assert task.assignee_id == user(capa.session, "meilin").id
    assert capa.nc().owner_id == user(capa.session, "meilin").id


def test_capa_plan_approver_may_not_be_the_triager(capa: CapaFlow) -> None:
    """SOD-01: whoever made part of the NC record (here the AIMS owner who triaged it) does not approve
    its plan; the task loses its designated approver and a manager must assign someone else."""
    grant(capa.session, "priya", "approver")
    capa.to_plan(approver="priya")
    capa.plan()
    task = capa.task("ut_approve_ca_plan")
    assert task.assignee_id is None and "SOD-01" in (task.note or "")
    with pytest.raises(SodViolation, match="SOD-01"):
        services.complete_task(capa.ctx, user(capa.session, "priya"), task.id, {"decision": "approve"})
    assert events(capa.session, capa.instance.id, "sod_violation_blocked")


def test_capa_plan_must_cover_every_root_cause(capa: CapaFlow) -> None:
    capa.to_plan()
    with pytest.raises(InvalidInput, match="root cause"):
        capa.plan(plan(owners=("lucas",)))
    with pytest.raises(InvalidInput, match="due_date"):
        capa.plan(plan(due="2027-12-31"))
    assert capa.actions() == [] and capa.specs() == ["ut_plan_ca"]


def test_capa_no_corrective_action_only_for_minor_goes_straight_to_verification(capa: CapaFlow) -> None:
    capa.to_plan()
    capa.plan(NO_CA)
    assert capa.specs() == ["ut_verify_effectiveness"]
    capa.verify()
    assert capa.nc().status == "closed" and capa.actions() == []


def test_capa_no_corrective_action_is_refused_for_a_major_nc(capa: CapaFlow) -> None:
    capa.to_plan(severity="major")
    with pytest.raises(InvalidInput, match="only for a minor"):
        capa.plan(NO_CA)


def test_capa_plan_names_by_its_words_a_root_cause_no_action_addresses_and_refuses_one_not_found(
        capa: CapaFlow) -> None:
    from engine.core.errors import ValidationError
    capa.to_plan()
    both_first = plan()
    for action in both_first["actions"]:
        action["addresses_root_cause"] = 0
    with pytest.raises(InvalidInput) as refused:
        capa.plan(both_first)
    assert refused.value.message == ("actions: no action addresses the root cause “No scheduled job or alert”: "
                                     "add an action for it")
    third = plan()
    third["actions"][1]["addresses_root_cause"] = 2
    with pytest.raises(ValidationError) as invalid:
        capa.plan(third)
    assert [(e.path, e.message) for e in invalid.value.errors] == [(
        "actions/1/addresses_root_cause",
        "Root cause it addresses (Actions, row 2): choose one of the root causes found in the analysis")]
    assert capa.actions() == [] and capa.specs() == ["ut_plan_ca"]
    capa.plan()
    assert [a.root_cause for a in capa.actions()] == ["Single analyst, no backup", "No scheduled job or alert"]


def test_capa_blocked_action_sends_the_owner_back_to_planning(capa: CapaFlow) -> None:
    capa.to_plan()
    capa.plan()
    capa.approve()
    capa.act(("done", "cannot_complete"))
    assert capa.specs() == ["ut_plan_ca"]
    statuses = sorted(a.status for a in capa.actions())
    assert statuses == ["blocked", "completed"]
    capa.plan(plan(owners=("lucas",), due="2026-12-10") | {"actions": [
        {"description": "Name a backup analyst", "addresses_root_cause": 0, "owner_id": email("lucas"),
         "due_date": "2026-12-10"},
        {"description": "Buy the scheduler", "addresses_root_cause": 1, "owner_id": email("elena"),
         "due_date": "2026-12-10"}]})
    assert sorted(a.status for a in capa.actions()) == ["cancelled", "completed", "planned", "planned"]


def test_capa_verifier_may_not_own_the_nc_or_an_action(capa: CapaFlow) -> None:
    from engine.core.models import RoleAssignment
    lucas = user(capa.session, "lucas")
    lucas.role_rows.append(RoleAssignment(role="internal_auditor"))
    capa.session.flush()
    capa.to_plan()
    capa.plan()
    capa.approve()
    capa.act()
    capa.reach_check_date()
    task = capa.task("ut_verify_effectiveness")
    assert lucas.id in task.excluded_ids
    with pytest.raises(SodViolation, match="SOD-03"):
        services.complete_task(capa.ctx, lucas, task.id, {"result": "effective", "evidence_reviewed": ["x"],
                                                          "criteria_assessment": "ok",
                                                          "recurrence_observed": False})


def test_capa_not_effective_reopens_and_escalates_after_the_second_reopen(capa: CapaFlow) -> None:
    capa.to_plan()
    for round_ in range(3):
        capa.plan(plan(due=(capa.clock.now().date() + timedelta(days=20)).isoformat()))
        capa.approve()
        capa.act()
        capa.reach_check_date()
        capa.verify("not_effective")
        nc = capa.nc()
        assert nc.reopen_count == round_ + 1 and nc.status == "root_cause_analysis"
        assert capa.specs() == ["ut_root_cause"]
        escalations = events(capa.session, capa.instance.id, "nc_escalated")
        assert len(escalations) == (1 if round_ == 2 else 0)
        capa.root_cause()
    assert capa.nc().details["management_review_input"]["category"] == "performance_nc_ca_trends"
    assert "ineffective" in {a.status for a in capa.actions()}


def test_capa_aims_changes_start_actions_for_the_aims_owner(capa: CapaFlow) -> None:
    capa.to_plan()
    capa.plan(plan(changes=["document", "training"]))
    capa.approve()
    capa.act()
    capa.reach_check_date()
    outcome = capa.verify()
    assert capa.nc().status == "closed"
    changes = [i for i in outcome.started if i.process_id == "aims_action"]
    assert len(changes) == 2
    for instance in changes:
        [task] = services.open_tasks(capa.ctx, instance.id)
        assert task.assignee_id == user(capa.session, "priya").id


def test_capa_started_by_an_audit_reports_its_closure_to_the_audit(capa: CapaFlow, session: Session) -> None:
    """An NC started by another instance (here the tiny parent stands in for the audit) sends
    msg_nc_closed back to it; without a parent the message is recorded as undeliverable."""
    capa.start(source="internal_audit", source_ref="F-2026-03-1")
    capa.triage()
    capa.contain()
    capa.root_cause()
    capa.plan()
    capa.approve()
    capa.act()
    capa.reach_check_date()
    capa.verify()
    assert capa.instance.end_event == "E_CLOSED"
    [undelivered] = events(session, capa.instance.id, "message_undeliverable")
    assert undelivered.data["message"] == "msg_nc_closed"
