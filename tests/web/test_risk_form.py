"""The shipped risk assessment through its task pages: an assessor's "Identify risks" post with the AI
systems filled in is a normal submission (it used to answer 500 with the SQL of a half-made risk row)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select

from engine.aims.registers import AISystem, Risk
from engine.core import services
from engine.core.clock import FixedClock
from engine.core.models import HumanTask
from engine.core.settings import PROJECT_ROOT
from web.extensions import db
from web.tasks import build_form

from .conftest import PEOPLE, Browser, engine_ctx, shipped_app, user

pytestmark = pytest.mark.demo

CHECKLIST = ("complexity_of_environment", "lack_of_transparency_explainability", "level_of_automation",
             "machine_learning", "hardware", "life_cycle_issues", "technology_readiness")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, clock: FixedClock) -> Iterator[Flask]:
    """The demo organisation with the shipped processes and forms (not the tiny diagrams of tests/data)."""
    yield from shipped_app(tmp_path_factory.mktemp("risk_form"), clock)


def _identify_task(app: Flask) -> int:
    with app.app_context():
        outcome = services.start_process(engine_ctx(app), user("aims_owner"), "aims_risk_assessment", {
            "assessment_scope": "ai_system", "scope_ref": "AIS-001", "trigger": "periodic",
            "assessor_id": PEOPLE["assessor"]})
        db.session.commit()
        found = db.session.scalars(select(HumanTask).where(HumanTask.instance_id == outcome.instance.id,
                                                           HumanTask.task_spec == "ut_identify_risks")).all()
        assert len(found) == 1
        return found[0].id


def test_risk_identify_post_with_ai_systems_creates_the_risk(app: Flask, browser: Callable[[str], Browser]) -> None:
    task = _identify_task(app)
    sofia = browser("assessor")
    sofia.post(f"/tasks/{task}/claim")
    page = sofia.get(f"/tasks/{task}").get_data(as_text=True)
    assert re.search(r'name="f\.risks\.__i__\.ai_system_ids"', page), "the form has no AI system field"
    form = {"f.risks.0.title": "Biased scoring of applicants",
            "f.risks.0.description": "Training data under-represents older applicants, scores drift",
            "f.risks.0.source_category": "machine_learning", "f.risks.0.consequences_org": "fines and rework",
            "f.risks.0.consequences_individuals": "unfair outcomes",
            "f.risks.0.consequences_society": "none identified", "f.risks.0.owner_id": PEOPLE["process_owner"],
            "f.risks.0.ai_system_ids": ["AIS-001", "AIS-002"], "action": "complete",
            **{f"f.risk_sources_checklist.{name}": "considered_relevant" for name in CHECKLIST}}
    response = sofia.post(f"/tasks/{task}/complete", form)
    body = response.get_data(as_text=True)
    assert response.status_code == 303, body[:3000]
    assert "INSERT" not in body and "constraint" not in body
    with app.app_context():
        risk = db.session.scalar(select(Risk).where(Risk.title == "Biased scoring of applicants"))
        assert risk is not None and risk.status == "identified"
        refs = set(db.session.scalars(select(AISystem.ref).where(AISystem.id.in_(risk.ai_system_ids))))
        assert refs == {"AIS-001", "AIS-002"}


@contextmanager
def _statements(app: Flask) -> Iterator[list[str]]:
    """The SQL statements the app's database is sent inside the block."""
    seen: list[str] = []

    def before(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


def _built(app: Flask, schema: dict[str, Any], values: dict[str, Any]) -> list[str]:
    """The statements building the task page's form of ``schema`` filled with ``values`` sends."""
    with app.test_request_context():
        db.session.scalar(select(1))  # the transaction is open before counting
        with _statements(app) as seen:
            fields, _ = build_form(schema, values)
        assert fields
    return seen


def _shipped(form: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((PROJECT_ROOT / "forms" / f"{form}.schema.json").read_text())
    return schema


def test_risk_analysis_form_reads_the_risk_criteria_once_for_all_its_scales(app: Flask) -> None:
    """Seven scale fields (likelihood and six impacts) word their values from one read of the criteria."""
    schema = _shipped("risk_analyse")
    scales = [key for key, sub in schema["properties"].items() if "x-scale" in sub]
    assert len(scales) == 7
    one = {**schema, "properties": {scales[0]: schema["properties"][scales[0]]}, "required": []}
    assert len(_built(app, schema, {})) == len(_built(app, one, {})) == 1


def test_risk_identification_form_asks_for_people_and_systems_once_however_many_rows(app: Flask) -> None:
    """Each row of "Identify risks" has an owner and AI system picker: six rows cost what one does."""
    schema = _shipped("risk_identify")
    row = {"title": "Drift", "owner_id": PEOPLE["process_owner"], "ai_system_ids": ["AIS-001"]}
    once = _built(app, schema, {"risks": [row]})
    assert len(_built(app, schema, {"risks": [row] * 6})) == len(once)
