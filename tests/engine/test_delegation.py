"""Out-of-office delegation: new tasks for an absent user go to their deputy, segregation of duties
still applies to the deputy, notifications follow the deputy, and everything is audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.core import delegation, services, worker
from engine.core.clock import FixedClock, parse_datetime
from engine.core.errors import ConflictError, Forbidden, InvalidInput, NotFound
from engine.core.models import AuditEvent, Delegation, HumanTask, Notification, ProcessInstance
from engine.core.runtime import Context
from engine.core.settings import PROJECT_ROOT, EngineSettings

from .helpers import DATA, deploy_tiny, email, events, grant, user

T0 = parse_datetime("2026-11-02T09:00:00Z")
SHIPPED = EngineSettings(processes_dir=PROJECT_ROOT / "processes", forms_dir=DATA / "forms")


@pytest.fixture
def dctx(session, clock: FixedClock) -> Context:  # type: ignore[no-untyped-def]
    deploy_tiny(session, SHIPPED, clock, "tiny_ladders", "tiny_named_approval")
    session.flush()
    return Context(session, clock, SHIPPED)


def away(ctx: Context, key: str, deputy: str, start_days: float = 0, days: float = 14,
         by: str | None = None) -> Delegation:
    who = user(ctx.session, key)
    return delegation.create(ctx.session, ctx.clock, ctx.settings, user(ctx.session, by or key), who, email(deputy),
                             T0 + timedelta(days=start_days), T0 + timedelta(days=start_days + days), "annual leave")


def audit_of(ctx: Context, action: str) -> list[AuditEvent]:
    return list(ctx.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def start_ladders(ctx: Context, owner: str = "tomas") -> ProcessInstance:
    return services.start_process(ctx, user(ctx.session, "tomas"), "tiny_ladders", {"owner": email(owner)}).instance


def start_approval(ctx: Context, approver: str = "fatima", author: str = "tomas") -> HumanTask:
    instance = services.start_process(ctx, user(ctx.session, "grace"), "tiny_named_approval",
                                      {"approver": email(approver), "submitted_by_id": email(author)}).instance
    [task] = services.open_tasks(ctx, instance.id)
    return task


def holder(ctx: Context, task: HumanTask) -> str:
    return next(k for k in ("tomas", "meilin", "fatima", "sofia", "ingrid", "ravi")
                if user(ctx.session, k).id == task.assignee_id)


# --------------------------------------------------------------------------- the person a task names


@pytest.mark.parametrize(("named", "note"), [
    (None, None),
    ("", None),
    ("ghost@nowhere.example", "The person named for this step (ghost@nowhere.example) is not a user here; "
                              "anyone with the role Manager / approver may claim it"),
    ("inactive", "is no longer active; anyone with the role Manager / approver may claim it"),
], ids=["nobody", "blank", "unknown", "inactive"])
def test_task_naming_nobody_is_the_lanes_work_and_a_bad_name_is_said_in_words(dctx: Context, named: str | None,
                                                                               note: str | None) -> None:
    """A step whose person is not chosen yet waits for the lane's role without a note (the CAPA's
    verification, before anyone is named); a person who cannot take it is said so in words, never as the
    variable and Python's ``None``."""
    if named == "inactive":
        user(dctx.session, "ingrid").active = False
        named = email("ingrid")
    instance = services.start_process(dctx, user(dctx.session, "grace"), "tiny_named_approval",
                                      {"approver": named, "submitted_by_id": email("tomas")}).instance
    [task] = services.open_tasks(dctx, instance.id)
    assert task.assignee_id is None
    if note is None:
        assert task.note is None
    else:
        assert task.note is not None and note in task.note and "approver names" not in task.note


# --------------------------------------------------------------------------- setting it up

def test_delegation_is_audited_and_the_deputy_is_told(dctx: Context) -> None:
    made = away(dctx, "tomas", "meilin")

    [event] = audit_of(dctx, "delegation_created")
    assert event.actor == email("tomas")
    assert (event.data["user"], event.data["deputy"], event.data["reason"]) == (email("tomas"), email("meilin"),
                                                                                 "annual leave")
    [note] = dctx.session.scalars(select(Notification).where(Notification.kind == "delegation")).all()
    assert note.user_id == user(dctx.session, "meilin").id and email("tomas") in note.title
    assert made.ends_at == T0 + timedelta(days=14)


@pytest.mark.parametrize(("key", "deputy", "start", "days", "error", "message"), [
    ("tomas", "tomas", 0, 5, InvalidInput, "cannot be their own deputy"),
    ("tomas", "nobody", 0, 5, NotFound, "no user with e-mail"),
    ("tomas", "meilin", 0, -1, InvalidInput, "must end after it starts"),
    ("tomas", "meilin", -10, 5, InvalidInput, "ends in the past"),
], ids=["self", "unknown-deputy", "backwards", "past"])
def test_delegation_refuses_bad_input_naming_it(dctx: Context, key: str, deputy: str, start: int, days: int,
                                                error: type[Exception], message: str) -> None:
    who = user(dctx.session, key)
    deputy_email = email(deputy) if deputy != "nobody" else "nobody@lumenvale.example"
    with pytest.raises(error, match=message):
        delegation.create(dctx.session, dctx.clock, dctx.settings, who, who, deputy_email,
                          T0 + timedelta(days=start), T0 + timedelta(days=start + days))
    assert dctx.session.scalars(select(Delegation)).all() == []


def test_delegation_overlapping_an_existing_one_is_a_conflict(dctx: Context) -> None:
    away(dctx, "tomas", "meilin", 0, 10)

    with pytest.raises(ConflictError, match="already has delegation .* revoke it first"):
        away(dctx, "tomas", "ravi", 5, 10)
    away(dctx, "tomas", "ravi", 10, 5)  # right after it is fine


@pytest.mark.parametrize(("by", "allowed"), [("ingrid", True), ("oliver", True), ("meilin", False)],
                         ids=["line-manager", "admin", "colleague"])
def test_delegation_for_someone_else_takes_their_manager_or_an_admin(dctx: Context, by: str, allowed: bool) -> None:
    if allowed:
        away(dctx, "tomas", "meilin", by=by)
        assert audit_of(dctx, "delegation_created")[0].actor == email(by)
    else:
        with pytest.raises(Forbidden, match="may not set up a delegation for"):
            away(dctx, "tomas", "ravi", by=by)


# --------------------------------------------------------------------------- routing new tasks

def test_delegation_routes_new_tasks_to_the_deputy_and_tells_them(dctx: Context) -> None:
    away(dctx, "tomas", "meilin")

    instance = start_ladders(dctx)

    tasks = services.open_tasks(dctx, instance.id)
    assert {holder(dctx, t) for t in tasks} == {"meilin"}
    assert all(t.delegated_from_id == user(dctx.session, "tomas").id for t in tasks)
    assert all("tomas.alvarez@lumenvale.example, who is away" in (t.note or "") for t in tasks)
    told = dctx.session.scalars(select(Notification).where(Notification.kind == "new_task",
                                                           Notification.instance_id == instance.id)).all()
    assert {n.user_id for n in told} == {user(dctx.session, "meilin").id}
    routed = events(dctx.session, instance.id, "delegation_routed")
    assert len(routed) == 4 and routed[0].data["deputy"] == email("meilin")
    # the deputy does the work
    services.complete_task(dctx, user(dctx.session, "meilin"), tasks[0].id, {})


def test_delegation_routes_nothing_before_it_starts_or_after_it_is_revoked(dctx: Context) -> None:
    later = away(dctx, "tomas", "meilin", start_days=3)
    assert {holder(dctx, t) for t in services.open_tasks(dctx, start_ladders(dctx).id)} == {"tomas"}

    dctx.clock.advance(days=4)  # type: ignore[attr-defined]
    delegation.revoke(dctx.session, dctx.clock, user(dctx.session, "tomas"), later.id)

    assert {holder(dctx, t) for t in services.open_tasks(dctx, start_ladders(dctx).id)} == {"tomas"}
    [event] = audit_of(dctx, "delegation_revoked")
    assert event.data["deputy"] == email("meilin")
    with pytest.raises(ConflictError, match="already over"):
        delegation.revoke(dctx.session, dctx.clock, user(dctx.session, "tomas"), later.id)


@pytest.mark.parametrize(("deputy", "rule"), [("sofia", "SOD-09"), ("tomas", "SOD-01")],
                         ids=["deputy-reports-to-the-approver", "deputy-authored-the-request"])
def test_delegation_keeps_sod_rules_for_the_deputy(dctx: Context, deputy: str, rule: str) -> None:
    grant(dctx.session, deputy, "approver")  # the lane role: SoD is what stops them
    away(dctx, "fatima", deputy)

    task = start_approval(dctx, approver="fatima", author="tomas")

    assert holder(dctx, task) == "fatima" and task.delegated_from_id is None
    assert f"their deputy {email(deputy)} may not take this task" in (task.note or "")
    [event] = events(dctx.session, task.instance_id, "delegation_blocked")
    assert event.data["deputy"] == email(deputy) and rule in event.data["rules"]


def test_delegation_routes_an_approval_to_an_independent_deputy(dctx: Context) -> None:
    away(dctx, "fatima", "ingrid")

    task = start_approval(dctx, approver="fatima", author="tomas")

    assert holder(dctx, task) == "ingrid"
    services.complete_task(dctx, user(dctx.session, "ingrid"), task.id, {})
    assert task.completed_by_id == user(dctx.session, "ingrid").id


def test_delegation_keeps_a_task_whose_lane_role_the_deputy_lacks_and_tells_the_manager(dctx: Context) -> None:
    away(dctx, "tomas", "elena")  # elena is an action owner, the tasks are in the process_owner lane

    instance = start_ladders(dctx)

    tasks = services.open_tasks(dctx, instance.id)
    assert {holder(dctx, t) for t in tasks} == {"tomas"} and all(t.delegated_from_id is None for t in tasks)
    assert all("does not hold the role 'process_owner'" in (t.note or "") for t in tasks)
    blocked = events(dctx.session, instance.id, "delegation_blocked")
    assert len(blocked) == len(tasks) and blocked[0].data["deputy"] == email("elena")
    assert events(dctx.session, instance.id, "delegation_routed") == []
    told = dctx.session.scalars(select(Notification).where(Notification.kind == "delegation",
                                                           Notification.instance_id == instance.id)).all()
    assert {n.user_id for n in told} == {user(dctx.session, "ingrid").id}  # tomas's line manager
    assert len(told) == len(tasks) and "Tomás Alvarez is away" in told[0].title
    with pytest.raises(Forbidden):
        services.complete_task(dctx, user(dctx.session, "elena"), tasks[0].id, {})


def test_delegation_never_lets_a_deputy_act_outside_their_lane_roles(dctx: Context) -> None:
    """A task routed to a deputy before the role check (or edited by hand) still needs the lane role."""
    [task, *_] = services.open_tasks(dctx, start_ladders(dctx).id)
    task.delegated_from_id, task.assignee_id = task.assignee_id, user(dctx.session, "elena").id

    with pytest.raises(Forbidden, match="does not hold"):
        services.complete_task(dctx, user(dctx.session, "elena"), task.id, {})


def test_delegation_follows_a_chain_once_to_a_deputy_who_holds_the_lane(dctx: Context) -> None:
    away(dctx, "tomas", "meilin")
    away(dctx, "meilin", "ravi")

    tasks = services.open_tasks(dctx, start_ladders(dctx).id)

    assert {holder(dctx, t) for t in tasks} == {"ravi"}
    assert all(t.delegated_from_id == user(dctx.session, "tomas").id for t in tasks)


def test_delegation_chain_ending_without_the_lane_role_stays_with_the_user(dctx: Context) -> None:
    away(dctx, "tomas", "meilin")
    away(dctx, "meilin", "elena")

    tasks = services.open_tasks(dctx, start_ladders(dctx).id)

    assert {holder(dctx, t) for t in tasks} == {"tomas"}


@pytest.mark.parametrize("chain", [("tomas", "meilin"), ("tomas", "meilin", "ravi")], ids=["two", "three"])
def test_delegation_refuses_a_circle_naming_the_people(dctx: Context, chain: tuple[str, ...]) -> None:
    for key, deputy in zip(chain, chain[1:], strict=False):
        away(dctx, key, deputy, 2, 5)
    names = [p.name for p in (user(dctx.session, k) for k in chain)]

    with pytest.raises(ConflictError, match="circle") as refused:
        away(dctx, chain[-1], chain[0], 0, 14)

    assert all(name in str(refused.value) for name in names)
    assert email(chain[0]) not in str(refused.value)
    assert len(dctx.session.scalars(select(Delegation)).all()) == len(chain) - 1
    away(dctx, chain[-1], chain[0], 7, 5)  # after the others end there is no circle


# --------------------------------------------------------------------------- notifications follow the deputy

def test_delegation_reminders_for_an_absent_holder_go_to_the_deputy(dctx: Context) -> None:
    instance = start_ladders(dctx)  # tomas holds the tasks
    away(dctx, "tomas", "meilin", start_days=5)
    assert isinstance(dctx.clock, FixedClock)
    dctx.clock.set(T0 + timedelta(days=8))

    worker.run_pass(dctx.session, dctx.clock, dctx.settings)

    reminders = dctx.session.scalars(select(Notification).where(Notification.kind == "reminder",
                                                                Notification.instance_id == instance.id)).all()
    assert reminders and {n.user_id for n in reminders} == {user(dctx.session, "meilin").id}


def test_delegation_list_shows_both_sides(dctx: Context) -> None:
    made = away(dctx, "tomas", "meilin")

    assert delegation.list_for(dctx.session, user(dctx.session, "tomas"), T0) == [made]
    assert delegation.list_for(dctx.session, user(dctx.session, "meilin"), T0) == [made]
    assert delegation.list_for(dctx.session, user(dctx.session, "tomas"), T0 + timedelta(days=20)) == []
