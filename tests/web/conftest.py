"""Web fixtures: an app on a database of its own per test module (SQLite file, or a PostgreSQL schema
when ``AIMSFLOW_TEST_DATABASE_URL`` is set) with the people of ``tests/people.py`` (password ``demo``), or
the whole demo organisation for modules marked ``demo``, and the diagrams of ``tests/data`` deployed
(``web_assessment`` has a layout bpmn-js can draw and a form with every kind of field), and ``Browser``,
a logged-in test client that sends the CSRF token like a page. A module's ``APP_CONFIG`` dict, if it has
one, is added to its app's test config.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine.aims import demo
from engine.app import accounts
from engine.core import audit_trail, definitions, services
from engine.core.clock import FixedClock
from engine.core.models import Base, HumanTask, User
from engine.core.runtime import Context
from engine.core.settings import PROJECT_ROOT, EngineSettings
from web import create_app
from web.extensions import db

from ..conftest import wants_demo
from ..databases import database_url
from ..people import add_people

DATA = Path(__file__).resolve().parent.parent / "data"
START = "2026-11-02T09:00:00+00:00"
PASSWORD = "demo"

#: one demo user per kind of user (DEMO_LOGINS in web/welcome.py)
PEOPLE = {
    "admin": "oliver.grant@lumenvale.example",
    "aims_owner": "priya.raman@lumenvale.example",
    "process_owner": "tomas.alvarez@lumenvale.example",
    "assessor": "sofia.rossi@lumenvale.example",
    "assessor2": "hannah.schmidt@lumenvale.example",
    "reviewer": "fatima.alsayed@lumenvale.example",
    "approver": "ingrid.larsen@lumenvale.example",
    "top_management": "grace.nwosu@lumenvale.example",
    "internal_auditor": "daniel.kim@lumenvale.example",
    "action_owner": "elena.petrova@lumenvale.example",
}


def settings_for(tmp: Path) -> dict[str, Any]:
    return {"FORMS_DIR": str(DATA / "forms"), "PROCESSES_DIR": str(DATA), "EVIDENCE_DIR": str(tmp / "evidence")}


@pytest.fixture(scope="module")
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture(scope="module")
def app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
        clock: FixedClock) -> Iterator[Flask]:
    tmp = tmp_path_factory.mktemp("web")
    url, drop = database_url(tmp)
    app = create_app({"TESTING": True, "DATABASE_URL": url, "CLOCK": clock, "SECRET_KEY": "test",
                      "SESSION_COOKIE_SECURE": False, "REMEMBER_COOKIE_SECURE": False,
                      "SERVER_NAME": "localhost", **settings_for(tmp), **getattr(request.module, "APP_CONFIG", {})})
    with app.app_context():
        Base.metadata.create_all(db.engine)
        session = db.session
        audit_trail.ensure_head(session)
        if wants_demo(request):
            demo.load(session, clock)
        else:
            add_people(session, clock.now())
        accounts.set_demo_passwords(session, PASSWORD)
        settings = app.extensions["aimsflow.settings"]
        definitions.deploy(session, [definitions.SourceFile.read(DATA / f"{n}.bpmn")
                                     for n in ("web_assessment", "tiny_approval", "tiny_multi_review")],
                          settings, clock)
        session.commit()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    drop()


def shipped_app(tmp: Path, clock: FixedClock) -> Iterator[Flask]:
    """An app with the demo organisation and the shipped processes and forms (not the tiny diagrams of
    tests/data); a module's ``app`` fixture yields from it."""
    url, drop = database_url(tmp)
    app = create_app({"TESTING": True, "DATABASE_URL": url, "CLOCK": clock, "SECRET_KEY": "test",
                      "SESSION_COOKIE_SECURE": False, "REMEMBER_COOKIE_SECURE": False, "SERVER_NAME": "localhost",
                      "PROCESSES_DIR": str(PROJECT_ROOT / "processes"), "FORMS_DIR": str(PROJECT_ROOT / "forms"),
                      "EVIDENCE_DIR": str(tmp / "evidence")})
    with app.app_context():
        Base.metadata.create_all(db.engine)
        audit_trail.ensure_head(db.session)
        demo.load(db.session, clock)
        accounts.set_demo_passwords(db.session, PASSWORD)
        definitions.deploy_directory(db.session, app.extensions["aimsflow.settings"], clock)
        db.session.commit()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    drop()


def csrf_of(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert match, "the page carries no CSRF token"
    return match.group(1)


class Browser:
    """A test client that logs in with e-mail and password and posts forms with the page's CSRF token."""

    def __init__(self, client: FlaskClient, email: str | None = None):
        self.client = client
        self.email = email
        self._csrf: str | None = None

    def login(self, email: str, password: str = PASSWORD) -> Any:
        response = self.client.post("/login", data={"email": email, "password": password,
                                                    "csrf_token": self.csrf(refresh=True)})
        self.email = email
        self._csrf = None
        return response

    def csrf(self, refresh: bool = False) -> str:
        if self._csrf is None or refresh:
            self._csrf = csrf_of(self.client.get("/login", follow_redirects=True).get_data(as_text=True))
        return self._csrf

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.client.get(url, **kwargs)

    def post(self, url: str, data: Any = None, **kwargs: Any) -> Any:
        data = dict(data or {})
        data.setdefault("csrf_token", self.csrf())
        return self.client.post(url, data=data, **kwargs)

    def post_json(self, url: str, body: Any) -> Any:
        return self.client.post(url, json=body, headers={"X-CSRFToken": self.csrf(), "Accept": "application/json"})


@pytest.fixture
def browser(app: Flask) -> Callable[[str], Browser]:
    """``browser("approver")``: a client logged in as that kind of demo user (or an e-mail)."""

    def make(who: str) -> Browser:
        b = Browser(app.test_client())
        response = b.login(PEOPLE.get(who, who))
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return b

    return make


@pytest.fixture
def anonymous(app: Flask) -> Browser:
    return Browser(app.test_client())


def user(email_or_key: str) -> User:
    found = db.session.scalar(select(User).where(User.email == PEOPLE.get(email_or_key, email_or_key)))
    assert found is not None
    return found


def engine_ctx(app: Flask) -> Context:
    return Context(db.session, app.extensions["aimsflow.clock"], app.extensions["aimsflow.settings"])


class Flows:
    """Drive ``web_assessment`` through the engine (committed), to set up what a page shows."""

    def __init__(self, app: Flask):
        self.app = app

    def start(self, who: str = "assessor", topic: str = "Chatbot tone", ref: str = "AIS-002") -> int:
        with self.app.app_context():
            ctx = engine_ctx(self.app)
            outcome = services.start_process(ctx, user(who), "web_assessment", {"topic": topic, "ai_system_ref": ref})
            db.session.commit()
            return outcome.instance.id

    def task(self, instance_id: int, spec: str) -> int:
        with self.app.app_context():
            rows = db.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                             HumanTask.task_spec == spec,
                                                             HumanTask.state.in_(("ready", "claimed")))).all()
            assert len(rows) == 1, f"expected one open {spec}, found {len(rows)}"
            return rows[0].id

    def assess(self, instance_id: int, who: str = "assessor", **extra: Any) -> int:
        """Complete ut_assess with valid answers; returns the approval task's id."""
        data = {"summary": "Tone of the replies", "risk_level": "medium", "likelihood": 3,
                "review_by": "2026-12-01", "reviewer": PEOPLE["reviewer"], **extra}
        task_id = self.task(instance_id, "ut_assess")
        with self.app.app_context():
            ctx = engine_ctx(self.app)
            services.claim_task(ctx, user(who), task_id)
            services.complete_task(ctx, user(who), task_id, data)
            db.session.commit()
        return self.task(instance_id, "ut_approve")

    def task_state(self, task_id: int) -> str:
        with self.app.app_context():
            task = db.session.get(HumanTask, task_id)
            assert task is not None
            return task.state


@pytest.fixture
def flows(app: Flask) -> Flows:
    return Flows(app)


def settings(app: Flask) -> EngineSettings:
    return app.extensions["aimsflow.settings"]  # type: ignore[no-any-return]
