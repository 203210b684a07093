"""Operators of ``aims_evidence_review`` (FLOWS.md S2): an evidence item is accepted (with its validity
and the controls it proves) or rejected; only accepted, unexpired evidence counts for a control."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine.aims import evidence_intake
from engine.aims.operators.common import actor_id, as_date, email, plus, today, touch, user_id
from engine.aims.register_specs import evidence_type_words
from engine.aims.registers import Evidence
from engine.core.errors import Forbidden, InvalidInput, NotFound
from engine.core.models import EvidenceFile, User
from engine.core.operators import OperatorContext, operator

DEFAULT_VALIDITY = "P12M"


def _evidence(ctx: OperatorContext, ref: str) -> Evidence:
    row = ctx.session.scalar(select(Evidence).where(Evidence.ref == ref))
    if row is None:
        raise NotFound(f"evidence_ref: no evidence {ref!r}")
    return row


def _upload(ctx: OperatorContext, file: Any) -> EvidenceFile:
    """The uploaded file a file field's value names. Raises InvalidInput."""
    eid = file.get("evidence_id") if isinstance(file, dict) else None
    row = ctx.session.get(EvidenceFile, eid) if isinstance(eid, int) else None
    if row is None:
        raise InvalidInput("file: the file is missing; upload it again")
    return row


def receive_file(ctx: OperatorContext, file: Any, *, evidence_ref: str | None = None, title: str | None = None,
                 evidence_type: str | None = None, controls: list[str] | None = None, owner: str | None = None,
                 valid_until: Any = None, note: str | None = None) -> Evidence:
    """A submitted file as a new evidence item, or as the next revision of ``evidence_ref``."""
    if not isinstance(ctx.actor, User):
        raise Forbidden("evidence is submitted by a person")
    until = as_date(valid_until, "valid_until")
    if until is not None and until <= today(ctx):
        raise InvalidInput(f"valid_until: {until.isoformat()} has passed; give a date after today")
    return evidence_intake.submit(ctx.session, ctx.clock, ctx.actor, ctx.instance, _upload(ctx, file),
                                  evidence_ref=evidence_ref, title=title, evidence_type=evidence_type,
                                  controls=controls, owner_id=user_id(ctx, owner), valid_until=until, note=note)


@operator("evidence.submit")
def submit(ctx: OperatorContext, evidence_ref: str | None, file: Any = None, title: str | None = None,
           evidence_type: str | None = None, linked_controls: list[str] | None = None, owner: str | None = None,
           valid_until: str | None = None, note: str | None = None) -> dict[str, Any]:
    """The evidence submission's file: a new item, or a new revision of ``evidence_ref`` (FLOWS.md S2).
    Without a file the review is of ``evidence_ref`` as it is. Returns the item's reference and revision."""
    if file is None:
        if not evidence_ref:
            raise InvalidInput("file: choose the file to submit, or the evidence item to review")
        return {"evidence_ref": evidence_ref, "revision": None}
    row = receive_file(ctx, file, evidence_ref=evidence_ref, title=title, evidence_type=evidence_type,
                       controls=linked_controls, owner=owner, valid_until=valid_until, note=note)
    return {"evidence_ref": row.ref, "revision": row.revision}


@operator("evidence.open_review")
def open_review(ctx: OperatorContext, evidence_ref: str) -> dict[str, Any]:
    """Load the evidence to review; it is ``submitted`` while the review runs."""
    row = _evidence(ctx, evidence_ref)
    if row.status in ("archived",):
        raise InvalidInput(f"evidence {evidence_ref} is archived; it cannot be reviewed again")
    previous = row.status
    # the validity the submitter gave the file (a certificate's expiry) is the reviewer's default
    proposed = row.valid_until if previous == "submitted" and row.valid_until and row.valid_until > today(ctx) \
        else None
    touch(ctx, row, "submitted")
    ctx.set_subject(row.ref)
    ctx.audit("evidence_review_opened", subject=row.ref, previous_status=previous)
    return {"title": row.title, "evidence_type": row.evidence_type, "kind": evidence_type_words(row.evidence_type),
            "linked_controls": list(row.linked_controls),
            "collected_by_id": email(ctx, row.collected_by_id), "previous_status": previous,
            "previous_valid_until": row.valid_until.isoformat() if row.valid_until else None,
            "default_valid_until": (proposed or plus(ctx, DEFAULT_VALIDITY)).isoformat()}


@operator("evidence.set_status")
def set_status(ctx: OperatorContext, evidence_ref: str, decision: str, valid_until: str | None,
               linked_controls: list[str], comment: str | None) -> dict[str, Any]:
    """Accept (validity, controls) or reject (comment) the evidence (SOD-06 was checked on the task)."""
    row = _evidence(ctx, evidence_ref)
    row.reviewer_id, row.reviewed_at, row.review_comment = actor_id(ctx), ctx.clock.now(), comment
    row.linked_controls = list(linked_controls)
    if decision == "accept":
        until = as_date(valid_until, "valid_until") or plus(ctx, DEFAULT_VALIDITY)
        if until <= today(ctx):
            raise InvalidInput(f"valid_until: {until.isoformat()} is not after today; accepted evidence must be "
                               "valid for some time")
        row.valid_until = until
        row.next_review_at = until
        touch(ctx, row, "accepted")
    else:
        touch(ctx, row, "rejected")
    ctx.audit("evidence_reviewed", subject=row.ref, decision=decision, valid_until=valid_until,
              linked_controls=row.linked_controls)
    return {"status": row.status}
