"""The demo's open work: every demo process starts, so the demo logins find tasks in their inboxes."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from engine.aims import demo_work
from engine.app import queries
from engine.core.clock import FixedClock
from engine.core.runtime import Context
from engine.core.settings import EngineSettings

from .helpers import user

pytestmark = pytest.mark.demo


def test_open_work_starts_every_demo_process_once(fresh_db: sessionmaker[Session], settings: EngineSettings) -> None:
    with fresh_db() as session:
        ctx = Context(session, FixedClock("2026-11-02T09:00:00+00:00"), settings)
        started = demo_work.start_open_work(ctx)
        session.commit()

        assert [(s.process_id, s.error) for s in started] == [(p, None) for p, _, _ in demo_work.OPEN_WORK]
        assert all(s.tasks for s in started)
        assert demo_work.start_open_work(ctx) == []  # loading the demo again starts nothing twice
        for key in ("sofia", "priya"):
            assert queries.inbox(session, user(session, key), ctx.clock.now()), f"{key} has nothing to do"
