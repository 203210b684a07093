"""Open work of the shipped risk assessment, set up through the engine for page tests: an "Identify
risks" task for the assessor, a "Plan the risk treatment" task for the risk owner."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from engine.core import services
from engine.core.models import HumanTask
from web.extensions import db

from ..engine.risk_flow import ANNEX_C, analysis, risk_item
from .conftest import PEOPLE, engine_ctx, user


def identify_task(app: Flask) -> int:
    """A fresh "Identify risks" of AIS-001 for Sofia (the assessor)."""
    with app.app_context():
        outcome = services.start_process(engine_ctx(app), user("aims_owner"), "aims_risk_assessment", {
            "assessment_scope": "ai_system", "scope_ref": "AIS-001", "trigger": "periodic",
            "assessor_id": PEOPLE["assessor"]})
        db.session.commit()
        return db.session.scalars(select(HumanTask.id).where(HumanTask.instance_id == outcome.instance.id,
                                                             HumanTask.task_spec == "ut_identify_risks")).one()


def plan_task(app: Flask) -> int:
    """A fresh "Plan the risk treatment" for Tomas: one high risk identified and analysed."""
    task = identify_task(app)
    with app.app_context():
        ctx = engine_ctx(app)
        services.claim_task(ctx, user("assessor"), task)
        title = f"Scoring drift {task}"
        services.complete_task(ctx, user("assessor"), task, {
            "risks": [risk_item(title) | {"owner_id": PEOPLE["process_owner"]}],
            "risk_sources_checklist": {s: "considered_relevant" for s in ANNEX_C}})
        instance = db.session.get(HumanTask, task).instance_id
        analyse = db.session.scalars(select(HumanTask.id).where(HumanTask.instance_id == instance,
                                                                HumanTask.task_spec == "ut_analyse_evaluate")).one()
        services.claim_task(ctx, user("assessor"), analyse)
        services.complete_task(ctx, user("assessor"), analyse, analysis(5, 5))
        db.session.commit()
        return db.session.scalars(select(HumanTask.id).where(HumanTask.instance_id == instance,
                                                             HumanTask.task_spec == "ut_plan_treatment")).one()
