"""The demo's history and the open work it leaves: every demo login finds work in the inbox the web page
shows, some of it overdue and escalated (with the notices a running worker would have sent), the audit
trail verifies and runs in time order, a failed story leaves nothing behind, and loading twice plays
nothing twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from engine.aims import demo_work
from engine.aims.demo_history import Complete, Start, Step, Story
from engine.app import demo_guide, worklist
from engine.core import audit_trail, directory
from engine.core.clock import FixedClock, as_utc
from engine.core.models import OPEN_STATES, AuditEvent, HumanTask, Notification, ProcessInstance, ProcessVersion, User
from engine.core.runtime import Context
from engine.core.settings import EngineSettings

from ..conftest import build, fill_demo

pytestmark = pytest.mark.demo

#: the demo logins of web/welcome.py but the admin, who holds no lane (tests/web checks the list)
WORKERS = ["priya.raman", "tomas.alvarez", "sofia.rossi", "fatima.alsayed", "ingrid.larsen", "grace.nwosu",
           "daniel.kim"]
#: a real "now" three weeks after the demo database was built (conftest START), at an awkward hour
NOW = "2026-11-23T00:31:00+00:00"


def login(session: Session, local: str) -> User:
    return directory.user_by_email(session, f"{local}@{demo_work.DOMAIN}")


def load(session: Session, settings: EngineSettings, now: str = NOW) -> tuple[Context, list[demo_work.Played]]:
    """What ``aimsflow demo load`` does: registers (and processes) as of the history's start, the history."""
    ctx = Context(session, FixedClock(now), settings)
    prepared = demo_work.prepare(ctx)
    assert prepared.history, prepared.reason
    return ctx, demo_work.start_open_work(ctx)


Loaded = tuple[sessionmaker[Session], list[demo_work.Played]]


@pytest.fixture(scope="module")
def loaded_db(tmp_path_factory: pytest.TempPathFactory, settings: EngineSettings) -> Iterator[Loaded]:
    """One demo database with the history played and the admin's draft saved (committed), for the tests
    that only read it."""
    for engine in build(tmp_path_factory.mktemp("demo_work"), "demo_work", fill_demo, settings):
        with Session(engine) as session:
            ctx, played = load(session, settings)
            demo_guide.save_admin_draft(ctx)
            session.commit()
        yield sessionmaker(engine, expire_on_commit=False), played


def test_demo_history_plays_every_story(loaded_db: Loaded) -> None:
    _, played = loaded_db
    assert [(p.title, p.error) for p in played] == [(s.title, None) for s in demo_work.OPEN_WORK]
    assert all(p.tasks for p in played), [p.title for p in played if not p.tasks]


def test_demo_history_leaves_every_demo_login_work_in_the_inbox(loaded_db: Loaded) -> None:
    factory, _ = loaded_db
    now = FixedClock(NOW).now()
    with factory() as session:
        for local in WORKERS:
            page = worklist.inbox_page(session, login(session, local), now, "all")
            assert page.rows, f"{local} finds nothing in the inbox"
            assert page.counts["mine"] + page.counts["claimable"] == page.counts["all"]
        # the admin holds no lane: his work is the draft version waiting to be published
        assert worklist.inbox_page(session, login(session, "oliver.grant"), now, "all").rows == []
        draft = session.scalar(select(ProcessVersion).where(ProcessVersion.status == "draft"))
        assert draft is not None and (draft.process_id, draft.version) == ("aims_evidence_review", 2)
        assert demo_guide.findings(session, login(session, "oliver.grant"), now) == [
            "No tasks: an admin holds no lane of the processes",
            "Definitions: Evidence review (shared) version 2 is a draft (Review the evidence due in 7 days instead "
            "of 5 days) to compare with version 1 and publish"]


def test_demo_history_leaves_overdue_and_escalated_work(loaded_db: Loaded) -> None:
    factory, _ = loaded_db
    now = FixedClock(NOW).now()
    with factory() as session:
        tomas = worklist.inbox_page(session, login(session, "tomas.alvarez"), now, "overdue").rows
        assert [(r.name, r.escalation_level) for r in tomas] == [("Contain and correct", 1)]
        assert demo_guide.findings(session, login(session, "tomas.alvarez"), now)[0].startswith(
            "Contain and correct (NC-2026-005) — 3 days overdue, escalated")
        ingrid = login(session, "ingrid.larsen")
        assert "Escalated to you: Contain and correct (NC-2026-005), held by Tomás Alvarez — 3 days overdue; " \
               "you may reassign it" in demo_guide.findings(session, ingrid, now)
        # the team view's overdue filter: Ingrid sees her report's task, the AIMS owner every overdue task
        assert [t.task.name for t in worklist.team_rows(session, ingrid, now, overdue_only=True)] == [
            "Contain and correct"]
        overdue = worklist.team_rows(session, login(session, "priya.raman"), now, overdue_only=True)
        assert sorted((t.task.name, t.task.escalation_level > 0) for t in overdue) == [
            ("Approve the corrective-action plan", False), ("Contain and correct", True),
            ("Review the evidence", True)]


def test_demo_history_sent_the_notices_a_worker_would_have_at_their_times(loaded_db: Loaded) -> None:
    factory, _ = loaded_db
    with factory() as session:
        task = session.scalar(select(HumanTask).where(HumanTask.task_spec == "ut_contain_correct",
                                                      HumanTask.state.in_(OPEN_STATES)))
        assert task is not None and task.due_at is not None
        sent = {(n.kind, directory.email_of(session, n.user_id)): as_utc(n.created_at) for n in session.scalars(
            select(Notification).where(Notification.task_id == task.id, Notification.kind != "new_task"))}
        due = as_utc(task.due_at)
        assert sent == {("reminder", "tomas.alvarez@lumenvale.example"): due - timedelta(days=1),
                        ("overdue", "tomas.alvarez@lumenvale.example"): due,
                        ("overdue", "ingrid.larsen@lumenvale.example"): due,  # lane lead: his manager
                        ("escalation", "ingrid.larsen@lumenvale.example"): due + timedelta(days=2)}


def test_demo_history_audit_trail_verifies_in_time_order(loaded_db: Loaded) -> None:
    factory, _ = loaded_db
    with factory() as session:
        assert audit_trail.verify(session).ok
        times = [as_utc(t) for t in session.scalars(select(AuditEvent.at).order_by(AuditEvent.seq))]
        assert times == sorted(times)
        assert times[-1] <= FixedClock(NOW).now()


def test_demo_load_twice_plays_nothing_twice(loaded_db: Loaded) -> None:
    factory, _ = loaded_db
    with factory() as session:
        before = session.scalar(select(func.count()).select_from(ProcessInstance))
        ctx = Context(session, FixedClock(NOW), EngineSettings())
        again = demo_work.prepare(ctx)
        assert (again.history, again.reason) == (False, "processes have run already")
        assert demo_work.start_open_work(ctx) == []
        assert session.scalar(select(func.count()).select_from(ProcessInstance)) == before
        session.rollback()


def test_demo_story_that_fails_is_reported_and_leaves_nothing_behind(
        fresh_db: sessionmaker[Session], settings: EngineSettings) -> None:
    broken = Story("An evidence review nobody can finish", (
        Step("2026-06-03T10:00Z", "lucas.moreau", Start("aims_evidence_review", {"evidence_ref": "EVD-018"})),
        Step("2026-06-04T10:00Z", "priya.raman", Complete("ut_review_evidence", {"decision": "maybe"})),
    ))
    fine = demo_work.OPEN_WORK[-1]
    with fresh_db() as session:
        ctx = Context(session, FixedClock(NOW), settings)
        played = demo_work.start_open_work(ctx, [broken, fine])
        assert [(p.title, p.instance_id is not None) for p in played] == [(broken.title, False), (fine.title, True)]
        assert played[0].error is not None and "step 2 (priya.raman)" in played[0].error
        assert [i.process_id for i in session.scalars(select(ProcessInstance))] == ["aims_nc_capa"]
        assert session.scalar(select(func.count()).select_from(AuditEvent)
                              .where(AuditEvent.subject == "EVD-018")) == 0
        assert audit_trail.verify(session).ok


@pytest.mark.parametrize(("due", "words"), [
    ("2026-11-20T23:59:59+00:00", "3 days overdue"),
    ("2026-11-22T10:00:00+00:00", "1 day overdue"),
    ("2026-11-23T00:10:00+00:00", "overdue since today"),
    ("2026-11-23T18:00:00+00:00", "due today"),
    ("2026-11-24T09:00:00+00:00", "due tomorrow"),
    ("2026-11-30T09:00:00+00:00", "due in 7 days"),
    (None, "no due date"),
], ids=["days", "one-day", "today-past", "today", "tomorrow", "week", "none"])
def test_demo_guide_due_words(due: str | None, words: str) -> None:
    at = datetime.fromisoformat(due) if due else None
    assert demo_guide.due_words(at, FixedClock(NOW).now()) == words
