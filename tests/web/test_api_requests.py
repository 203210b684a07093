"""What an API request costs at the database: the token check is one indexed read, its last use is written
at most once a minute inside the request's own transaction, and a read (GET) takes no SQLite write lock,
so it never waits for a writer."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import datetime

import pytest
from flask import Flask
from sqlalchemy import event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from engine.app import accounts
from engine.core import deferred_begin, write_ahead
from engine.core.clock import FixedClock
from engine.core.models import ApiToken, User
from web.extensions import db

from .conftest import Browser, Flows, user


@pytest.fixture(scope="module")
def secret(app: Flask) -> str:
    with app.app_context():
        _, made = accounts.create_token(db.session, app.extensions["aimsflow.clock"], user("assessor"), "tests")
        db.session.commit()
    return made


@contextmanager
def statements(app: Flask) -> Iterator[list[str]]:
    """The SQL the app's database runs inside the block (BEGIN and COMMIT included)."""
    seen: list[str] = []
    with app.app_context():
        engine: Engine = db.engine

    def before(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(statement.split(None, 1)[0].upper())

    def commit(conn: object) -> None:
        seen.append("COMMIT")

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "commit", commit)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "commit", commit)


def last_used(app: Flask, secret: str) -> datetime | None:
    with app.app_context():
        row = db.session.scalar(select(ApiToken).where(ApiToken.prefix == secret[:10]))
        assert row is not None
        used = row.last_used_at
        db.session.rollback()
        return used


def get(app: Flask, secret: str, url: str = "/api/v1/registers") -> int:
    response = app.test_client().get(url, headers={"Authorization": f"Bearer {secret}"})
    return response.status_code


def test_api_token_check_is_one_read_of_token_user_and_roles(app: Flask, secret: str) -> None:
    assert get(app, secret) == 200  # the last use is written now; the next minute's requests only read
    with statements(app) as seen:
        assert get(app, secret) == 200  # the registers list itself reads nothing from the database
    assert [s for s in seen if not s.startswith("BEGIN")] == ["SELECT"], seen


def test_api_reading_a_task_reads_the_task_its_instance_and_a_draft_not_every_register(
        app: Flask, secret: str, flows: Flows) -> None:
    """The API's task is what a script needs (form, data, may I act): the page's record cards, summary
    and history are left out, so the read does not scan every register for rows the instance touched."""
    task_id = flows.task(flows.start(), "ut_assess")
    url = f"/api/v1/tasks/{task_id}"
    assert get(app, secret, url) == 200
    with statements(app) as seen:
        assert get(app, secret, url) == 200
    # token+user; the task with its instance (one read); the assessor's draft
    assert [s for s in seen if not s.startswith("BEGIN")] == ["SELECT"] * 3, seen


def test_api_token_of_a_deactivated_user_or_revoked_is_refused(app: Flask, secret: str) -> None:
    assert get(app, "af_not-a-token") == 401
    with app.app_context():
        session = db.session
        check = accounts.check_token(session, app.extensions["aimsflow.clock"], secret)
        assert check is not None and check.user.email == user("assessor").email
        assert "assessor" in check.user.roles
        session.rollback()


def test_api_last_used_is_written_at_most_once_a_minute(app: Flask, secret: str, clock: FixedClock) -> None:
    assert get(app, secret) == 200
    first = last_used(app, secret)
    assert first == clock.now()
    clock.advance(seconds=60)
    with statements(app) as seen:
        assert get(app, secret) == 200
    assert last_used(app, secret) == first and "UPDATE" not in seen and "COMMIT" not in seen
    clock.advance(seconds=1)
    with statements(app) as seen:
        assert get(app, secret) == 200
    assert last_used(app, secret) == clock.now()
    assert seen.count("UPDATE") == 1 and seen.count("COMMIT") == 1, seen


def test_api_write_request_writes_last_used_in_its_own_transaction(app: Flask, secret: str,
                                                                   clock: FixedClock) -> None:
    clock.advance(minutes=5)
    with statements(app) as seen:
        response = app.test_client().post("/api/v1/instances", headers={"Authorization": f"Bearer {secret}"},
                                          json={"process_id": "web_assessment",
                                                "data": {"topic": "Tone", "ai_system_ref": "AIS-002"}})
    assert response.status_code == 201, response.get_data(as_text=True)
    assert last_used(app, secret) == clock.now()
    assert seen.count("COMMIT") == 1, seen


def sqlite_file(app: Flask) -> str:
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite's write lock: PostgreSQL readers never wait for writers")
        path = db.engine.url.database
    assert path
    return path


def test_api_get_does_not_wait_while_another_connection_holds_the_write_lock(app: Flask, secret: str,
                                                                            clock: FixedClock) -> None:
    path = sqlite_file(app)
    clock.advance(minutes=5)  # the last use is due: the read tries to write it and must not wait
    before = last_used(app, secret)
    with closing(sqlite3.connect(path, isolation_level=None, timeout=0)) as other:
        other.execute("BEGIN IMMEDIATE")  # a writer in the middle of its transaction
        assert get(app, secret, "/api/v1/tasks") == 200
        assert get(app, secret, "/api/v1/registers") == 200
        other.execute("ROLLBACK")
    assert last_used(app, secret) == before  # skipped while the lock was busy
    assert get(app, secret) == 200
    assert last_used(app, secret) == clock.now()  # and written by the next read


def test_web_page_get_does_not_wait_while_another_connection_holds_the_write_lock(
        app: Flask, browser: Callable[[str], Browser]) -> None:
    path = sqlite_file(app)
    page = browser("assessor")  # logging in writes: before the lock is taken
    with closing(sqlite3.connect(path, isolation_level=None, timeout=0)) as other:
        other.execute("BEGIN IMMEDIATE")
        assert page.get("/tasks").status_code == 200
        other.execute("ROLLBACK")


def test_deferred_begin_reads_without_the_lock_and_write_ahead_takes_it(app: Flask) -> None:
    with app.app_context():
        engine: Engine = db.engine
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite only: other databases begin as they always do")
    begins: list[str] = []

    def before(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.startswith("BEGIN"):
            begins.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        with Session(engine) as session:
            with deferred_begin():
                session.scalar(select(User.id).limit(1))
                write_ahead(session)  # the read transaction ends; what follows takes the lock up front
                session.scalar(select(User.id).limit(1))
                session.rollback()
            session.scalar(select(User.id).limit(1))
            session.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", before)
    assert begins == ["BEGIN", "BEGIN IMMEDIATE", "BEGIN IMMEDIATE"]
