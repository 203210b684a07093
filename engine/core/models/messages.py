"""BPMN messages and signals between process instances, and what each instance waits for
(``engine/core/events.py`` routes and delivers them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.core.db import JSONText
from engine.core.models.base import Base


class ProcessMessage(Base):
    """A message (or a signal) thrown by one instance, or posted from outside, for another.

    ``pending`` until the target waits for a message of that name (then ``delivered``); a message for
    an instance that has ended is ``undeliverable``. Nothing is lost: a message that arrives before
    the target reaches its catch event waits here. A message with no target yet (``target_instance_id``
    None) waits for the first instance that waits for it with the same ``correlation``. A signal is
    copied to every instance waiting for it; one whose target moved on before it could be handed over
    is ``missed``.
    """

    __tablename__ = "process_message"
    __table_args__ = (Index("ix_process_message_target_status", "target_instance_id", "status"),
                      Index("ix_process_message_waiting", "status", "name", "correlation"))

    id: Mapped[int] = mapped_column(primary_key=True)
    #: "message" or "signal"
    kind: Mapped[str] = mapped_column(String(10), default="message", server_default="message")
    name: Mapped[str] = mapped_column(String(100))
    #: the message's correlation key (:func:`engine.core.events.correlation_key`); None: uncorrelated
    correlation: Mapped[str | None] = mapped_column(String(255))
    payload: Mapped[Any] = mapped_column(JSONText, default=dict)
    source_instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    target_instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]


class EventSubscription(Base):
    """One message or signal a running instance waits for now (a catch event, a boundary event, an
    event-based gateway's branch), with the correlation key it expects: the index messages are routed
    by. Rewritten when the instance is saved and what it waits for changed (``process_instance.waits_for``)."""

    __tablename__ = "event_subscription"
    __table_args__ = (Index("ix_event_subscription_kind_name", "kind", "name", "correlation"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(100))
    correlation: Mapped[str | None] = mapped_column(String(255))
    #: the BPMN id of the event that waits
    element: Mapped[str] = mapped_column(String(100))
