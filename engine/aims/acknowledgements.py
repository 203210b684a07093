"""Staff acknowledgements of a published document (FLOWS.md (e) E12: "I have read and understood the AI
Policy vX.Y"; 7.3 awareness). The requests are ``acknowledgement`` rows made by the policy review's
campaign, not BPMN tasks, so thousands of people do not mean thousands of process instances.

One use case per call; it flushes, the caller commits.
"""

from __future__ import annotations

from sqlalchemy import select

from engine.aims import roles
from engine.aims.registers import Acknowledgement, Document, DocumentVersion
from engine.core import audit_trail, directory
from engine.core.errors import ConflictError, InvalidInput, NotFound
from engine.core.models import User
from engine.core.runtime import Context


def pending(ctx: Context, user: User) -> list[tuple[Document, DocumentVersion, Acknowledgement]]:
    """The user's open acknowledgement requests (requested or overdue), oldest first."""
    rows = ctx.session.execute(
        select(Document, DocumentVersion, Acknowledgement)
        .join(DocumentVersion, DocumentVersion.document_id == Document.id)
        .join(Acknowledgement, Acknowledgement.document_version_id == DocumentVersion.id)
        .where(Acknowledgement.user_id == user.id, Acknowledgement.status.in_(("requested", "overdue", "escalated")))
        .order_by(Acknowledgement.requested_at, Acknowledgement.id))
    return [(d, v, a) for d, v, a in rows]


def acknowledge(ctx: Context, user: User, document_ref: str, ack: bool, question: str | None = None,
                channel: str = "app") -> Acknowledgement:
    """Record that ``user`` read and understood the published version of ``document_ref``.

    Raises InvalidInput (``ack`` is not true), NotFound (no published version, or nothing was asked of
    this user), ConflictError (already acknowledged). A question goes to the AIMS owner (audit event).
    """
    if ack is not True:
        raise InvalidInput("ack: tick 'I have read and understood' to acknowledge the document")
    doc = ctx.session.scalar(select(Document).where(Document.ref == document_ref))
    if doc is None or doc.current_version_id is None:
        raise NotFound(f"{document_ref} has no published version to acknowledge")
    row = ctx.session.scalar(select(Acknowledgement).where(
        Acknowledgement.document_version_id == doc.current_version_id, Acknowledgement.user_id == user.id))
    version = ctx.session.get(DocumentVersion, doc.current_version_id)
    label = f"{document_ref} v{version.version if version else '?'}"
    if row is None:
        raise NotFound(f"{user.email} was not asked to acknowledge {label}")
    if row.status == "acknowledged":
        raise ConflictError(f"{user.email} already acknowledged {label} on {row.acknowledged_at:%Y-%m-%d}")
    row.status, row.acknowledged_at, row.channel = "acknowledged", ctx.clock.now(), channel
    ctx.session.flush()
    audit_trail.append(ctx.session, ctx.clock, "acknowledge", actor=user, subject=document_ref,
                       data={"version": version.version if version else None, "channel": channel})
    if question and question.strip():
        org = roles.organisation(ctx.session)
        audit_trail.append(ctx.session, ctx.clock, "acknowledgement_question", actor=user, subject=document_ref,
                           data={"question": question.strip(),
                                 "to": directory.email_of(ctx.session, org.aims_owner_id) if org else None})
    return row
