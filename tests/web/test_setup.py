"""Starting empty: ``aimsflow init`` on a migrated database, the one-time set-password link, the first visit
of an empty install (the set-up page) and the first admin's checklist.

Runs on SQLite, or on PostgreSQL (a schema of its own per app) when ``AIMSFLOW_TEST_DATABASE_URL`` is set.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from engine.aims.registers import AISystem, Organisation, Risk, ScopeStatement
from engine.app import scope
from engine.core.clock import FixedClock
from engine.core.models import AuditEvent, PasswordLink, ProcessVersion, User
from engine.core.settings import PROJECT_ROOT
from web import create_app
from web.extensions import db

from ..databases import database_url
from .conftest import Browser, engine_ctx, user
from .test_cli import Cli

START = "2026-11-02T09:00:00+00:00"
ADMIN = "ada@acme.example"


def make_app(tmp_path: Path, **config: Any) -> Iterator[Flask]:
    url, drop = database_url(tmp_path, "setup")
    app = create_app({"TESTING": True, "DATABASE_URL": url, "CLOCK": FixedClock(START), "SECRET_KEY": "test",
                      "SESSION_COOKIE_SECURE": False, "SERVER_NAME": "localhost",
                      "PROCESSES_DIR": str(PROJECT_ROOT / "processes"), "FORMS_DIR": str(PROJECT_ROOT / "forms"),
                      "EVIDENCE_DIR": str(tmp_path / "evidence"), **config})
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        drop()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    """An app on a migrated, empty database (no organisation, no users)."""
    for made in make_app(tmp_path):
        Cli(made).ok("db", "upgrade")
        yield made


def assert_first_draft(admin: User | None, text: str) -> None:
    """The set-up's scope text is version 1 of the scope statement, a draft by the admin, audited."""
    [draft] = db.session.scalars(select(ScopeStatement))
    assert admin is not None and (draft.version, draft.status, draft.author_id, draft.text) == (
        1, "draft", admin.id, text)
    assert db.session.scalar(select(AuditEvent.actor).where(AuditEvent.action == "scope_drafted")) == admin.email
    org = db.session.scalar(select(Organisation))
    assert org is not None and "scope_statement" not in org.details


def count(app: Flask, model: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def link_of(output: str) -> str:
    match = re.search(r"http://\S+/set-password/(\S+)", output)
    assert match, f"no set-password link in: {output}"
    return match.group(1)


# --------------------------------------------------------------------------- aimsflow init

def test_init_then_deploy_then_the_admin_logs_in_and_starts_a_process(tmp_path: Path) -> None:
    for app in make_app(tmp_path, ADMIN_PASSWORD="correct horse"):
        cli = Cli(app)
        cli.ok("db", "upgrade")
        out = cli.ok("init", "--org", "Acme AI Ltd", "--admin", ADMIN, "--appetite", "8",
                     "--scope", "The credit scoring models of Acme AI Ltd.").output
        assert "Acme AI Ltd" in out and ADMIN in out and "AIMSFLOW_ADMIN_PASSWORD" in out
        assert "set-password" not in out
        deployed = cli.ok("deploy").output
        assert "aims_audit_programme\tv1" in deployed
        with app.app_context():
            org = db.session.scalar(select(Organisation))
            assert org is not None and org.name == "Acme AI Ltd"
            assert org.risk_criteria["appetite_max_score"] == 8 and org.risk_criteria["status"] == "draft"
            admin = db.session.scalar(select(User).where(User.email == ADMIN))
            assert admin is not None and admin.roles == {"admin", "aims_owner"} and org.aims_owner_id == admin.id
            assert_first_draft(admin, "The credit scoring models of Acme AI Ltd.")
        assert count(app, User) == 1 and count(app, AISystem) == count(app, Risk) == 0  # no demo data
        browser = Browser(app.test_client())
        assert browser.login(ADMIN, "correct horse").status_code == 302
        inbox = browser.get("/tasks").get_data(as_text=True)
        assert 'data-testid="setup-checklist"' in inbox and "Write the AIMS scope statement" in inbox
        started = browser.post("/start/aims_audit_programme", {"period": "FY2027"})
        assert started.status_code == 303, started.get_data(as_text=True)[:500]
        tasks = cli.json("tasks", "--as", ADMIN)
        assert [t["task_spec"] for t in tasks] == ["ut_draft_programme"]


def test_init_without_a_password_prints_a_one_time_link_and_stores_only_its_hash(app: Flask) -> None:
    out = Cli(app).json("init", "--org", "Acme", "--admin", ADMIN)
    secret = link_of(out["password_link"])
    assert out["password_link_hours"] == 72 and out["roles"] == ["admin", "aims_owner"]
    with app.app_context():
        [row] = db.session.scalars(select(PasswordLink))
        assert secret not in row.token_hash and len(row.token_hash) == 64
        assert db.session.scalar(select(User.password_hash)) is None


@pytest.mark.parametrize("before", [("init", "--org", "First", "--admin", "first@acme.example"), ("demo", "load")],
                         ids=["after-init", "after-demo"])
def test_init_refuses_a_database_that_holds_an_organisation(app: Flask, before: tuple[str, ...]) -> None:
    cli = Cli(app)
    cli.ok(*before)
    users = count(app, User)
    result = cli("init", "--org", "Second", "--admin", ADMIN)
    assert result.exit_code == 4
    assert "set up already" in result.output and "Traceback" not in result.output
    assert count(app, Organisation) == 1 and count(app, User) == users


def test_init_refuses_a_database_that_is_not_migrated(tmp_path: Path) -> None:
    for app in make_app(tmp_path):
        result = Cli(app)("init", "--org", "Acme", "--admin", ADMIN)
        assert result.exit_code == 3
        assert "aimsflow db upgrade" in result.output


@pytest.mark.parametrize("args, message", [
    (("--org", " ", "--admin", ADMIN), "the organisation needs a name"),
    (("--org", "Acme", "--admin", "not-an-address"), "'not-an-address' is not an e-mail address"),
    (("--org", "x" * 201, "--admin", ADMIN), "1 to 200 characters"),
], ids=["blank-name", "bad-email", "long-name"])
def test_init_names_what_is_wrong_with_exit_3(app: Flask, args: tuple[str, ...], message: str) -> None:
    result = Cli(app)("init", *args)
    assert result.exit_code == 3 and message in result.output
    assert count(app, Organisation) == 0 and count(app, User) == 0


# --------------------------------------------------------------------------- the set-password link

def test_set_password_link_works_once(app: Flask) -> None:
    secret = link_of(Cli(app).ok("init", "--org", "Acme", "--admin", ADMIN).output)
    browser = Browser(app.test_client())
    page = browser.get(f"/set-password/{secret}")
    assert page.status_code == 200 and ADMIN in page.get_data(as_text=True)
    differ = browser.post(f"/set-password/{secret}", {"password": "one pass", "password_again": "other"})
    assert differ.status_code == 422 and "differ" in differ.get_data(as_text=True)
    done = browser.post(f"/set-password/{secret}", {"password": "one pass", "password_again": "one pass"})
    assert done.status_code == 303
    again = browser.post(f"/set-password/{secret}", {"password": "take over", "password_again": "take over"})
    assert again.status_code == 404 and "used already" in again.get_data(as_text=True)
    assert browser.login(ADMIN, "take over").status_code == 401
    assert browser.login(ADMIN, "one pass").status_code == 302


def test_set_password_link_expires(app: Flask) -> None:
    secret = link_of(Cli(app).ok("init", "--org", "Acme", "--admin", ADMIN).output)
    app.extensions["aimsflow.clock"].advance(timedelta(hours=72, seconds=1))
    browser = Browser(app.test_client())
    assert browser.get(f"/set-password/{secret}").status_code == 404
    late = browser.post(f"/set-password/{secret}", {"password": "late pass", "password_again": "late pass"})
    assert late.status_code == 404 and "expired" in late.get_data(as_text=True)
    assert browser.get("/set-password/not-a-link").status_code == 404


# --------------------------------------------------------------------------- the first visit

SETUP = {"organisation": "Brightline Health", "scope": "The AI systems of the clinical operations unit.",
         "appetite": "5", "admin_name": "Bea Admin", "admin_email": "bea@brightline.example",
         "password": "first pass", "password_again": "first pass"}


def test_first_visit_of_an_empty_install_leads_to_the_set_up_page(app: Flask) -> None:
    browser = Browser(app.test_client())
    assert browser.get("/").headers["Location"].endswith("/setup")
    assert browser.get("/login").headers["Location"].endswith("/setup")
    # from another machine the page takes nobody's word for it: whoever completes it becomes the admin
    remote = Browser(app.test_client())
    far = remote.client.get("/setup", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert far.status_code == 403 and "aimsflow init" in far.get_data(as_text=True)
    sent = remote.client.post("/setup", data=SETUP, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert sent.status_code in (400, 403)  # no form to take a CSRF token from, and no set-up from afar
    assert count(app, Organisation) == 0
    page = browser.get("/setup").get_data(as_text=True)
    assert "Set up your organisation" in page and "Risk appetite" in page
    bad = browser.post("/setup", {**SETUP, "appetite": "40", "admin_email": "bea"})
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert "whole score from 1 to 25" in text and "&#39;bea&#39; is not an e-mail address" in text
    assert count(app, Organisation) == 0
    done = browser.post("/setup", SETUP)
    assert done.status_code == 303 and done.headers["Location"].endswith("/login")
    assert browser.get("/setup").status_code == 404
    assert count(app, ProcessVersion) > 0  # the processes folder is deployed
    with app.app_context():
        org = db.session.scalar(select(Organisation))
        assert org is not None and org.risk_criteria["appetite_max_score"] == 5
        assert_first_draft(db.session.scalar(select(User)), SETUP["scope"])
    assert browser.login(SETUP["admin_email"], SETUP["password"]).status_code == 302
    inbox = browser.get("/tasks").get_data(as_text=True)
    assert "1 of 5 done" in inbox and "Confirm the risk criteria and appetite" in inbox
    assert "version 1 is a draft" in inbox and 'href="/registers/scope"' in inbox


def test_the_checklist_leads_to_the_organisation_page_that_ticks_it_off(app: Flask) -> None:
    Browser(app.test_client()).post("/setup", SETUP)
    browser = Browser(app.test_client())
    browser.login(SETUP["admin_email"], SETUP["password"])
    made = browser.post("/admin/users", {"email": "tom@brightline.example", "name": "Tom Top",
                                         "roles": "top_management"})
    assert made.status_code == 200 and "/set-password/" in made.get_data(as_text=True)
    page = browser.get("/admin/organisation").get_data(as_text=True)
    shown = page[page.index('data-testid="organisation-scope"'):]
    shown = shown[:shown.index("</section>")]
    assert "No approved scope statement yet" in shown and "Version 1 is a draft awaiting approval" in shown
    assert 'href="/registers/scope"' in shown and 'name="scope"' not in page  # changed on the scope page only
    bad = browser.post("/admin/organisation", {"name": "Brightline Health", "scope": "x",
                                               "ceo": "nobody@brightline.example"})
    assert bad.status_code == 422
    assert "no active user has the e-mail address nobody@brightline.example" in bad.get_data(as_text=True)
    saved = browser.post("/admin/organisation", {
        "name": "Brightline Health", "scope": SETUP["scope"],
        "aims_owner": SETUP["admin_email"], "sponsor": "tom@brightline.example", "ceo": "tom@brightline.example"})
    assert saved.status_code == 303
    with app.app_context():  # a posted "scope" changes nothing: the scope statement has its versions
        assert db.session.scalar(select(ScopeStatement.text)) == SETUP["scope"]
        assert "scope_statement" not in db.session.scalar(select(Organisation)).details  # type: ignore[union-attr]
    inbox = browser.get("/tasks").get_data(as_text=True)
    assert "Confirm the risk criteria" in inbox and "Write the AIMS scope statement" in inbox
    with app.app_context():  # top management approves the admin's draft on the scope page
        scope.approve(engine_ctx(app), user("tom@brightline.example"), 1, None)
        db.session.commit()
    page = browser.get("/admin/organisation").get_data(as_text=True)
    shown = page[page.index('data-testid="organisation-scope"'):]
    assert "Version 1, approved" in shown and SETUP["scope"] in shown[:shown.index("</section>")]
    confirmed = browser.post("/admin/organisation/risk-criteria", {"appetite": "6", "confirmed": "1"})
    assert confirmed.status_code == 303
    inbox = browser.get("/tasks").get_data(as_text=True)
    assert 'data-testid="setup-checklist"' not in inbox  # every step done
    with app.app_context():
        criteria = db.session.scalar(select(Organisation)).risk_criteria  # type: ignore[union-attr]
    assert criteria["status"] == "published" and criteria["approved_by"] == SETUP["admin_email"]


def test_init_json_output_is_machine_readable(app: Flask) -> None:
    result = Cli(app)("init", "--org", "Acme", "--admin", ADMIN, "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["organisation"] == "Acme"
