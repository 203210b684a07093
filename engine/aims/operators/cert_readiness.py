"""Operators of readiness reviews (FLOWS.md (d) D8-D10 in ``aims_cert_prep``, (d3) 1 in
``aims_cert_maintenance``): the readiness checks of a round, the remediation actions they call for and top
management's go/no-go (``cert.*``).

Idempotency: a row an operator creates is found again before a second one is written, by its ref or
by the instance and round that created it (``details["instance_id"]`` / ``details["round"]``), so a
service task that runs again after a crash changes nothing twice.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine.aims import readiness
from engine.aims.operators.cert import actor_email, cycle_row, new_row
from engine.aims.operators.common import as_date, by_ref, record_approval, touch, user_id
from engine.aims.registers import ActionItem, ReadinessReview
from engine.core import refs
from engine.core.errors import InvalidInput
from engine.core.operators import OperatorContext, operator


@operator("cert.readiness_checks")
def readiness_checks(ctx: OperatorContext, cycle_ref: str, round: int, subset: str = "full") -> dict[str, Any]:
    """D8 / (d3) 1: run the readiness checks into a ReadinessReview (one per round of this instance)."""
    cycle = cycle_row(ctx, cycle_ref)
    checks = readiness.FULL + ("RC-21",) if subset == "full" else readiness.SURVEILLANCE_CHECKS
    report = readiness.run_checks(ctx.session, ctx.clock, checks)
    key = f"round {round} ({subset} checks)"
    review = next((r for r in ctx.session.scalars(select(ReadinessReview).where(
        ReadinessReview.cycle_id == cycle.id, ReadinessReview.instance_id == ctx.instance.id))
        if (r.rationale or "").startswith(key)), None)
    if review is None:
        review = new_row(ctx, ReadinessReview, refs.next_ref(ctx.session, "RR"), cycle_id=cycle.id,
                         run_at=ctx.clock.now(), status="running", iso_refs=["4.4", "9.1"])
    review.run_at = ctx.clock.now()
    review.checks = [c.to_dict() for c in report.checks]
    review.blockers_count, review.warnings_count = len(report.blockers), len(report.warnings)
    review.score_pct = report.score_pct
    review.rationale = key
    touch(ctx, review, "remediation" if report.blockers else "results_ready")
    if cycle.status in ("planning", "readiness_review"):
        touch(ctx, cycle, "readiness_review")
    ctx.audit("readiness_checked", subject=review.ref, cycle=cycle.ref, blockers=[c.id for c in report.blockers],
              warnings=[c.id for c in report.warnings], score_pct=report.score_pct)
    return {"review_ref": review.ref, "blockers_count": len(report.blockers), "warnings_count": len(report.warnings),
            "score_pct": report.score_pct, "blockers": [f"{c.id}: {c.detail}" for c in report.blockers],
            "warnings": [f"{c.id}: {c.detail}" for c in report.warnings]}


@operator("cert.plan_remediation")
def plan_remediation(ctx: OperatorContext, review_ref: str, actions: list[dict[str, Any]] | None,
                     known_gaps: list[dict[str, Any]] | None, requester: str | None,
                     latest_due: str | None = None) -> dict[str, Any]:
    """D9: one ActionItem per remediation action, each carried out by an ``aims_action`` instance;
    soft checks may be accepted as known gaps instead. Due dates may not pass ``latest_due``."""
    review = by_ref(ctx, ReadinessReview, review_ref, "no readiness review")
    limit = as_date(latest_due, "latest_due")
    created = []
    existing = {a.description: a for a in ctx.session.scalars(select(ActionItem).where(
        ActionItem.source_ref == review.ref, ActionItem.instance_id == ctx.instance.id))}
    for index, item in enumerate(actions or []):
        due = as_date(item.get("due_date"), f"actions/{index}/due_date")
        if due is not None and limit is not None and due > limit:
            raise InvalidInput(f"actions/{index}/due_date {due} is after {limit}, the latest a remediation action "
                               "may be due before the audit")
        if item["description"] in existing:
            continue
        row = new_row(ctx, ActionItem, refs.next_ref(ctx.session, "ACT"), status="open",
                      description=item["description"], source_ref=review.ref, owner_id=user_id(ctx, item["owner_id"]),
                      requester_id=user_id(ctx, requester), due_date=due, needs_verification=True, iso_refs=["10.1"])
        ctx.start_process("aims_action", {"description": row.description, "owner_id": item["owner_id"],
                                          "due_date": due.isoformat() if due else None, "requester_id": requester,
                                          "needs_verification": True, "source_ref": review.ref,
                                          "action_ref": row.ref}, subject=row.ref)
        created.append(row.ref)
    if known_gaps:
        review.rationale = (review.rationale or "") + "; known gaps: " + "; ".join(
            f"{g.get('check')}: {g.get('rationale')}" for g in known_gaps)
    touch(ctx, review, "remediation")
    ctx.audit("readiness_remediation_planned", subject=review.ref, actions=created, known_gaps=known_gaps or [])
    return {"actions": created}


@operator("cert.record_readiness_decision")
def record_readiness_decision(ctx: OperatorContext, review_ref: str, decision: str, rationale: str,
                              decided_by: str | None, known_risks: str | None = None) -> dict[str, Any]:
    """D10: the go/no-go by top management (SOD-10 is checked on the task), on the readiness review."""
    review = by_ref(ctx, ReadinessReview, review_ref, "no readiness review")
    if decision not in ("go", "go_with_known_risks", "no_go"):
        raise InvalidInput(f"decision must be go, go_with_known_risks or no_go, not {decision!r}")
    decided_by = actor_email(ctx, decided_by)
    review.decision, review.decided_by_id = decision, user_id(ctx, decided_by)
    review.decided_at = ctx.clock.now()
    review.rationale = f"{review.rationale or ''}; decision: {rationale}" + (
        f" Known risks: {known_risks}" if known_risks else "")
    touch(ctx, review, "decided")
    record_approval(ctx, "readiness_review", review.id, review.ref, "approval", decision, decided_by,
                    "top_management", rationale, conditions=known_risks)
    return {"decision": decision}
