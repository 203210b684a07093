"""Management reviews, their decisions and actions (DOMAIN.md 4.12)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.aims.registers.common import RegisterMixin
from engine.core.db import JSONText
from engine.core.models.base import Base


class ManagementReview(RegisterMixin, Base):
    """A management review (DOMAIN.md 4.12; 9.3)."""

    __tablename__ = "management_review"

    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)
    planned_at: Mapped[datetime | None]
    held_at: Mapped[datetime | None]
    chair_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    minutes_author_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    #: [{user_id, present}]
    attendees: Mapped[list[dict[str, Any]]] = mapped_column(JSONText, default=list)
    #: ReviewInput rows: [{category, provider_id, summary, attachments, nothing_to_report}]
    inputs: Mapped[list[dict[str, Any]]] = mapped_column(JSONText, default=list)
    input_pack_document_version_id: Mapped[int | None] = mapped_column(ForeignKey("document_version.id"))
    #: {suitability, adequacy, effectiveness, comment}
    conclusions: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    minutes_document_version_id: Mapped[int | None] = mapped_column(ForeignKey("document_version.id"))
    minutes_approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    minutes_approved_at: Mapped[datetime | None]
    details: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)

    decisions: Mapped[list[ReviewDecision]] = relationship(back_populates="review", order_by="ReviewDecision.id")
    actions: Mapped[list[ReviewAction]] = relationship(back_populates="review", order_by="ReviewAction.id")


class ReviewDecision(Base):
    """A decision of a management review (9.3.3)."""

    __tablename__ = "review_decision"
    __table_args__ = (UniqueConstraint("review_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("management_review.id"), index=True)
    #: ``D1``
    code: Mapped[str] = mapped_column(String(20))
    #: improvement_opportunity, aims_change, resource_need, policy_change, objective_change, ...
    type: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(Text)
    rationale: Mapped[str | None] = mapped_column(Text)

    review: Mapped[ManagementReview] = relationship(back_populates="decisions")


class ReviewAction(RegisterMixin, Base):
    """An action decided by a management review (status open, done, overdue, cancelled)."""

    __tablename__ = "review_action"

    review_id: Mapped[int] = mapped_column(ForeignKey("management_review.id"), index=True)
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("review_decision.id"))
    description: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    due_date: Mapped[date | None] = mapped_column(Date)
    completed_at: Mapped[date | None] = mapped_column(Date)
    completion_note: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[list[str]] = mapped_column(JSONText, default=list)
    action_instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))

    review: Mapped[ManagementReview] = relationship(back_populates="actions")
