"""Database plumbing the engine owns: timezone-aware timestamps, SQLite tuning, engine factory.

SQLite runs in WAL mode with a busy timeout, and every transaction starts with ``BEGIN IMMEDIATE``
so that two writers queue instead of failing half-way with "database is locked".
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, DateTime, Text, create_engine, event, func, type_coerce
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeDecorator

from engine.core.clock import as_utc

SQLITE_BUSY_TIMEOUT_MS = 30_000


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
    """WAL, busy timeout, foreign keys and BEGIN IMMEDIATE for every connection of ``engine``."""
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
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An SQLAlchemy engine for ``url`` with the SQLite settings above applied."""
    engine = create_engine(url, **kwargs)
    configure_sqlite(engine)
    return engine
