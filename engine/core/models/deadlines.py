"""Deadlines that act: in-app notifications, the e-mail outbox, per-user preferences, out-of-office
delegations and the schedules of timer-started processes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.core.db import JSONText
from engine.core.models.base import Base
from engine.core.models.process import HumanTask


class Notification(Base):
    """One message to one user, shown in the app (the bell); ``delivery`` says how it also goes out:
    ``email`` (an outbox message was written with it), ``digest`` (waits for the user's daily digest)
    or ``in_app`` (nothing else)."""

    __tablename__ = "notification"
    __table_args__ = (
        Index("ix_notification_user_read", "user_id", "read_at", "id"),
        Index("ix_notification_digest", "delivery", "digested_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    #: new_task, reminder, overdue, escalation, report, delegation
    kind: Mapped[str] = mapped_column(String(20))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_task.id"), index=True)
    instance_id: Mapped[int | None]
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str | None] = mapped_column(Text)
    delivery: Mapped[str] = mapped_column(String(10), default="in_app")
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]
    #: when a ``digest`` notification went out in a daily digest
    digested_at: Mapped[datetime | None]

    task: Mapped[HumanTask | None] = relationship(lazy="raise")


class OutboxMessage(Base):
    """An e-mail written in the same transaction as the change that caused it, delivered afterwards
    by the worker (at least once; ``message_id`` is the Message-ID header, so a duplicate after a
    crash is detectable). Nothing is ever deleted or dropped: failures retry with back-off."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_pending", "sent_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    #: set for ladder steps (task, step, recipient): the database refuses a second copy
    dedup_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    to_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    to_email: Mapped[str] = mapped_column(String(254))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_task.id"))
    #: what the template needs (task name, due date, ...); rendered when the message is sent
    context: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    #: a worker that took the message owns it until then (a crashed worker's lease runs out)
    lease_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    sent_at: Mapped[datetime | None]
    #: the subject as sent
    subject: Mapped[str | None] = mapped_column(String(300))

    task: Mapped[HumanTask | None] = relationship(lazy="raise")


class UserPreference(Base):
    """How a user wants to hear about their tasks, and the secret of their calendar feed."""

    __tablename__ = "user_preference"

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    #: immediate (one e-mail per notification), digest (one e-mail a day), in_app (no e-mail)
    email_mode: Mapped[str] = mapped_column(String(10), default="immediate")
    calendar_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    last_digest_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class Delegation(Base):
    """Out of office: while ``starts_at <= now < ends_at``, new tasks for ``user`` go to ``deputy`` and
    notifications (escalations included) for ``user`` go to ``deputy``."""

    __tablename__ = "delegation"
    __table_args__ = (Index("ix_delegation_user_period", "user_id", "starts_at", "ends_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    deputy_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    revoked_at: Mapped[datetime | None]


class ProcessSchedule(Base):
    """When a process with a timer start event starts next. Each firing starts a new instance
    (a yearly policy review is one instance per year); ``remaining`` counts firings left (-1: endless)."""

    __tablename__ = "process_schedule"

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(100), unique=True)
    start_event: Mapped[str] = mapped_column(String(100))
    #: the timer's expression as written in the diagram (evaluated)
    expression: Mapped[str] = mapped_column(String(200))
    next_at: Mapped[datetime | None] = mapped_column(index=True)
    #: ISO 8601 duration between firings (cycles only)
    interval: Mapped[str | None] = mapped_column(String(50))
    remaining: Mapped[int] = mapped_column(default=1)
    active: Mapped[bool] = mapped_column(default=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("process_version.id"))
    last_fired_at: Mapped[datetime | None]
    last_instance_id: Mapped[int | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
