"""Inbox: one user's inbox among 100,000 open tasks (DESIGN.md target: under 20 ms, with exact tab counts).

A fresh database (a SQLite file by default; ``--database postgresql+psycopg://...`` builds a schema of
its own inside that database and drops it afterwards) gets the demo organisation, 1,000 process
instances over five process ids and, bulk-inserted with Core, 100,000 open human tasks: four in five
assigned to one of the 16 demo users (``claimed``, or ``ready`` when a process named them), one in five
open to one of six roles, one in seven of those excluding some users by segregation of duties
(``excluded_ids``, the bench user among them); due dates from ten days ago to two months ahead, one in
thirteen without one; plus 20,000 completed tasks of the same users (the history an inbox must skip).

The bench user (Tomas Alvarez: process owner and control owner) holds 5,000 tasks and may claim about
6,500 more. Timed, each in a fresh session: ``worklist.inbox_page`` for every tab (the counts of all four
tabs and the rows of one page), then the web inbox page ``GET /tasks`` and ``GET /api/v1/tasks`` through
Flask's test client (logged in, with a token). On a shared machine the wall times are noisy: the CPU
time of this process (all of SQLite's work, the client's share of PostgreSQL's) is printed too. The tab
counts are checked against plain SQL counted in Python (exit 1 when they differ). The last line is
``inbox p50 ms: X``, the slowest tab's median.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from engine.aims import demo
from engine.app import accounts, worklist
from engine.core import audit_trail, definitions
from engine.core.clock import FixedClock, parse_datetime
from engine.core.db import make_engine
from engine.core.models import Base, HumanTask, ProcessInstance, User
from engine.core.settings import EngineSettings

from .sweep_bench import DATA

NOW = parse_datetime("2026-11-02T09:00:00Z")
ROLES = ("process_owner", "control_owner", "approver", "reviewer", "assessor", "aims_owner")
PROCESSES = ("aims_risk_assessment", "aims_aiia", "aims_nc_capa", "aims_action", "aims_evidence_review")
BENCH_USER = "tomas.alvarez@lumenvale.example"
PASSWORD = "bench-password"


@contextmanager
def database(url: str | None) -> Iterator[str]:
    """A database for the bench: a fresh SQLite file, or a schema of its own inside a PostgreSQL
    database (dropped afterwards)."""
    if not url:
        with tempfile.TemporaryDirectory(prefix="aimsflow-inbox-") as tmp:
            yield f"sqlite:///{os.path.join(tmp, 'inbox.db')}"
        return
    if not url.startswith("postgresql"):
        yield url
        return
    schema = f"bench_inbox_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def build(engine: Engine, tasks: int, instances: int, completed: int) -> None:
    """The load described in the module docstring, committed, then ANALYZE (and VACUUM on PostgreSQL)."""
    Base.metadata.create_all(engine)
    clock = FixedClock(NOW - timedelta(days=30))
    with Session(engine) as session:
        audit_trail.ensure_head(session)
        demo.load(session, clock)
        accounts.set_demo_passwords(session, PASSWORD)
        [deployed] = definitions.deploy(session, [definitions.SourceFile.read(DATA / "engine_bench.bpmn")],
                                        EngineSettings(processes_dir=DATA, forms_dir=DATA / "forms"), clock)
        users = list(session.scalars(select(User.id).where(User.active.is_(True)).order_by(User.id)))
        session.execute(insert(ProcessInstance), [
            {"process_version_id": deployed.version.id, "process_id": PROCESSES[n % len(PROCESSES)],
             "status": "running", "state": "{}", "version": 1, "started_at": NOW - timedelta(days=30),
             "updated_at": NOW - timedelta(days=30), "subject": f"BENCH-{n:04d}"} for n in range(instances)])
        first = session.scalar(select(func.min(ProcessInstance.id)))
        assert first is not None
        rows: list[dict[str, Any]] = []
        for i in range(tasks + completed):
            n = (i // 3) % instances  # the process varies with the holder and the role
            open_task = i < tasks
            assigned = i % 5 != 0 or not open_task
            due = None if i % 13 == 0 else NOW + timedelta(minutes=(i * 7919) % (70 * 24 * 60) - 10 * 24 * 60)
            row: dict[str, Any] = {
                "instance_id": first + n, "spiff_task_id": str(uuid.uuid4()), "task_spec": f"ut_{i % 6 + 1}",
                "name": f"Bench task {i}", "process_id": PROCESSES[n % len(PROCESSES)], "subject": f"BENCH-{n:04d}",
                "role": ROLES[(i // 5) % len(ROLES)], "escalation_level": 0, "reminders_sent": 0,
                "excluded_ids": [users[(i // 7) % len(users)], users[(i // 7 + 3) % len(users)]] if i % 7 == 0 else [],
                "created_at": NOW - timedelta(days=20), "due_at": due,
                "assignee_id": users[(i // 5 * 4 + i % 5) % len(users)] if assigned else None,
                "state": ("ready" if i % 10 == 1 else "claimed") if assigned else "ready"}
            if not open_task:
                row.update(state="completed", completed_at=NOW - timedelta(days=1), completed_by_id=row["assignee_id"],
                           due_at=NOW - timedelta(days=i % 300))
            rows.append(row)
            if len(rows) == 10_000:
                session.execute(insert(HumanTask), rows)
                rows = []
        if rows:
            session.execute(insert(HumanTask), rows)
        session.commit()
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("VACUUM ANALYZE")
        else:
            conn.exec_driver_sql("ANALYZE")


def expected_counts(engine: Engine, user: User) -> dict[str, int]:
    """The tab counts from plain SQL, the rule applied in Python (not the engine's query)."""
    mine = claimable = overdue = 0
    with engine.connect() as conn:
        result = conn.execute(text("SELECT assignee_id, role, excluded_ids, due_at FROM human_task "
                                   "WHERE state IN ('ready', 'claimed')"))
        for assignee_id, role, excluded, due_at in result:
            if assignee_id == user.id:
                mine += 1
            elif assignee_id is None and role in user.roles and user.id not in json.loads(excluded or "[]"):
                claimable += 1
            else:
                continue
            if due_at is not None:
                due = due_at if isinstance(due_at, datetime) else datetime.fromisoformat(str(due_at))
                overdue += (due.replace(tzinfo=None) if due.tzinfo is None else due) < (
                    NOW.replace(tzinfo=None) if due.tzinfo is None else NOW)
    return {"mine": mine, "claimable": claimable, "overdue": overdue, "all": mine + claimable}


def timed(fn: Callable[[], Any], repeats: int) -> tuple[list[float], Any]:
    """Milliseconds of each call, and the last call's result."""
    out: list[float] = []
    result = None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        out.append((time.perf_counter() - started) * 1000)
    return out, result


def engine_call(engine: Engine, user_id: int, tab: str) -> Callable[[], worklist.InboxPage]:
    def call() -> worklist.InboxPage:
        with Session(engine) as session:
            user = session.get(User, user_id)
            assert user is not None
            user.roles  # noqa: B018 (loaded with the user, as a request's login does; not the inbox's time)
            started, cpu = time.perf_counter(), time.process_time()
            page = worklist.inbox_page(session, user, NOW, tab)
            call.last = (time.perf_counter() - started) * 1000  # type: ignore[attr-defined]
            call.cpu = (time.process_time() - cpu) * 1000  # type: ignore[attr-defined]
            return page
    return call


def web_client(url: str) -> tuple[Any, Any, str]:
    """A logged-in test client and an API token of the bench user."""
    from web import create_app
    from web.extensions import db

    app = create_app({"TESTING": True, "DATABASE_URL": url, "CLOCK": FixedClock(NOW), "SECRET_KEY": "bench",
                      "SESSION_COOKIE_SECURE": False, "REMEMBER_COOKIE_SECURE": False, "SERVER_NAME": "localhost"})
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == BENCH_USER))
        assert user is not None
        _, token = accounts.create_token(db.session, app.extensions["aimsflow.clock"], user, "bench")
        db.session.commit()
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    csrf = page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    response = client.post("/login", data={"email": BENCH_USER, "password": PASSWORD, "csrf_token": csrf})
    assert response.status_code == 302, response.status_code
    return app, client, token


def p50(values: list[float]) -> float:
    return statistics.median(values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench inbox", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", metavar="URL", help="a PostgreSQL database to build a schema in "
                                                          "(default: a fresh SQLite file)")
    parser.add_argument("--tasks", type=int, default=100_000, help="open tasks (default 100000)")
    parser.add_argument("--completed", type=int, default=20_000, help="completed tasks besides (default 20000)")
    parser.add_argument("--instances", type=int, default=1_000, help="process instances they belong to")
    parser.add_argument("--repeats", type=int, default=30, help="timed calls per tab (default 30)")
    args = parser.parse_args(argv)
    with database(args.database) as url:
        engine = make_engine(url)
        started = time.perf_counter()
        build(engine, args.tasks, min(args.instances, args.tasks), args.completed)
        with Session(engine) as session:
            user = session.scalar(select(User).where(User.email == BENCH_USER))
            assert user is not None
            user_id, roles = user.id, sorted(user.roles)
            session.expunge(user)
        expected = expected_counts(engine, user)
        print(f"inbox on {engine.dialect.name}, Python {platform.python_version()}; loaded {args.tasks} open tasks "
              f"and {args.completed} completed in {time.perf_counter() - started:.1f} s; user {BENCH_USER} "
              f"({', '.join(roles)}): expected counts {expected}", flush=True)
        medians: dict[str, float] = {}
        failed = False
        for tab in worklist.TABS:
            call = engine_call(engine, user_id, tab)
            call()  # warm: statement caches, the first connection
            inner, cpu = [], []
            for _ in range(args.repeats):
                page = call()
                inner.append(call.last)  # type: ignore[attr-defined]
                cpu.append(call.cpu)  # type: ignore[attr-defined]
            medians[tab] = p50(inner)
            ok = page.counts == expected
            failed |= not ok
            print(f"tab {tab:<9}: p50 {medians[tab]:.2f} ms (min {min(inner):.2f}, max {max(inner):.2f}; "
                  f"cpu here p50 {p50(cpu):.2f}); "
                  f"{len(page.rows)} rows; counts {page.counts} {'= plain SQL' if ok else '!= plain SQL'}",
                  flush=True)
        app, client, token = web_client(url)
        for tab in ("mine", "claimable"):
            client.get(f"/tasks?tab={tab}")
            client.get(f"/api/v1/tasks?tab={tab}", headers={"Authorization": f"Bearer {token}"})
            web, response = timed(lambda t=tab: client.get(f"/tasks?tab={t}"), args.repeats)  # type: ignore[misc]
            assert response.status_code == 200, response.status_code
            api, response = timed(lambda t=tab: client.get(f"/api/v1/tasks?tab={t}",  # type: ignore[misc]
                                                           headers={"Authorization": f"Bearer {token}"}),
                                  args.repeats)
            assert response.status_code == 200, response.status_code
            print(f"GET /tasks?tab={tab}: p50 {p50(web):.2f} ms (+{p50(web) - medians[tab]:.2f} over the query); "
                  f"GET /api/v1/tasks?tab={tab}: p50 {p50(api):.2f} ms (+{p50(api) - medians[tab]:.2f}), "
                  f"{len(response.get_json())} rows", flush=True)
        with app.app_context():
            from web.extensions import db

            db.session.remove()
            db.engine.dispose()
        engine.dispose()
    if failed:
        print("tab counts differ from plain SQL")
    print(f"inbox p50 ms: {max(medians.values()):.2f}")
    return 1 if failed else 0
