"""Objectives, competence requirements and training records (DOMAIN.md 4.4, 4.9)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Date, Float, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.aims.registers.common import RegisterMixin
from engine.core.db import JSONText
from engine.core.models.base import Base


class AIObjective(RegisterMixin, Base):
    """An AI objective (DOMAIN.md 4.4; 6.2). Its results over time are ``ObjectiveMeasurement`` rows."""

    __tablename__ = "ai_objective"

    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    #: aims, responsible_development (A.6.1.2), responsible_use (A.9.3)
    kind: Mapped[str] = mapped_column(String(40))
    theme: Mapped[str] = mapped_column(String(40))
    policy_clause_ref: Mapped[str | None] = mapped_column(String(200))
    metric: Mapped[str | None] = mapped_column(Text)
    unit: Mapped[str | None] = mapped_column(String(40))
    baseline: Mapped[float | None] = mapped_column(Float)
    target: Mapped[float | None] = mapped_column(Float)
    measurement_frequency: Mapped[str | None] = mapped_column(String(20))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    resources: Mapped[str | None] = mapped_column(Text)
    due_date: Mapped[date | None] = mapped_column(Date)
    evaluation_method: Mapped[str | None] = mapped_column(Text)
    ai_system_ids: Mapped[list[int]] = mapped_column(JSONText, default=list)


class ObjectiveMeasurement(RegisterMixin, Base):
    """One result of an objective's metric (6.2 e, 9.1): the day it was measured, the value in the
    objective's unit and a note. Who recorded it is ``created_by_id``; a wrong one is retired, not deleted."""

    __tablename__ = "objective_measurement"

    objective_id: Mapped[int] = mapped_column(ForeignKey("ai_objective.id"), index=True)
    measured_on: Mapped[date] = mapped_column(Date)
    value: Mapped[float] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)


class CompetenceRequirement(RegisterMixin, Base):
    """A competence a role or AI system needs (DOMAIN.md 4.9; 7.2). ``ref`` is its code
    (``iso42001_internal_auditor``)."""

    __tablename__ = "competence_requirement"

    role: Mapped[str | None] = mapped_column(String(50))
    ai_system_id: Mapped[int | None] = mapped_column(ForeignKey("ai_system.id"))
    competence: Mapped[str] = mapped_column(String(300))
    required_level: Mapped[str | None] = mapped_column(String(40))
    evidence_needed: Mapped[str | None] = mapped_column(Text)
    refresh_interval: Mapped[str | None] = mapped_column(String(20))


class TrainingRecord(RegisterMixin, Base):
    """A training assignment and its completion (DOMAIN.md 4.9). ``user_id`` is empty for a campaign
    addressed to an audience (``details["audience"]``)."""

    __tablename__ = "training_record"

    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    requirement_id: Mapped[int | None] = mapped_column(ForeignKey("competence_requirement.id"))
    course: Mapped[str] = mapped_column(String(300))
    provider: Mapped[str | None] = mapped_column(String(200))
    assigned_at: Mapped[date | None] = mapped_column(Date)
    due_at: Mapped[date | None] = mapped_column(Date)
    completed_at: Mapped[date | None] = mapped_column(Date)
    score: Mapped[float | None] = mapped_column(Float)
    certificate_evidence_id: Mapped[int | None] = mapped_column(ForeignKey("evidence.id"))
    #: not_checked, effective, not_effective (7.2: did the action work?)
    effectiveness_check: Mapped[str] = mapped_column(String(20), default="not_checked")
    expires_at: Mapped[date | None] = mapped_column(Date)
    details: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
