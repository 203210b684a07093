"""Messages correlated by key to any waiting instance, and signals broadcast to every waiting one
(``engine/core/events.py``, ``engine/core/messaging.py``), on tiny diagrams: an order waiting for its
payment (``tiny_payment``) paid by an unrelated instance (``tiny_payer``); a quote waited for behind an
event-based gateway with a timer, correlated through ``spiffworkflow:processVariableCorrelation``
(``tiny_quote``); a policy withdrawal signalled to every review (``tiny_signal_throw`` /
``tiny_signal_wait``). Time moves on the FixedClock and the worker pass delivers what waited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from engine.core import events as events_module
from engine.core import messaging, runtime, services, task_guard
from engine.core.clock import parse_datetime
from engine.core.errors import ConflictError, Forbidden, InvalidInput, NotFound, WorkflowError
from engine.core.models import EventSubscription, ProcessInstance, ProcessMessage
from engine.core.runtime import Context

from .helpers import at, deploy_tiny, events, user

T0 = parse_datetime("2026-11-02T09:00:00Z")


@pytest.fixture
def cctx(tiny_ctx: Context) -> Context:
    deploy_tiny(tiny_ctx.session, tiny_ctx.settings, tiny_ctx.clock, "tiny_payment", "tiny_payer", "tiny_quote",
                "tiny_signal_wait", "tiny_signal_throw", "tiny_parent", "tiny_child", "tiny_recall")
    tiny_ctx.session.flush()
    return tiny_ctx


def start(ctx: Context, process_id: str, key: str = "tomas", **data: object) -> ProcessInstance:
    return services.start_process(ctx, user(ctx.session, key), process_id, dict(data)).instance


def open_specs(ctx: Context, instance: ProcessInstance) -> list[str]:
    return sorted(t.task_spec for t in services.open_tasks(ctx, instance.id))


def pay(ctx: Context, order_id: str, amount: int = 120) -> services.Outcome:
    payer = start(ctx, "tiny_payer", order_id=order_id)
    [task] = services.open_tasks(ctx, payer.id)
    return services.complete_task(ctx, user(ctx.session, "tomas"), task.id, {"amount": amount})


def messages(session: Session, name: str) -> list[ProcessMessage]:
    return list(session.scalars(select(ProcessMessage).where(ProcessMessage.name == name).order_by(ProcessMessage.id)))



# --------------------------------------------------------------------------- messages by key

def test_message_reaches_the_instance_waiting_with_its_key_though_another_started_the_thrower(
        cctx: Context) -> None:
    first, second = start(cctx, "tiny_payment", order_id="A-1"), start(cctx, "tiny_payment", order_id="B-2")
    subs = cctx.session.scalars(select(EventSubscription).order_by(EventSubscription.instance_id)).all()
    assert [(s.instance_id, s.name, s.correlation, s.element) for s in subs] == [
        (first.id, "msg_paid", '{"order_id":"A-1"}', "catch_paid"),
        (second.id, "msg_paid", '{"order_id":"B-2"}', "catch_paid")]
    runtime.clear_caches()  # the receivers are restored from the database

    outcome = pay(cctx, "B-2")

    assert [(t.instance_id, t.task_spec) for t in outcome.new_tasks] == [(second.id, "ut_ship")]
    assert open_specs(cctx, first) == [] and open_specs(cctx, second) == ["ut_ship"]
    assert services.instance_data(cctx, second.id)["payment"] == {"order_id": "B-2", "amount": 120}
    [message] = messages(cctx.session, "msg_paid")
    assert (message.target_instance_id, message.status, message.correlation) == (
        second.id, "delivered", '{"order_id":"B-2"}')
    [delivered] = events(cctx.session, second.id, "message_delivered")
    assert delivered.data["correlation"] == "order_id B-2"
    assert second.waits_for is None  # no longer waiting: its subscription is gone
    assert cctx.session.scalars(select(EventSubscription.instance_id)).all() == [first.id]


def test_message_that_comes_before_anyone_waits_for_it_is_kept_and_delivered_later(cctx: Context) -> None:
    pay(cctx, "C-3")
    [message] = messages(cctx.session, "msg_paid")
    assert (message.target_instance_id, message.status) == (None, "pending")
    [waiting] = [e for e in events(cctx.session, message.source_instance_id or 0, "message_waiting")]
    assert waiting.data["correlation"] == "order_id C-3" and "the first that does gets it" in waiting.data["reason"]
    other = start(cctx, "tiny_payment", order_id="D-4")
    assert message.status == "pending" and open_specs(cctx, other) == []

    order = start(cctx, "tiny_payment", order_id="C-3")

    assert open_specs(cctx, order) == ["ut_ship"]
    assert (message.target_instance_id, message.status) == (order.id, "delivered")


def test_message_matching_two_waiting_instances_fails_the_thrower_and_changes_nothing(cctx: Context) -> None:
    first, second = start(cctx, "tiny_payment", order_id="E-5"), start(cctx, "tiny_payment", order_id="E-5")
    payer = start(cctx, "tiny_payer", order_id="E-5")
    [task] = services.open_tasks(cctx, payer.id)

    with pytest.raises(WorkflowError) as info, cctx.session.begin_nested():
        services.complete_task(cctx, user(cctx.session, "tomas"), task.id, {"amount": 1})

    assert info.value.element == "end_paid"
    assert (f"the message msg_paid with order_id E-5 matches 2 waiting processes (#{first.id}, #{second.id}); "
            "a message goes to one process") in info.value.message
    cctx.session.expire_all()
    assert open_specs(cctx, payer) == ["ut_pay"] and messages(cctx.session, "msg_paid") == []


def test_uncorrelated_message_without_a_parent_is_kept_as_undeliverable_and_audited(cctx: Context) -> None:
    child = start(cctx, "tiny_child", key="lucas", question="who?")  # started by hand: no parent to report to
    [task] = services.open_tasks(cctx, child.id)

    services.complete_task(cctx, user(cctx.session, "lucas"), task.id, {"answer": "nobody"})

    [message] = messages(cctx.session, "msg_child_done")
    assert (message.status, message.target_instance_id, message.payload) == (
        "undeliverable", None, {"question": "who?", "answer": "nobody"})
    [audit] = events(cctx.session, child.id, "message_undeliverable")
    assert "declare a correlation property" in audit.data["reason"]


def test_a_message_left_for_an_instance_that_ends_becomes_undeliverable(cctx: Context) -> None:
    parent = start(cctx, "tiny_parent", question="why?", prepare_first=True)
    services.send_message(cctx, user(cctx.session, "priya"), parent.id, "msg_unheard_of", {})

    services.cancel_instance(cctx, user(cctx.session, "priya"), parent.id, "no longer needed")

    [message] = messages(cctx.session, "msg_unheard_of")
    assert message.status == "undeliverable"
    assert events(cctx.session, parent.id, "message_undeliverable")[0].data["reason"] == "the process has cancelled"


# --------------------------------------------------------------------------- correlating from outside

def test_correlate_message_from_outside_reaches_the_one_waiting_instance(cctx: Context) -> None:
    order = start(cctx, "tiny_payment", order_id="F-6")
    start(cctx, "tiny_payment", order_id="G-7")

    outcome = messaging.correlate_message(cctx, user(cctx.session, "priya"), "msg_paid", {"order_id": "F-6"},
                                          {"amount": 99})

    assert [t.task_spec for t in outcome.new_tasks] == ["ut_ship"] and outcome.instance.id == order.id
    assert services.instance_data(cctx, order.id)["payment"] == {"order_id": "F-6", "amount": 99}
    posted = events(cctx.session, order.id, "message_posted")[0]
    assert posted.actor == user(cctx.session, "priya").email and posted.data["correlation"] == {"order_id": "F-6"}


def test_correlate_message_refuses_none_or_several_waiting_as_camunda_does(cctx: Context) -> None:
    priya = user(cctx.session, "priya")
    with pytest.raises(NotFound, match="no running process waits for the message msg_paid with order_id H-8"):
        messaging.correlate_message(cctx, priya, "msg_paid", {"order_id": "H-8"})
    start(cctx, "tiny_payment", order_id="H-8")
    start(cctx, "tiny_payment", order_id="H-8")
    with pytest.raises(ConflictError, match="matches 2 waiting processes"):
        messaging.correlate_message(cctx, priya, "msg_paid", {"order_id": "H-8"})
    with pytest.raises(Forbidden, match="may not send messages or signals"):
        messaging.correlate_message(cctx, user(cctx.session, "tomas"), "msg_paid", {"order_id": "H-8"})
    with pytest.raises(InvalidInput):
        messaging.correlate_message(cctx, priya, " ", {"order_id": "H-8"})
    assert messages(cctx.session, "msg_paid") == []  # nothing stored


def test_message_posted_by_number_to_a_correlated_catch_must_carry_its_key(cctx: Context) -> None:
    order = start(cctx, "tiny_payment", order_id="I-9")

    with pytest.raises(InvalidInput, match="must carry its correlation property order_id"), \
            cctx.session.begin_nested():  # the caller rolls back
        services.send_message(cctx, user(cctx.session, "priya"), order.id, "msg_paid", {"amount": 5})
    outcome = services.send_message(cctx, user(cctx.session, "priya"), order.id, "msg_paid",
                                    {"order_id": "I-9", "amount": 5})
    assert [t.task_spec for t in outcome.new_tasks] == ["ut_ship"]


# --------------------------------------------------------------------------- behind an event-based gateway

def test_correlated_message_behind_a_gateway_wins_and_the_other_instance_times_out(cctx: Context) -> None:
    answered = start(cctx, "tiny_quote", request={"ref": "Q-1", "supplier": "Acme"})
    silent = start(cctx, "tiny_quote", request={"ref": "Q-2", "supplier": "Globex"})
    assert answered.wake_at == silent.wake_at == T0 + timedelta(days=5)
    cctx.clock.advance(days=2)  # type: ignore[attr-defined]

    messaging.correlate_message(cctx, None, "msg_quote", {"request_ref": "Q-1"}, {"price": 1000})
    report = at(cctx, T0 + timedelta(days=5, seconds=1))

    assert (report.instances_woken, report.timers_fired) == (1, 1)
    assert open_specs(cctx, answered) == ["ut_compare"] and answered.wake_at is None
    assert services.instance_data(cctx, answered.id)["quote"] == {"request_ref": "Q-1", "price": 1000}
    assert open_specs(cctx, silent) == ["ut_ask_again"]
    with pytest.raises(NotFound):  # the timer won: nothing waits for Q-2 any more
        messaging.correlate_message(cctx, None, "msg_quote", {"request_ref": "Q-2"}, {"price": 900})


# --------------------------------------------------------------------------- signals

def withdraw(ctx: Context, policy: str = "POL-001") -> services.Outcome:
    thrower = start(ctx, "tiny_signal_throw", key="priya", policy=policy)
    [task] = services.open_tasks(ctx, thrower.id)
    return services.complete_task(ctx, user(ctx.session, "priya"), task.id, {"reason": "superseded"})


def test_signal_reaches_every_waiting_instance(cctx: Context) -> None:
    reviews = [start(cctx, "tiny_signal_wait") for _ in range(2)]
    done = start(cctx, "tiny_signal_wait")
    [task] = services.open_tasks(cctx, done.id)
    services.complete_task(cctx, user(cctx.session, "tomas"), task.id, {})  # no longer waiting
    runtime.clear_caches()

    outcome = withdraw(cctx)

    assert sorted((t.instance_id, t.task_spec) for t in outcome.new_tasks) == [
        (r.id, "ut_archive") for r in reviews]
    for review in reviews:
        assert open_specs(cctx, review) == ["ut_archive"]
        assert services.instance_data(cctx, review.id)["withdrawal"] == {"policy": "POL-001", "reason": "superseded"}
        assert [e.data["signal"] for e in events(cctx.session, review.id, "signal_delivered")] == [
            "sig_policy_withdrawn"]
    [sent] = [e for e in events(cctx.session, outcome.instance.id, "signal_sent")]
    assert sent.data["receivers"] == [r.id for r in reviews]
    assert done.status == "completed" and done.end_event == "end_reviewed"


def test_signal_nobody_waits_for_is_audited_with_no_receivers(cctx: Context) -> None:
    outcome = withdraw(cctx)

    [sent] = events(cctx.session, outcome.instance.id, "signal_sent")
    assert sent.data["receivers"] == []
    assert outcome.instance.status == "completed"


def test_broadcast_signal_from_outside(cctx: Context) -> None:
    review = start(cctx, "tiny_signal_wait")

    result = messaging.broadcast_signal(cctx, user(cctx.session, "priya"), "sig_policy_withdrawn",
                                        {"policy": "POL-002"})

    assert result.receivers == [review.id] and [t.task_spec for t in result.new_tasks] == ["ut_archive"]
    assert messaging.broadcast_signal(cctx, None, "sig_policy_withdrawn").receivers == []


# --------------------------------------------------------------------------- boundary events

def test_boundary_events_take_a_correlated_message_and_a_signal(cctx: Context) -> None:
    """A non-interrupting signal boundary adds a branch beside the task; an interrupting message
    boundary, correlated without a correlation key element (the property alone), cancels the task."""
    recall = start(cctx, "tiny_recall", order_id="K-11")
    kept = start(cctx, "tiny_recall", order_id="K-12")

    withdraw(cctx)
    assert open_specs(cctx, recall) == open_specs(cctx, kept) == ["ut_note", "ut_prepare"]
    messaging.correlate_message(cctx, None, "msg_recall", {"order_id": "K-11"}, {"why": "duplicate"})

    assert open_specs(cctx, recall) == ["ut_note", "ut_refund"]
    assert services.instance_data(cctx, recall.id)["recall"] == {"order_id": "K-11", "why": "duplicate"}
    assert open_specs(cctx, kept) == ["ut_note", "ut_prepare"]
    [task] = [t for t in services.open_tasks(cctx, kept.id) if t.task_spec == "ut_prepare"]
    services.complete_task(cctx, user(cctx.session, "tomas"), task.id, {})
    assert cctx.session.scalars(select(EventSubscription).where(EventSubscription.instance_id == kept.id)).all() == []


# --------------------------------------------------------------------------- busy receivers: the worker

def test_message_for_a_busy_receiver_waits_for_the_worker_pass(cctx: Context,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    order = start(cctx, "tiny_payment", order_id="J-10")
    real = task_guard.lock_for_delivery
    monkeypatch.setattr(task_guard, "lock_for_delivery",  # another transaction holds the order's row
                        lambda session, instance_id, *, wait: None if not wait else real(session, instance_id,
                                                                                          wait=wait))
    pay(cctx, "J-10")
    [message] = messages(cctx.session, "msg_paid")
    assert (message.target_instance_id, message.status) == (order.id, "pending")
    assert open_specs(cctx, order) == []
    monkeypatch.undo()

    report = at(cctx, T0 + timedelta(minutes=1))

    assert report.messages_delivered == 1
    assert message.status == "delivered" and open_specs(cctx, order) == ["ut_ship"]


def test_signal_for_a_receiver_that_moved_on_meanwhile_is_missed(cctx: Context,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    review = start(cctx, "tiny_signal_wait")
    monkeypatch.setattr(task_guard, "lock_for_delivery", lambda session, instance_id, *, wait: None)
    withdraw(cctx)
    monkeypatch.undo()
    [task] = services.open_tasks(cctx, review.id)
    services.complete_task(cctx, user(cctx.session, "tomas"), task.id, {})  # the review finished first

    report = at(cctx, T0 + timedelta(minutes=1))

    assert report.messages_delivered == 0
    [signal] = messages(cctx.session, "sig_policy_withdrawn")
    assert signal.status == "missed" and review.end_event == "end_reviewed"


def test_worker_learns_what_instances_saved_before_subscriptions_wait_for(cctx: Context,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Migration 0011 marks the running instances "?"; the worker restores each once and writes its rows."""
    order = start(cctx, "tiny_payment", order_id="L-13")
    cctx.session.execute(delete(EventSubscription))
    cctx.session.execute(update(ProcessInstance).values(waits_for=events_module.UNKNOWN)
                         .where(ProcessInstance.status == "running"))
    cctx.session.expire_all()
    monkeypatch.setattr(messaging, "_UNKNOWN_LEFT", True)
    with pytest.raises(NotFound):
        messaging.correlate_message(cctx, None, "msg_paid", {"order_id": "L-13"})

    at(cctx, T0 + timedelta(minutes=1))

    assert order.waits_for is not None and order.waits_for != events_module.UNKNOWN
    outcome = messaging.correlate_message(cctx, None, "msg_paid", {"order_id": "L-13"})
    assert [t.task_spec for t in outcome.new_tasks] == ["ut_ship"]
