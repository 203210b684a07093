"""Operators of ``aims_training``: a person's completed training, with its certificate as proof (7.2).

The training record (register ``training``) is the assignment it completes (``training_ref``), else the
person's open record of the same competence or course, else a new ``TRN-`` record; it becomes
``completed`` with its date, provider and expiry, and the certificate becomes an evidence item (type
certificate, clause 7.2, control A.4.6) that the evidence review then accepts or rejects. The competence
checks (the internal auditor's competence, readiness RC-11) read the completed record.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine.aims import evidence_intake
from engine.aims.operators.common import as_date, by_ref, email, today, touch, user_id
from engine.aims.operators.evidence import receive_file
from engine.aims.register_specs import TRAINING
from engine.aims.registers import CompetenceRequirement, Evidence, TrainingRecord
from engine.core import refs
from engine.core.errors import Forbidden, InvalidInput
from engine.core.models import User
from engine.core.operators import OperatorContext, operator

#: roles that may record someone else's training
RECORDERS = frozenset({"aims_owner"})
#: the control a training certificate supports (A.4.6: human resources, their competences)
CONTROLS = ["A.4.6"]
_LABELS = {"status": "Status", "course": "Course", "provider": "Provider", "completed_at": "Completed on",
           "expires_at": "Expires on", "requirement": "Competence requirement", "certificate": "Certificate"}


def _shown(ctx: OperatorContext, row: TrainingRecord) -> dict[str, Any]:
    need = ctx.session.get(CompetenceRequirement, row.requirement_id) if row.requirement_id else None
    proof = ctx.session.get(Evidence, row.certificate_evidence_id) if row.certificate_evidence_id else None
    return {"status": TRAINING.field("status").choice_label(row.status), "course": row.course,
            "provider": row.provider, "completed_at": row.completed_at,
            "expires_at": row.expires_at, "requirement": need.ref if need else None,
            "certificate": proof.ref if proof else None}


def _record(ctx: OperatorContext, person: User, training_ref: str | None, course: str,
            requirement: CompetenceRequirement | None) -> TrainingRecord | None:
    """The record the completion belongs to (locked), or None for a new one."""
    if training_ref:
        found = by_ref(ctx, TrainingRecord, training_ref, "training_ref: there is no training record")
        row = ctx.session.scalar(select(TrainingRecord).where(TrainingRecord.id == found.id).with_for_update())
        assert row is not None
        if row.user_id not in (None, person.id):
            raise InvalidInput(f"training_ref: {training_ref} is assigned to {email(ctx, row.user_id)}, "
                               f"not to {person.email}")
        return row
    match = (TrainingRecord.requirement_id == requirement.id) if requirement is not None \
        else (TrainingRecord.course == course)
    return ctx.session.scalar(select(TrainingRecord).where(
        TrainingRecord.user_id == person.id, match, TrainingRecord.status.in_(("assigned", "in_progress", "expired")),
        TrainingRecord.retired_at.is_(None)).order_by(TrainingRecord.id).limit(1).with_for_update())


@operator("training.record_completion")
def record_completion(ctx: OperatorContext, course: str, completed_on: str, certificate: Any,
                      person: str | None = None, training_ref: str | None = None, requirement: str | None = None,
                      provider: str | None = None, expires_on: str | None = None) -> dict[str, Any]:
    """Mark the training completed and keep its certificate as evidence. Returns the record's and the
    evidence item's references."""
    actor = ctx.actor
    if not isinstance(actor, User):
        raise Forbidden("a training is recorded by a person")
    who = ctx.session.get(User, user_id(ctx, person)) if person else actor
    assert who is not None
    if who.id != actor.id and not actor.roles & RECORDERS:
        raise Forbidden("person: only the AIMS owner records someone else's training; leave it empty for yours")
    done = as_date(completed_on, "completed_on")
    assert done is not None
    if done > today(ctx):
        raise InvalidInput(f"completed_on: {done.isoformat()} is in the future; record a training once it is done")
    expires = as_date(expires_on, "expires_on")
    if expires is not None and expires <= done:
        raise InvalidInput("expires_on: the certificate expires before it was earned; check the dates")
    need = by_ref(ctx, CompetenceRequirement, requirement, "requirement: there is no competence requirement") \
        if requirement else None
    row = _record(ctx, who, training_ref, course, need)
    before = _shown(ctx, row) if row is not None else None
    now = ctx.clock.now()
    if row is None:
        row = TrainingRecord(ref=refs.next_ref(ctx.session, "TRN"), status="completed", user_id=who.id, course=course,
                             created_at=now, updated_at=now, created_by_id=actor.id, iso_refs=["7.2"],
                             effectiveness_check="not_checked", details={})
        ctx.session.add(row)
    evidence = receive_file(ctx, certificate, title=f"Training certificate: {course} ({who.name})",
                            evidence_type="certificate", controls=CONTROLS, owner=who.email, valid_until=expires)
    evidence.linked_clauses, evidence.iso_refs = ["7.2"], ["7.2"]
    row.course = course[:300]
    row.requirement_id = need.id if need is not None else row.requirement_id
    row.provider = provider or row.provider
    row.completed_at, row.expires_at, row.certificate_evidence_id = done, expires, evidence.id
    touch(ctx, row, "completed")
    ctx.session.flush()
    ctx.set_subject(row.ref)
    ctx.audit("training_completed", subject=row.ref, evidence=evidence.ref,
              changes=evidence_intake.changes(before, _shown(ctx, row), _LABELS))
    return {"training_ref": row.ref, "evidence_ref": evidence.ref}
