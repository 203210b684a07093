"""Engine fixtures: the tiny diagrams of ``tests/data`` deployed into the rolled-back test session."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from engine.core.clock import FixedClock
from engine.core.models import User
from engine.core.runtime import Context
from engine.core.settings import EngineSettings

from .helpers import DATA, Flow, deploy_tiny, user


@pytest.fixture(scope="session")
def tiny_settings() -> EngineSettings:
    """Forms from ``tests/data/forms``; escalation profiles (STD, APPROVAL) from ``tests/data``."""
    return EngineSettings(forms_dir=DATA / "forms", processes_dir=DATA)


@pytest.fixture
def tiny_ctx(session: Session, clock: FixedClock, tiny_settings: EngineSettings) -> Context:
    """A context whose database holds ``tiny_approval`` and ``tiny_multi_review`` (rolled back after)."""
    deploy_tiny(session, tiny_settings, clock, "tiny_approval", "tiny_multi_review")
    session.flush()
    return Context(session, clock, tiny_settings)


@pytest.fixture
def flow(tiny_ctx: Context) -> Flow:
    return Flow(tiny_ctx)


@pytest.fixture
def as_user(session: Session) -> Callable[[str], User]:
    return lambda key: user(session, key)


@pytest.fixture
def tiny_db(fresh_db: sessionmaker[Session], tiny_settings: EngineSettings,
            clock: FixedClock) -> Iterator[sessionmaker[Session]]:
    """A committing database (``fresh_db``) that holds ``tiny_approval``, for tests that race threads."""
    with fresh_db() as s:
        deploy_tiny(s, tiny_settings, clock, "tiny_approval")
        s.commit()
    yield fresh_db
