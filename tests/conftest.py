"""Engine fixtures without Flask: two databases built once per run, each test in a rolled-back transaction.

* **core** (the default): the schema, the audit trail's head and the people of ``tests/people.py`` (the
  demo organisation's staff and the organisation row naming its AIMS owner, sponsor and CEO), nothing
  else. Tests of the engine itself run here and deploy the tiny diagrams of ``tests/data`` they use.
* **demo** (tests marked ``demo``, usually by ``pytestmark = pytest.mark.demo`` in the module): the schema,
  the demo organisation (``engine/aims/demo.py``) and every shipped flow of ``processes/``. Built the first
  time a marked test asks for a session, so a run of core tests alone never pays for it.

``session``, ``ctx`` and ``fresh_db`` follow the marker, so a test names the same fixtures on both.
The suite runs on SQLite (files in a temporary folder) or, when ``AIMSFLOW_TEST_DATABASE_URL`` is set,
on that database (PostgreSQL in CI), each database then a schema of its own inside it. Run in parallel
(``pytest -n 2``), each worker points ``AIMSFLOW_TEST_DATABASE_URL`` at a database of its own.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
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

from .databases import database_url, worker_database_url
from .people import add_people

aims.install()

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
START = "2026-11-02T09:00:00+00:00"

#: what a database holds before the tests: fill(session, settings, clock)
Fill = Callable[[Session, EngineSettings, FixedClock], None]


def pytest_configure(config: pytest.Config) -> None:
    """A pytest-xdist worker on PostgreSQL runs on a database of its own (``tests/databases.py``)."""
    worker, url = os.environ.get("PYTEST_XDIST_WORKER"), os.environ.get("AIMSFLOW_TEST_DATABASE_URL")
    if worker and url and url.startswith("postgresql"):
        os.environ["AIMSFLOW_TEST_DATABASE_URL"] = worker_database_url(url, worker)


def wants_demo(request: pytest.FixtureRequest) -> bool:
    """Whether the requesting test (or its class or module) is marked ``demo``."""
    return request.node.get_closest_marker("demo") is not None


@pytest.fixture(scope="session")
def settings() -> EngineSettings:
    return EngineSettings()


def fill_core(session: Session, settings: EngineSettings, clock: FixedClock) -> None:
    """The audit trail's head and the people: what every engine test may rely on."""
    audit_trail.ensure_head(session)
    add_people(session, clock.now())


def fill_demo(session: Session, settings: EngineSettings, clock: FixedClock) -> None:
    """The demo organisation and the shipped processes (if there are any yet)."""
    audit_trail.ensure_head(session)
    demo.load(session, clock)
    if any(settings.processes_dir.glob("*.bpmn")):
        definitions.deploy_directory(session, settings, clock)


def build(tmp: Path, name: str, fill: Fill, settings: EngineSettings) -> Iterator[Engine]:
    """A private database with the schema and ``fill``'s rows committed; dropped afterwards."""
    url, drop = database_url(tmp, name)
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        fill(session, settings, FixedClock(START))
        session.commit()
    try:
        yield engine
    finally:
        engine.dispose()
        drop()


@pytest.fixture(scope="session")
def core_db(tmp_path_factory: pytest.TempPathFactory, settings: EngineSettings) -> Iterator[Engine]:
    """The core database: schema, audit head, the people of ``tests/people.py``."""
    yield from build(tmp_path_factory.mktemp("core"), "core", fill_core, settings)


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory, settings: EngineSettings) -> Iterator[Engine]:
    """The demo database: schema, the demo organisation and the shipped processes."""
    yield from build(tmp_path_factory.mktemp("demo"), "demo", fill_demo, settings)


@pytest.fixture
def db_engine(request: pytest.FixtureRequest) -> Engine:
    """This test's database: ``demo_db`` for tests marked ``demo``, ``core_db`` otherwise."""
    engine: Engine = request.getfixturevalue("demo_db" if wants_demo(request) else "core_db")
    return engine


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
def fresh_db(request: pytest.FixtureRequest, tmp_path: Path,
             settings: EngineSettings) -> Iterator[sessionmaker[Session]]:
    """A database of its own that tests may commit to (concurrency, audit tampering), filled like the
    core database, or like the demo database for tests marked ``demo``."""
    fill = fill_demo if wants_demo(request) else fill_core
    for engine in build(tmp_path, "fresh", fill, settings):
        yield sessionmaker(engine, expire_on_commit=False)
