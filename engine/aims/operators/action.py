"""Operators of ``aims_action`` (FLOWS.md S1): one action carried out by its owner, optionally verified
by whoever asked for it. The action is a row of the register its source keeps (a corrective action
``CA-``, a management-review action ``MRA-``, a risk treatment action ``RTA-``) or, for sources
without one, a generic ``ActionItem`` (``ACT-``) created here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine.aims.operators.common import actor_id, as_date, today, touch, user_id
from engine.aims.registers import ActionItem, CorrectiveAction, ReviewAction, RiskTreatmentAction
from engine.core import refs
from engine.core.errors import InvalidInput, NotFound
from engine.core.operators import OperatorContext, operator

#: action registers by ref prefix -> (model, status when done, status when verified)
REGISTERS: dict[str, tuple[Any, str, str]] = {
    "CA": (CorrectiveAction, "completed", "completed"),
    "MRA": (ReviewAction, "done", "done"),
    "RTA": (RiskTreatmentAction, "done", "verified"),
    "ACT": (ActionItem, "done", "verified"),
}


def find(ctx: OperatorContext, ref: str) -> tuple[Any, tuple[Any, str, str]]:
    """The action row with this ref and its register entry. Raises NotFound."""
    entry = REGISTERS.get(ref.split("-", 1)[0])
    row = ctx.session.scalar(select(entry[0]).where(entry[0].ref == ref)) if entry else None
    if row is None or entry is None:
        raise NotFound(f"action_ref: no action {ref!r} (known registers: {', '.join(REGISTERS)})")
    return row, entry


@operator("action.open")
def open_action(ctx: OperatorContext, description: str, owner_id: str, due_date: str, requester_id: str | None,
                source_ref: str | None, needs_verification: bool, action_ref: str | None = None) -> dict[str, Any]:
    """Find the action named by ``action_ref`` (or create a generic one) and mark it in progress."""
    if action_ref:
        row, _entry = find(ctx, action_ref)
    else:
        row = ctx.session.scalar(select(ActionItem).where(ActionItem.instance_id == ctx.instance.id))
        if row is None:
            now = ctx.clock.now()
            row = ActionItem(ref=refs.next_ref(ctx.session, "ACT"), description=description, source_ref=source_ref,
                             owner_id=user_id(ctx, owner_id), requester_id=user_id(ctx, requester_id),
                             due_date=as_date(due_date, "due_date"), needs_verification=bool(needs_verification),
                             created_at=now, updated_at=now, created_by_id=actor_id(ctx), status="open",
                             iso_refs=["6.3", "10.1"])
            ctx.session.add(row)
            ctx.session.flush()
    if hasattr(row, "action_instance_id"):
        row.action_instance_id = ctx.instance.id
    touch(ctx, row, "in_progress")
    ctx.set_subject(row.ref)
    ctx.audit("action_opened", subject=row.ref, owner=owner_id, due_date=due_date, source_ref=source_ref)
    return {"action_ref": row.ref}


@operator("action.record_completion")
def record_completion(ctx: OperatorContext, action_ref: str, status: str, completion_note: str | None,
                      completed_at: str | None, evidence: list[str] | None, blocker: str | None) -> dict[str, Any]:
    """Store what the owner reported: done (note, date, evidence) or cannot_complete (the blocker)."""
    row, (_model, done_status, _verified) = find(ctx, action_ref)
    row.completion_note = completion_note
    done_on = as_date(completed_at, "completed_at") if status == "done" else None
    if done_on is not None:
        # the completion date starts the NC's effectiveness window (nc.await_effectiveness): it must be real
        if done_on > today(ctx):
            raise InvalidInput(f"completed_at: {done_on.isoformat()} is in the future; an action is reported done "
                               f"once it is done (today is {today(ctx).isoformat()})")
        opened = row.created_at.date()
        if done_on < opened:
            raise InvalidInput(f"completed_at: {done_on.isoformat()} is before the action was raised "
                               f"({opened.isoformat()})")
    row.completed_at = done_on
    row.evidence = list(evidence or [])
    if hasattr(row, "blocker"):
        row.blocker = blocker if status != "done" else None
    touch(ctx, row, done_status if status == "done" else "blocked")
    ctx.audit("action_reported", subject=action_ref, status=status, blocker=blocker)
    return {"status": status}


@operator("action.record_verification")
def record_verification(ctx: OperatorContext, action_ref: str, result: str, comment: str | None) -> dict[str, Any]:
    """The requester accepted the work or returned it to the owner."""
    row, (_model, _done, verified_status) = find(ctx, action_ref)
    if result == "returned":
        if isinstance(row, ActionItem):
            row.return_count += 1
        touch(ctx, row, "in_progress")
    else:
        if isinstance(row, ActionItem):
            row.verified_by_id, row.verified_at = actor_id(ctx), ctx.clock.now()
        touch(ctx, row, verified_status)
    ctx.audit("action_verified", subject=action_ref, result=result, comment=comment)
    return {"result": result}


@operator("action.close")
def close(ctx: OperatorContext, action_ref: str) -> dict[str, Any]:
    """The end of the action flow: what the source flow is told (``msg_action_done``/``blocked``)."""
    row, _entry = find(ctx, action_ref)
    ctx.audit("action_closed", subject=action_ref, status=row.status)
    return {"action_ref": action_ref, "status": row.status,
            "completed_at": row.completed_at.isoformat() if row.completed_at else None}
