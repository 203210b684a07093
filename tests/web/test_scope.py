"""The AIMS scope statement (4.3), versioned and approved: the demo's version 1 is in force; changing it
starts a draft (the version in force stays), the draft changes in place, someone other than its author
approves it (the author is refused and the attempt audited), a stale save answers 409 keeping what was
typed, bad input is named in words, other roles are refused; the same through the API; readiness finds
"no approved scope statement"."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from engine.aims import readiness
from engine.aims.registers import Organisation, ScopeStatement
from engine.core.models import AuditEvent
from web.extensions import db

from .conftest import Browser
from .test_registers import _api

pytestmark = pytest.mark.demo

NEW_TEXT = "The AI management system of Lumenvale Financial Ltd, now including the Lisbon office."


@pytest.fixture(autouse=True)
def demo_scope_first(app: Flask) -> None:
    demo_scope(app)


def demo_scope(app: Flask) -> None:
    """Back to the demo's scope: version 1, approved, and nothing after it."""
    with app.app_context():
        for v in versions():
            if v.version > 1:
                db.session.delete(v)
            else:
                v.status, v.row_version = "approved", 1
        db.session.commit()


def words(response: Any) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def seen(b: Browser) -> dict[str, str]:
    page = b.get("/registers/scope").get_data(as_text=True)
    form = page[page.index('data-testid="scope-form"'):]
    return {k: re.search(rf'name="{k}" value="([^"]*)"', form).group(1) for k in ("based_on", "version")}  # type: ignore[union-attr]


def versions() -> list[ScopeStatement]:
    db.session.expire_all()
    return list(db.session.scalars(select(ScopeStatement).order_by(ScopeStatement.version)))


def form(text: str, **extra: Any) -> dict[str, Any]:
    return {"text": text, "boundaries": "Sites: Dublin, Manchester, Lisbon",
            "exclusion_item": ["Marketing dashboards", ""], "exclusion_justification": ["No AI involved", ""],
            **extra}


def test_scope_page_shows_the_approved_version_and_history(browser: Callable[[str], Browser]) -> None:
    response = browser("reviewer").get("/registers/scope")
    assert response.status_code == 200
    page = words(response)
    assert "In force: version 1" in page and "Lumenvale Financial Ltd covering the design" in page
    assert "Marketing analytics dashboards using rule-based segmentation" in page and "No AI system involved" in page
    assert "Version 1 · Approved (in force)" in page and "approved by Jonas Weber" in page
    assert 'data-testid="scope-form"' not in response.get_data(as_text=True)  # a reviewer does not write it


def test_scope_edit_makes_a_draft_then_another_approves_it(app: Flask, browser: Callable[[str], Browser]) -> None:
    owner = browser("aims_owner")
    response = owner.post("/registers/scope", form(NEW_TEXT, **seen(owner)))
    assert response.status_code == 303, words(response)[:2000]
    with app.app_context():
        v1, v2 = versions()
        assert (v1.status, v2.status, v2.text) == ("approved", "draft", NEW_TEXT)
        assert v2.exclusions == [{"item": "Marketing dashboards", "justification": "No AI involved"}]
    page = words(owner.get("/registers/scope"))
    assert "In force: version 1" in page and "Draft version 2 awaiting approval" in page
    assert "You wrote this draft, so someone else" in page
    again = owner.post("/registers/scope", form(NEW_TEXT + " And Porto.", **seen(owner)))  # the draft, in place
    assert again.status_code == 303
    refused = owner.post("/registers/scope/approve", {"based_on": "2", "version": "2"})
    assert refused.status_code == 403 and "you wrote version 2 of the scope statement" in words(refused)
    approver = browser("top_management")
    approved = approver.post("/registers/scope/approve", {"based_on": "2", "version": "2"})
    assert approved.status_code == 303, words(approved)[:2000]
    with app.app_context():
        v1, v2 = versions()
        assert (v1.status, v2.status, v2.text) == ("superseded", "approved", NEW_TEXT + " And Porto.")
        org = db.session.scalar(select(Organisation))
        assert org is not None and org.details["scope_statement"] == NEW_TEXT + " And Porto."
        events = {e.action: e for e in db.session.scalars(select(AuditEvent).where(AuditEvent.subject == "scope v2"))}
        assert set(events) >= {"scope_drafted", "scope_changed", "sod_violation_blocked", "scope_approved"}
        text_change = events["scope_drafted"].data["changes"]["text"]
        assert text_change["before"].startswith("The AI management system of Lumenvale Financial Ltd covering")
        assert text_change["after"] == NEW_TEXT
        assert events["scope_changed"].data["changes"]["text"]["after"] == NEW_TEXT + " And Porto."
    assert "In force: version 2" in words(approver.get("/registers/scope"))


def test_scope_stale_save_answers_409_and_keeps_the_typed_text(app: Flask, browser: Callable[[str], Browser]) -> None:
    owner, other = browser("aims_owner"), browser("top_management")
    old = seen(owner)
    assert other.post("/registers/scope", form("Someone else's scope.", **seen(other))).status_code == 303
    stale = owner.post("/registers/scope", form("My careful rewrite of the scope.", **old))
    assert stale.status_code == 409
    page = words(stale)
    assert "was changed by" in page and "My careful rewrite of the scope." in page
    with app.app_context():
        assert [v.text for v in versions()][-1] == "Someone else's scope."


def test_scope_bad_input_named_and_kept(app: Flask, browser: Callable[[str], Browser]) -> None:
    owner = browser("aims_owner")
    response = owner.post("/registers/scope", form("  ", exclusion_item=["Chatbot logs", ""],
                                                   exclusion_justification=["", "orphan reason"], **seen(owner)))
    assert response.status_code == 422
    page = words(response)
    assert "Scope statement: is required" in page
    assert "Exclusion 1 (Chatbot logs): needs a justification" in page and "Exclusion 2: say what is left out" in page
    assert 'value="Chatbot logs"' in response.get_data(as_text=True)
    with app.app_context():
        assert len(versions()) == 1


@pytest.mark.parametrize("role", ["reviewer", "process_owner", "internal_auditor"])
def test_scope_refused_to_other_roles(app: Flask, browser: Callable[[str], Browser], role: str) -> None:
    b = browser(role)
    assert b.post("/registers/scope", form("Mine now.", based_on="1", version="1")).status_code == 403
    assert b.post("/registers/scope/approve", {"based_on": "1", "version": "1"}).status_code == 403
    with app.app_context():
        assert [v.status for v in versions()] == ["approved"]


def test_api_scope_read_save_conflict_and_sod(app: Flask) -> None:
    owner, approver = _api(app, "aims_owner"), _api(app, "top_management")
    body = owner("GET", "/scope").get_json()
    assert body["in_force"]["version"] == 1 and body["draft"] is None
    assert body["in_force"]["exclusions"][0]["justification"].startswith("No AI system involved")
    saved = owner("PUT", "/scope", {"text": NEW_TEXT, "based_on": 1, "version": body["in_force"]["row_version"]})
    assert saved.status_code == 200, saved.get_json()
    draft = saved.get_json()["draft"]
    assert draft["version"] == 2 and draft["author"] == "Priya Raman"
    stale = approver("PUT", "/scope", {"text": "x", "based_on": 1})
    assert stale.status_code == 409 and stale.get_json()["error"]["code"] == "conflict"
    bad = owner("PUT", "/scope", {"text": "ok", "based_on": 2, "exclusions": [{"item": "Payroll bot"}]})
    assert bad.status_code == 422
    assert "Exclusion 1 (Payroll bot): needs a justification" in [e["message"] for e in
                                                                  bad.get_json()["error"]["errors"]]
    sod = owner("POST", "/scope/approve", {"based_on": 2, "version": draft["row_version"]})
    assert sod.status_code == 403 and sod.get_json()["error"]["code"] == "sod_violation"
    done = approver("POST", "/scope/approve", {"based_on": 2, "version": draft["row_version"]})
    assert done.status_code == 200 and done.get_json()["in_force"]["version"] == 2
    assert [v["status"] for v in done.get_json()["versions"]] == ["approved", "superseded"]
    assert _api(app, "reviewer")("PUT", "/scope", {"text": "x", "based_on": 2}).status_code == 403


def test_readiness_finds_no_approved_scope(app: Flask) -> None:
    with app.app_context():
        clock = app.extensions["aimsflow.clock"]
        [check] = readiness.run_checks(db.session, clock, ("RC-01",)).checks
        assert "no approved scope statement" not in check.detail
        for v in versions():
            v.status = "superseded"
        db.session.flush()
        [check] = readiness.run_checks(db.session, clock, ("RC-01",)).checks
        assert check.result == "fail" and "no approved scope statement" in check.detail
        db.session.rollback()


def test_two_writers_starting_a_draft_at_once_make_one(app: Flask) -> None:
    """The AIMS owner and top management save a change of the approved version at the same moment, five
    times: one draft each time, the other is told it changed meanwhile (never a database error)."""
    import threading

    from engine.app import scope
    from engine.core import ConflictError, transaction
    from engine.core.models import User
    from engine.core.runtime import Context

    from .conftest import PEOPLE

    clock = app.extensions["aimsflow.clock"]
    for round_ in range(5):
        demo_scope(app)
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def save(who: str, barrier: threading.Barrier = barrier, outcomes: list[str] = outcomes,
                 round_: int = round_) -> None:
            try:
                with app.app_context():
                    person = db.session.scalar(select(User).where(User.email == PEOPLE[who]))
                    db.session.commit()  # end the read: SQLite's reads here hold the write lock
                    barrier.wait(timeout=30)
                    ctx = Context(db.session, clock, app.extensions["aimsflow.settings"])
                    with transaction(db.session, clock):
                        scope.save(ctx, person, {"text": f"Round {round_} by {who}"}, 1, 1)
                    outcomes.append("saved")
            except ConflictError:
                outcomes.append("conflict")
            except BaseException as exc:  # noqa: BLE001 - reported below
                outcomes.append(repr(exc))

        threads = [threading.Thread(target=save, args=(who,)) for who in ("aims_owner", "top_management")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["conflict", "saved"], outcomes
        with app.app_context():
            assert [v.status for v in versions()] == ["approved", "draft"]
