"""Register rows: the common fields of DOMAIN.md section 1 (a human ``ref``, ``status``, who/when created
and updated, a ``row_version`` and the workflow instance that last touched it), and ``retired_at``: a
retired row is never deleted (it stays for the audit trail), lists hide it unless asked."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from engine.core.db import JSONText


class RegisterMixin:
    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(40), unique=True)
    status: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    row_version: Mapped[int] = mapped_column(default=1)
    iso_refs: Mapped[list[str]] = mapped_column(JSONText, default=list)
    retired_at: Mapped[datetime | None] = mapped_column(default=None)

    @declared_attr
    def created_by_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("user_account.id"))

    @declared_attr
    def updated_by_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("user_account.id"))

    @declared_attr
    def instance_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("process_instance.id"))
