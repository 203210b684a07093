"""Messages between instances and timers on the engine's clock (``engine/events.py`` and the
``send_message`` / ``deliver_messages`` / ``wake_instance`` use cases), on tiny diagrams."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.core import services
from engine.core.clock import FixedClock, isoformat
from engine.core.errors import ConflictError, InvalidInput, NotFound
from engine.core.models import ProcessInstance, ProcessMessage
from engine.core.runtime import Context, clear_caches
from engine.core.settings import EngineSettings

from .helpers import deploy_tiny, events, user


@pytest.fixture
def ectx(session: Session, clock: FixedClock, tiny_settings: EngineSettings) -> Context:
    deploy_tiny(session, tiny_settings, clock, "tiny_parent", "tiny_child", "tiny_timer")
    session.flush()
    return Context(session, clock, tiny_settings)


def start_parent(ctx: Context, prepare_first: bool = False) -> tuple[ProcessInstance, ProcessInstance]:
    outcome = services.start_process(ctx, user(ctx.session, "tomas"), "tiny_parent",
                                     {"question": "why?", "prepare_first": prepare_first})
    [child] = outcome.started
    assert child.parent_instance_id == outcome.instance.id
    return outcome.instance, child


def answer(ctx: Context, child: ProcessInstance, text: str = "because") -> services.Outcome:
    [task] = services.open_tasks(ctx, child.id)
    return services.complete_task(ctx, user(ctx.session, "lucas"), task.id, {"answer": text})


def messages(session: Session, target: ProcessInstance) -> list[ProcessMessage]:
    return list(session.scalars(select(ProcessMessage).where(ProcessMessage.target_instance_id == target.id)))


def test_message_thrown_by_a_child_reaches_its_waiting_parent(ectx: Context) -> None:
    parent, child = start_parent(ectx)
    assert services.open_tasks(ectx, parent.id) == []  # waiting at the catch event
    outcome = answer(ectx, child)
    assert child.status == "completed"
    [after] = services.open_tasks(ectx, parent.id)
    assert after.task_spec == "ut_after" and after in outcome.new_tasks
    assert services.instance_data(ectx, parent.id)["child_result"] == {"question": "why?", "answer": "because"}
    [message] = messages(ectx.session, parent)
    assert (message.name, message.status, message.source_instance_id) == ("msg_child_done", "delivered", child.id)
    assert [e.data["message"] for e in events(ectx.session, parent.id, "message_delivered")] == ["msg_child_done"]


def test_message_that_comes_early_waits_until_the_parent_catches_it(ectx: Context) -> None:
    parent, child = start_parent(ectx, prepare_first=True)
    answer(ectx, child, "early")
    [message] = messages(ectx.session, parent)
    assert message.status == "pending"
    [prepare] = services.open_tasks(ectx, parent.id)
    clear_caches()  # the parent is restored from the database
    outcome = services.complete_task(ectx, user(ectx.session, "tomas"), prepare.id, {})
    assert message.status == "delivered"
    assert [t.task_spec for t in outcome.new_tasks] == ["ut_after"]
    assert services.instance_data(ectx, parent.id)["child_result"]["answer"] == "early"


def test_message_for_an_ended_instance_is_undeliverable(ectx: Context) -> None:
    parent, child = start_parent(ectx, prepare_first=True)
    services.cancel_instance(ectx, user(ectx.session, "priya"), parent.id, "no longer needed")
    answer(ectx, child)
    [message] = messages(ectx.session, parent)
    assert message.status == "undeliverable"


def test_send_message_from_outside_is_delivered_or_refused(ectx: Context) -> None:
    parent, _child = start_parent(ectx)
    outcome = services.send_message(ectx, user(ectx.session, "priya"), parent.id, "msg_child_done",
                                    {"answer": "posted"})
    assert [t.task_spec for t in outcome.new_tasks] == ["ut_after"]
    assert events(ectx.session, parent.id, "message_posted")[0].actor == user(ectx.session, "priya").email
    with pytest.raises(NotFound):
        services.send_message(ectx, None, 999_999, "msg_child_done")
    with pytest.raises(InvalidInput):
        services.send_message(ectx, None, parent.id, " ")
    parent.status = "completed"
    with pytest.raises(ConflictError, match="completed"):
        services.send_message(ectx, None, parent.id, "msg_child_done")


def test_message_nobody_waits_for_stays_pending(ectx: Context) -> None:
    parent, _child = start_parent(ectx)
    services.send_message(ectx, None, parent.id, "msg_something_else", {})
    assert [m.status for m in messages(ectx.session, parent) if m.name == "msg_something_else"] == ["pending"]
    assert services.open_tasks(ectx, parent.id) == []


def test_timer_fires_by_the_engine_clock_not_the_host_clock(ectx: Context, clock: FixedClock) -> None:
    # one day after the test clock, which is before the host's real date: SpiffWorkflow alone would fire it now
    check_at = isoformat(clock.now() + timedelta(days=1))
    instance = services.start_process(ectx, user(ectx.session, "tomas"), "tiny_timer", {"check_at": check_at}).instance
    assert services.open_tasks(ectx, instance.id) == []
    assert instance.wake_at == clock.now() + timedelta(days=1)
    assert instance.id not in services.due_instances(ectx)
    assert services.wake_instance(ectx, instance.id).new_tasks == []
    clock.advance(days=1, seconds=1)
    assert instance.id in services.due_instances(ectx)
    clear_caches()
    outcome = services.wake_instance(ectx, instance.id)
    assert [t.task_spec for t in outcome.new_tasks] == ["ut_check"]
    assert instance.wake_at is None
    assert events(ectx.session, instance.id, "timer")
