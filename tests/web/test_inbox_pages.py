"""The web inbox and ``GET /api/v1/tasks`` with more tasks than one page: exact counts per tab, one page of
rows, the pager, and the API's page arguments and count headers."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import insert, select

from engine.app import accounts
from engine.core.models import HumanTask, ProcessInstance
from web.extensions import db

from .conftest import Browser, Flows, user

#: open tasks assigned to the process owner, besides what the module's flows give him
HELD = 130


@pytest.fixture(scope="module")
def held(app: Flask) -> str:
    """Tomas (process owner) holds HELD more open tasks, the first 40 overdue; returns his API token."""
    instance_id = Flows(app).start()
    with app.app_context():
        tomas = user("process_owner")
        instance = db.session.get(ProcessInstance, instance_id)
        assert instance is not None
        now = app.extensions["aimsflow.clock"].now()
        db.session.execute(insert(HumanTask), [
            {"instance_id": instance_id, "spiff_task_id": str(uuid.uuid4()), "task_spec": "ut_bulk",
             "name": f"Bulk {i}", "process_id": instance.process_id, "subject": "BULK", "role": "process_owner",
             "assignee_id": tomas.id, "state": "claimed", "excluded_ids": [], "escalation_level": 0,
             "reminders_sent": 0, "created_at": now, "due_at": now + timedelta(hours=i - 40)} for i in range(HELD)])
        _, token = accounts.create_token(db.session, app.extensions["aimsflow.clock"], tomas, "inbox")
        db.session.commit()
        return token


def _mine(app: Flask) -> int:
    with app.app_context():
        tomas = user("process_owner")
        return len(db.session.scalars(select(HumanTask.id).where(HumanTask.assignee_id == tomas.id,
                                                                 HumanTask.state.in_(("ready", "claimed")))).all())


def test_inbox_page_counts_all_held_tasks_and_shows_one_page(app: Flask, held: str,
                                                             browser: Callable[[str], Browser]) -> None:
    b = browser("process_owner")
    total = _mine(app)
    assert total >= HELD
    html = b.get("/tasks?tab=mine").get_data(as_text=True)
    assert re.search(rf'data-count="mine">{total}<', html)
    assert html.count("table-danger") == 40  # the overdue ones come first and fill the first page's top
    assert len(re.findall(r'href="/tasks/\d+"', html)) == 50
    assert f"1–50 of {total}" in html
    pages = -(-total // 50)
    last = b.get(f"/tasks?tab=mine&page={pages}").get_data(as_text=True)
    assert len(re.findall(r'href="/tasks/\d+"', last)) == total - 50 * (pages - 1)


def test_api_tasks_pages_with_exact_count_headers(app: Flask, held: str) -> None:
    client = app.test_client()
    auth = {"Authorization": f"Bearer {held}"}
    total = _mine(app)
    first = client.get("/api/v1/tasks?tab=mine&per_page=100", headers=auth)
    assert first.status_code == 200
    assert len(first.get_json()) == 100
    assert first.headers["X-Total-Count"] == str(total) and first.headers["X-Page-Count"] == str(-(-total // 100))
    second = client.get("/api/v1/tasks?tab=mine&per_page=100&page=2", headers=auth).get_json()
    ids = [t["id"] for t in first.get_json()] + [t["id"] for t in second]
    assert len(ids) == len(set(ids)) == total
    bad: Any = client.get("/api/v1/tasks?per_page=501", headers=auth)
    assert bad.status_code == 422


def test_inbox_search_past_sqlites_pattern_limit_answers_the_page(browser: Callable[[str], Browser]) -> None:
    """A search of 30,000 'é' (60,000 bytes, past SQLite's LIKE limit) reads its first 200 characters."""
    response = browser("assessor").get("/tasks", query_string={"tab": "all", "q": "é" * 30_000})
    assert response.status_code == 200
