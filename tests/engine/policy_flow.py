"""``PolicyFlow`` drives ``processes/aims_policy_review.bpmn`` with valid form data.

People (demo organisation): priya (AIMS owner) owns and drafts the AI policy (DOC-POL-001, v1.0
published, v1.1 left in review by hand); sofia and fatima review; jonas and grace are top management;
ingrid approves procedures.

The process starts with a timer start event (the yearly review); the engine marks that event fired for
every instance it starts, by hand or by the schedule (``engine.timers.prime_start_timer``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine.aims import acknowledgements
from engine.aims.registers import Acknowledgement, Approval, Document, DocumentVersion
from engine.core import directory
from engine.core.models import ProcessInstance
from engine.core.runtime import Context

from .flow_driver import FlowDriver
from .helpers import user

POLICY = "DOC-POL-001"
CHECKLIST = {c: True for c in ("fits_purpose", "objectives_framework", "commit_applicable_requirements",
                               "commit_continual_improvement", "principles_stated", "exception_handling_defined",
                               "roles_referenced")}


def draft(outcome: str = "minor_revision", topics: tuple[str, ...] = ("principles",), ack: bool = True,
          effective_from: str | None = "2026-11-02", **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "review_inputs_considered": ["management_review_outputs", "incidents_concerns"],
        "review_outcome": outcome, "requires_acknowledgement": ack, "external_publication": True,
        "review_interval": "P1Y",
        "aligned_policies": [{"document_ref": "DOC-PROC-001", "result": "aligned"}]}
    if outcome != "no_change_needed":
        data |= {"changed_topics": list(topics), "change_summary": "Adds generative-AI acceptable use rules",
                 "draft": "policies/ai-policy-draft.md", "content_checklist": CHECKLIST}
        if effective_from:
            data["effective_from"] = effective_from
    return data | changes


ENDORSE = {"outcome": "endorse"}
CHANGES = {"outcome": "changes_required", "comments": "the exception process is missing"}


class PolicyFlow(FlowDriver):
    def __init__(self, ctx: Context):
        super().__init__(ctx, "aims_policy_review")

    def start(self, key: str = "priya", data: dict[str, Any] | None = None) -> ProcessInstance:
        return super().start(key, data if data is not None else {"trigger": "management_review"})

    def review_all(self, data: dict[str, Any] | None = None) -> list[str]:
        """Every open specialist review, by sofia or fatima (whoever is not excluded); returns the topics."""
        topics = []
        for task in self.tasks("ut_policy_specialist_review"):
            topics.append(self.item_of(task, "review_request")["topic"])
            reviewer = "fatima" if len(topics) % 2 else "sofia"
            from engine.core import services

            services.complete_task(self.ctx, user(self.session, reviewer), task.id, data or ENDORSE)
        return topics

    def acknowledge(self, *emails: str) -> None:
        for address in emails:
            acknowledgements.acknowledge(self.ctx, directory.user_by_email(self.session, address), POLICY, True)

    def asked(self) -> list[str]:
        """E-mails of everyone asked to acknowledge the current version."""
        version = self.document().current_version_id
        rows = self.session.scalars(select(Acknowledgement).where(Acknowledgement.document_version_id == version))
        return sorted(directory.email_of(self.session, r.user_id) or "" for r in rows)

    # --- registers

    def document(self, ref: str = POLICY) -> Document:
        row = self.session.scalar(select(Document).where(Document.ref == ref))
        assert row is not None
        return row

    def versions(self, ref: str = POLICY) -> dict[str, str]:
        return {v.version: v.status for v in self.document(ref).versions}

    def version(self, number: str, ref: str = POLICY) -> DocumentVersion:
        return next(v for v in self.document(ref).versions if v.version == number)

    def approvals(self) -> list[tuple[str, str, str]]:
        assert self.instance is not None
        rows = self.session.scalars(select(Approval).where(Approval.instance_id == self.instance.id)
                                    .order_by(Approval.id))
        return [(a.step, a.decision, a.actor_role or "") for a in rows]

    def acks(self) -> dict[str, int]:
        version = self.document().current_version_id
        rows = self.session.scalars(select(Acknowledgement).where(Acknowledgement.document_version_id == version))
        counts: dict[str, int] = {}
        for row in rows:
            counts[row.status] = counts.get(row.status, 0) + 1
        return counts
