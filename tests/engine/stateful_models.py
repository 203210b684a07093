"""Flows the stateful test drives: which process, its start data, and valid form data per task (several
options per task, so random choices take every gateway branch)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy.orm import Session

from engine.core import definitions
from engine.core.clock import FixedClock
from engine.core.runtime import Context
from engine.core.settings import EngineSettings

from .helpers import DATA, deploy_tiny, email
from .risk_flow import (
    ACCEPT,
    ANNEX_C,
    ESCALATE,
    QA_OK,
    QA_RETURN,
    REFUSE,
    analysis,
    confirm,
    decision,
    done,
    plan,
    risk_item,
)


@dataclass
class FlowModel:
    process_id: str
    start_data: dict[str, Any]
    task_data: dict[str, list[dict[str, Any]]]
    setup: Callable[[Session, FixedClock], EngineSettings]
    examples: int = 30
    steps: int = 25
    default: list[dict[str, Any]] = field(default_factory=lambda: [{}])
    #: runs on the demo database (the shipped flows and the demo organisation's registers)
    demo: bool = False

    def param(self) -> Any:
        """This model as a ``parametrize`` value, marked ``demo`` when it needs the demo database."""
        return pytest.param(self, id=self.process_id, marks=[pytest.mark.demo] if self.demo else [])

    def data_for(self, task_spec: str) -> list[dict[str, Any]]:
        return self.task_data.get(task_spec, self.default)

    def context(self, session: Session, clock: FixedClock, request: pytest.FixtureRequest) -> Context:
        return Context(session, clock, self.setup(session, clock))


def _tiny(session: Session, clock: FixedClock) -> EngineSettings:
    settings = EngineSettings(forms_dir=DATA / "forms", processes_dir=DATA)
    deploy_tiny(session, settings, clock, "tiny_approval")
    session.flush()
    return settings


TINY = FlowModel(
    process_id="tiny_approval",
    start_data={"topic": "laptop refresh"},
    task_data={
        "ut_submit": [{"amount": 5}, {"amount": 900, "note": "urgent"}, {"amount": 0}],  # the last is invalid
        "ut_approve": [{"decision": "approve"}, {"decision": "reject", "comment": "too much"},
                       {"decision": "reject"}],  # the last is invalid (comment required)
    },
    setup=_tiny,
)

def _shipped(session: Session, clock: FixedClock) -> EngineSettings:
    """The shipped flows, deployed in the demo database already. Checked here because a missing one would
    only make every random step fail with NotFound, which the machine counts as a refusal."""
    definitions.latest_version(session, "aims_risk_assessment")  # raises NotFound on the core database
    return EngineSettings()


_CHECKLIST = {s: "considered_relevant" for s in ANNEX_C}

#: the risk assessment with owners and assessors among the random users; every option list mixes
#: choices that take different gateway branches with one invalid submission
RISK = FlowModel(
    process_id="aims_risk_assessment",
    start_data={"assessment_scope": "ai_system", "scope_ref": "AIS-002", "trigger": "periodic",
                "assessor_id": email("sofia")},
    task_data={
        "ut_identify_risks": [
            {"risks": [risk_item("Drift"), risk_item("Leak", owner="ingrid")], "risk_sources_checklist": _CHECKLIST},
            {"risks": [risk_item("Drift")], "risk_sources_checklist": _CHECKLIST},
            {"risks": [risk_item("Drift")]},
        ],
        "ut_analyse_evaluate": [analysis(4, 4), analysis(1, 2), analysis(5, 5), {"inherent_likelihood": 9}],
        "ut_plan_treatment": [plan(likelihood=3, impact=3), plan(likelihood=1, impact=2), plan("avoid", 1, 1),
                              plan(likelihood=3, impact=4), plan() | {"annex_a_compared": False}],
        "ut_risk_qa": [QA_OK, QA_OK, QA_RETURN, {"outcome": "return_to_assessor"}],
        "ut_accept_risk": [decision(ACCEPT), decision(REFUSE), decision(ESCALATE), {"decision": ACCEPT}],
        "ut_accept_risk_top": [decision(ACCEPT, valid_until="2027-03-01"), decision(REFUSE), decision(ESCALATE)],
        "ut_accept_risk_ceo": [decision(ACCEPT, valid_until="2027-01-15", board=True),
                               decision(REFUSE, board=True), decision(ACCEPT, valid_until="2027-01-15")],
        "ut_implement_treatment": [done(), done(), done("blocked"), {"status": "done"}],
        "ut_confirm_residual": [confirm(), confirm(4, 4, "partially_effective"), confirm(effectiveness="ineffective")],
    },
    setup=_shipped,
    demo=True,
    examples=15,
    steps=100,
)

MODELS: list[FlowModel] = [TINY, RISK]
