"""Files attached to tasks (evidence) and forms saved half-filled (drafts)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.core.db import JSONText
from engine.core.models.base import Base


class EvidenceFile(Base):
    """An uploaded file: stored once per content under the instance's folder, named by its sha256."""

    __tablename__ = "evidence_file"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: empty for a moment while a start form's file waits for the instance it starts
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_task.id"))
    #: the form field it was uploaded for (``model_card``)
    field: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    uploaded_at: Mapped[datetime]


class TaskDraft(Base):
    """What a user typed into a task's form and saved without submitting (one per task and user)."""

    __tablename__ = "task_draft"
    __table_args__ = (UniqueConstraint("task_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("human_task.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    data: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    saved_at: Mapped[datetime]
