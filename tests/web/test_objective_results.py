"""An objective's results over time: its page shows the measurements, a chart (figures for the static
script, the target among them) and a form its owner uses to record one; bad input is named in words and
keeps what was typed; others are refused. The API lists and adds measurements; the readiness check and
the measurements register see them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from engine.aims import readiness
from engine.aims.registers import AIObjective, ObjectiveMeasurement
from engine.core.models import AuditEvent
from web.extensions import db

from .conftest import Browser
from .test_registers import _api, text

pytestmark = pytest.mark.demo


def chart_data(page: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="objective-chart-data">(.*?)</script>', page, re.S)
    assert match, "the page carries no chart figures"
    return json.loads(match.group(1))


def words(response: Any) -> str:
    """The page's text as a reader sees it (tags dropped)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def measurements(ref: str) -> list[ObjectiveMeasurement]:
    db.session.expire_all()
    objective = db.session.scalar(select(AIObjective).where(AIObjective.ref == ref))
    assert objective is not None
    return list(db.session.scalars(select(ObjectiveMeasurement).where(ObjectiveMeasurement.objective_id ==
                                                                      objective.id)
                                   .order_by(ObjectiveMeasurement.measured_on)))


def test_objective_page_shows_measurements_chart_and_target(browser: Callable[[str], Browser]) -> None:
    response = browser("reviewer").get("/registers/objectives/OBJ-02")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    data = chart_data(page)
    assert data["target"] == 97 and data["unit"] == "%" and len(data["values"]) == 6
    assert data["values"][-1] == 93.1 and data["labels"] == sorted(data["labels"])
    assert "objective_chart.js" in page and "<script>" not in page.replace('<script type="application/json"', "")
    shown = words(response)
    assert "Latest: 93.1 %" in shown and "target not met" in shown
    assert "Fee change not reflected in knowledge base" in shown
    assert 'data-testid="record-measurement"' not in page  # a reviewer neither owns it nor writes objectives


def test_objective_owner_records_a_measurement_audited(app: Flask, browser: Callable[[str], Browser]) -> None:
    b = browser("process_owner")  # owns OBJ-01 (a process owner does not write the objectives register)
    with app.app_context():
        before = len(measurements("OBJ-01"))
        today = app.extensions["aimsflow.clock"].now().date().isoformat()
    response = b.post("/registers/objectives/OBJ-01/measurements",
                      {"measured_on": today, "value": "0.86", "note": "Q3 audit of the shortlist"})
    assert response.status_code == 303, text(response)[:1500]
    page = b.get("/registers/objectives/OBJ-01")
    assert "Q3 audit of the shortlist" in words(page) and "target met" in words(page)
    assert chart_data(page.get_data(as_text=True))["values"][-1] == 0.86
    with app.app_context():
        rows = measurements("OBJ-01")
        assert len(rows) == before + 1 and rows[-1].value == 0.86
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.subject == rows[-1].ref))
        assert event is not None and event.action == "register_created"
        assert event.data["changes"]["value"]["after"] == "0.86"


def test_objective_measurement_bad_input_named_and_typed_values_kept(
        app: Flask, browser: Callable[[str], Browser]) -> None:
    b = browser("aims_owner")
    with app.app_context():
        before = len(measurements("OBJ-03"))
    response = b.post("/registers/objectives/OBJ-03/measurements",
                      {"measured_on": "last Tuesday", "value": "about ninety", "note": "kept note"})
    assert response.status_code == 422
    page = text(response)
    assert "Measured on: must be a date like 2027-03-31" in page and "Value: must be a number" in page
    assert 'value="about ninety"' in page and 'value="kept note"' in page and 'value="last Tuesday"' in page
    future = b.post("/registers/objectives/OBJ-03/measurements", {"measured_on": "2099-01-31", "value": "80"})
    assert future.status_code == 422 and "Measured on: cannot be in the future" in text(future)
    with app.app_context():
        assert len(measurements("OBJ-03")) == before


@pytest.mark.parametrize("role", ["reviewer", "internal_auditor", "process_owner"])
def test_objective_measurement_refused_to_others(app: Flask, browser: Callable[[str], Browser], role: str) -> None:
    """OBJ-03 belongs to the AIMS owner; a process owner owns other objectives but not this one."""
    with app.app_context():
        before = len(measurements("OBJ-03"))
    response = browser(role).post("/registers/objectives/OBJ-03/measurements",
                                  {"measured_on": "2026-10-30", "value": "80"})
    assert response.status_code == 403
    assert "only the owner of OBJ-03, the AIMS owner or top management" in text(response)
    with app.app_context():
        assert len(measurements("OBJ-03")) == before


def test_api_objective_measurements_list_and_add(app: Flask) -> None:
    api = _api(app, "top_management")
    listed = api("GET", "/objectives/OBJ-04/measurements")
    assert listed.status_code == 200, listed.get_json()
    body = listed.get_json()
    assert body["target"] == 1.5 and body["on_target"] is False and len(body["measurements"]) == 6
    assert body["measurements"][0]["measured_on"] < body["measurements"][-1]["measured_on"]
    added = api("POST", "/objectives/OBJ-04/measurements", {"measured_on": "2026-10-30", "value": 1.4})
    assert added.status_code == 201, added.get_json()
    assert added.get_json()["on_target"] is True and added.get_json()["measurements"][-1]["value"] == 1.4
    bad = api("POST", "/objectives/OBJ-04/measurements", {"measured_on": "2026-13-45", "value": "n/a"})
    assert bad.status_code == 422
    messages = [e["message"] for e in bad.get_json()["error"]["errors"]]
    assert any(m.startswith("Measured on: must be a date") for m in messages), messages
    assert any(m.startswith("Value: must be a number") for m in messages), messages
    assert _api(app, "reviewer")("POST", "/objectives/OBJ-04/measurements",
                                 {"measured_on": "2026-10-30", "value": 1}).status_code == 403
    assert api("GET", "/objectives/OBJ-99/measurements").status_code == 404


def test_readiness_finds_an_objective_not_measured_within_its_frequency(app: Flask) -> None:
    with app.app_context():
        clock = app.extensions["aimsflow.clock"]
        [check] = readiness.run_checks(db.session, clock, ("RC-10",)).checks
        assert check.result == "pass", check.detail
        latest = measurements("OBJ-02")[-1]
        latest.retired_at = clock.now()  # recorded by mistake: the one before is two months old
        db.session.flush()
        [check] = readiness.run_checks(db.session, clock, ("RC-10",)).checks
        assert check.result == "fail"
        assert re.search(r"OBJ-02 last measured \S+; measured every P1M, a measurement was due by", check.detail)
        db.session.rollback()
