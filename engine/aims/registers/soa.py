"""The reference data (clauses, Annex A controls) and the Statement of Applicability (DOMAIN.md 4.7).
Annex A controls and clauses are named by their ids (``A.6.2.4``, ``9.2.2``) wherever a row links to them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.aims.registers.common import RegisterMixin
from engine.core.db import JSONText
from engine.core.models.base import Base


class Clause(Base):
    """A requirement sub-clause of ISO/IEC 42001 (``clauses.csv``: 4.1 ... 10.2)."""

    __tablename__ = "clause"

    id: Mapped[int] = mapped_column(primary_key=True)
    clause_id: Mapped[str] = mapped_column(String(20), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text, default="")


class Control(Base):
    """The control catalogue (DOMAIN.md 4.7): the 38 Annex A controls and organisation controls."""

    __tablename__ = "control"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: ``A.6.2.4`` or ``ORG-01``
    control_id: Mapped[str] = mapped_column(String(20), unique=True)
    objective_group: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text, default="")
    #: annex_a or organisation
    source: Mapped[str] = mapped_column(String(20), default="annex_a")
    #: the implementation guidance (``B.6.2.4``)
    guidance_ref: Mapped[str | None] = mapped_column(String(20))


class SoAVersion(RegisterMixin, Base):
    """One version of the Statement of Applicability: its entries (one per control), the gaps found
    when it was generated and, once approved, the document version that publishes it."""

    __tablename__ = "soa_version"

    #: ``status``: generated, in_review, approved, superseded
    version: Mapped[str] = mapped_column(String(20))
    generated_at: Mapped[datetime]
    gaps: Mapped[list[dict[str, Any]]] = mapped_column(JSONText, default=list)
    approved_at: Mapped[datetime | None]
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    document_version_id: Mapped[int | None] = mapped_column(ForeignKey("document_version.id"))

    entries: Mapped[list[SoAEntry]] = relationship(back_populates="soa_version", order_by="SoAEntry.id")


class SoAEntry(Base):
    """A control's line in one SoA version (DOMAIN.md 4.7)."""

    __tablename__ = "soa_entry"
    __table_args__ = (UniqueConstraint("soa_version_id", "control_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    soa_version_id: Mapped[int] = mapped_column(ForeignKey("soa_version.id"), index=True)
    control_id: Mapped[int] = mapped_column(ForeignKey("control.id"), index=True)
    #: draft, proposed, approved
    status: Mapped[str] = mapped_column(String(20), default="draft")
    applicable: Mapped[bool] = mapped_column(default=True)
    justification: Mapped[str] = mapped_column(Text, default="")
    #: not_required_by_risk_assessment, not_required_by_external_requirement, not_relevant_to_roles
    exclusion_basis: Mapped[str | None] = mapped_column(String(60))
    #: all_systems or selected_systems (then ``system_ids``)
    system_scope: Mapped[str] = mapped_column(String(20), default="all_systems")
    system_ids: Mapped[list[int]] = mapped_column(JSONText, default=list)
    #: not_started, planned, in_progress, implemented, not_applicable
    implementation_status: Mapped[str] = mapped_column(String(20), default="not_started")
    implementation_description: Mapped[str | None] = mapped_column(Text)
    control_owner_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    linked_risk_ids: Mapped[list[int]] = mapped_column(JSONText, default=list)
    evidence_ids: Mapped[list[int]] = mapped_column(JSONText, default=list)
    #: not_assessed, effective, partially_effective, ineffective
    effectiveness: Mapped[str] = mapped_column(String(30), default="not_assessed")
    last_tested_at: Mapped[date | None] = mapped_column(Date)
    target_date: Mapped[date | None] = mapped_column(Date)
    #: when and by whom the control owner last confirmed the entry (the SoA's "last review")
    reviewed_at: Mapped[datetime | None]
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[datetime]
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    row_version: Mapped[int] = mapped_column(default=1)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))

    soa_version: Mapped[SoAVersion] = relationship(back_populates="entries")
    control: Mapped[Control] = relationship()
