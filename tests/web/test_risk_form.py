"""The shipped risk assessment through its task pages: an assessor's "Identify risks" post with the AI
systems filled in is a normal submission (it used to answer 500 with the SQL of a half-made risk row)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from sqlalchemy import select

from engine.aims.registers import AISystem, Risk
from engine.core import services
from engine.core.clock import FixedClock
from engine.core.models import HumanTask
from web.extensions import db

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
