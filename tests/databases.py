"""Private test databases: a SQLite file, or on PostgreSQL (``AIMSFLOW_TEST_DATABASE_URL``) a schema of
its own inside that one database, so the suite needs no rights beyond creating schemas.

Run in parallel (``pytest -n 2``, pytest-xdist), each worker has a PostgreSQL database of its own on the
URL's server, named after the URL's database and the worker (``test_gw0``, ``test_gw1``), so no test
sees another worker's sessions, locks or advisory locks (``worker_database_url``); SQLite files are in
each worker's own temporary folder already.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def database_url(tmp_path: Path, name: str = "cli") -> tuple[str, Callable[[], None]]:
    """A private database for one app (``<name>.db`` in ``tmp_path``, or a PostgreSQL schema
    ``<name>_<random>``) and a function that drops it."""
    pg = os.environ.get("AIMSFLOW_TEST_DATABASE_URL")
    if not pg:
        return f"sqlite:///{tmp_path / f'{name}.db'}", lambda: None
    schema = f"{name}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')

    def drop() -> None:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()

    separator = "&" if "?" in pg else "?"
    return f"{pg}{separator}options=-csearch_path%3D{schema}", drop


def worker_database_url(url: str, worker: str) -> str:
    """The PostgreSQL database of one pytest-xdist worker (``<database>_<worker>`` on ``url``'s server),
    created the first time; later runs reuse it (each test's schema is dropped after it)."""
    given = make_url(url)
    name = f"{given.database}_{worker}"
    admin = create_engine(given, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}) is None:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()
    return given.set(database=name).render_as_string(hide_password=False)
