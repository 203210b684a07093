"""The organisation's context and what it buys in: context issues (4.1), interested parties (4.2) and their
requirements, suppliers of AI systems and components (A.10, 8.1), data resources (A.7, A.4.3). Kept by
hand through the register pages, the API and import (``engine.aims.register_specs``)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.aims.registers.common import RegisterMixin
from engine.core.db import JSONText
from engine.core.models.base import Base


class ContextIssue(RegisterMixin, Base):
    """An internal or external issue that affects the AIMS's intended results (4.1). ``status``: open,
    monitored, closed."""

    __tablename__ = "context_issue"

    #: internal or external
    kind: Mapped[str] = mapped_column(String(20))
    category: Mapped[str | None] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(Text)
    effect_on_aims: Mapped[str | None] = mapped_column(Text)
    ai_system_ids: Mapped[list[int]] = mapped_column(JSONText, default=list)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    next_review_at: Mapped[date | None] = mapped_column(Date)


class InterestedParty(RegisterMixin, Base):
    """A party relevant to the AIMS (4.2); its requirements are ``PartyRequirement`` rows. ``status``:
    active, no_longer_relevant."""

    __tablename__ = "interested_party"

    name: Mapped[str] = mapped_column(String(200))
    #: ai_subject, customer, regulator, employee, supplier, certification_body, ...
    party_type: Mapped[str] = mapped_column(String(40))
    description: Mapped[str | None] = mapped_column(Text)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))


class PartyRequirement(RegisterMixin, Base):
    """A requirement of an interested party and whether the AIMS addresses it (4.2 c). ``status``: active,
    met, withdrawn."""

    __tablename__ = "party_requirement"

    party_id: Mapped[int] = mapped_column(ForeignKey("interested_party.id"), index=True)
    requirement: Mapped[str] = mapped_column(Text)
    #: law, regulation, contract, standard, expectation
    source: Mapped[str | None] = mapped_column(String(40))
    addressed_by_aims: Mapped[bool] = mapped_column(default=True)
    #: how the AIMS addresses it, or why it does not
    how_addressed: Mapped[str | None] = mapped_column(Text)
    linked_controls: Mapped[list[str]] = mapped_column(JSONText, default=list)


class Supplier(RegisterMixin, Base):
    """A supplier of AI systems, components, data or compute, and its assessment (A.10.2, A.10.3, 8.1).
    ``status``: under_assessment, active, suspended, ended."""

    __tablename__ = "supplier"

    name: Mapped[str] = mapped_column(String(200))
    services: Mapped[str | None] = mapped_column(Text)
    ai_components: Mapped[list[str]] = mapped_column(JSONText, default=list)
    ai_system_ids: Mapped[list[int]] = mapped_column(JSONText, default=list)
    contract_ref: Mapped[str | None] = mapped_column(String(100))
    dpa_in_place: Mapped[bool] = mapped_column(default=False)
    data_retention_terms: Mapped[str | None] = mapped_column(Text)
    #: yes, no, opt_out, unknown: whether the supplier trains its models on our data
    trains_on_our_data: Mapped[str | None] = mapped_column(String(20))
    risk_rating: Mapped[str | None] = mapped_column(String(20))
    last_assessment_result: Mapped[str | None] = mapped_column(String(40))
    last_assessed_at: Mapped[date | None] = mapped_column(Date)
    assessment_due: Mapped[date | None] = mapped_column(Date)
    conditions: Mapped[list[str]] = mapped_column(JSONText, default=list)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))


class DataResource(RegisterMixin, Base):
    """A data set an AI system is built, tested or run with: where it comes from, its quality, what it may
    be used for and how long it is kept (A.7.2 to A.7.6, A.4.3). ``status``: planned, in_use, retired."""

    __tablename__ = "data_resource"

    name: Mapped[str] = mapped_column(String(200))
    ai_system_ids: Mapped[list[int]] = mapped_column(JSONText, default=list)
    #: training, validation, testing, retrieval_corpus, inference_input, monitoring, other
    purpose: Mapped[str | None] = mapped_column(String(40))
    #: internal, supplier, public, purchased, synthetic
    source: Mapped[str | None] = mapped_column(String(40))
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("supplier.id"))
    acquisition_method: Mapped[str | None] = mapped_column(Text)
    legal_basis_or_licence: Mapped[str | None] = mapped_column(Text)
    provenance: Mapped[str | None] = mapped_column(Text)
    quality_requirements: Mapped[str | None] = mapped_column(Text)
    quality_checks: Mapped[str | None] = mapped_column(Text)
    intended_use: Mapped[str | None] = mapped_column(Text)
    #: none, personal, special_category
    personal_data: Mapped[str | None] = mapped_column(String(20))
    retention: Mapped[str | None] = mapped_column(Text)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
