"""``RiskFlow`` drives ``processes/aims_risk_assessment.bpmn`` through the services with valid form data,
so tests can walk any path and then look at the registers.

People (demo organisation): sofia assesses, tomas owns the risks, priya (AIMS owner) does QA,
ingrid (approver) and grace (top management) accept, jonas is the CEO, lucas owns the actions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from engine.aims.registers import Risk, RiskAcceptance, RiskTreatmentAction
from engine.core import services
from engine.core.models import HumanTask, ProcessInstance

from .flow_driver import FlowDriver
from .helpers import email, user

PROCESS = "aims_risk_assessment"
ANNEX_C = ("complexity_of_environment", "lack_of_transparency_explainability", "level_of_automation",
           "machine_learning", "hardware", "life_cycle_issues", "technology_readiness")


def risk_item(title: str, owner: str = "tomas", **extra: Any) -> dict[str, Any]:
    return {"title": title, "description": f"{title}: cause, event and consequence described",
            "source_category": "machine_learning", "consequences_org": "fines and rework",
            "consequences_individuals": "unfair outcomes", "consequences_society": "none identified",
            "owner_id": email(owner)} | extra


def analysis(likelihood: int, impact: int) -> dict[str, Any]:
    """Inherent likelihood and a highest impact of ``impact`` (the other dimensions lower)."""
    low = max(1, impact - 1)
    return {"inherent_likelihood": likelihood, "impact_individuals": impact, "impact_society": low,
            "impact_financial": low, "impact_legal": low, "impact_reputation": low, "impact_operational": 1,
            "likelihood_rationale": "seen twice in the last year", "impact_rationale": "affects applicants"}


def plan(option: str = "modify", likelihood: int = 3, impact: int = 3, owner: str = "lucas",
         due: date | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"treatment_option": option, "annex_a_compared": True,
                            "target_residual_likelihood": likelihood, "target_residual_impact": impact,
                            "rationale": "bring the residual risk within what management can accept"}
    if option in ("modify", "share"):
        data["actions"] = [{"description": "Add subgroup monitoring", "control_ref": "A.6.2.6",
                            "owner_id": email(owner), "due_date": (due or date(2026, 12, 15)).isoformat()}]
    if option == "modify":
        data["planned_controls"] = ["A.6.2.6"]
    if option == "share":
        data["share_with"] = "insurer"
    if option == "avoid":
        data["avoid_plan"] = "stop using the model for this purpose"
    return data


ACCEPT = "accept_residual_and_approve_plan"
REFUSE = "reject_require_further_treatment"
ESCALATE = "escalate_to_higher_authority"


def decision(kind: str = ACCEPT, valid_until: str = "2027-05-01", board: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {"decision": kind, "rationale": "residual risk is understood and the plan is adequate"}
    if kind == ACCEPT:
        data["valid_until"] = valid_until
    if board:
        data["board_informed"] = True
    return data


def done(status: str = "done") -> dict[str, Any]:
    if status == "blocked":
        return {"status": "blocked", "completion_note": "not started", "blocker": "vendor has no API yet"}
    return {"status": "done", "completion_note": "monitoring live", "completed_at": "2026-11-20",
            "evidence": ["EVD-101 dashboard"]}


def confirm(likelihood: int = 3, impact: int = 3, effectiveness: str = "effective") -> dict[str, Any]:
    return {"actual_residual_likelihood": likelihood, "actual_residual_impact": impact,
            "treatment_effectiveness": effectiveness, "verification_evidence": ["EVD-102 test report"]}


QA_OK = {"methodology_followed": True, "scores_consistent": True, "soa_consistent": True,
         "outcome": "accept_for_decision"}
QA_RETURN = {"methodology_followed": False, "scores_consistent": False, "soa_consistent": True,
             "outcome": "return_to_assessor", "comments": "likelihood of the first risk is too low"}


@dataclass
class RiskFlow(FlowDriver):
    process_id: str = PROCESS

    def start(self, starter: str = "priya", data: dict[str, Any] | None = None, *, assessor: str = "sofia",
              scope: str = "AIS-001", **extra: Any) -> ProcessInstance:
        data = {"assessment_scope": "ai_system", "scope_ref": scope, "trigger": "periodic",
                "assessor_id": email(assessor)} | (data or {}) | extra
        return super().start(starter, data)

    def item(self, task: HumanTask) -> dict[str, Any]:
        """The multi-instance item (risk, request or action) a task row works on."""
        for name in ("risk", "risk_to_treat", "risk_to_confirm", "request", "action"):
            found = self.item_of(task, name)
            if isinstance(found, dict):
                return dict(found)
        return {}

    def complete(self, key: str, spec: str, data: dict[str, Any], title: str | None = None) -> services.Outcome:
        """Complete the open ``spec`` task (the one about ``title`` when there are several) as ``key``."""
        tasks = self.tasks(spec)
        if title is not None:
            tasks = [t for t in tasks if self._title(t) == title]
        assert len(tasks) == 1, f"expected one open {spec} {title or ''}, found {self.specs()}"
        return services.complete_task(self.ctx, user(self.session, key), tasks[0].id, data)

    def _title(self, task: HumanTask) -> str | None:
        item = self.item(task)
        return item.get("title") or item.get("description")

    # --- whole steps

    def identify(self, *risks: dict[str, Any], key: str = "sofia") -> None:
        self.complete(key, "ut_identify_risks", {
            "risks": list(risks), "risk_sources_checklist": {s: "considered_relevant" for s in ANNEX_C}})

    def analyse(self, scores: dict[str, tuple[int, int]], key: str = "sofia") -> None:
        for title, (likelihood, impact) in scores.items():
            self.complete(key, "ut_analyse_evaluate", analysis(likelihood, impact), title)

    # --- registers

    def risks(self) -> dict[str, Risk]:
        assert self.instance is not None
        rows = self.ctx.session.scalars(select(Risk).where(Risk.instance_id == self.instance.id))
        return {r.title: r for r in rows}

    def acceptances(self) -> list[RiskAcceptance]:
        assert self.instance is not None
        return list(self.ctx.session.scalars(select(RiskAcceptance).where(
            RiskAcceptance.instance_id == self.instance.id).order_by(RiskAcceptance.id)))

    def actions(self) -> list[RiskTreatmentAction]:
        assert self.instance is not None
        return list(self.ctx.session.scalars(select(RiskTreatmentAction).where(
            RiskTreatmentAction.instance_id == self.instance.id).order_by(RiskTreatmentAction.id)))


def in_days(today: date, days: int) -> str:
    return (today + timedelta(days=days)).isoformat()
