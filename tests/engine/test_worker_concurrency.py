"""Two workers at once over 1,000 due tasks, each on its own connection: every reminder is written and
sent exactly once. On PostgreSQL the workers share the rows with ``SELECT ... FOR UPDATE SKIP LOCKED``;
on SQLite ``BEGIN IMMEDIATE`` serialises them. (``make test`` runs the suite on both.)"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from engine.aims.registers import DueDateStart
from engine.core import outbox, services, worker
from engine.core.clock import FixedClock, parse_datetime
from engine.core.models import HumanTask, Notification, OutboxMessage
from engine.core.runtime import Context
from engine.core.settings import PROJECT_ROOT, EngineSettings

from .helpers import DATA, deploy_tiny, email, user

pytestmark = pytest.mark.demo

T0 = parse_datetime("2026-11-02T09:00:00Z")
SHIPPED = EngineSettings(processes_dir=PROJECT_ROOT / "processes", forms_dir=DATA / "forms")
DUE_TASKS = 1000
OWNERS = ("tomas", "meilin", "ravi")


def load_due_tasks(factory: sessionmaker[Session]) -> None:
    """One real instance, then 1,000 open STD tasks whose first reminder (due - 2 days) is due at T0."""
    with factory() as session:
        clock = FixedClock(T0)
        deploy_tiny(session, SHIPPED, clock, "tiny_ladders")
        ctx = Context(session, clock, SHIPPED)
        instance = services.start_process(ctx, user(session, "tomas"), "tiny_ladders", {"owner": email("tomas")})
        owner_ids = [user(session, k).id for k in OWNERS]
        session.execute(insert(HumanTask), [
            {"instance_id": instance.instance.id, "spiff_task_id": str(uuid.uuid4()), "task_spec": "ut_loaded",
             "name": f"Loaded task {i}", "process_id": "tiny_ladders", "role": "process_owner",
             "assignee_id": owner_ids[i % len(owner_ids)], "state": "claimed" if i % 2 else "ready",
             "escalation_profile": "STD", "created_at": T0 - timedelta(days=8), "due_at": T0 + timedelta(days=2),
             "next_action_at": T0, "excluded_ids": [], "escalation_level": 0, "reminders_sent": 0}
            for i in range(DUE_TASKS)])
        session.commit()


def test_two_workers_send_every_reminder_exactly_once(fresh_db: sessionmaker[Session]) -> None:
    load_due_tasks(fresh_db)
    sent: list[str] = []
    reports: list[worker.PassReport] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def record(mail: outbox.OutgoingMail) -> None:
        sent.append(mail.message_id)

    def run() -> None:
        try:
            with fresh_db() as session:
                start.wait(timeout=30)
                reports.append(worker.run_pass(session, FixedClock(T0), SHIPPED, record, batch=50))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)

    assert errors == [] and len(reports) == 2
    assert sum(r.ladder.reminders for r in reports) == DUE_TASKS
    with fresh_db() as session:
        per_task = Counter(session.scalars(select(Notification.task_id).where(Notification.kind == "reminder")))
        assert len(per_task) == DUE_TASKS and set(per_task.values()) == {1}
        loaded = session.execute(select(HumanTask.reminders_sent, HumanTask.next_action_at)
                                 .where(HumanTask.task_spec == "ut_loaded")).all()
        assert {tuple(row) for row in loaded} == {(1, T0 + timedelta(days=2))}  # next: the overdue notice
        messages = session.scalars(select(OutboxMessage.message_id)).all()
        assert session.scalar(select(func.count()).select_from(OutboxMessage)
                              .where(OutboxMessage.sent_at.is_(None))) == 0
        # the demo's documents due for review at T0 start their policy reviews, once (engine.aims.date_triggers)
        due_reviews = session.scalars(select(DueDateStart.instance_id)).all()
        assert len(due_reviews) == sum(len(r.due.started) for r in reports) == 3
        review_mails = session.scalar(select(func.count()).select_from(Notification).where(
            Notification.kind == "new_task", Notification.delivery == "email",
            Notification.instance_id.in_(due_reviews)))
    # the reminders, the real instance's four "new task" mails and those of the reviews started
    assert len(messages) == DUE_TASKS + 4 + review_mails
    assert Counter(sent) == Counter(messages)  # every message sent, none twice
