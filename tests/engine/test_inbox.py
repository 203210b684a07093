"""The inbox's tab counts are exact however many tasks a user holds (no cut at 500), each tab's rows are
one page in the inbox's order (overdue first, then by due date, undated last, then by id) read per tab,
and the filters count and page the same way. Runs on SQLite and, in ``make test``, on PostgreSQL.

The tasks are rows inserted in bulk (not through the services): the inbox reads rows only.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from engine.app import queries, worklist
from engine.core.clock import FixedClock
from engine.core.errors import InvalidInput
from engine.core.models import HumanTask, ProcessInstance, ProcessVersion, User
from engine.core.settings import EngineSettings

from .helpers import deploy_tiny, user

#: tomas (process_owner, control_owner) holds MINE open tasks and may claim QUEUE; more rows he must not see
MINE, QUEUE = 620, 540


def _instance(session: Session, process_id: str, now: datetime) -> int:
    version_id = session.scalar(select(func.min(ProcessVersion.id)))
    instance = ProcessInstance(process_version_id=version_id, process_id=process_id, status="running", state="{}",
                               version=1, started_at=now, updated_at=now, subject=process_id.upper())
    session.add(instance)
    session.flush()
    return instance.id


def _rows(instance_id: int, process_id: str, n: int, **fields: Any) -> list[dict[str, Any]]:
    return [{"instance_id": instance_id, "spiff_task_id": str(uuid.uuid4()), "task_spec": "ut_bulk", "name": "Bulk",
             "process_id": process_id, "subject": process_id.upper(), "role": "process_owner", "state": "ready",
             "assignee_id": None, "excluded_ids": [], "escalation_level": 0, "reminders_sent": 0,
             "created_at": datetime(2026, 1, 1, tzinfo=UTC), **fields} for _ in range(n)]


@pytest.fixture
def loaded(session: Session, clock: FixedClock, tiny_settings: EngineSettings) -> tuple[Session, User, datetime]:
    """Tomas's open tasks in two processes: his own (a third overdue, some undated, claimed or designated),
    his roles' queues (some SoD-excluding him), and what is not his: others' tasks, other roles' queues,
    his completed tasks."""
    deploy_tiny(session, tiny_settings, clock, "tiny_approval")
    now = clock.now()
    tomas, ravi = user(session, "tomas"), user(session, "ravi")
    alpha, beta = _instance(session, "alpha", now), _instance(session, "beta", now)
    rows: list[dict[str, Any]] = []
    for i in range(MINE):
        due = None if i % 10 == 0 else now + timedelta(hours=(i % 30) - 10)
        rows += _rows(alpha if i % 2 else beta, "alpha" if i % 2 else "beta", 1, assignee_id=tomas.id,
                      state="claimed" if i % 3 else "ready", due_at=due)
    for i in range(QUEUE + 60):
        due = None if i % 9 == 0 else now + timedelta(hours=(i % 40) - 5)
        excluded = [ravi.id, tomas.id] if i % 10 == 0 else ([ravi.id] if i % 7 == 0 else [])
        rows += _rows(alpha, "alpha", 1, role="control_owner" if i % 2 else "process_owner", due_at=due,
                      excluded_ids=excluded)
    rows += _rows(alpha, "alpha", 300, assignee_id=ravi.id, state="claimed", due_at=now - timedelta(days=1))
    rows += _rows(alpha, "alpha", 200, role="approver", due_at=now - timedelta(days=1))
    rows += _rows(alpha, "alpha", 200, assignee_id=tomas.id, state="completed", due_at=now - timedelta(days=3))
    rows += _rows(alpha, "alpha", 100, role="process_owner", state="cancelled", due_at=now - timedelta(days=3))
    session.execute(insert(HumanTask), rows)
    return session, tomas, now


def _expected(session: Session, me: User, now: datetime, process_id: str = "") -> dict[str, list[HumanTask]]:
    """Each tab's tasks, in order, by the rule in plain Python over every row."""
    tasks = [t for t in session.scalars(select(HumanTask)) if t.state in ("ready", "claimed")
             and (not process_id or t.process_id == process_id)]
    mine = [t for t in tasks if t.assignee_id == me.id]
    queue = [t for t in tasks if t.assignee_id is None and t.role in me.roles and me.id not in t.excluded_ids]

    def ordered(ts: list[HumanTask]) -> list[HumanTask]:
        return sorted(ts, key=lambda t: (t.due_at is None, t.due_at or now, t.id))

    return {"mine": ordered(mine), "claimable": ordered(queue),
            "overdue": ordered([t for t in mine + queue if t.due_at is not None and t.due_at < now]),
            "all": ordered(mine + queue)}


def test_inbox_counts_every_tab_exactly_beyond_500(loaded: tuple[Session, User, datetime]) -> None:
    session, tomas, now = loaded
    expected = _expected(session, tomas, now)
    assert len(expected["mine"]) == MINE and len(expected["claimable"]) == QUEUE
    page = worklist.inbox_page(session, tomas, now, "mine")
    assert page.counts == {tab: len(rows) for tab, rows in expected.items()}
    assert page.counts["all"] == MINE + QUEUE > 1000
    assert page.processes == ["alpha", "beta"]


@pytest.mark.parametrize("tab", worklist.TABS)
def test_inbox_pages_each_tab_in_order_without_gaps(loaded: tuple[Session, User, datetime], tab: str) -> None:
    session, tomas, now = loaded
    want = [t.id for t in _expected(session, tomas, now)[tab]]
    got: list[int] = []
    first = worklist.inbox_page(session, tomas, now, tab, per_page=200)
    for number in range(1, first.pages + 1):
        page = worklist.inbox_page(session, tomas, now, tab, page=number, per_page=200)
        assert len(page.rows) == min(200, len(want) - len(got))
        got += [r.id for r in page.rows]
    assert got == want
    assert first.pages == -(-len(want) // 200)
    assert worklist.inbox_page(session, tomas, now, tab, page=first.pages + 1, per_page=200).rows == []
    far = worklist.inbox_page(session, tomas, now, tab, page=2**80, per_page=34)  # past any database integer
    assert far.rows == [] and far.counts == first.counts


def test_inbox_first_page_holds_the_page_size_and_overdue_first(loaded: tuple[Session, User, datetime]) -> None:
    session, tomas, now = loaded
    page = worklist.inbox_page(session, tomas, now, "all")
    assert len(page.rows) == queries.PAGE_SIZE
    assert all(r.overdue for r in page.rows)  # there are more overdue tasks than one page
    assert [r.id for r in page.rows] == [t.id for t in _expected(session, tomas, now)["all"][:queries.PAGE_SIZE]]


def test_inbox_filters_count_and_page_the_same_way(loaded: tuple[Session, User, datetime]) -> None:
    session, tomas, now = loaded
    beta = _expected(session, tomas, now, "beta")
    page = worklist.inbox_page(session, tomas, now, "all", process_id="beta", per_page=500)
    assert page.counts == {tab: len(rows) for tab, rows in beta.items()}
    assert [r.id for r in page.rows] == [t.id for t in beta["all"]]
    assert page.processes == ["alpha", "beta"]  # the choice stays whole

    some = beta["mine"][3]
    words = f"{some.id} BETA"  # every word in the id, name, step, process, subject or instance, any case

    def matches(t: HumanTask) -> bool:
        text = f"{t.id} {t.name} {t.task_spec} {t.process_id} {t.subject or ''} {t.instance_id}".lower()
        return all(w in text for w in words.lower().split())

    found = worklist.inbox_page(session, tomas, now, "all", query=words, per_page=500)
    want = {tab: [t.id for t in rows if matches(t)] for tab, rows in _expected(session, tomas, now).items()}
    assert some.id in want["mine"] and [r.id for r in found.rows] == want["all"]
    assert found.counts == {tab: len(ids) for tab, ids in want.items()}
    assert worklist.inbox_page(session, tomas, now, "all", query="50%_").counts["all"] == 0


def test_inbox_refuses_an_unknown_tab_or_page(loaded: tuple[Session, User, datetime]) -> None:
    session, tomas, now = loaded
    for kwargs in ({"tab": "later"}, {"page": 0}, {"per_page": 501}):
        with pytest.raises(InvalidInput):
            worklist.inbox_page(session, tomas, now, **kwargs)
