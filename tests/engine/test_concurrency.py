"""Two people act on the same task at the same moment: exactly one wins, the other gets ConflictError,
and the task rows and the audit chain stay consistent.

Each attempt runs in its own thread with its own session and transaction (``engine.uow.transaction``),
as two web requests would. On PostgreSQL both attempts are inside the use case before either writes (a
barrier: for a claim after its checks, so the ``WHERE state = 'ready'`` update decides; for a completion
just before it reads the instance under its row lock, so the lock decides and the second reads what the
first committed). On SQLite every transaction begins with ``BEGIN IMMEDIATE``,
so a second writer cannot even read until the first commits: the barrier sits just before the
transactions, both start together and SQLite serialises them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from engine.core import assignment, audit_trail, services, task_guard
from engine.core.clock import FixedClock
from engine.core.errors import ConflictError
from engine.core.models import AuditEvent, HumanTask, ProcessInstance, User
from engine.core.runtime import Context
from engine.core.settings import EngineSettings
from engine.core.uow import transaction

from .helpers import Flow, email, user

Work = Callable[[Context, User, int], Any]


def _setup(factory: sessionmaker[Session], settings: EngineSettings, clock: FixedClock,
           submitted: bool) -> tuple[int, int, int]:
    """A committed instance: (its id, its version, the id of the open ut_submit or ut_approve task)."""
    with factory() as s:
        with transaction(s, clock):
            flow = Flow(Context(s, clock, settings))
            instance = flow.start("tomas")
            task = flow.submit(instance) if submitted else flow.open_task(instance)
        return instance.id, instance.version, task.id


def _race(factory: sessionmaker[Session], settings: EngineSettings, clock: FixedClock,
          monkeypatch: pytest.MonkeyPatch, hook: tuple[Any, str], work: Work, task_id: int,
          keys: tuple[str, str]) -> dict[str, Any]:
    """Run ``work`` for both users at once; returns user key -> None (committed) or the exception.
    ``hook`` (module, function name): where both wait for each other on PostgreSQL."""
    barrier = threading.Barrier(2, timeout=20)
    serialised = factory.kw["bind"].dialect.name == "sqlite"
    if not serialised:
        module, name = hook
        original = getattr(module, name)

        def wait_then_check(*args: Any, **kwargs: Any) -> Any:
            barrier.wait()  # both are inside the use case, about to lock or write
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, wait_then_check)

    def attempt(key: str) -> Exception | None:
        with factory() as s:
            own_clock = FixedClock(clock.now())
            actor = user(s, key)
            s.rollback()  # end the read: on SQLite it holds the write lock (BEGIN IMMEDIATE)
            if serialised:
                barrier.wait()
            try:
                with transaction(s, own_clock):
                    work(Context(s, own_clock, settings), actor, task_id)
            except ConflictError as exc:
                return exc
        return None

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {key: pool.submit(attempt, key) for key in keys}
        return {key: future.result(timeout=60) for key, future in futures.items()}


def _one_winner(results: dict[str, Any]) -> tuple[str, ConflictError]:
    winners = [key for key, result in results.items() if result is None]
    losers = [result for result in results.values() if isinstance(result, ConflictError)]
    assert len(winners) == 1 and len(losers) == 1, results
    return winners[0], losers[0]


def test_complete_task_concurrently_one_succeeds_other_conflicts(
        tiny_db: sessionmaker[Session], tiny_settings: EngineSettings, clock: FixedClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    instance_id, version, task_id = _setup(tiny_db, tiny_settings, clock, submitted=False)

    def complete(ctx: Context, actor: User, task: int) -> None:
        services.complete_task(ctx, actor, task, {"amount": 100 if actor.email == email("tomas") else 200})

    results = _race(tiny_db, tiny_settings, clock, monkeypatch, (task_guard, "lock_instance_of_task"), complete,
                    task_id, ("tomas", "meilin"))

    winner, loser = _one_winner(results)
    with tiny_db() as s:
        rows = list(s.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id)
                              .order_by(HumanTask.id)))
        assert [(r.task_spec, r.state) for r in rows] == [("ut_submit", "completed"), ("ut_approve", "ready")]
        assert rows[0].completed_by_id == user(s, winner).id
        assert rows[0].submitted == {"amount": 100 if winner == "tomas" else 200}
        instance = s.get(ProcessInstance, instance_id)
        assert instance is not None and instance.version == version + 1  # saved once more, not twice
        completes = s.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "complete", AuditEvent.task_id == task_id))
        assert completes == 1
        verified = audit_trail.verify(s)
        assert verified.ok, verified.problem
    assert "someone else" in str(loser) or "already completed by" in str(loser)


def test_claim_task_concurrently_one_wins(
        tiny_db: sessionmaker[Session], tiny_settings: EngineSettings, clock: FixedClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    _, _, task_id = _setup(tiny_db, tiny_settings, clock, submitted=True)

    def claim(ctx: Context, actor: User, task: int) -> None:
        services.claim_task(ctx, actor, task)

    results = _race(tiny_db, tiny_settings, clock, monkeypatch, (assignment, "check_can_claim"), claim, task_id,
                    ("fatima", "ingrid"))

    winner, loser = _one_winner(results)
    with tiny_db() as s:
        task = s.get(HumanTask, task_id)
        assert task is not None
        assert (task.state, task.assignee_id) == ("claimed", user(s, winner).id)
        claims = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "claim",
                                                         AuditEvent.task_id == task_id)))
        assert [e.actor for e in claims] == [email(winner)]
        verified = audit_trail.verify(s)
        assert verified.ok, verified.problem
    assert "claimed" in str(loser)
