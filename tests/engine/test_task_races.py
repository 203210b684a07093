"""Many races on task rows at once: for every pair of conflicting actions (complete vs reassign, complete
vs release, claim vs claim, reassign vs reassign, complete vs cancel, claim vs reassign, release vs
reassign, claim vs complete, complete vs complete, and complete vs the worker's escalation sweep), 200
pairs, each action in its own thread with its own session and connection, committing
(``engine.uow.transaction``), as two web requests and the worker would.

Both actors of a pair looked at the task first (they pass the ``row_version``, or the instance's version
for a cancellation, they saw). On PostgreSQL the two transactions overlap and the compare-and-set writes
and the instance lock decide; on SQLite (``BEGIN IMMEDIATE``) they queue and the second finds the task
changed since its actor looked. Either way: exactly one winner, the loser a ConflictError saying what
happened, no ghost task (an open row the workflow has moved past, or an open row carrying a completer),
no double advance, the audit chain intact, and no ladder step for a finished task.

The worker's sweep is the one racer that is not in conflict with a completion: a reminder or an
escalation notice does not change who holds the task or what it asks, so the holder who opened the task
before the notice still completes it. What must hold there: the completion always succeeds, and a notice
is only ever sent before it, never after.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from engine.core import audit_trail, escalation, runtime, services
from engine.core.clock import FixedClock
from engine.core.errors import ConflictError
from engine.core.models import OPEN_STATES, AuditEvent, HumanTask, Notification, ProcessInstance
from engine.core.runtime import Context
from engine.core.settings import EngineSettings
from engine.core.uow import transaction

from ..conftest import START
from .helpers import Flow, user

#: pairs per combination and database (about a minute on SQLite, two on PostgreSQL for all of them);
#: ``AIMSFLOW_RACE_PAIRS=20`` for a quick look while working
PAIRS = int(os.environ.get("AIMSFLOW_RACE_PAIRS", "200"))
#: pairs raced at the same time (each pair has its own barrier)
PARALLEL = 4
#: the sweep's moment: past ut_submit's due date (P3D) plus its first escalation level (P2D)
SWEEP_AT = FixedClock(START).now() + timedelta(days=6)


@dataclass(frozen=True)
class Seen:
    """What both actors of a pair saw before acting."""

    task_id: int
    instance_id: int
    row_version: int
    instance_version: int


Action = Callable[[Context, Seen], Any]


@dataclass(frozen=True)
class Race:
    setup: str  # "ready" or "claimed" (by tomas)
    a: tuple[str, Action]  # (actor key, action)
    b: tuple[str, Action]
    #: what the loser's message must say, when a or b loses
    a_loses: str
    b_loses: str
    #: b is the worker's sweep, which does not conflict with a: a always wins, b may act before it
    sweep: bool = False


def complete(key: str) -> tuple[str, Action]:
    return key, lambda ctx, seen: services.complete_task(ctx, user(ctx.session, key), seen.task_id, {"amount": 5},
                                                         expected_version=seen.row_version)


def reassign(key: str, to: str) -> tuple[str, Action]:
    return key, lambda ctx, seen: services.reassign_task(
        ctx, user(ctx.session, key), seen.task_id, user(ctx.session, to).email, "covering the holiday",
        expected_version=seen.row_version)


def release(key: str) -> tuple[str, Action]:
    return key, lambda ctx, seen: services.release_task(ctx, user(ctx.session, key), seen.task_id,
                                                        expected_version=seen.row_version)


def claim(key: str) -> tuple[str, Action]:
    return key, lambda ctx, seen: services.claim_task(ctx, user(ctx.session, key), seen.task_id,
                                                      expected_version=seen.row_version)


def cancel(key: str) -> tuple[str, Action]:
    return key, lambda ctx, seen: services.cancel_instance(ctx, user(ctx.session, key), seen.instance_id,
                                                           "no longer needed", expected_version=seen.instance_version)


def sweep() -> tuple[str, Action]:
    """The worker's ladder sweep (a winner when it escalated this pair's task)."""
    def act(ctx: Context, seen: Seen) -> bool:
        report = escalation.sweep(ctx.session, FixedClock(SWEEP_AT), ctx.settings)
        return seen.task_id in report.task_ids and report.escalations > 0
    return "worker", act


WHEN = r"at 2026-11-\d\d \d\d:\d\d UTC"
COMPLETED = f"was already completed by Tomás Alvarez {WHEN}"
RACES = {
    "complete_vs_reassign": Race("claimed", complete("tomas"), reassign("oliver", "meilin"),
                                 a_loses=f"was reassigned to Mei Lin Chen {WHEN} meanwhile", b_loses=COMPLETED),
    "complete_vs_release": Race("claimed", complete("tomas"), release("priya"),
                                a_loses=f"was released by Priya Raman {WHEN} meanwhile", b_loses=COMPLETED),
    "claim_vs_claim": Race("ready", claim("tomas"), claim("meilin"),
                           a_loses=f"was claimed by Mei Lin Chen {WHEN} meanwhile",
                           b_loses=f"was claimed by Tomás Alvarez {WHEN} meanwhile"),
    "reassign_vs_reassign": Race("claimed", reassign("oliver", "meilin"), reassign("priya", "ravi"),
                                 a_loses=f"was reassigned to Ravi Patel {WHEN} meanwhile",
                                 b_loses=f"was reassigned to Mei Lin Chen {WHEN} meanwhile"),
    "complete_vs_cancel": Race("claimed", complete("tomas"), cancel("oliver"),
                               a_loses=f"was cancelled {WHEN}",
                               b_loses=f"moved on meanwhile: task \\d+ 'Submit the request' was {COMPLETED[12:]}"),
    "complete_vs_sweep": Race("claimed", complete("tomas"), sweep(), a_loses="", b_loses="", sweep=True),
    "claim_vs_reassign": Race("ready", claim("tomas"), reassign("oliver", "meilin"),
                              a_loses=f"was reassigned to Mei Lin Chen {WHEN} meanwhile",
                              b_loses=f"was claimed by Tomás Alvarez {WHEN} meanwhile"),
    "release_vs_reassign": Race("claimed", release("tomas"), reassign("oliver", "meilin"),
                                a_loses=f"was reassigned to Mei Lin Chen {WHEN} meanwhile",
                                b_loses=f"was released by Tomás Alvarez {WHEN} meanwhile"),
    "claim_vs_complete": Race("ready", claim("tomas"), complete("meilin"),
                              a_loses=f"was already completed by Mei Lin Chen {WHEN}",
                              b_loses=f"was claimed by Tomás Alvarez {WHEN} meanwhile"),
    "complete_vs_complete": Race("ready", complete("tomas"), complete("meilin"),
                                 a_loses=f"was already completed by Mei Lin Chen {WHEN}",
                                 b_loses=COMPLETED),
}


def _setup(factory: sessionmaker[Session], settings: EngineSettings, race: Race, n: int) -> list[Seen]:
    """``n`` committed instances waiting at ut_submit, ready or claimed by tomas."""
    clock = FixedClock(START)
    seen = []
    with factory() as s:
        with transaction(s, clock):
            flow = Flow(Context(s, clock, settings))
            tasks = [flow.open_task(flow.start("tomas")) for _ in range(n)]
            if race.setup == "claimed":
                for task in tasks:
                    services.claim_task(flow.ctx, flow.user("tomas"), task.id)
            if race.sweep:  # armed one pair at a time (the sweep takes every due task)
                s.execute(update(HumanTask).values(next_action_at=None))
        for task in tasks:
            instance = s.get(ProcessInstance, task.instance_id)
            assert instance is not None
            seen.append(Seen(task.id, task.instance_id, task.row_version, instance.version))
    return seen


def _attempt(factory: sessionmaker[Session], settings: EngineSettings, action: Action, seen: Seen,
             barrier: threading.Barrier, at: Any = START) -> Any:
    """Run ``action`` in a transaction of its own at ``at``; its result, or the ConflictError it lost with."""
    with factory() as s:
        clock = FixedClock(at)
        barrier.wait()
        try:
            with transaction(s, clock):
                return action(Context(s, clock, settings), seen)
        except ConflictError as exc:
            return exc


def _arm(factory: sessionmaker[Session], seen: Seen) -> Seen:
    """Make the pair's task due for the sweep; the version both then see."""
    with factory() as s, s.begin():
        s.execute(update(HumanTask).where(HumanTask.id == seen.task_id).values(next_action_at=SWEEP_AT))
    return seen


def _run(factory: sessionmaker[Session], settings: EngineSettings, race: Race,
         seen: list[Seen]) -> list[tuple[Any, Any]]:
    parallel = 1 if race.sweep else PARALLEL
    results: list[tuple[Any, Any]] = []
    with ThreadPoolExecutor(max_workers=2 * parallel) as pool:
        for i in range(0, len(seen), parallel):
            batch = [_arm(factory, s) if race.sweep else s for s in seen[i:i + parallel]]
            futures = []
            for pair in batch:
                barrier = threading.Barrier(2, timeout=30)
                at = SWEEP_AT if race.sweep else START  # the holder completes when the sweep runs
                futures.append((pool.submit(_attempt, factory, settings, race.a[1], pair, barrier, at),
                                pool.submit(_attempt, factory, settings, race.b[1], pair, barrier)))
            results.extend((a.result(timeout=60), b.result(timeout=60)) for a, b in futures)
    return results


def _winner(race: Race, a: Any, b: Any) -> str:
    """"a" or "b"; asserts the other lost with words that say what happened. For the sweep race: "a"
    (the completion never loses to a notice), or "both" when the sweep escalated before it."""
    a_won = not isinstance(a, ConflictError)
    if race.sweep:
        assert a_won, a
        return "both" if b is True else "a"
    b_won = not isinstance(b, ConflictError)
    assert a_won != b_won, (a, b)
    if a_won:
        assert re.search(race.b_loses, str(b)), str(b)
    if b_won:
        assert re.search(race.a_loses, str(a)), str(a)
    return "a" if a_won else "b"


def _check_no_ghosts(s: Session, instance_ids: list[int]) -> None:
    """Every open row is a task its workflow waits for; no open row carries a completer."""
    runtime.clear_caches()
    for instance_id in instance_ids:
        instance = s.get(ProcessInstance, instance_id)
        assert instance is not None
        rows = list(s.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                      HumanTask.state.in_(OPEN_STATES))))
        ready = set(runtime.ready_human_tasks(runtime.restore(Context(s, FixedClock(START)), instance).workflow))
        assert {r.spiff_task_id for r in rows} == ready, instance_id
        assert all(r.completed_by_id is None and r.completed_at is None for r in rows), instance_id


@pytest.mark.parametrize("name", list(RACES))
def test_of_two_conflicting_task_changes_exactly_one_wins(
        name: str, tiny_db: sessionmaker[Session], tiny_settings: EngineSettings) -> None:
    race = RACES[name]
    seen = _setup(tiny_db, tiny_settings, race, PAIRS)
    started = time.monotonic()
    results = _run(tiny_db, tiny_settings, race, seen)
    elapsed = time.monotonic() - started
    winners = [_winner(race, a, b) for a, b in results]
    print(f"{name}: {len(results)} pairs, a won {winners.count('a')}, b won {winners.count('b')}, "
          f"both {winners.count('both')}, {elapsed:.1f}s on {tiny_db.kw['bind'].dialect.name}")

    instance_ids = [p.instance_id for p in seen]
    with tiny_db() as s:
        _check_no_ghosts(s, instance_ids)
        completes = dict(s.execute(select(AuditEvent.task_id, func.count()).where(
            AuditEvent.action == "complete", AuditEvent.task_id.in_([p.task_id for p in seen]))
            .group_by(AuditEvent.task_id)).all())  # type: ignore[arg-type]
        assert set(completes.values()) <= {1}  # no task completed twice
        for pair, winner in zip(seen, winners, strict=True):
            instance = s.get(ProcessInstance, pair.instance_id)
            task = s.get(HumanTask, pair.task_id)
            assert instance is not None and task is not None
            advanced = completes.get(pair.task_id, 0) + (instance.status == "cancelled")
            assert instance.version == pair.instance_version + advanced  # saved once per advance, no more
            if name.startswith("complete_vs") and winner in ("a", "both") or name == "complete_vs_complete":
                assert task.state == "completed" and completes[pair.task_id] == 1
        if race.sweep:  # every escalation of a pair's task came before its completion, none after
            events = s.execute(select(AuditEvent.task_id, AuditEvent.action, AuditEvent.seq).where(
                AuditEvent.action.in_(("escalate", "complete")),
                AuditEvent.task_id.in_([p.task_id for p in seen]))).all()
            done_at = {e.task_id: e.seq for e in events if e.action == "complete"}
            escalated = [e for e in events if e.action == "escalate"]
            assert all(e.seq < done_at[e.task_id] for e in escalated)
            assert len(escalated) == winners.count("both")
        verified = audit_trail.verify(s)
        assert verified.ok, verified.problem
    # no ladder step ever for a finished task: not in the race, not in the worker's next sweep
    later = SWEEP_AT + timedelta(days=30)
    with tiny_db() as s, transaction(s, FixedClock(later)):
        s.execute(update(HumanTask).where(HumanTask.state.in_(OPEN_STATES)).values(next_action_at=SWEEP_AT))
        escalation.sweep(s, FixedClock(later), tiny_settings, limit=10_000)
    with tiny_db() as s:
        late = s.scalar(select(func.count()).select_from(Notification).join(
            HumanTask, HumanTask.id == Notification.task_id).where(
            Notification.kind.in_(("reminder", "overdue", "escalation", "report")),
            HumanTask.state.not_in(OPEN_STATES),
            Notification.created_at >= (later if race.sweep else HumanTask.completed_at)))
        assert late == 0
