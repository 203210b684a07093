"""BPMN messages between process instances (``engine/messages.py`` routes and delivers them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.core.db import JSONText
from engine.core.models.base import Base


class ProcessMessage(Base):
    """A message thrown by one instance (or posted from outside) for another.

    ``pending`` until the target waits for a message of that name (then ``delivered``); a message for
    an instance that has ended is ``undeliverable``. Nothing is lost: a message that arrives before
    the target reaches its catch event waits here.
    """

    __tablename__ = "process_message"
    __table_args__ = (Index("ix_process_message_target_status", "target_instance_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    payload: Mapped[Any] = mapped_column(JSONText, default=dict)
    source_instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    target_instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
