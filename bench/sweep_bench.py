"""Worker sweep: one worker pass over 100,000 open tasks of which 1,000 are due (DESIGN.md target: under 1 s).

A fresh SQLite file database (WAL) gets the demo organisation, one deployed process, 1,000 process
instances and 100,000 open human tasks, bulk-inserted with Core (not through the services): tasks
assigned to demo users (four in five) or open to a role, with the shipped escalation profiles (STD,
APPROVAL, CERT, BULK). 99,000 tasks have their next ladder step in the future; the 1,000 due ones are a
mix of reminders, overdue notices and escalations. The timed pass is ``engine.worker.run_pass`` with a
null sender (no SMTP; the outbox is still claimed and marked), run on a copy of the loaded database so
every repeat starts from the same state. The first repeat runs with cold caches (templates, profiles),
the others warm; all are printed, then the median.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import platform
import pstats
import shutil
import sqlite3
import statistics
import tempfile
import time
import uuid
from contextlib import closing
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from engine.aims import demo
from engine.core import audit_trail, definitions, outbox, worker
from engine.core.clock import FixedClock, parse_datetime
from engine.core.db import make_engine
from engine.core.models import Base, HumanTask, Notification, OutboxMessage, ProcessInstance, User
from engine.core.settings import PROJECT_ROOT, EngineSettings

DATA = Path(__file__).resolve().parent / "data"
NOW = parse_datetime("2026-11-02T09:00:00Z")
PROFILES = ("STD", "APPROVAL", "CERT", "BULK")
ROLES = ("process_owner", "approver", "reviewer", "control_owner")


def null_send(mail: outbox.OutgoingMail) -> None:
    """The sender without SMTP."""


#: the delay of the first escalation level of each shipped profile
FIRST_LEVEL = {"STD": 2, "APPROVAL": 2, "CERT": 1, "BULK": 7}


def _due_fields(k: int) -> dict[str, object]:
    """The ``k``-th due task: its profile, and a due date that makes its next ladder step due now:
    the first reminder (half of them), the overdue notice (BULK: its reminder at the due time), or
    the first escalation level."""
    profile = PROFILES[k % len(PROFILES)]
    kind = (k // len(PROFILES)) % 4
    fields: dict[str, object] = {"escalation_profile": profile, "next_action_at": NOW}
    if kind in (0, 1):
        fields.update(due_at=NOW + timedelta(days=3 if profile == "CERT" else 2), created_at=NOW - timedelta(days=10))
    elif kind == 2:
        fields.update(due_at=NOW, created_at=NOW - timedelta(days=10), ladder_done_until=NOW - timedelta(hours=1),
                      reminders_sent=1)
    else:
        fields.update(due_at=NOW - timedelta(days=FIRST_LEVEL[profile]), created_at=NOW - timedelta(days=20),
                      ladder_done_until=NOW - timedelta(hours=1), reminders_sent=1)
    return fields


def build(path: Path, tasks: int, due: int, instances: int) -> None:
    engine = make_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    clock = FixedClock(NOW - timedelta(days=30))
    with Session(engine) as session:
        audit_trail.ensure_head(session)
        demo.load(session, clock)
        [deployed] = definitions.deploy(session, [definitions.SourceFile.read(DATA / "engine_bench.bpmn")],
                                        EngineSettings(processes_dir=DATA, forms_dir=DATA / "forms"), clock)
        version_id = deployed.version.id
        users = list(session.scalars(select(User.id).where(User.active.is_(True)).order_by(User.id)))
        session.execute(insert(ProcessInstance), [
            {"process_version_id": version_id, "process_id": "engine_bench", "status": "running", "state": "{}",
             "version": 1, "started_at": NOW - timedelta(days=30), "updated_at": NOW - timedelta(days=30),
             "subject": f"BENCH-{n:04d}"} for n in range(instances)])
        first_instance = session.scalar(select(func.min(ProcessInstance.id)))
        assert first_instance is not None
        step = max(1, tasks // due)
        rows = []
        for i in range(tasks):
            profile = PROFILES[i % len(PROFILES)]
            assigned = i % 5 != 0
            row: dict[str, object] = {
                "instance_id": first_instance + i % instances, "spiff_task_id": str(uuid.uuid4()),
                "task_spec": f"ut_{i % 6 + 1}", "name": f"Bench task {i}", "process_id": "engine_bench",
                "subject": f"BENCH-{i % instances:04d}", "role": ROLES[i % len(ROLES)],
                "assignee_id": users[i % len(users)] if assigned else None, "state": "claimed" if assigned else "ready",
                "escalation_profile": profile, "excluded_ids": [], "escalation_level": 0, "reminders_sent": 0,
                "created_at": NOW - timedelta(days=1), "due_at": NOW + timedelta(days=30),
                "next_action_at": NOW + timedelta(days=28)}
            if i % step == 0 and i // step < due:
                row.update(_due_fields(i // step))
            rows.append(row)
            if len(rows) == 10_000:
                session.execute(insert(HumanTask), rows)
                rows = []
        if rows:
            session.execute(insert(HumanTask), rows)
        session.commit()
    engine.dispose()
    with closing(sqlite3.connect(path)) as conn:  # outside the engine's BEGIN IMMEDIATE
        conn.execute("ANALYZE")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def one_pass(path: Path, settings: EngineSettings) -> tuple[worker.PassReport, dict[str, int]]:
    engine = make_engine(f"sqlite:///{path}")
    try:
        with Session(engine) as session:
            cpu = time.process_time()
            report = worker.run_pass(session, FixedClock(NOW), settings, null_send)
            report.timings["cpu"] = time.process_time() - cpu
            counts = {"notifications": session.scalar(select(func.count()).select_from(Notification)) or 0,
                      "outbox sent": session.scalar(select(func.count()).select_from(OutboxMessage)
                                                    .where(OutboxMessage.sent_at.is_not(None))) or 0,
                      "open tasks": session.scalar(select(func.count()).select_from(HumanTask)
                                                   .where(HumanTask.state.in_(("ready", "claimed")))) or 0}
            session.rollback()
        return report, counts
    finally:
        engine.dispose()


def plan(path: Path) -> str:
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        rows = conn.execute(text(
            "EXPLAIN QUERY PLAN SELECT * FROM human_task WHERE state IN ('ready', 'claimed') "
            "AND next_action_at <= :now ORDER BY next_action_at, id LIMIT 200"), {"now": NOW.replace(tzinfo=None)})
        out = "; ".join(str(r[-1]) for r in rows)
    engine.dispose()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000, help="open tasks (default 100000)")
    parser.add_argument("--due", type=int, default=1_000, help="of which due now (default 1000)")
    parser.add_argument("--instances", type=int, default=1_000, help="process instances they belong to")
    parser.add_argument("--repeats", type=int, default=5, help="passes, each on a fresh copy (default 5)")
    parser.add_argument("--profile", action="store_true", help="run one pass under cProfile and print the top")
    args = parser.parse_args(argv)
    if args.due > args.tasks or args.repeats < 1:
        parser.error("--due must not exceed --tasks; --repeats must be at least 1")
    settings = EngineSettings(processes_dir=PROJECT_ROOT / "processes")
    with tempfile.TemporaryDirectory(prefix="aimsflow-sweep-") as tmp:
        loaded = Path(tmp) / "loaded.db"
        started = time.perf_counter()
        build(loaded, args.tasks, args.due, args.instances)
        print(f"SpiffWorkflow-free sweep on SQLite (WAL), Python {platform.python_version()}; loaded {args.tasks} "
              f"open tasks ({args.due} due) in {time.perf_counter() - started:.1f} s; plan: {plan(loaded)}",
              flush=True)
        if args.profile:
            copy = Path(tmp) / "profile.db"
            shutil.copy(loaded, copy)
            profiler = cProfile.Profile()
            profiler.enable()
            one_pass(copy, settings)
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(40)
            print(out.getvalue())
            return 0
        seconds = []
        for n in range(args.repeats):
            copy = Path(tmp) / f"pass{n}.db"
            shutil.copy(loaded, copy)
            report, counts = one_pass(copy, settings)
            seconds.append(report.seconds)
            phases = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in report.timings.items())
            ladder = report.ladder
            print(f"pass {n + 1}{' (cold)' if n == 0 else ''}: {report.seconds * 1000:.0f} ms  [{phases}]  "
                  f"{ladder.tasks} tasks: {ladder.reminders} reminders, {ladder.overdue_notices} overdue notices, "
                  f"{ladder.escalations} escalations; {counts['notifications']} notifications, "
                  f"{counts['outbox sent']} mails through the null sender; {counts['open tasks']} open tasks",
                  flush=True)
            copy.unlink()
    print(f"worker pass over {args.tasks} open tasks with {args.due} due: median {statistics.median(seconds):.3f} s "
          f"(cold {seconds[0]:.3f} s; target < 1 s)")
    return 0
