"""Correlation under races, each side on its own connection and committing, as a web request and the
worker would: a message and a timer racing for one event-based gateway (exactly one wins, whichever
holds the instance's row lock first), and a message thrown at an instance another transaction holds
(the thrower does not wait: the message is delivered by the worker's next pass).

PostgreSQL only: SQLite's writers are serialised (``BEGIN IMMEDIATE``), so nothing races there; the
same behaviours without threads are in ``test_correlation.py`` and ``test_event_gateway.py``, which run
on both databases.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from engine.core import audit_trail, messaging, services, task_guard, timers, worker
from engine.core.clock import FixedClock, parse_datetime
from engine.core.errors import NotFound
from engine.core.models import AuditEvent, HumanTask, ProcessInstance, ProcessMessage
from engine.core.runtime import Context
from engine.core.settings import EngineSettings
from engine.core.uow import transaction

from .helpers import deploy_tiny, user

T0 = parse_datetime("2026-11-02T09:00:00Z")


@pytest.fixture
def race_db(fresh_db: sessionmaker[Session], tiny_settings: EngineSettings) -> Iterator[sessionmaker[Session]]:
    if fresh_db.kw["bind"].dialect.name == "sqlite":
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE): nothing races")
    with fresh_db() as s:
        deploy_tiny(s, tiny_settings, FixedClock(T0), "tiny_quote", "tiny_payment", "tiny_payer")
        s.commit()
    yield fresh_db


def committed(factory: sessionmaker[Session], settings: EngineSettings, at: Any,
              work: Callable[[Context], Any]) -> Any:
    with factory() as s:
        clock = FixedClock(at)
        with transaction(s, clock):
            return work(Context(s, clock, settings))


def start_quote(factory: sessionmaker[Session], settings: EngineSettings) -> int:
    return int(committed(factory, settings, T0, lambda ctx: services.start_process(
        ctx, user(ctx.session, "tomas"), "tiny_quote", {"request": {"ref": "Q-1"}}).instance.id))


def wait_until_blocked(factory: sessionmaker[Session], timeout: float = 20) -> None:
    """Return once some other connection waits for a row lock (PostgreSQL's pg_stat_activity)."""
    deadline = time.monotonic() + timeout
    with factory() as s:
        while time.monotonic() < deadline:
            waiting = s.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                    "AND datname = current_database()"))
            s.rollback()
            if waiting:
                return
            time.sleep(0.01)
    raise AssertionError("nobody waited for the lock")


def in_thread(work: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(work())
        except BaseException as exc:  # examined by the test
            result.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def branch(factory: sessionmaker[Session], instance_id: int) -> list[str]:
    with factory() as s:
        return sorted(s.scalars(select(HumanTask.task_spec).where(HumanTask.instance_id == instance_id)))


def check_audit(factory: sessionmaker[Session]) -> None:
    with factory() as s:
        verified = audit_trail.verify(s)
        assert verified.ok, verified.problem


def test_timer_that_holds_the_gateway_first_wins_and_the_message_finds_nobody_waiting(
        race_db: sessionmaker[Session], tiny_settings: EngineSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    instance_id = start_quote(race_db, tiny_settings)
    locked, go = threading.Event(), threading.Event()
    real_due = timers.due_timers

    def due_then_pause(workflow: Any, now: Any) -> list[str]:
        locked.set()  # the worker holds the instance's row (FOR UPDATE SKIP LOCKED)
        assert go.wait(30)
        return real_due(workflow, now)

    monkeypatch.setattr(timers, "due_timers", due_then_pause)
    day6 = T0 + timedelta(days=6)

    def worker_pass() -> worker.PassReport:
        with race_db() as s:
            return worker.run_pass(s, FixedClock(day6), tiny_settings)

    timer_thread, timer_result = in_thread(worker_pass)
    assert locked.wait(30)
    message_thread, message_result = in_thread(lambda: committed(
        race_db, tiny_settings, day6, lambda ctx: messaging.correlate_message(
            ctx, None, "msg_quote", {"request_ref": "Q-1"}, {"price": 1})))
    wait_until_blocked(race_db)  # the message waits for the instance's row
    go.set()
    timer_thread.join(60)
    message_thread.join(60)

    [report] = timer_result
    assert isinstance(report, worker.PassReport) and report.timers_fired == 1
    [refused] = message_result
    assert isinstance(refused, NotFound) and "moved on meanwhile" in refused.message
    assert branch(race_db, instance_id) == ["ut_ask_again"]
    with race_db() as s:
        assert s.scalars(select(ProcessMessage)).all() == []  # nothing stored for a refused correlation
    check_audit(race_db)


def test_message_that_holds_the_gateway_first_wins_and_the_worker_skips_the_timer(
        race_db: sessionmaker[Session], tiny_settings: EngineSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    instance_id = start_quote(race_db, tiny_settings)
    locked, go = threading.Event(), threading.Event()
    real_lock = task_guard.lock_for_delivery

    def lock_then_pause(session: Session, target: int, *, wait: bool) -> ProcessInstance | None:
        row = real_lock(session, target, wait=wait)
        if threading.current_thread().name == "correlate" and not locked.is_set():
            locked.set()
            assert go.wait(30)
        return row

    monkeypatch.setattr(task_guard, "lock_for_delivery", lock_then_pause)
    day6 = T0 + timedelta(days=6)  # the timer is due too: whoever holds the row decides
    result: list[Any] = []
    message_thread = threading.Thread(name="correlate", target=lambda: result.append(committed(
        race_db, tiny_settings, day6, lambda ctx: messaging.correlate_message(
            ctx, None, "msg_quote", {"request_ref": "Q-1"}, {"price": 1}).messages_delivered)))
    message_thread.start()
    assert locked.wait(30)

    with race_db() as s:  # meanwhile a worker pass: it skips the locked instance, fires nothing
        report = worker.run_pass(s, FixedClock(day6), tiny_settings)
    go.set()
    message_thread.join(60)

    assert report.timers_fired == 0 and result == [1]
    assert branch(race_db, instance_id) == ["ut_compare"]
    with race_db() as s:
        assert worker.run_pass(s, FixedClock(day6 + timedelta(days=1)), tiny_settings).timers_fired == 0
        assert s.scalars(select(AuditEvent.action).where(AuditEvent.action == "timer")).all() == []
    assert branch(race_db, instance_id) == ["ut_compare"]
    check_audit(race_db)


def test_message_thrown_at_a_busy_instance_does_not_wait_and_the_worker_delivers_it(
        race_db: sessionmaker[Session], tiny_settings: EngineSettings) -> None:
    order_id = int(committed(race_db, tiny_settings, T0, lambda ctx: services.start_process(
        ctx, user(ctx.session, "tomas"), "tiny_payment", {"order_id": "A-1"}).instance.id))
    payer_task = int(committed(race_db, tiny_settings, T0, lambda ctx: services.open_tasks(ctx, services.start_process(
        ctx, user(ctx.session, "tomas"), "tiny_payer", {"order_id": "A-1"}).instance.id)[0].id))

    with race_db() as holder:  # another transaction holds the order (a user completing something, say)
        held = holder.get(ProcessInstance, order_id)
        assert held is not None
        task_guard.lock_instance(holder, held)
        thread, result = in_thread(lambda: committed(race_db, tiny_settings, T0, lambda ctx: services.complete_task(
            ctx, user(ctx.session, "tomas"), payer_task, {"amount": 5}).instance.status))
        thread.join(30)
        assert not thread.is_alive(), "the thrower waited for the busy receiver"
        assert result == ["completed"]
        holder.rollback()

    with race_db() as s:
        [message] = s.scalars(select(ProcessMessage)).all()
        assert (message.target_instance_id, message.status) == (order_id, "pending")
        report = worker.run_pass(s, FixedClock(T0 + timedelta(minutes=1)), tiny_settings)
    assert report.messages_delivered == 1 and report.failures == []
    assert branch(race_db, order_id) == ["ut_ship"]
    check_audit(race_db)
