"""The AI risk assessment (``aims_risk_assessment``) done in chromium by the people who hold each step:
the AIMS owner starts it for an AI system, the assessor identifies two risks and analyses each, the
risk owner plans the treatment of the one above appetite, the AIMS owner checks the assessment, an
approver accepts the residual risk, the action owner implements the treatment and the risk owner
confirms the residual risk; and the rejection branch, where the approver refuses the residual risk
and the risk owner plans a stronger treatment that brings it within appetite. Screenshots under
test-output/e2e/<test name>/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from ..engine.helpers import email
from ..engine.risk_flow import ANNEX_C, QA_OK, REFUSE, analysis, confirm, decision, done, plan, risk_item
from .walk import Walk, walk

pytestmark = pytest.mark.demo
START = {"assessment_scope": "ai_system", "scope_ref": "AIS-001", "trigger": "periodic",
         "assessor_id": email("sofia")}


@pytest.fixture
def risk(chromium: Any, fresh_shipped_server: tuple[str, Flask], shots: Path) -> Iterator[Walk]:
    yield from walk(chromium, fresh_shipped_server, shots, "aims_risk_assessment")


def identify(w: Walk, *titles: str) -> None:
    w.do("sofia", "ut_identify_risks", {"risks": [risk_item(t) for t in titles],
                                        "risk_sources_checklist": {s: "considered_relevant" for s in ANNEX_C}})


def analyse(w: Walk, scores: dict[str, tuple[int, int]]) -> None:
    """The assessor analyses each identified risk on its own task."""
    for title, (likelihood, impact) in scores.items():
        w.do("sofia", "ut_analyse_evaluate", analysis(likelihood, impact),
             pick=lambda t, title=title: w.item(t, "risk").get("title") == title)


def test_risk_assessment_identified_treated_accepted_and_confirmed(risk: Walk) -> None:
    risk.start("priya", START)
    identify(risk, "Biased ranking", "Stale model")
    analyse(risk, {"Biased ranking": (4, 4), "Stale model": (1, 2)})
    assert risk.specs() == ["ut_plan_treatment"]  # only the risk above appetite
    risk.do("tomas", "ut_plan_treatment", plan(likelihood=3, impact=3))
    risk.do("priya", "ut_risk_qa", QA_OK)
    risk.do("ingrid", "ut_accept_risk", decision(valid_until="2027-06-30"))
    risk.do("lucas", "ut_implement_treatment", done())
    risk.do("tomas", "ut_confirm_residual", confirm())
    risk.finish("completed", "E_DONE")


def test_risk_approver_refuses_the_residual_and_the_owner_plans_again(risk: Walk) -> None:
    risk.start("priya", START)
    identify(risk, "Biased ranking")
    analyse(risk, {"Biased ranking": (5, 5)})
    risk.do("tomas", "ut_plan_treatment", plan(likelihood=3, impact=3))
    risk.do("priya", "ut_risk_qa", QA_OK)
    risk.do("ingrid", "ut_accept_risk", decision(REFUSE))
    assert risk.specs() == ["ut_plan_treatment"]
    risk.do("tomas", "ut_plan_treatment", plan(likelihood=2, impact=3))  # 6: within appetite, the owner accepts
    risk.do("priya", "ut_risk_qa", QA_OK)
    risk.do("lucas", "ut_implement_treatment", done())
    risk.do("tomas", "ut_confirm_residual", confirm(likelihood=2))
    risk.finish("completed", "E_DONE")
