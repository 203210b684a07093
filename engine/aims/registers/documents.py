"""Documented information: documents, their versions and acknowledgements, and evidence (DOMAIN.md 4.3, 4.8)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.aims.registers.common import RegisterMixin
from engine.core.db import JSONText
from engine.core.models.base import Base


class Document(RegisterMixin, Base):
    """A controlled document (DOMAIN.md 4.3): the AI policy, procedures, the scope, the SoA..."""

    __tablename__ = "document"

    title: Mapped[str] = mapped_column(String(300))
    doc_type: Mapped[str] = mapped_column(String(40))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    classification: Mapped[str] = mapped_column(String(20), default="internal")
    review_interval: Mapped[str] = mapped_column(String(20), default="P1Y")
    next_review_at: Mapped[date | None] = mapped_column(Date)
    #: kept this long after supersession (covers a certification cycle)
    retention: Mapped[str] = mapped_column(String(20), default="P3Y")
    current_version_id: Mapped[int | None] = mapped_column(ForeignKey("document_version.id", use_alter=True))
    #: who must read it (roles, departments or ``all_in_scope``)
    audience: Mapped[list[str]] = mapped_column(JSONText, default=list)
    external_publication: Mapped[bool] = mapped_column(default=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)

    versions: Mapped[list[DocumentVersion]] = relationship(
        back_populates="document", foreign_keys="DocumentVersion.document_id", order_by="DocumentVersion.id")


class DocumentVersion(Base):
    """One version of a document; immutable once approved (edits make a new version). Its reviews and
    approval are ``Approval`` rows with ``subject_type = "document_version"``."""

    __tablename__ = "document_version"
    __table_args__ = (UniqueConstraint("document_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("document.id"), index=True)
    #: ``MAJOR.MINOR``
    version: Mapped[str] = mapped_column(String(20))
    #: draft, in_review, pending_approval, approved, published, superseded, withdrawn
    status: Mapped[str] = mapped_column(String(20))
    change_type: Mapped[str | None] = mapped_column(String(20))
    change_summary: Mapped[str | None] = mapped_column(Text)
    content_ref: Mapped[str | None] = mapped_column(String(500))
    sha256: Mapped[str | None] = mapped_column(String(64))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    approver_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    approved_at: Mapped[datetime | None]
    effective_from: Mapped[date | None] = mapped_column(Date)
    superseded_at: Mapped[datetime | None]
    requires_acknowledgement: Mapped[bool] = mapped_column(default=False)
    #: the AI policy checklist, review outcomes, acknowledgement figures
    details: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    row_version: Mapped[int] = mapped_column(default=1)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))

    document: Mapped[Document] = relationship(back_populates="versions", foreign_keys=[document_id])


class Acknowledgement(Base):
    """A user's acknowledgement of a document version (DOMAIN.md 4.3; 7.3 awareness)."""

    __tablename__ = "acknowledgement"
    __table_args__ = (UniqueConstraint("document_version_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_version_id: Mapped[int] = mapped_column(ForeignKey("document_version.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    #: requested, acknowledged, overdue, escalated
    status: Mapped[str] = mapped_column(String(20), default="requested")
    requested_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    channel: Mapped[str | None] = mapped_column(String(40))
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))


class Evidence(RegisterMixin, Base):
    """Documented information used as proof (DOMAIN.md 4.8). Only ``accepted`` evidence whose
    ``valid_until`` has not passed counts for a control."""

    __tablename__ = "evidence"

    title: Mapped[str] = mapped_column(String(300))
    evidence_type: Mapped[str] = mapped_column(String(40))
    linked_controls: Mapped[list[str]] = mapped_column(JSONText, default=list)
    linked_clauses: Mapped[list[str]] = mapped_column(JSONText, default=list)
    linked_risk_ids: Mapped[list[int]] = mapped_column(JSONText, default=list)
    linked_ai_system_ids: Mapped[list[int]] = mapped_column(JSONText, default=list)
    linked_audit_ids: Mapped[list[int]] = mapped_column(JSONText, default=list)
    content_ref: Mapped[str | None] = mapped_column(String(500))
    sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None]
    media_type: Mapped[str | None] = mapped_column(String(100))
    period_covered_from: Mapped[date | None] = mapped_column(Date)
    period_covered_to: Mapped[date | None] = mapped_column(Date)
    collected_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    collected_at: Mapped[datetime | None]
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reviewed_at: Mapped[datetime | None]
    review_comment: Mapped[str | None] = mapped_column(Text)
    valid_until: Mapped[date | None] = mapped_column(Date, index=True)
    #: when the evidence is next reviewed (``aims_evidence_review``); ``status`` draft, submitted,
    #: accepted, rejected, expired, archived
    next_review_at: Mapped[date | None] = mapped_column(Date)
    classification: Mapped[str] = mapped_column(String(20), default="internal")
    retention_until: Mapped[date | None] = mapped_column(Date)
    #: who keeps the evidence current (submits its next revision)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    #: the number of the current revision (``EvidenceRevision.number``); 0: no file revision yet
    revision: Mapped[int] = mapped_column(default=0)


class EvidenceRevision(Base):
    """One file an evidence item held: revision 1 is its first file, each new file submitted for the
    item adds the next. The item's ``content_ref``/``sha256`` are those of its newest revision."""

    __tablename__ = "evidence_revision"
    __table_args__ = (UniqueConstraint("evidence_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence.id", ondelete="CASCADE"), index=True)
    number: Mapped[int]
    content_ref: Mapped[str] = mapped_column(String(500))
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(100))
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    submitted_at: Mapped[datetime]
    valid_until: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
