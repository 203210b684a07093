"""An event-based gateway waiting for a message and two timers, driven by worker passes on the
FixedClock: the first event wins and the others are dropped with the gateway. Each timer keeps its
own due time (the earlier one wins even when drawn second); a message that comes first cancels the
timers, also when a timer is already past due but the worker has not fired it yet."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.core import runtime, services
from engine.core.clock import parse_datetime
from engine.core.models import ProcessInstance
from engine.core.runtime import Context

from .helpers import at, deploy_tiny, events, user

T0 = parse_datetime("2026-11-02T09:00:00Z")


@pytest.fixture
def gctx(tiny_ctx: Context) -> Context:
    deploy_tiny(tiny_ctx.session, tiny_ctx.settings, tiny_ctx.clock, "tiny_gateway")
    tiny_ctx.session.flush()
    return tiny_ctx



def start(ctx: Context, chase_after: str = "P7D") -> ProcessInstance:
    return services.start_process(ctx, user(ctx.session, "tomas"), "tiny_gateway",
                                  {"chase_after": chase_after}).instance


def open_specs(ctx: Context, instance: ProcessInstance) -> list[str]:
    return sorted(t.task_spec for t in services.open_tasks(ctx, instance.id))


def reply(ctx: Context, instance: ProcessInstance, text: str = "yes") -> services.Outcome:
    return services.send_message(ctx, user(ctx.session, "priya"), instance.id, "msg_reply", {"text": text})


def test_gateway_timer_sets_the_wake_time_of_the_earliest_timer(gctx: Context) -> None:
    instance = start(gctx)

    assert open_specs(gctx, instance) == []
    assert instance.wake_at == T0 + timedelta(days=7)  # tm_chase (P7D), drawn after tm_give_up (P30D)


def test_gateway_timer_wins_when_no_message_comes(gctx: Context) -> None:
    instance = start(gctx)

    assert at(gctx, T0 + timedelta(days=7, seconds=-1)).timers_fired == 0
    runtime.clear_caches()
    report = at(gctx, T0 + timedelta(days=7, seconds=1))

    assert (report.instances_woken, report.timers_fired) == (1, 1)
    assert open_specs(gctx, instance) == ["ut_chase"]
    assert [e.data["fired"] for e in events(gctx.session, instance.id, "timer")] == [["tm_chase"]]
    assert instance.wake_at is None  # the 30-day timer went with the gateway
    assert at(gctx, T0 + timedelta(days=31)).timers_fired == 0

    late = reply(gctx, instance)  # too late: the gateway is gone, the message waits and changes nothing
    assert late.new_tasks == [] and open_specs(gctx, instance) == ["ut_chase"]


def test_gateway_message_wins_and_cancels_the_timers(gctx: Context) -> None:
    instance = start(gctx)
    gctx.clock.advance(days=3)  # type: ignore[attr-defined]

    outcome = reply(gctx, instance, "on its way")

    assert [t.task_spec for t in outcome.new_tasks] == ["ut_read_reply"]
    assert services.instance_data(gctx, instance.id)["reply"] == {"text": "on its way"}
    assert instance.wake_at is None
    assert at(gctx, T0 + timedelta(days=40)).timers_fired == 0
    assert open_specs(gctx, instance) == ["ut_read_reply"]


def test_gateway_message_wins_over_a_due_timer_the_worker_has_not_fired(gctx: Context) -> None:
    instance = start(gctx)
    gctx.clock.advance(days=8)  # type: ignore[attr-defined]  past tm_chase, no worker pass yet
    runtime.clear_caches()

    outcome = reply(gctx, instance)

    assert [t.task_spec for t in outcome.new_tasks] == ["ut_read_reply"]
    assert open_specs(gctx, instance) == ["ut_read_reply"]
    assert at(gctx, T0 + timedelta(days=9)).timers_fired == 0
    assert events(gctx.session, instance.id, "timer") == []


def test_gateway_with_only_the_later_timer_due_takes_the_later_timer(gctx: Context) -> None:
    instance = start(gctx, chase_after="P60D")
    assert instance.wake_at == T0 + timedelta(days=30)

    at(gctx, T0 + timedelta(days=30, seconds=1))

    assert instance.status == "completed" and instance.end_event == "end_given_up"
    assert [e.data["fired"] for e in events(gctx.session, instance.id, "timer")] == [["tm_give_up"]]


def test_message_after_the_timer_won_waits_then_is_undeliverable_once_the_instance_ends(gctx: Context) -> None:
    instance = start(gctx)
    at(gctx, T0 + timedelta(days=7, seconds=1))
    reply(gctx, instance)
    [chase] = services.open_tasks(gctx, instance.id)

    services.complete_task(gctx, user(gctx.session, "tomas"), chase.id, {})

    assert instance.status == "completed"
    [late] = events(gctx.session, instance.id, "message_undeliverable")
    assert late.data["message"] == "msg_reply" and late.data["reason"] == "the process has completed"
