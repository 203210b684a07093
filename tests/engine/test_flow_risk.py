"""``aims_risk_assessment`` end to end through the services (FLOWS.md (f)): every gateway branch, and
the register rows each path leaves behind."""

from __future__ import annotations

import pytest

from engine.runtime import Context

from .risk_flow import QA_OK, RiskFlow, confirm, decision, done, plan, risk_item


@pytest.fixture
def rf(ctx: Context) -> RiskFlow:
    return RiskFlow(ctx)


def test_happy_path_treats_accepts_and_monitors(rf: RiskFlow) -> None:
    rf.start()
    assert rf.specs() == ["ut_identify_risks"]
    rf.identify(risk_item("Biased ranking"), risk_item("Stale model"))
    rf.analyse({"Biased ranking": (4, 4), "Stale model": (1, 2)})
    assert rf.specs() == ["ut_plan_treatment"]
    rf.complete("tomas", "ut_plan_treatment", plan(likelihood=3, impact=3))
    rf.complete("priya", "ut_risk_qa", QA_OK)
    assert rf.specs() == ["ut_accept_risk"]
    rf.complete("ingrid", "ut_accept_risk", decision())
    assert rf.specs() == ["ut_implement_treatment"]
    rf.complete("lucas", "ut_implement_treatment", done())
    rf.complete("tomas", "ut_confirm_residual", confirm())
    assert rf.specs() == []
    assert rf.instance is not None and rf.instance.end_event == "E_DONE"
