"""BPMN timers driven by worker passes at chosen times (what ``aimsflow worker --once --now`` does):
interrupting and non-interrupting boundary timers, an intermediate timer, and a cyclic timer start event
that starts one instance per period. Nobody sleeps: the FixedClock moves."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from engine.core import definitions, runtime, services
from engine.core.clock import FixedClock, parse_datetime
from engine.core.errors import DefinitionError
from engine.core.models import HumanTask, Notification, ProcessInstance, ProcessSchedule
from engine.core.runtime import Context

from .helpers import DATA, at, deploy_tiny, email, events, user

T0 = parse_datetime("2026-11-02T09:00:00Z")


@pytest.fixture
def tctx(tiny_ctx: Context) -> Context:
    """The tiny timer diagrams; the shipped processes' own schedules (the yearly policy review) are paused
    so that every scheduled start a test sees is the tiny diagram's."""
    deploy_tiny(tiny_ctx.session, tiny_ctx.settings, tiny_ctx.clock, "tiny_timeout", "tiny_nudge", "tiny_wait",
                "tiny_yearly")
    tiny_ctx.session.execute(update(ProcessSchedule).where(ProcessSchedule.process_id != "tiny_yearly")
                             .values(active=False))
    tiny_ctx.session.flush()
    return tiny_ctx



def start(ctx: Context, process_id: str, key: str = "tomas", **data: object) -> ProcessInstance:
    return services.start_process(ctx, user(ctx.session, key), process_id, dict(data)).instance


def tasks(ctx: Context, instance: ProcessInstance) -> dict[str, str]:
    rows = ctx.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id))
    return {r.task_spec: r.state for r in rows}


# --------------------------------------------------------------------------- the clock

def test_timer_is_armed_on_the_engine_clock_not_the_real_time(tctx: Context) -> None:
    instance = start(tctx, "tiny_timeout")

    assert instance.wake_at == T0 + timedelta(days=3)


def test_timer_clock_is_the_real_time_outside_a_workflow_step() -> None:
    from SpiffWorkflow.bpmn.specs.event_definitions import timer

    from engine.core.timers import using_clock

    fixed = FixedClock("2001-01-01T00:00:00Z")
    with using_clock(fixed):
        assert timer.datetime.now(tz=fixed.now().tzinfo) == fixed.now()
    assert timer.datetime.now(tz=fixed.now().tzinfo).year >= 2025


# --------------------------------------------------------------------------- boundary timers

def test_interrupting_boundary_timer_cancels_the_task_and_takes_the_timeout_path(tctx: Context) -> None:
    instance = start(tctx, "tiny_timeout")
    task = tctx.session.scalar(select(HumanTask).where(HumanTask.instance_id == instance.id))
    assert task is not None

    early = at(tctx, T0 + timedelta(days=3, minutes=-1))
    assert early.timers_fired == 0
    assert tasks(tctx, instance) == {"ut_answer": "ready"}

    report = at(tctx, T0 + timedelta(days=3, seconds=1))

    assert (report.instances_woken, report.timers_fired) == (1, 1)
    assert tasks(tctx, instance) == {"ut_answer": "cancelled"}
    assert instance.status == "completed" and instance.end_event == "end_timed_out"
    assert instance.wake_at is None
    assert services.instance_data(tctx, instance.id)["timed_out"] is True
    assert [e.data["fired"] for e in events(tctx.session, instance.id, "timer")] == [["tm_deadline"]]


def test_interrupting_boundary_timer_never_fires_once_the_task_is_done(tctx: Context) -> None:
    instance = start(tctx, "tiny_timeout")
    task = tctx.session.scalar(select(HumanTask).where(HumanTask.instance_id == instance.id))
    assert task is not None
    tctx.clock.advance(days=1)  # type: ignore[attr-defined]
    services.complete_task(tctx, user(tctx.session, "tomas"), task.id, {})

    report = at(tctx, T0 + timedelta(days=10))

    assert report.timers_fired == 0
    assert instance.status == "completed" and instance.end_event == "end_answered"
    assert events(tctx.session, instance.id, "timer") == []


def test_non_interrupting_boundary_timer_adds_a_task_and_keeps_the_first(tctx: Context) -> None:
    instance = start(tctx, "tiny_nudge")

    at(tctx, T0 + timedelta(days=5, seconds=1))

    assert tasks(tctx, instance) == {"ut_draft": "ready", "ut_chase": "ready"}
    chase = tctx.session.scalar(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                        HumanTask.task_spec == "ut_chase"))
    assert chase is not None and chase.role == "aims_owner"
    told = tctx.session.scalars(select(Notification).where(Notification.task_id == chase.id)).all()
    assert {user_email(tctx, n.user_id) for n in told} == {email("priya")}
    # both branches finish the instance
    draft = next(t for t in services.open_tasks(tctx, instance.id) if t.task_spec == "ut_draft")
    services.complete_task(tctx, user(tctx.session, "tomas"), draft.id, {})
    assert instance.status == "running"
    services.complete_task(tctx, user(tctx.session, "priya"), chase.id, {})
    assert instance.status == "completed"


def test_escalation_of_a_task_only_one_person_may_claim_goes_to_their_manager(tctx: Context) -> None:
    instance = start(tctx, "tiny_nudge")
    at(tctx, T0 + timedelta(days=5, seconds=1))  # ut_chase: AIMS owner lane (only priya), due 2 days later

    at(tctx, T0 + timedelta(days=9, seconds=1))  # STD level 1: the line manager; nobody holds it yet

    chase = tctx.session.scalar(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                        HumanTask.task_spec == "ut_chase"))
    assert chase is not None and chase.assignee_id is None and chase.escalation_level == 1
    assert user_email(tctx, chase.escalated_to_id or 0) == "amara.okafor@lumenvale.example"  # priya's manager


def user_email(ctx: Context, user_id: int) -> str:
    from engine.core import directory

    return directory.email_of(ctx.session, user_id) or ""


# --------------------------------------------------------------------------- intermediate timer

def test_intermediate_timer_waits_then_moves_on(tctx: Context) -> None:
    instance = start(tctx, "tiny_wait", cooling_off="P2D")
    assert tasks(tctx, instance) == {}
    assert instance.wake_at == T0 + timedelta(days=2)

    assert at(tctx, T0 + timedelta(days=1)).timers_fired == 0
    assert tasks(tctx, instance) == {}

    at(tctx, T0 + timedelta(days=2, seconds=1))

    assert tasks(tctx, instance) == {"ut_confirm": "ready"}
    assert instance.wake_at is None


def test_timer_round_trips_through_the_database(tctx: Context) -> None:
    instance = start(tctx, "tiny_wait", cooling_off="PT6H")
    runtime.clear_caches()  # the worker restores the stored state, not a cached workflow

    at(tctx, T0 + timedelta(hours=6, seconds=1))

    assert tasks(tctx, instance) == {"ut_confirm": "ready"}


# --------------------------------------------------------------------------- timer start events

def schedule(ctx: Context, process_id: str = "tiny_yearly") -> ProcessSchedule:
    found = ctx.session.scalar(select(ProcessSchedule).where(ProcessSchedule.process_id == process_id))
    assert found is not None
    return found


def yearly_instances(ctx: Context) -> list[ProcessInstance]:
    return list(ctx.session.scalars(select(ProcessInstance).where(ProcessInstance.process_id == "tiny_yearly")
                                    .order_by(ProcessInstance.id)))


def test_cyclic_timer_start_event_is_scheduled_on_deploy(tctx: Context) -> None:
    s = schedule(tctx)

    assert (s.start_event, s.next_at, s.interval, s.remaining, s.active) == (
        "start_yearly", parse_datetime("2026-12-01T08:00:00Z"), "P1Y", 3, True)
    assert yearly_instances(tctx) == []


def test_cyclic_timer_start_event_starts_one_instance_per_period(tctx: Context) -> None:
    assert at(tctx, parse_datetime("2026-12-01T07:59:00Z")).schedules_started == 0

    started = [at(tctx, parse_datetime(f"{year}-12-01T08:01:00Z")).schedules_started for year in (2026, 2027, 2028)]
    assert at(tctx, parse_datetime("2030-01-01T00:00:00Z")).schedules_started == 0

    assert started == [1, 1, 1]
    instances = yearly_instances(tctx)
    assert [i.started_at.year for i in instances] == [2026, 2027, 2028]
    assert all(tasks(tctx, i) == {"ut_review_policy": "ready"} for i in instances)
    assert all(i.started_by_id is None and i.wake_at is None for i in instances)  # not waiting on its start timer
    s = schedule(tctx)
    assert (s.remaining, s.active, s.next_at) == (0, False, None)
    assert [e.data["due_at"] for e in yearly_events(tctx)] == [
        "2026-12-01T08:00:00Z", "2027-12-01T08:00:00Z", "2028-12-01T08:00:00Z"]


def yearly_events(ctx: Context) -> list:  # type: ignore[type-arg]
    from engine.core.models import AuditEvent

    return list(ctx.session.scalars(select(AuditEvent).where(AuditEvent.action == "scheduled_start")
                                    .order_by(AuditEvent.seq)))


def test_cyclic_timer_start_event_after_a_long_outage_starts_once(tctx: Context) -> None:
    report = at(tctx, parse_datetime("2028-01-15T00:00:00Z"))  # 2026-12-01 and 2027-12-01 both passed

    assert report.schedules_started == 1
    assert len(yearly_instances(tctx)) == 1
    assert yearly_events(tctx)[-1].data["skipped"] == 1
    s = schedule(tctx)
    assert (s.next_at, s.remaining) == (parse_datetime("2028-12-01T08:00:00Z"), 1)


def test_process_with_a_timer_start_event_started_by_hand_runs_at_once(tctx: Context) -> None:
    instance = start(tctx, "tiny_yearly", key="priya")

    assert tasks(tctx, instance) == {"ut_review_policy": "ready"}
    assert instance.wake_at is None
    assert schedule(tctx).next_at == parse_datetime("2026-12-01T08:00:00Z")  # the cadence is untouched


def test_redeploying_the_same_timer_keeps_the_schedule(tctx: Context) -> None:
    tctx.clock.advance(days=100)  # type: ignore[attr-defined]
    changed = (DATA / "tiny_yearly.bpmn").read_bytes().replace(b"Review the AI policy", b"Review the policy")
    definitions.deploy(tctx.session, [definitions.SourceFile("tiny_yearly.bpmn", changed)], tctx.settings, tctx.clock)

    assert schedule(tctx).next_at == parse_datetime("2026-12-01T08:00:00Z")


def test_a_new_cycle_replaces_the_schedule_and_no_timer_retires_it(tctx: Context) -> None:
    source = (DATA / "tiny_yearly.bpmn").read_bytes()
    monthly = source.replace(b'"R3/2026-12-01T08:00:00Z/P1Y"', b'"R/P1M"')
    definitions.deploy(tctx.session, [definitions.SourceFile("tiny_yearly.bpmn", monthly)], tctx.settings, tctx.clock)
    s = schedule(tctx)
    assert (s.next_at, s.interval, s.remaining) == (parse_datetime("2026-12-02T09:00:00Z"), "P1M", -1)

    plain = source.replace(b'<bpmn:timerEventDefinition id="ted_yearly">', b"<!--").replace(
        b"</bpmn:timerEventDefinition>", b"-->")
    definitions.deploy(tctx.session, [definitions.SourceFile("tiny_yearly.bpmn", plain)], tctx.settings, tctx.clock)
    assert schedule(tctx).active is False
    assert at(tctx, parse_datetime("2027-06-01T00:00:00Z")).schedules_started == 0


@pytest.mark.parametrize(("expression", "message"), [
    ("cycle_var", "must be ISO 8601 such as R/P1Y"),
    ('"R/P1Q"', "is not an ISO 8601 duration"),
    ("R/P1Q", "is not an ISO 8601 duration"),
    ('"R0/P1D"', "never fires"),
    ('"every year"', "is not an ISO 8601 repeating interval"),
    ("R2/P1D/2027-03-01T00:00:00Z", "must read R[n]/PERIOD or R[n]/START/PERIOD"),
], ids=["variable", "bad-period", "bad-period-unquoted", "r0", "prose", "until-an-end"])
def test_lint_refuses_a_timer_start_event_it_cannot_schedule(tctx: Context, expression: str, message: str) -> None:
    source = (DATA / "tiny_yearly.bpmn").read_bytes().replace(
        b'"R3/2026-12-01T08:00:00Z/P1Y"', expression.encode())

    with pytest.raises(DefinitionError) as info:
        definitions.parse_and_lint([definitions.SourceFile("tiny_yearly.bpmn", source)], tctx.settings)

    assert "start_yearly" in str(info.value) and message in str(info.value)
    assert len([p for p in info.value.problems if p.is_error]) == 1  # said once, by the timer rule or the schedule's


@pytest.mark.parametrize(("expression", "first", "interval", "count"), [
    ("R3/2026-12-01T08:00:00Z/P1Y", "2026-12-01T08:00:00Z", "P1Y", 3),
    ("R/P1M", "2026-12-02T09:00:00Z", "P1M", -1),
    ("2027-01-01T08:00:00+01:00", "2027-01-01T07:00:00Z", None, 1),
], ids=["cycle-with-start", "endless-cycle", "date-with-offset"])
def test_timer_start_event_takes_unquoted_iso_8601(tctx: Context, expression: str, first: str,
                                                   interval: str | None, count: int) -> None:
    source = (DATA / "tiny_yearly.bpmn").read_bytes().replace(b'"R3/2026-12-01T08:00:00Z/P1Y"', expression.encode())
    if "R" not in expression:
        source = source.replace(b"timeCycle", b"timeDate")
    definitions.deploy(tctx.session, [definitions.SourceFile("tiny_yearly.bpmn", source)], tctx.settings, tctx.clock)

    s = schedule(tctx)
    assert (s.next_at, s.interval, s.remaining) == (parse_datetime(first), interval, count)
