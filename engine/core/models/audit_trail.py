"""The append-only, hash-chained audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DDL, BigInteger, String, event
from sqlalchemy.orm import Mapped, mapped_column

from engine.core.db import JSONText
from engine.core.models.base import Base


class AuditEvent(Base):
    """One event. ``hash = sha256(prev_hash + canonical(event))``; ``seq`` counts from 1 with no gaps."""

    __tablename__ = "audit_event"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    actor: Mapped[str | None] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(50), index=True)
    instance_id: Mapped[int | None] = mapped_column(index=True)
    task_id: Mapped[int | None]
    subject: Mapped[str | None] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The single row that holds the chain's head; appends lock it, so the chain never forks."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64))


#: The head follows the chain: an inserted event that extends the head (``seq`` one more, ``prev_hash`` its hash) moves
#: it there, in the insert's own statement; an insert that does not extend it (a hand-made row) leaves it, which
#: ``verify`` reports. So an append is one statement (``engine.core.audit_trail``). Created with the table here (tests,
#: benches) and by migration 0027; a batch (copy-and-move) alteration of ``audit_event`` on SQLite drops it, so such a
#: migration must create it again.
HEAD_FOLLOWS = {
    "sqlite": ["CREATE TRIGGER audit_head_follows AFTER INSERT ON audit_event BEGIN "
               "UPDATE audit_head SET seq = NEW.seq, hash = NEW.hash "
               "WHERE id = 1 AND seq = NEW.seq - 1 AND hash = NEW.prev_hash; END"],
    "postgresql": ["CREATE OR REPLACE FUNCTION audit_head_follows() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                   "UPDATE audit_head SET seq = NEW.seq, hash = NEW.hash "
                   "WHERE id = 1 AND seq = NEW.seq - 1 AND hash = NEW.prev_hash; RETURN NULL; END $$",
                   "CREATE TRIGGER audit_head_follows AFTER INSERT ON audit_event "
                   "FOR EACH ROW EXECUTE FUNCTION audit_head_follows()"],
}
for _dialect, _statements in HEAD_FOLLOWS.items():
    for _statement in _statements:
        event.listen(AuditEvent.__table__, "after_create", DDL(_statement).execute_if(dialect=_dialect))
