"""``aims_evidence_review`` (FLOWS.md S2) end to end: accept with validity and controls, reject, SOD-06."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.aims.registers import Evidence
from engine.core import services
from engine.core.errors import InvalidInput, SodViolation, ValidationError
from engine.core.models import ProcessInstance
from engine.core.runtime import Context

from .helpers import user

pytestmark = pytest.mark.demo


def start(ctx: Context, ref: str = "EVD-018") -> ProcessInstance:
    return services.start_process(ctx, user(ctx.session, "priya"), "aims_evidence_review",
                                  {"evidence_ref": ref, "trigger": "submitted"}).instance


def evidence(ctx: Context, ref: str = "EVD-018") -> Evidence:
    row = ctx.session.scalar(select(Evidence).where(Evidence.ref == ref))
    assert row is not None
    return row


def review(ctx: Context, instance: ProcessInstance, data: dict, who: str = "priya") -> services.Outcome:  # type: ignore[type-arg]
    [task] = services.open_tasks(ctx, instance.id)
    return services.complete_task(ctx, user(ctx.session, who), task.id, data)


def test_evidence_accepted_with_validity_and_controls(ctx: Context) -> None:
    instance = start(ctx)
    assert instance.subject == "EVD-018" and evidence(ctx).status == "submitted"
    review(ctx, instance, {"decision": "accept", "valid_until": "2027-11-01", "linked_controls": ["A.4.4", "A.4.5"]})
    row = evidence(ctx)
    assert instance.end_event == "E_EVIDENCE_ACCEPTED"
    assert row.status == "accepted" and row.valid_until is not None and row.valid_until.isoformat() == "2027-11-01"
    assert row.linked_controls == ["A.4.4", "A.4.5"] and row.reviewer_id == user(ctx.session, "priya").id


def test_evidence_rejected_needs_a_comment(ctx: Context) -> None:
    instance = start(ctx)
    with pytest.raises(ValidationError, match="comment"):
        review(ctx, instance, {"decision": "reject", "linked_controls": ["A.4.4"]})
    review(ctx, instance, {"decision": "reject", "linked_controls": ["A.4.4"], "comment": "screenshot unreadable"})
    assert instance.end_event == "E_EVIDENCE_REJECTED"
    assert evidence(ctx).status == "rejected" and evidence(ctx).review_comment == "screenshot unreadable"


def test_evidence_review_refuses_unknown_controls_and_past_validity(ctx: Context) -> None:
    instance = start(ctx)
    with pytest.raises(ValidationError, match="linked_controls"):
        review(ctx, instance, {"decision": "accept", "valid_until": "2027-11-01", "linked_controls": ["A.1.1"]})
    with pytest.raises(InvalidInput, match="valid_until"):
        review(ctx, instance, {"decision": "accept", "valid_until": "2026-01-01", "linked_controls": ["A.4.4"]})


def test_evidence_submitter_cannot_accept_it(ctx: Context) -> None:
    instance = start(ctx, "EVD-001")  # collected by priya (u03)
    [task] = services.open_tasks(ctx, instance.id)
    assert user(ctx.session, "priya").id in task.excluded_ids
    with pytest.raises(SodViolation, match="SOD-06"):
        review(ctx, instance, {"decision": "accept", "valid_until": "2027-11-01", "linked_controls": ["A.2.2"]})
