"""Operators of ``aims_aiia`` (FLOWS.md (a)) from the reviews to the end: the specialist reviews of a round
(A9, A10), rework (G2, G3), the approval and the other human decisions (A11, A12), locking the version and
updating the AI system (A13), cancellation, and the notice that deployment waits for approval (A12's
timer). Each decision is kept as an Approval record and on the ImpactAssessment row (``aiia.py``), once
per step and round."""

from __future__ import annotations

from copy import deepcopy
from datetime import datetime
from typing import Any

from sqlalchemy import select

from engine.aims import roles
from engine.aims.operators.aiia import (
    APPROVED_STATUSES,
    ASSESSING_STATUS,
    FINAL_STATUSES,
    analysis_due,
    assessment,
    clean_text,
    current_round,
    invalid,
    now_iso,
    record_sha256,
    set_content,
    set_system_status,
    system_of,
    touch,
)
from engine.aims.operators.common import actor_id, email, plus, record_approval
from engine.aims.registers import AISystem, ImpactAssessment
from engine.core.errors import FieldError, InvalidInput
from engine.core.operators import OperatorContext, operator

#: what aiia.finalise accepts as ``status`` -> the status written
FINAL_STATUS_OF = {"approve": "approved", "approved": "approved",
                   "approve_with_conditions": "approved_with_conditions",
                   "approved_with_conditions": "approved_with_conditions",
                   "low_tier_recorded": "low_tier_recorded", "reject": "rejected", "rejected": "rejected"}
#: a human decision -> the Approval record's decision (DOMAIN.md 4.3)
APPROVAL_DECISION = {
    "approve": "approve", "approve_with_conditions": "approve_with_conditions", "reject": "reject",
    "return_for_rework": "request_changes", "confirm_low_tier": "approve",
    "require_full_assessment": "request_changes", "send_to_approver_with_dissent": "approve",
    "cancel_assessment": "reject", "no_objection": "approve", "changes_required": "request_changes",
}
#: governance status of the system once the assessment is approved or recorded, from its status while
#: assessed (``aiia.ASSESSING_STATUS``; DOMAIN.md 4.2)
APPROVED_SYSTEM_STATUS = {"under_assessment": "approved_for_development", "change_pending": "in_operation"}
OPERATING_STATUSES = frozenset({"in_operation", "change_pending", "suspended"})
#: how long the record is kept at least (A.5.3); the retirement of the system extends it
RETENTION = "P3Y"


def _append_log(row: ImpactAssessment, log: str, entry: dict[str, Any], key: tuple[str, ...]) -> bool:
    """Append ``entry`` to ``content[log]`` unless an entry with the same ``key`` fields is there."""
    entries = list((row.content or {}).get(log) or [])
    if any(all(e.get(k) == entry.get(k) for k in key) for e in entries):
        return False
    set_content(row, **{log: entries + [entry]})
    return True


# --------------------------------------------------------------------------- A9 reviews

@operator("aiia.record_review")
def record_review(ctx: OperatorContext, kind: str = "rai", **_: Any) -> dict[str, Any]:
    """A9a/b/c: one specialist review opinion of this round, as an Approval row (step ``review``)."""
    row = assessment(ctx)
    outcome = ctx.data.get("outcome")
    if outcome not in ("no_objection", "changes_required"):
        raise InvalidInput(f"outcome: {outcome!r} is not no_objection or changes_required")
    by = ctx.actor.email if ctx.actor is not None else None
    entry = {"kind": kind, "round": current_round(ctx), "outcome": outcome, "comments": ctx.data.get("comments"),
             "items_to_change": list(ctx.data.get("items_to_change") or []), "by": by, "at": now_iso(ctx)}
    if _append_log(row, "reviews", entry, ("kind", "round")):
        record_approval(ctx, "ImpactAssessment", row.id, row.ref, "review", APPROVAL_DECISION[outcome], by,
                        "reviewer", comment=ctx.data.get("comments"), version=row.version,
                        conditions={"kind": kind, "round": entry["round"], "items_to_change": entry["items_to_change"]})
        reviewer = actor_id(ctx)
        if reviewer is not None and reviewer not in (row.reviewer_ids or []):
            row.reviewer_ids = sorted([*(row.reviewer_ids or []), reviewer])
        touch(ctx, row)
    return {"kind": kind, "outcome": outcome, "by": by, "round": entry["round"]}


@operator("aiia.collect_reviews")
def collect_reviews(ctx: OperatorContext, **_: Any) -> dict[str, Any]:
    """A10: the outcomes of this round's reviews (read from the row, not the merged branch data)."""
    row = assessment(ctx)
    current = current_round(ctx)
    reviews = [r for r in (row.content or {}).get("reviews") or [] if r.get("round") == current]
    outcomes = [r["outcome"] for r in reviews]
    return {"round": current, "outcomes": outcomes, "changes_required": "changes_required" in outcomes,
            "items_to_change": [i for r in reviews for i in r.get("items_to_change") or []],
            "reviewers": {r["kind"]: r.get("by") for r in reviews}}


# --------------------------------------------------------------------------- G2/G3 rework

@operator("aiia.record_rework")
def record_rework(ctx: OperatorContext, source: str = "reviews", **_: Any) -> dict[str, Any]:
    """A rework loop (G2 from the reviews, G3 from the approver): status -> ``changes_requested``,
    ``rework_count`` kept on the row. Returns when the reworked analysis is due."""
    row = assessment(ctx)
    count = current_round(ctx)
    entry = {"round": count, "source": source, "at": now_iso(ctx),
             "by": ctx.actor.email if ctx.actor is not None else None}
    _append_log(row, "rework_log", entry, ("round",))
    row.rework_count = count
    row.status = "changes_requested"
    touch(ctx, row)
    ctx.audit("aiia_rework", subject=row.ref, rework_count=count, source=source)
    return {"due_at": analysis_due(ctx, row.impact_tier), "rework_count": count}


# --------------------------------------------------------------------------- A11/A12 decisions

@operator("aiia.submit_for_approval")
def submit_for_approval(ctx: OperatorContext, **_: Any) -> dict[str, Any]:
    """Before A12: status -> ``pending_approval``; says which role approves and whether a reviewer's
    objection stands (sent on by the AIMS owner with dissent)."""
    row = assessment(ctx)
    current = current_round(ctx)
    dissent = any(r.get("round") == current and r.get("outcome") == "changes_required"
                  for r in (row.content or {}).get("reviews") or [])
    row.status = "pending_approval"
    touch(ctx, row)
    role = "top_management" if row.impact_tier == "high" else "approver"
    ctx.audit("aiia_submitted_for_approval", subject=row.ref, approver_role=role, dissent=dissent)
    return {"approver_role": role, "dissent": dissent}


@operator("aiia.record_decision")
def record_decision(ctx: OperatorContext, step: str = "approval", role: str | None = None,
                    **_: Any) -> dict[str, Any]:
    """A human decision of this round (low-tier confirmation, deadlock resolution, approval) as an
    Approval row; an approval also names the approver and the rationale on the row."""
    row = assessment(ctx)
    decision = ctx.data.get("decision")
    if decision not in APPROVAL_DECISION:
        raise InvalidInput(f"decision: {decision!r} is not a decision of this flow")
    by = ctx.actor.email if ctx.actor is not None else None
    comment = clean_text(ctx.data.get("decision_rationale" if step == "approval" else "comment"))
    conditions = deepcopy(ctx.data.get("conditions") or []) if decision == "approve_with_conditions" else None
    entry = {"spec": ctx.task_spec, "round": current_round(ctx), "step": step, "decision": decision, "by": by,
             "role": role, "comment": comment, "at": now_iso(ctx)}
    if _append_log(row, "decisions", entry, ("spec", "round")):
        record_approval(ctx, "ImpactAssessment", row.id, row.ref, step, APPROVAL_DECISION[decision], by, role,
                        comment=comment, conditions=conditions, version=row.version)
        if step == "approval" or decision == "confirm_low_tier":
            row.approver_id = actor_id(ctx)
            row.decision_rationale = comment
        touch(ctx, row)
    return {"decision": decision, "by": by, "step": step}


# --------------------------------------------------------------------------- A13 finalise

@operator("aiia.finalise")
def finalise(ctx: OperatorContext, status: str = "approved", next_review: str | None = None,
             **_: Any) -> dict[str, Any]:
    """A13 / A13L / A13R: lock the version.

    ``status`` is ``low_tier_recorded``, ``approve`` / ``approved``, ``approve_with_conditions`` or
    ``reject`` / ``rejected``. Sets the approver, ``approved_at``, ``next_review_due`` (approval +
    P1Y for a high or medium tier, P2Y for low, or the approver's ``next_review_override`` up to
    P2Y), ``retention_until`` and the sha256 of the locked record; supersedes the previous approved
    version; updates the AI system (tier, last assessment, next due date, governance status). A
    rejection sets the system ``rejected`` (never operated) or ``suspended`` (operating).

    Raises InvalidInput for an unknown status, ValidationError for an override above P2Y.
    """
    final = FINAL_STATUS_OF.get(status)
    if final is None:
        raise InvalidInput(f"aiia.finalise: unknown status {status!r}; use one of {', '.join(FINAL_STATUS_OF)}")
    row = assessment(ctx)
    system = system_of(ctx, row)
    if row.status in FINAL_STATUSES:
        return _final_result(row, system)
    now = ctx.clock.now()
    if final == "rejected":
        row.status = "rejected"
        _lock(ctx, row, now)
        operating = system.status in OPERATING_STATUSES or \
            (row.content or {}).get("system_status_before") in OPERATING_STATUSES
        set_system_status(ctx, system, "suspended" if operating else "rejected", f"{row.ref} rejected")
        ctx.audit("aiia_rejected", subject=row.ref, ai_system=system.ref, system_status=system.status)
        return _final_result(row, system)

    override = clean_text(ctx.data.get("next_review_override")) if final != "low_tier_recorded" else None
    period = override or next_review or ("P1Y" if row.impact_tier in ("high", "medium") else "P2Y")
    if override and plus(ctx, override, now) > plus(ctx, "P2Y", now):
        raise invalid("aiia_approval", [FieldError("next_review_override", f"{override} is longer than P2Y")])
    row.status = final
    row.approved_at = now
    if row.approver_id is None:
        row.approver_id = actor_id(ctx)
    row.next_review_due = plus(ctx, period, now)
    if final == "approved_with_conditions":
        row.conditions = deepcopy(ctx.data.get("conditions") or [])
    if final == "low_tier_recorded" and not row.overall_conclusion:
        row.overall_conclusion = "proceed"
    _lock(ctx, row, now)
    for older in ctx.session.scalars(select(ImpactAssessment).where(
            ImpactAssessment.ai_system_id == system.id, ImpactAssessment.id != row.id,
            ImpactAssessment.status.in_(APPROVED_STATUSES))):
        older.status = "superseded"
        touch(ctx, older)
        ctx.audit("aiia_superseded", subject=older.ref, by=row.ref)
    system.impact_tier = row.impact_tier
    system.last_aiia_id = row.id
    system.next_aiia_due = row.next_review_due
    touch(ctx, system)
    if system.status in APPROVED_SYSTEM_STATUS:
        set_system_status(ctx, system, APPROVED_SYSTEM_STATUS[system.status], f"{row.ref} {final}")
    ctx.audit("aiia_finalised", subject=row.ref, status=final, impact_tier=row.impact_tier,
              next_review_due=row.next_review_due.isoformat(), record_sha256=row.content["record_sha256"],
              conditions=len(row.conditions or []))
    return _final_result(row, system)


def _lock(ctx: OperatorContext, row: ImpactAssessment, now: datetime) -> None:
    """Retention and the sha256 of the canonical JSON of the locked record (stands in for the PDF)."""
    row.retention_until = plus(ctx, RETENTION, now)
    set_content(row, locked_at=now.isoformat())
    set_content(row, record_sha256=record_sha256(row))
    touch(ctx, row)


def _final_result(row: ImpactAssessment, system: AISystem) -> dict[str, Any]:
    return {"aiia_ref": row.ref, "status": row.status, "impact_tier": row.impact_tier,
            "next_review_due": row.next_review_due.isoformat() if row.next_review_due else None,
            "record_sha256": (row.content or {}).get("record_sha256"), "system_status": system.status,
            "conditions": len(row.conditions or [])}


# --------------------------------------------------------------------------- E_CANCEL

@operator("aiia.cancel")
def cancel(ctx: OperatorContext, reason: str | None = None, **_: Any) -> dict[str, Any]:
    """Cancel the assessment (deadlock resolved by cancelling): status ``cancelled``; the system goes
    back to the governance status it had before the assessment started."""
    row = assessment(ctx)
    system = system_of(ctx, row)
    if row.status in FINAL_STATUSES:
        return {"aiia_ref": row.ref, "status": row.status, "system_status": system.status}
    why = reason or clean_text(ctx.data.get("comment")) or "cancelled"
    row.status = "cancelled"
    set_content(row, cancelled={"reason": why, "at": now_iso(ctx),
                                "by": ctx.actor.email if ctx.actor is not None else None})
    touch(ctx, row)
    before = (row.content or {}).get("system_status_before")
    if before and ASSESSING_STATUS.get(before) == system.status:
        set_system_status(ctx, system, before, f"{row.ref} cancelled")
    ctx.audit("aiia_cancelled", subject=row.ref, reason=why)
    return {"aiia_ref": row.ref, "status": row.status, "system_status": system.status}


# --------------------------------------------------------------------------- A12 timer

@operator("aiia.notify_deployment_blocked")
def notify_deployment_blocked(ctx: OperatorContext, **_: Any) -> dict[str, Any]:
    """A12's non-interrupting P10D timer: when the system is not operating yet, tell the top-management
    sponsor that its deployment waits for this approval. The audit event is the notice until the
    outbox delivers messages."""
    row = assessment(ctx)
    system = system_of(ctx, row)
    if system.status in OPERATING_STATUSES:
        return {"notified": None, "system_status": system.status}
    org = roles.organisation(ctx.session)
    sponsor = email(ctx, org.top_management_sponsor_id) if org is not None else None
    ctx.audit("deployment_blocked_notice", subject=system.ref, to=sponsor, aiia_ref=row.ref,
              system_status=system.status)
    return {"notified": sponsor, "system_status": system.status}
