"""The organisation's risk criteria on the organisation page: the AIMS owner (and an admin) renames a scale
value, describes it and moves the levels and the appetite; the risk forms' scale fields show the new
words; bad input is named at its field and keeps what was typed; a stale save answers 409 and keeps it
too; other roles may not save."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy import select

from engine.aims import risk_criteria
from engine.aims.registers import Organisation
from engine.core.models import AuditEvent
from engine.core.settings import PROJECT_ROOT
from web.extensions import db

from .conftest import PEOPLE, Browser

URL = "/admin/organisation/risk-criteria"


def _stored(app: Flask) -> tuple[dict[str, Any], int]:
    with app.app_context():
        org = db.session.scalar(select(Organisation))
        assert org is not None
        return dict(org.risk_criteria or {}), org.row_version


def _version_on(page: str) -> str:
    form = page[page.index('data-testid="criteria-form"'):]
    match = re.search(r'name="version" value="(\d+)"', form)
    assert match, "the criteria form carries no version"
    return match.group(1)


def _scale_labels(app: Flask, form: str, field: str) -> list[str]:
    """The choices the shipped form ``form`` offers for its scale field ``field``, as a task page shows them."""
    from web.tasks import build_form

    schema = json.loads((PROJECT_ROOT / "forms" / f"{form}.schema.json").read_text())
    with app.test_request_context():
        fields, _ = build_form(schema, {})
    [found] = [f for f in fields if f.key == field]
    return [label for _, label in found.options]


def test_the_aims_owner_renames_and_describes_a_scale_value_and_the_risk_form_offers_it(
        app: Flask, browser: Callable[[str], Browser]) -> None:
    priya = browser("aims_owner")  # AIMS owner, not an admin
    page = priya.get("/admin/organisation")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'value="Possible"' in text and "Could happen once in 1 to 2 years" in text
    assert 'name="name"' not in text, "the organisation's own settings are for admins"
    assert 'href="/admin/organisation#criteria">Risk criteria</a>' in text  # in the menu
    _, version = _stored(app)
    saved = priya.post(URL, {"version": _version_on(text), "likelihood.3.name": "Plausible",
                             "likelihood.3.description": "Has happened to peers in the last two years.",
                             "levels.low": "3", "appetite": "8", "confirmed": "1"})
    assert saved.status_code == 303, saved.get_data(as_text=True)[:2000]
    criteria, now = _stored(app)
    assert now == version + 1
    assert criteria["likelihood_scale"]["3"] == "Plausible" and criteria["likelihood_scale"]["4"] == "Likely"
    assert criteria["likelihood_descriptions"]["3"] == "Has happened to peers in the last two years."
    assert criteria["levels"]["low"] == [1, 3] and criteria["levels"]["medium"] == [4, 9]
    assert criteria["appetite_max_score"] == 8 and criteria["status"] == "published"
    assert criteria["approved_by"] == PEOPLE["aims_owner"]
    assert risk_criteria.level_of(4, criteria) == "medium"
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "risk_criteria_changed")
                                   .order_by(AuditEvent.seq.desc())).first()
        assert event is not None and event.actor == PEOPLE["aims_owner"]
        assert event.data["changes"]["likelihood.3.name"] == ["Possible", "Plausible"]
        assert event.data["changes"]["levels.low"] == ["4", "3"]
        assert event.data["changes"]["appetite"] == ["6", "8"]
    assert _scale_labels(app, "risk_analyse", "inherent_likelihood") == [
        "1 · Rare", "2 · Unlikely", "3 · Plausible", "4 · Likely", "5 · Almost certain"]
    assert "3 · Plausible" in _scale_labels(app, "risk_confirm_residual", "actual_residual_likelihood")
    assert "3 · Moderate" in _scale_labels(app, "risk_analyse", "impact_individuals")


def test_bad_criteria_are_named_at_their_fields_and_nothing_typed_is_lost(
        app: Flask, browser: Callable[[str], Browser]) -> None:
    oliver = browser("admin")
    before, version = _stored(app)
    bad = oliver.post(URL, {"version": str(version), "impact.2.name": "", "impact.4.name": "Moderate",
                            "impact.5.description": "Lost licence " * 30, "levels.medium": "2",
                            "levels.high": "30", "appetite": "0"})
    assert bad.status_code == 422
    text = html.unescape(bad.get_data(as_text=True))
    for message in ("Impact 2 needs a name, e.g. Minor",
                    "Impact 4: “Moderate” is already the name of impact 3; each value needs its own name",
                    "Impact 5: a description of at most 300 characters (389 now)",
                    "The highest medium score must be above the highest low score",
                    "The highest high score must be a whole number from 1 to 24",
                    "The risk appetite must be a whole score from 1 to 25"):
        assert message in text, message
    assert 'id="impact-2-name"' in text and 'aria-describedby="impact-2-name-error"' in text
    assert re.search(r'id="impact-4-name"[^>]*value="Moderate"', text)  # the typed values stay
    assert re.search(r'id="impact-5-description"[^>]*>(Lost licence ){30}</textarea>', text)
    assert 'name="levels.high" type="number" min="1" max="24" value="30"' in text
    assert _stored(app) == (before, version)


def test_the_acceptance_authority_is_set_with_the_criteria_audited_and_used_to_route_acceptances(
        app: Flask, browser: Callable[[str], Browser]) -> None:
    from engine.aims.operators.risk import authority_for

    priya = browser("aims_owner")
    text = priya.get("/admin/organisation").get_data(as_text=True)
    assert 'name="authority.approver" type="number" min="1" max="24" value="9"' in text
    before, version = _stored(app)
    assert [authority_for(s, before) for s in (6, 9, 12, 16, 20)] == [
        "risk_owner", "approver", "top_management", "top_management", "ceo"]
    bad = priya.post(URL, {"version": str(version), "authority.approver": "18", "authority.top_management": "15",
                           "appetite": "7"})
    assert bad.status_code == 422
    page = html.unescape(bad.get_data(as_text=True))
    assert "The highest score top management accepts must be above the highest score the approver accepts (18)" \
        in page
    assert 'name="authority.approver" type="number" min="1" max="24" value="18"' in page  # typed values stay
    assert _stored(app) == (before, version)
    saved = priya.post(URL, {"version": str(version), "authority.approver": "12", "authority.top_management": "19"})
    assert saved.status_code == 303
    criteria, now = _stored(app)
    assert now == version + 1 and criteria["authority_upper"] == {"approver": 12, "top_management": 19}
    assert [authority_for(s, criteria) for s in (6, 12, 15, 19, 20)] == [
        "risk_owner", "approver", "top_management", "top_management", "ceo"]
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "risk_criteria_changed")
                                   .order_by(AuditEvent.seq.desc())).first()
        assert event is not None and event.data["changes"]["authority.approver"] == ["9", "12"]
        assert event.data["changes"]["authority.top_management"] == ["16", "19"]


def test_a_stale_save_answers_409_keeps_the_typed_values_and_names_who_changed_them(
        app: Flask, browser: Callable[[str], Browser]) -> None:
    priya, oliver = browser("aims_owner"), browser("admin")
    seen = _version_on(priya.get("/admin/organisation").get_data(as_text=True))
    first = oliver.post(URL, {"version": seen, "impact.1.name": "Trivial"})
    assert first.status_code == 303
    stale = priya.post(URL, {"version": seen, "impact.1.name": "Insignificant", "appetite": "9"})
    assert stale.status_code == 409
    text = html.unescape(stale.get_data(as_text=True))
    assert "the risk criteria were changed by Oliver Grant at" in text and "nothing was saved" in text
    assert 'value="Insignificant"' in text and 'name="appetite" type="number" min="1" max="25" value="9"' in text
    criteria, _ = _stored(app)
    assert criteria["impact_scale"]["1"] == "Trivial"
    organisation = oliver.post("/admin/organisation", {"version": seen, "name": "Lumenvale Renamed",
                                                       "scope": "All AI systems"})
    assert organisation.status_code == 409  # the organisation's own form checks the same version
    assert 'value="Lumenvale Renamed"' in organisation.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Organisation.name)) == "Lumenvale Financial Ltd"


def test_only_the_aims_owner_and_admins_change_the_criteria_and_only_admins_the_organisation(
        app: Flask, browser: Callable[[str], Browser]) -> None:
    before = _stored(app)
    for role in ("approver", "top_management", "process_owner"):
        b = browser(role)
        assert b.get("/admin/organisation").status_code == 403, role
        assert b.post(URL, {"impact.1.name": "Whatever", "appetite": "25"}).status_code == 403, role
    assert browser("aims_owner").post("/admin/organisation", {"name": "Taken over"}).status_code == 403
    assert _stored(app) == before


SCALE_FORM = json.dumps({"type": "object", "properties": {"likelihood": {
    "type": "integer", "minimum": 1, "maximum": 5, "x-scale": "likelihood", "title": "Likelihood"}}})


def test_a_scale_field_says_what_each_value_means_as_the_organisation_describes_it(
        app: Flask, browser: Callable[[str], Browser]) -> None:
    """The forms editor's preview (the same fields a task page draws) puts each value's description
    under it, tied to its radio button for screen readers; a new description shows at once."""
    priya, oliver = browser("aims_owner"), browser("admin")
    version = _version_on(priya.get("/admin/organisation").get_data(as_text=True))
    saved = priya.post(URL, {"version": version, "likelihood.4.description": "Seen at two peers this year."})
    assert saved.status_code == 303
    preview = html.unescape(oliver.post("/admin/forms/preview", {"schema": SCALE_FORM}).get_data(as_text=True))
    four = re.search(r'<input[^>]*id="f\.likelihood-4"[^>]*>', preview)
    assert four is not None and 'aria-describedby="f.likelihood-4-meaning"' in four.group(0)
    assert re.search(r'id="f\.likelihood-4-meaning">Seen at two peers this year\.<', preview)
    assert re.search(r'id="f\.likelihood-1-meaning">[^<]*5 years', preview)  # the others keep theirs
    assert 'role="radiogroup" aria-labelledby="f.likelihood-label"' in preview
