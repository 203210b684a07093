"""Engine fixtures without Flask: one schema per run, each test in a rolled-back transaction.

The suite runs on SQLite (a file in a temporary folder) or, when ``AIMSFLOW_TEST_DATABASE_URL`` is set,
on that database (PostgreSQL in CI). Processes and the demo organisation are deployed once per run;
every test sees them and its own changes are rolled back afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from engine import aims
from engine.aims import demo
from engine.core import audit_trail, definitions
from engine.core.clock import FixedClock
from engine.core.db import make_engine
from engine.core.models import Base
from engine.core.runtime import Context
from engine.core.settings import EngineSettings

aims.install()

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
START = "2026-11-02T09:00:00+00:00"


def database_url(tmp_dir: Path) -> str:
    return os.environ.get("AIMSFLOW_TEST_DATABASE_URL") or f"sqlite:///{tmp_dir / 'test.db'}"


@pytest.fixture(scope="session")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return database_url(tmp_path_factory.mktemp("db"))


@pytest.fixture(scope="session")
def settings() -> EngineSettings:
    return EngineSettings()


def deploy_shipped(session: Session, settings: EngineSettings, clock: FixedClock) -> None:
    """Deploy the shipped processes, if there are any yet (tests deploy their own tiny diagrams)."""
    if any(settings.processes_dir.glob("*.bpmn")):
        definitions.deploy_directory(session, settings, clock)


def create_schema(engine: Engine) -> None:
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)


@pytest.fixture(scope="session")
def db_engine(db_url: str, settings: EngineSettings) -> Iterator[Engine]:
    """The test database with the schema, the shipped processes and the demo organisation committed."""
    engine = make_engine(db_url)
    create_schema(engine)
    with Session(engine) as session:
        clock = FixedClock(START)
        audit_trail.ensure_head(session)
        demo.load(session, clock)
        deploy_shipped(session, settings, clock)
        session.commit()
    yield engine
    engine.dispose()


@pytest.fixture
def session(db_engine: Engine) -> Iterator[Session]:
    """A session whose work is rolled back after the test (services only flush)."""
    connection = db_engine.connect()
    outer = connection.begin()
    s = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield s
    finally:
        s.close()
        outer.rollback()
        connection.close()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def ctx(session: Session, clock: FixedClock, settings: EngineSettings) -> Context:
    return Context(session, clock, settings)


@pytest.fixture
def fresh_db(tmp_path: Path, settings: EngineSettings) -> Iterator[sessionmaker[Session]]:
    """A database of its own that tests may commit to (concurrency, audit tampering, CLI)."""
    url = os.environ.get("AIMSFLOW_TEST_DATABASE_URL")
    if url:
        # PostgreSQL: one schema per test keeps committed data away from the shared tables
        schema = f"t_{os.getpid()}_{abs(hash(tmp_path)) % 10**8}"
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')

        @event.listens_for(engine, "connect")
        def _search_path(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute(f'SET search_path TO "{schema}"')
            cur.close()
            dbapi_conn.commit()

        engine.dispose()
    else:
        engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    Base.metadata.create_all(engine)
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as s:
        clock = FixedClock(START)
        audit_trail.ensure_head(s)
        demo.load(s, clock)
        deploy_shipped(s, settings, clock)
        s.commit()
    yield factory
    if url:
        engine.dispose()
        cleanup = make_engine(url)
        with cleanup.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        cleanup.dispose()
    else:
        engine.dispose()
