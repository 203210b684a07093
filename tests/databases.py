"""Private test databases: a SQLite file, or on PostgreSQL (``AIMSFLOW_TEST_DATABASE_URL``) a schema of
its own inside that one database, so the suite needs no rights beyond creating schemas.

Run in parallel (``pytest -n 2``, pytest-xdist), each worker has a PostgreSQL database of its own on the
URL's server, named after the URL's database and the worker (``test_gw0``, ``test_gw1``), so no test
sees another worker's sessions, locks or advisory locks (``worker_database_url``); SQLite files are in
each worker's own temporary folder already.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import uuid
from collections.abc import Callable
from contextlib import closing
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


class Template:
    """A database filled once and copied for each app that starts from the same rows (the browser tests'
    served apps): a SQLite file copied with SQLite's backup, or a PostgreSQL database
    ``<database>_<name>`` that each copy is created from (``CREATE DATABASE ... TEMPLATE``), in place of
    building the schema and loading the rows again for every test."""

    def __init__(self, tmp_path: Path, name: str):
        self.pg = os.environ.get("AIMSFLOW_TEST_DATABASE_URL")
        self.name = name
        self.dropping: list[threading.Thread] = []
        if not self.pg:
            self.path = tmp_path / f"{name}.db"
            self.url = f"sqlite:///{self.path}"
            return
        self.server = make_url(self.pg).set(query={})
        self.database = f"{self.server.database}_{name}"
        self._create(self.database)
        self.url = self._url(self.database)

    def _url(self, database: str) -> str:
        return self.server.set(database=database).render_as_string(hide_password=False)

    def _admin(self, statement: str) -> None:
        admin = create_engine(self.server, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(statement)
        finally:
            admin.dispose()

    def _create(self, database: str, template: str | None = None) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')  # left by a run that was killed
        self._admin(f'CREATE DATABASE "{database}"' + (f' TEMPLATE "{template}"' if template else ""))

    def copy(self, tmp_path: Path) -> tuple[str, Callable[[], None]]:
        """A database of its own holding the template's rows (its engines must be disposed of), and a
        function that drops it."""
        if not self.pg:
            target = tmp_path / f"{self.name}_copy.db"
            with closing(sqlite3.connect(self.path)) as source, closing(sqlite3.connect(target)) as copy:
                source.backup(copy)
            return f"sqlite:///{target}", lambda: None
        database = f"{self.database}_{uuid.uuid4().hex[:8]}"
        self._create(database, template=self.database)

        def drop() -> None:  # in the background: PostgreSQL checkpoints on every DROP DATABASE
            statement = f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'
            dropping = threading.Thread(target=self._admin, args=(statement,))
            dropping.start()
            self.dropping.append(dropping)

        return self._url(database), drop

    def drop(self) -> None:
        """Drop the template, once the copies are dropped."""
        for dropping in self.dropping:
            dropping.join()
        if self.pg:
            self._admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
