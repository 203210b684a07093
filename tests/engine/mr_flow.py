"""``ReviewFlow`` drives ``processes/aims_management_review.bpmn`` with valid form data.

People (demo organisation): priya (AIMS owner) schedules, compiles and takes the minutes; jonas (CEO)
chairs MR-2026-2; grace and amara attend for top management; tomas, fatima and daniel provide inputs.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine.aims.registers import ManagementReview, ReviewAction, ReviewDecision
from engine.core.models import ProcessInstance
from engine.core.runtime import Context

from .flow_driver import FlowDriver
from .helpers import email

MEETING = "2026-12-15T10:00:00+00:00"
REQUIRED = ["prev_actions_status", "context_changes", "interested_party_changes", "performance_nc_ca_trends",
            "performance_monitoring_results", "performance_audit_results", "improvement_opportunities"]
PROVIDERS = {"context_changes": "tomas", "interested_party_changes": "fatima", "improvement_opportunities": "daniel"}


def schedule(planned_at: str = MEETING, chair: str = "jonas", attendees: tuple[str, ...] = ("grace", "amara", "priya"),
             due: str = "2026-12-04", **changes: Any) -> dict[str, Any]:
    data = {"planned_at": planned_at, "chair_id": email(chair), "attendees": [email(a) for a in attendees],
            "agenda": "9.3.2 a-e; certification readiness",
            "input_requests": [{"category": c, "provider_id": email(k), "due": due} for c, k in PROVIDERS.items()]}
    return data | changes


def provided(category: str, nothing: bool = False) -> dict[str, Any]:
    if nothing:
        return {"category": category, "nothing_to_report": True}
    return {"category": category, "nothing_to_report": False,
            "summary": "Two new customer requirements on explainability", "key_messages": ["EU AI Act timelines"]}


PACK = {"pack_summary": "All inputs received; main issue is monitoring automation",
        "key_issues": ["manual fairness reporting"], "proposed_decisions": ["fund automation"]}


def minutes(present: tuple[str, ...] = ("jonas", "grace", "priya"), absent: tuple[str, ...] = ("amara",),
            decisions: list[dict[str, Any]] | None = None, actions: list[dict[str, Any]] | None = None,
            discussed: list[str] | None = None) -> dict[str, Any]:
    rating = {"rating": "partly", "comment": "monitoring still manual"}
    return {"held_at": MEETING, "attendance": [{"user_id": email(k), "present": True} for k in present]
            + [{"user_id": email(k), "present": False} for k in absent],
            "discussion": [{"category": c, "notes": f"{c} discussed"} for c in (discussed or REQUIRED)],
            "conclusion_suitability": {"rating": "yes", "comment": "fits the business"},
            "conclusion_adequacy": rating, "conclusion_effectiveness": rating,
            "decisions": decisions if decisions is not None else [
                {"type": "policy_change", "description": "Cover agentic AI in the AI policy",
                 "rationale": "new use cases"},
                {"type": "resource_need", "description": "Fund 0.5 FTE MLOps", "rationale": "automation"},
                {"type": "improvement_opportunity", "description": "Share audit lessons", "rationale": "OFI"}],
            "actions": actions if actions is not None else [
                {"decision_index": 1, "description": "Approve the MLOps budget line", "owner_id": email("grace"),
                 "due_date": "2027-01-31", "priority": "high"},
                {"decision_index": 0, "description": "Draft the policy change", "owner_id": email("priya"),
                 "due_date": "2027-02-28", "priority": "medium"}]}


class ReviewFlow(FlowDriver):
    def __init__(self, ctx: Context):
        super().__init__(ctx, "aims_management_review")

    def begin(self, ref: str = "MR-2026-2") -> None:
        self.start("priya", {"review_ref": ref})

    @property
    def ref(self) -> str:
        assert self.instance is not None and self.instance.subject is not None
        return self.instance.subject

    def provide_all(self, nothing: bool = False) -> None:
        for category, key in PROVIDERS.items():
            self.complete(key, "ut_mr_provide_input", provided(category, nothing))

    def to_meeting(self) -> None:
        """Begin MR-2026-2, schedule it, collect the inputs, issue the pack and reach the meeting."""
        self.begin()
        self.complete("priya", "ut_mr_schedule", schedule())
        self.provide_all()
        self.complete("priya", "ut_mr_compile_pack", PACK)
        self.fire_timer("tm_meeting")

    def approve(self, key: str = "jonas", **data: Any) -> Any:
        return self.complete(key, "ut_mr_approve_minutes", {"decision": "approve"} | data)

    # --- registers

    def review(self) -> ManagementReview:
        row = self.session.scalar(select(ManagementReview).where(ManagementReview.ref == self.ref))
        assert row is not None
        return row

    def decisions(self) -> list[tuple[str, str]]:
        return [(d.code, d.type) for d in self.session.scalars(
            select(ReviewDecision).where(ReviewDecision.review_id == self.review().id).order_by(ReviewDecision.id))]

    def actions(self) -> list[ReviewAction]:
        return list(self.session.scalars(select(ReviewAction).where(ReviewAction.review_id == self.review().id)
                                         .order_by(ReviewAction.id)))

    def started(self, process_id: str) -> list[ProcessInstance]:
        return self.children(process_id)
