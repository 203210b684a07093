"""Use cases on ``tests/data/tiny_approval.bpmn``: start, the task row, inbox, claim, release, complete,
reject loop, reassign, cancel, the audit trail, segregation of duties and the serialize/restore round trip."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from engine.app import queries
from engine.core import definitions, runtime, serializer, services
from engine.core.errors import ConflictError, Forbidden, InvalidInput, NotFound, SodViolation, ValidationError
from engine.core.models import AuditEvent, HumanTask, ProcessInstance, User
from engine.core.runtime import Context
from engine.core.uow import transaction

from .helpers import Flow, deploy_tiny, email, events, grant

# --------------------------------------------------------------------------- start


def test_start_process_creates_submit_task_and_records_starter(flow: Flow) -> None:
    instance = flow.start("tomas", "Buy GPUs")

    assert instance.status == "running"
    assert instance.started_by_id == flow.user("tomas").id
    assert [t.task_spec for t in services.open_tasks(flow.ctx, instance.id)] == ["ut_submit"]
    data = services.instance_data(flow.ctx, instance.id)
    assert data["topic"] == "Buy GPUs"
    assert data["started_by"] == email("tomas")
    assert data["rework_count"] == 0


@pytest.mark.parametrize(("data", "field"), [
    ({}, "topic"),
    ({"topic": "ab"}, "topic"),
    ({"topic": "Buy GPUs", "budget": 5}, ""),
], ids=["missing-topic", "topic-too-short", "unknown-field"])
def test_start_process_rejects_bad_start_data_naming_the_field(flow: Flow, data: dict[str, Any],
                                                               field: str) -> None:
    before = flow.session.scalar(select(ProcessInstance.id).order_by(ProcessInstance.id.desc()).limit(1))

    with pytest.raises(ValidationError) as info:
        services.start_process(flow.ctx, flow.user("tomas"), "tiny_approval", data)

    assert [e.path for e in info.value.errors] == [field]
    if field:
        assert field in str(info.value)
    after = flow.session.scalar(select(ProcessInstance.id).order_by(ProcessInstance.id.desc()).limit(1))
    assert after == before


def test_start_process_unknown_process_is_not_found(flow: Flow) -> None:
    with pytest.raises(NotFound, match="tiny_approvl.*did you mean 'tiny_approval'"):
        services.start_process(flow.ctx, flow.user("tomas"), "tiny_approvl", {"topic": "Buy GPUs"})


@pytest.mark.parametrize("key", ["daniel", "fatima", "oliver"], ids=["auditor", "approver", "admin"])
def test_start_process_refuses_roles_outside_the_start_lane(flow: Flow, key: str) -> None:
    with pytest.raises(Forbidden, match="process_owner"):
        flow.start(key)


# --------------------------------------------------------------------------- the task row


def test_task_row_carries_role_due_date_form_and_escalation_profile(flow: Flow) -> None:
    started = flow.ctx.clock.now()
    instance = flow.start()
    task = flow.open_task(instance)

    assert (task.task_spec, task.role, task.state, task.assignee_id) == ("ut_submit", "process_owner", "ready", None)
    assert task.due_at == started + timedelta(days=3)
    assert task.form == "tiny_submit"
    assert task.escalation_profile == "STD"
    assert task.created_at == started


def test_task_row_of_the_approval_carries_its_sod_rules_and_profile(flow: Flow) -> None:
    instance = flow.start()
    flow.ctx.clock.advance(hours=5)
    approval = flow.submit(instance)

    assert approval.role == "approver"
    assert approval.due_at == flow.ctx.clock.now() + timedelta(days=5)
    assert approval.escalation_profile == "APPROVAL"
    assert approval.sod_rules == "SOD-01,SOD-08"


# --------------------------------------------------------------------------- inbox


def _inbox_ids(flow: Flow, key: str) -> dict[int, queries.TaskRow]:
    return {row.id: row for row in queries.inbox(flow.session, flow.user(key), flow.ctx.clock.now())}


@pytest.mark.parametrize(("key", "sees"), [
    ("tomas", True), ("meilin", True), ("daniel", False), ("fatima", False), ("oliver", False),
], ids=["starter", "other-process-owner", "auditor", "approver", "admin"])
def test_inbox_shows_claimable_task_to_role_holders_only(flow: Flow, key: str, sees: bool) -> None:
    task = flow.open_task(flow.start())

    assert (task.id in _inbox_ids(flow, key)) is sees


def test_inbox_flags_overdue_after_the_clock_passes_the_due_date(flow: Flow) -> None:
    task = flow.open_task(flow.start())

    assert _inbox_ids(flow, "meilin")[task.id].overdue is False
    flow.ctx.clock.advance(days=3)
    assert _inbox_ids(flow, "meilin")[task.id].overdue is False  # due exactly now: not yet late
    flow.ctx.clock.advance(minutes=1)
    assert _inbox_ids(flow, "meilin")[task.id].overdue is True


def test_inbox_hides_claimed_task_from_other_role_holders(flow: Flow) -> None:
    task = flow.open_task(flow.start())
    services.claim_task(flow.ctx, flow.user("tomas"), task.id)

    assert task.id not in _inbox_ids(flow, "meilin")
    assert _inbox_ids(flow, "tomas")[task.id].assignee == email("tomas")


# --------------------------------------------------------------------------- claim + release


def test_claim_task_second_claimer_gets_conflict_naming_the_holder(flow: Flow) -> None:
    task = flow.open_task(flow.start())
    services.claim_task(flow.ctx, flow.user("tomas"), task.id)

    with pytest.raises(ConflictError, match=r"already claimed by Tomás Alvarez \(since 2026-11-02 09:00 UTC\)"):
        services.claim_task(flow.ctx, flow.user("meilin"), task.id)
    assert (task.state, task.assignee_id) == ("claimed", flow.user("tomas").id)


def test_claim_task_is_idempotent_for_the_holder(flow: Flow) -> None:
    task = flow.open_task(flow.start())
    services.claim_task(flow.ctx, flow.user("tomas"), task.id)
    services.claim_task(flow.ctx, flow.user("tomas"), task.id)

    assert len(events(flow.session, task.instance_id, "claim")) == 1


@pytest.mark.parametrize("key", ["daniel", "fatima"], ids=["auditor", "approver"])
def test_claim_task_refuses_users_without_the_lane_role(flow: Flow, key: str) -> None:
    task = flow.open_task(flow.start())

    with pytest.raises(Forbidden, match="is for the role Process owner, which .* does not hold"):
        services.claim_task(flow.ctx, flow.user(key), task.id)
    assert (task.state, task.assignee_id) == ("ready", None)


@pytest.mark.parametrize(("key", "allowed"), [
    ("tomas", True), ("ingrid", True), ("priya", True), ("meilin", False), ("fatima", False),
], ids=["holder", "line-manager", "aims-owner", "peer", "unrelated-approver"])
def test_release_task_only_by_holder_or_manager(flow: Flow, key: str, allowed: bool) -> None:
    task = flow.open_task(flow.start())
    services.claim_task(flow.ctx, flow.user("tomas"), task.id)

    if allowed:
        services.release_task(flow.ctx, flow.user(key), task.id)
        assert (task.state, task.assignee_id, task.claimed_at) == ("ready", None, None)
        [event] = events(flow.session, task.instance_id, "release")
        assert (event.actor, event.task_id) == (email(key), task.id)
    else:
        with pytest.raises(Forbidden, match="holder or a manager"):
            services.release_task(flow.ctx, flow.user(key), task.id)
        assert (task.state, task.assignee_id) == ("claimed", flow.user("tomas").id)


def test_release_task_that_is_not_claimed_is_a_conflict(flow: Flow) -> None:
    task = flow.open_task(flow.start())

    with pytest.raises(ConflictError, match="not claimed"):
        services.release_task(flow.ctx, flow.user("tomas"), task.id)


# --------------------------------------------------------------------------- complete


def test_complete_task_lists_every_failing_field_and_changes_nothing(flow: Flow) -> None:
    instance = flow.start()
    task = flow.open_task(instance)
    services.claim_task(flow.ctx, flow.user("tomas"), task.id)
    flow.session.flush()
    version, state, audit_count = instance.version, instance.state, len(events(flow.session, instance.id))

    with pytest.raises(ValidationError) as info:
        services.complete_task(flow.ctx, flow.user("tomas"), task.id,
                               {"amount": 0, "note": 5, "reviewer": email("daniel")})

    assert sorted(e.path for e in info.value.errors) == ["amount", "note", "reviewer"]
    assert "Reviewer: choose someone with the role Specialist reviewer; Daniel Kim does not have it" in str(info.value)
    assert not flow.session.dirty and not flow.session.new
    flow.session.expire_all()
    assert (instance.version, instance.state) == (version, state)
    assert (task.state, task.completed_by_id, task.submitted) == ("claimed", None, None)
    assert len(events(flow.session, instance.id)) == audit_count
    assert [t.task_spec for t in services.open_tasks(flow.ctx, instance.id)] == ["ut_submit"]


def test_complete_task_refuses_a_user_without_the_role(flow: Flow) -> None:
    task = flow.open_task(flow.start())

    with pytest.raises(Forbidden, match="is for the role Process owner, which Daniel Kim does not hold"):
        services.complete_task(flow.ctx, flow.user("daniel"), task.id, {"amount": 10})
    assert task.state == "ready"


def test_complete_task_refuses_a_role_holder_when_someone_else_holds_it(flow: Flow) -> None:
    task = flow.open_task(flow.start())
    services.claim_task(flow.ctx, flow.user("tomas"), task.id)

    with pytest.raises(Forbidden, match="assigned to Tomás Alvarez; ask them"):
        services.complete_task(flow.ctx, flow.user("meilin"), task.id, {"amount": 10})


def test_complete_task_twice_is_a_conflict_naming_who_completed_it(flow: Flow) -> None:
    task = flow.open_task(flow.start())
    services.complete_task(flow.ctx, flow.user("tomas"), task.id, {"amount": 10})

    with pytest.raises(ConflictError, match="already completed by Tomás Alvarez at 2026-11-02 09:00 UTC"):
        services.complete_task(flow.ctx, flow.user("tomas"), task.id, {"amount": 20})
    assert task.submitted == {"amount": 10}


def test_complete_task_reject_goes_back_to_submit_with_rework_count(flow: Flow) -> None:
    instance = flow.start()
    flow.submit(instance)

    outcome = flow.decide(instance, "fatima", "reject", "too expensive")

    assert [t.task_spec for t in outcome.new_tasks] == ["ut_submit"]
    resubmit = flow.open_task(instance)
    assert resubmit.task_spec == "ut_submit" and resubmit.state == "ready"
    assert services.instance_data(flow.ctx, instance.id)["rework_count"] == 1
    [reject] = events(flow.session, instance.id, "reject")
    assert reject.actor == email("fatima")
    assert reject.data == {"task_spec": "ut_approve", "decision": "reject", "comment": "too expensive"}
    assert instance.status == "running"


def test_complete_task_reject_then_approve_completes_on_end_ok(flow: Flow) -> None:
    instance = flow.start()
    flow.submit(instance)
    flow.decide(instance, "fatima", "reject", "too expensive")
    flow.submit(instance, amount=50)

    outcome = flow.decide(instance, "ingrid", "approve")

    assert outcome.new_tasks == []
    assert (instance.status, instance.end_event) == ("completed", "end_ok")
    assert instance.ended_at == flow.ctx.clock.now()
    assert services.open_tasks(flow.ctx, instance.id) == []
    data = services.instance_data(flow.ctx, instance.id)
    assert (data["decision"], data["amount"], data["rework_count"]) == ("approve", 50, 1)
    assert len(events(flow.session, instance.id, "reject")) == 1


def test_complete_task_reject_requires_a_comment(flow: Flow) -> None:
    instance = flow.start()
    approval = flow.submit(instance)

    with pytest.raises(ValidationError) as info:
        services.complete_task(flow.ctx, flow.user("fatima"), approval.id, {"decision": "reject"})
    assert [e.path for e in info.value.errors] == ["comment"]


# --------------------------------------------------------------------------- segregation of duties


def test_complete_task_blocks_submitter_who_is_also_approver_sod01(flow: Flow) -> None:
    session, clock = flow.session, flow.ctx.clock
    with transaction(session, clock):
        grant(session, "tomas", "approver")
        instance = flow.start("tomas")
        approval = flow.submit(instance, "tomas")
    assert approval.excluded_ids == [flow.user("tomas").id]  # excluded when the candidates were built
    version, instance_id, approval_id = instance.version, instance.id, approval.id
    before = {e.seq for e in session.scalars(select(AuditEvent))}

    with pytest.raises(SodViolation) as info, transaction(session, clock):
        services.complete_task(flow.ctx, flow.user("tomas"), approval_id, {"decision": "approve"})

    assert info.value.rule == "SOD-01"
    assert "you completed 'Submit the request' in this process" in str(info.value)
    new = [e for e in session.scalars(select(AuditEvent).order_by(AuditEvent.seq)) if e.seq not in before]
    assert [(e.action, e.actor, e.instance_id, e.task_id) for e in new] == [
        ("sod_violation_blocked", email("tomas"), instance_id, approval_id)]
    assert new[0].data["rules"] == ["SOD-01"]
    stored = session.get(ProcessInstance, instance_id)
    assert (stored.version, stored.status) == (version, "running")
    row = session.get(HumanTask, approval_id)
    assert (row.state, row.assignee_id, row.completed_by_id) == ("ready", None, None)


def test_complete_task_refuses_an_admin_on_the_approval_sod08(flow: Flow) -> None:
    grant(flow.session, "oliver", "approver")
    instance = flow.start()
    approval = flow.submit(instance)

    with pytest.raises(SodViolation) as info:
        services.complete_task(flow.ctx, flow.user("oliver"), approval.id, {"decision": "approve"})

    assert info.value.rule == "SOD-08"
    assert "administrators" in str(info.value)
    assert flow.user("oliver").id in approval.excluded_ids
    assert approval.state == "ready"


# --------------------------------------------------------------------------- reassign


@pytest.mark.parametrize("reason", ["", "  ", "ok"], ids=["empty", "blank", "too-short"])
def test_reassign_task_requires_a_reason(flow: Flow, reason: str) -> None:
    approval = flow.submit(flow.start())

    with pytest.raises(InvalidInput, match="reason"):
        services.reassign_task(flow.ctx, flow.user("priya"), approval.id, email("ingrid"), reason)
    assert approval.assignee_id is None


@pytest.mark.parametrize("key", ["meilin", "fatima", "tomas"], ids=["process-owner", "approver", "submitter"])
def test_reassign_task_refuses_non_managers(flow: Flow, key: str) -> None:
    approval = flow.submit(flow.start())

    with pytest.raises(Forbidden, match="may not reassign"):
        services.reassign_task(flow.ctx, flow.user(key), approval.id, email("ingrid"), "on leave this week")


def test_reassign_task_target_must_hold_the_role(flow: Flow) -> None:
    approval = flow.submit(flow.start())

    with pytest.raises(InvalidInput, match="Daniel Kim does not hold the role Manager / approver this task needs"):
        services.reassign_task(flow.ctx, flow.user("priya"), approval.id, email("daniel"), "on leave this week")
    assert approval.assignee_id is None


def test_reassign_task_hands_over_and_audits_from_to_reason(flow: Flow) -> None:
    instance = flow.start()
    approval = flow.submit(instance)
    services.claim_task(flow.ctx, flow.user("fatima"), approval.id)

    services.reassign_task(flow.ctx, flow.user("priya"), approval.id, email("ingrid"), " Fatima is on leave ")

    assert (approval.state, approval.assignee_id) == ("claimed", flow.user("ingrid").id)
    [event] = events(flow.session, instance.id, "reassign")
    assert event.actor == email("priya")
    assert event.data == {"task_spec": "ut_approve", "from": email("fatima"), "to": email("ingrid"),
                          "reason": "Fatima is on leave"}
    flow.decide(instance, "ingrid")
    assert instance.status == "completed"


@pytest.mark.parametrize(("delegator", "target", "extra_role"), [
    ("jonas", "fatima", None),
    ("grace", "ravi", "approver"),
], ids=["ceo-to-direct-report", "approver-to-direct-report"])
def test_reassign_task_refuses_handing_an_approval_to_a_direct_report_sod09(
        flow: Flow, delegator: str, target: str, extra_role: str | None) -> None:
    if extra_role:
        grant(flow.session, target, extra_role)
    approval = flow.submit(flow.start())

    with pytest.raises(SodViolation) as info:
        services.reassign_task(flow.ctx, flow.user(delegator), approval.id, email(target), "please take this over")

    assert info.value.rule == "SOD-09"
    assert f"{email(target)} reports to {email(delegator)}" in str(info.value)
    assert approval.assignee_id is None


def test_reassign_task_refuses_handing_the_approval_to_its_submitter(flow: Flow) -> None:
    grant(flow.session, "tomas", "approver")
    approval = flow.submit(flow.start())

    with pytest.raises(SodViolation) as info:
        services.reassign_task(flow.ctx, flow.user("priya"), approval.id, email("tomas"), "please take this over")
    assert info.value.rule == "SOD-01"


# --------------------------------------------------------------------------- cancel


@pytest.mark.parametrize("reason", ["", "  ", "no"], ids=["empty", "blank", "too-short"])
def test_cancel_instance_requires_a_reason(flow: Flow, reason: str) -> None:
    instance = flow.start()

    with pytest.raises(InvalidInput, match="reason"):
        services.cancel_instance(flow.ctx, flow.user("tomas"), instance.id, reason)
    assert instance.status == "running"


def test_cancel_instance_refuses_an_uninvolved_user(flow: Flow) -> None:
    instance = flow.start("tomas")

    with pytest.raises(Forbidden):
        services.cancel_instance(flow.ctx, flow.user("meilin"), instance.id, "duplicate request")


@pytest.mark.parametrize("key", ["tomas", "priya"], ids=["starter", "aims-owner"])
def test_cancel_instance_cancels_open_tasks_and_is_audited(flow: Flow, key: str) -> None:
    instance = flow.start("tomas")
    approval = flow.submit(instance)
    flow.ctx.clock.advance(hours=1)

    services.cancel_instance(flow.ctx, flow.user(key), instance.id, "duplicate request")

    assert (instance.status, instance.ended_at) == ("cancelled", flow.ctx.clock.now())
    assert services.open_tasks(flow.ctx, instance.id) == []
    assert approval.state == "cancelled"
    [event] = events(flow.session, instance.id, "cancel")
    assert (event.actor, event.data) == (email(key), {"reason": "duplicate request"})
    with pytest.raises(ConflictError, match="already cancelled"):
        services.cancel_instance(flow.ctx, flow.user(key), instance.id, "duplicate request")


# --------------------------------------------------------------------------- the audit trail


def _do_start(flow: Flow) -> tuple[ProcessInstance, int | None]:
    return flow.start(), None


def _do_claim(flow: Flow) -> tuple[ProcessInstance, int | None]:
    instance = flow.start()
    task = flow.open_task(instance)
    services.claim_task(flow.ctx, flow.user("meilin"), task.id)
    return instance, task.id


def _do_release(flow: Flow) -> tuple[ProcessInstance, int | None]:
    instance, task_id = _do_claim(flow)
    assert task_id is not None
    services.release_task(flow.ctx, flow.user("meilin"), task_id)
    return instance, task_id


def _do_complete(flow: Flow) -> tuple[ProcessInstance, int | None]:
    instance = flow.start()
    task = flow.open_task(instance)
    flow.submit(instance)
    return instance, task.id


def _do_reject(flow: Flow) -> tuple[ProcessInstance, int | None]:
    instance = flow.start()
    approval = flow.submit(instance)
    flow.decide(instance, "fatima", "reject", "too expensive")
    return instance, approval.id


def _do_reassign(flow: Flow) -> tuple[ProcessInstance, int | None]:
    instance = flow.start()
    approval = flow.submit(instance)
    services.reassign_task(flow.ctx, flow.user("priya"), approval.id, email("ingrid"), "spread the load")
    return instance, approval.id


def _do_cancel(flow: Flow) -> tuple[ProcessInstance, int | None]:
    instance = flow.start()
    services.cancel_instance(flow.ctx, flow.user("priya"), instance.id, "duplicate request")
    return instance, None


@pytest.mark.parametrize(("action", "do", "actor"), [
    ("start", _do_start, "tomas"),
    ("claim", _do_claim, "meilin"),
    ("release", _do_release, "meilin"),
    ("complete", _do_complete, "tomas"),
    ("reject", _do_reject, "fatima"),
    ("reassign", _do_reassign, "priya"),
    ("cancel", _do_cancel, "priya"),
], ids=["start", "claim", "release", "complete", "reject", "reassign", "cancel"])
def test_services_write_the_matching_audit_event(flow: Flow, action: str, do: Any, actor: str) -> None:
    instance, task_id = do(flow)

    found = events(flow.session, instance.id, action)
    assert len(found) == 1, [e.action for e in events(flow.session, instance.id)]
    event = found[0]
    assert (event.actor, event.instance_id, event.task_id) == (email(actor), instance.id, task_id)
    assert event.at == flow.ctx.clock.now()


def test_services_audit_a_whole_run_in_order(flow: Flow) -> None:
    instance = flow.start()
    task = flow.open_task(instance)
    services.claim_task(flow.ctx, flow.user("tomas"), task.id)
    flow.submit(instance)
    flow.decide(instance, "fatima", "reject", "too expensive")
    flow.submit(instance)
    flow.decide(instance, "fatima", "approve")

    assert [e.action for e in events(flow.session, instance.id)] == [
        "start", "claim", "complete", "complete", "reject", "complete", "complete"]


# --------------------------------------------------------------------------- serialize / restore round trip


def _ready(workflow: Any) -> list[tuple[str, dict[str, Any]]]:
    return [(t.task_spec.bpmn_id, dict(t.data)) for t in runtime.ready_human_tasks(workflow).values()]


@pytest.mark.parametrize("decision", ["approve", "reject"], ids=["approve", "reject"])
def test_runtime_restore_round_trips_and_continues_identically(flow: Flow, decision: str) -> None:
    instance = flow.start()
    approval = flow.submit(instance)
    flow.session.flush()
    loaded = runtime.restore(flow.ctx, instance)
    assert serializer.dumps(loaded.workflow) == instance.state

    # the reference: continue in memory on the cached specs
    submitted = {"decision": decision, "comment": "looked at it"}
    reference = runtime.spiff_task(loaded.workflow, approval)
    runtime.merge_form_data(reference, submitted)
    reference.run()
    runtime.run(flow.ctx, instance, loaded.workflow, flow.user("fatima"))
    expected = _ready(loaded.workflow)
    expected_data = dict(loaded.workflow.data) if loaded.workflow.is_completed() else None

    # the real thing: complete through the service after a fresh parse of the specs
    cached = definitions._SPEC_CACHE.get(instance.process_version.sha256)
    runtime.clear_caches()
    services.complete_task(flow.ctx, flow.user("fatima"), approval.id, submitted)
    assert definitions._SPEC_CACHE.get(instance.process_version.sha256) is not cached

    runtime.clear_caches()
    after = runtime.restore(flow.ctx, instance).workflow
    assert _ready(after) == expected
    assert [spec for spec, _ in expected] == (["ut_submit"] if decision == "reject" else [])
    assert after.is_completed() is (decision == "approve")
    if expected_data is not None:
        assert dict(after.data) == expected_data
    assert serializer.dumps(after) == instance.state


def test_runtime_workflow_cache_serves_only_the_exact_saved_state(flow: Flow) -> None:
    instance = flow.start()
    saved = runtime.restore(flow.ctx, instance).workflow  # taken from the cache: save() put it there
    assert runtime.restore(flow.ctx, instance).workflow is not saved  # taken once, then restored anew
    runtime._WORKFLOWS.put(instance.id, instance.state, saved)
    assert runtime.restore(flow.ctx, instance).workflow is saved
    runtime._WORKFLOWS.put(instance.id, instance.state, saved)
    instance.state = instance.state.replace('"completed":false', '"completed": false')  # changed elsewhere
    assert runtime.restore(flow.ctx, instance).workflow is not saved


# --------------------------------------------------------------------------- multi-instance user tasks


def test_complete_task_merges_multi_instance_form_data_into_the_output_item(
        tiny_ctx: Context, as_user: Callable[[str], User]) -> None:
    requests = [{"id": 1, "title": "Model card"}, {"id": 2, "title": "Data sheet"}, {"id": 3, "title": "DPIA"}]
    answers = {1: {"verdict": "ok"}, 2: {"verdict": "not_ok", "comment": "no lineage"}, 3: {"verdict": "ok"}}
    instance = services.start_process(tiny_ctx, as_user("fatima"), "tiny_multi_review",
                                      {"requests": requests}).instance
    tasks = services.open_tasks(tiny_ctx, instance.id)
    assert [(t.task_spec, t.role) for t in tasks] == [("ut_review", "reviewer")] * 3
    workflow = runtime.restore(tiny_ctx, instance).workflow
    items = {t.id: runtime.spiff_task(workflow, t).data["request"]["id"] for t in tasks}

    for task in reversed(tasks):  # completion order differs from input order on purpose
        services.complete_task(tiny_ctx, as_user("sofia"), task.id, answers[items[task.id]])

    assert instance.status == "completed"
    reviews = services.instance_data(tiny_ctx, instance.id)["reviews"]
    assert sorted(reviews, key=lambda r: r["id"]) == [{**item, **answers[item["id"]]} for item in requests]
    assert [r["id"] for r in reviews] == [items[t.id] for t in reversed(tasks)]
    assert services.instance_data(tiny_ctx, instance.id)["requests"] == requests  # the input is untouched


def test_multi_instance_task_finishes_after_a_restart_mid_way(tiny_ctx: Context,
                                                              as_user: Callable[[str], User]) -> None:
    """The instances of a multi-instance task merge into its output even when the workflow was restored
    onto freshly parsed specs (a restarted server) between two completions."""
    requests = [{"id": 1}, {"id": 2}]
    instance = services.start_process(tiny_ctx, as_user("fatima"), "tiny_multi_review",
                                      {"requests": requests}).instance
    first, second = services.open_tasks(tiny_ctx, instance.id)
    services.complete_task(tiny_ctx, as_user("sofia"), first.id, {"verdict": "ok"})
    runtime.clear_caches()  # specs parsed again, workflow restored from the row

    services.complete_task(tiny_ctx, as_user("sofia"), second.id, {"verdict": "not_ok"})

    assert instance.status == "completed"
    assert sorted(r["verdict"] for r in services.instance_data(tiny_ctx, instance.id)["reviews"]) == ["not_ok", "ok"]


# --------------------------------------------------------------------------- post-scripts run sandboxed


def test_complete_task_runs_the_post_script_in_the_sandbox(tiny_ctx: Context, as_user: Callable[[str], User]) -> None:
    """A user task's post-script runs when the task completes, before any engine step: it must get the
    sandboxed engine (which has add_duration) even on a workflow fresh from the database."""
    deploy_tiny(tiny_ctx.session, tiny_ctx.settings, tiny_ctx.clock, "tiny_postscript")
    instance = services.start_process(tiny_ctx, as_user("tomas"), "tiny_postscript").instance
    [task] = services.open_tasks(tiny_ctx, instance.id)
    runtime.clear_caches()  # restore from the stored state
    services.complete_task(tiny_ctx, as_user("tomas"), task.id, {"planned_on": "2026-11-02"})
    assert services.instance_data(tiny_ctx, instance.id)["review_due"] == "2026-11-07"


def test_a_change_since_the_actor_looked_is_a_conflict_that_says_what_happened(flow: Flow) -> None:
    task = flow.open_task(flow.start())
    services.claim_task(flow.ctx, flow.user("tomas"), task.id)
    seen = task.row_version
    services.reassign_task(flow.ctx, flow.user("oliver"), task.id, email("meilin"), "covering the holiday")
    assert task.row_version == seen + 1

    with pytest.raises(ConflictError, match="was reassigned to Mei Lin Chen at 2026-11-02 09:00 UTC meanwhile"):
        services.complete_task(flow.ctx, flow.user("tomas"), task.id, {"amount": 1}, expected_version=seen)
    with pytest.raises(ConflictError, match="reassigned to Mei Lin Chen"):
        services.release_task(flow.ctx, flow.user("oliver"), task.id, expected_version=seen)
    assert (task.state, task.assignee_id, task.completed_by_id) == ("claimed", flow.user("meilin").id, None)

