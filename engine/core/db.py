"""Database plumbing the engine owns: timezone-aware timestamps, SQLite tuning, engine factory.

SQLite runs in WAL mode with a busy timeout, and every transaction starts with ``BEGIN IMMEDIATE``
so that two writers queue instead of failing half-way with "database is locked". Inside
``deferred_begin()`` (the web app's GET and HEAD requests) transactions start with a plain ``BEGIN``
instead: a read takes no write lock, so readers never queue behind writers; ``write_ahead(session)``
(``web.common.unit`` calls it) turns the lock-up-front back on before a read request writes after all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, DateTime, Text, create_engine, event, func, type_coerce
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from engine.core.clock import as_utc

SQLITE_BUSY_TIMEOUT_MS = 30_000

#: True inside ``deferred_begin()``: SQLite transactions begun now start deferred (no write lock)
_DEFERRED: ContextVar[bool] = ContextVar("aimsflow_sqlite_deferred", default=False)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetime stored as UTC. SQLite keeps no zone, so values are normalised to UTC on
    the way in and marked UTC on the way out; PostgreSQL gets ``timestamptz``."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else as_utc(value)


class JSONText(TypeDecorator[Any]):
    """JSON stored as compact text (the same on SQLite and PostgreSQL, and cheap to write)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)

    def process_result_value(self, value: str | None, dialect: Any) -> Any:
        return None if value is None else json.loads(value)


def json_list_holds(column: Any, value: int) -> ColumnElement[bool]:
    """SQL: the list of integers a ``JSONText`` column holds contains ``value``.

    JSONText writes compact JSON (``[3,14]``): with both brackets turned into commas every item sits
    between two commas (``,3,14,``), so one LIKE finds it, the same on SQLite and PostgreSQL.
    """
    text = type_coerce(column, Text)  # compare the stored text, not a value to encode as JSON
    # most lists are empty: one comparison spares the string work (the inbox counts thousands of rows)
    return (text != "[]") & func.replace(func.replace(text, "[", ","), "]", ",").like(f"%,{int(value)},%")


def configure_sqlite(engine: Engine) -> None:
    """WAL, busy timeout, foreign keys and BEGIN IMMEDIATE (plain BEGIN inside ``deferred_begin``) for
    every connection of ``engine``."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        if engine.url.database not in (None, "", ":memory:"):
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN" if _DEFERRED.get() else "BEGIN IMMEDIATE")


@contextmanager
def deferred_begin() -> Iterator[None]:
    """Inside (this thread or task), SQLite transactions begin deferred: reading takes no write lock and
    never waits for a writer (WAL readers see the last commit). For work that only reads: a deferred
    transaction that writes after it has read fails at once with "database is locked" when another
    connection holds the write lock (SQLite cannot wait there without risking a deadlock), so call
    ``write_ahead`` before writing. Other databases are unaffected."""
    token = _DEFERRED.set(True)
    try:
        yield
    finally:
        _DEFERRED.reset(token)


def write_ahead(session: Session) -> None:
    """From here on (to the end of the enclosing ``deferred_begin``) ``session``'s SQLite transactions take
    the write lock up front again. A deferred transaction already open is committed first, so the next
    statement begins with ``BEGIN IMMEDIATE`` (it has read only, unless it wrote already: then that is
    kept). Does nothing outside ``deferred_begin`` or on other databases."""
    if not _DEFERRED.get():
        return
    _DEFERRED.set(False)
    if session.get_bind().dialect.name == "sqlite":  # no transaction open: commits nothing, runs no SQL
        session.commit()


@contextmanager
def no_wait(session: Session) -> Iterator[None]:
    """On SQLite, statements of ``session`` inside fail at once with "database is locked" instead of
    waiting up to the busy timeout for another connection's write lock (for writes that may be skipped,
    such as a token's last use). Commit after the block, not inside it (the setting belongs to the
    connection, which a commit hands back to the pool). Other databases are unaffected."""
    if session.get_bind().dialect.name != "sqlite":
        yield
        return
    conn = session.connection()
    conn.exec_driver_sql("PRAGMA busy_timeout = 0")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An SQLAlchemy engine for ``url`` with the SQLite settings above applied."""
    engine = create_engine(url, **kwargs)
    configure_sqlite(engine)
    return engine
