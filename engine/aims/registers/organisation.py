"""The organisation that runs this AIMS (DOMAIN.md 4.1) and the reviews its register dates started."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.core.db import JSONText
from engine.core.models.base import Base


class Organisation(Base):
    """The one organisation that runs this AIMS and its settings (DOMAIN.md 4.1)."""

    __tablename__ = "organisation"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    aims_owner_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    top_management_sponsor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    ceo_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    #: the published risk criteria (DOMAIN.md 6): appetite, levels, validity, review frequency
    risk_criteria: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    details: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    #: raised by every change of the settings or risk criteria (compare-and-set: a stale edit is refused)
    row_version: Mapped[int] = mapped_column(default=1, server_default="1")


class DueDateStart(Base):
    """A review the worker started because a register date came due (``engine.aims.date_triggers``): one row per
    (kind, object, due date), so each object gets one review per due date however many passes or
    workers run. ``kind`` is risk_acceptance, evidence, document, impact_assessment,
    management_review or internal_audit."""

    __tablename__ = "due_date_start"
    __table_args__ = (UniqueConstraint("kind", "object_id", "due_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[int]
    object_ref: Mapped[str] = mapped_column(String(60))
    #: the register date that came due (expiry, validity, next review, planned date)
    due_on: Mapped[date] = mapped_column(Date)
    process_id: Mapped[str] = mapped_column(String(100))
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    started_at: Mapped[datetime]


class ScopeStatement(Base):
    """One version of the AIMS scope statement (4.3): its text, boundaries and exclusions with their
    justification. A version is a ``draft`` (changed in place by its author) until someone other than its
    author approves it; the approved one before it becomes ``superseded``. ``engine.app.scope`` writes it."""

    __tablename__ = "scope_statement"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(unique=True)
    #: draft, approved, superseded
    status: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    boundaries: Mapped[str] = mapped_column(Text, default="")
    #: [{"item": what is left out, "justification": why}]
    exclusions: Mapped[list[dict[str, Any]]] = mapped_column(JSONText, default=list)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    approver_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    approved_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    row_version: Mapped[int] = mapped_column(default=1)
