"""``PolicyFlow`` drives ``processes/aims_policy_review.bpmn`` with valid form data.

People (demo organisation): priya (AIMS owner) owns and drafts the AI policy (DOC-POL-001, v1.0
published, v1.1 left in review by hand); sofia and fatima review; jonas and grace are top management;
ingrid approves procedures.

The process starts with a timer start event (the yearly review). On the timers branch the engine marks
that event fired for every instance it starts, by hand or by the schedule; ``timer_start_primed`` does
the same here until that branch is merged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

from engine import acknowledgements, directory, serializer
from engine.models import Acknowledgement, Approval, Document, DocumentVersion, ProcessInstance
from engine.runtime import Context

from .flow_driver import FlowDriver
from .helpers import user

POLICY = "DOC-POL-001"
CHECKLIST = {c: True for c in ("fits_purpose", "objectives_framework", "commit_applicable_requirements",
                               "commit_continual_improvement", "principles_stated", "exception_handling_defined",
                               "roles_referenced")}


def prime(workflow: Any) -> None:
    """Mark a timer start event of a new workflow as fired, so the instance runs at once."""
    for task in workflow.get_tasks(state=TaskState.PREDICTED_MASK | TaskState.FUTURE):
        spec = task.task_spec
        if task.workflow is workflow and isinstance(spec, StartEvent) and \
                isinstance(spec.event_definition, TimerEventDefinition):
            task._set_internal_data(event_fired=True)
            task._sync_children(spec.outputs, TaskState.FUTURE)
            for child in task.children:  # predict the path beyond, or the workflow ends after the first task
                child.task_spec._predict(child, mask=TaskState.PREDICTED_MASK | TaskState.FUTURE)


@contextmanager
def timer_start_primed() -> Iterator[None]:
    original = serializer.new_workflow

    def new_workflow(*args: Any, **kwargs: Any) -> Any:
        workflow = original(*args, **kwargs)
        prime(workflow)
        return workflow

    serializer.new_workflow = new_workflow  # type: ignore[assignment]
    try:
        yield
    finally:
        serializer.new_workflow = original  # type: ignore[assignment]


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
        with timer_start_primed():
            return super().start(key, data if data is not None else {"trigger": "management_review"})

    def review_all(self, data: dict[str, Any] | None = None) -> list[str]:
        """Every open specialist review, by sofia or fatima (whoever is not excluded); returns the topics."""
        topics = []
        for task in self.tasks("ut_policy_specialist_review"):
            topics.append(self.item_of(task, "review_request")["topic"])
            reviewer = "fatima" if len(topics) % 2 else "sofia"
            from engine import services

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
