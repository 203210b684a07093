"""Human references for register rows (``RSK-008``), numbered per prefix without gaps or races."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from engine.core.models import RefCounter


def next_ref(session: Session, prefix: str, width: int = 3) -> str:
    """Take the next number for ``prefix`` (row-locked on PostgreSQL; SQLite writers are serialised)."""
    row = session.execute(
        update(RefCounter).where(RefCounter.prefix == prefix).values(last=RefCounter.last + 1)
        .returning(RefCounter.last)
    ).scalar_one_or_none()
    if row is None:
        session.add(RefCounter(prefix=prefix, last=1))
        session.flush()
        row = 1
    return f"{prefix}-{row:0{width}d}"


def ensure_at_least(session: Session, prefix: str, number: int) -> None:
    """Make sure the next ref for ``prefix`` is above ``number`` (after importing existing rows)."""
    counter = session.get(RefCounter, prefix)
    if counter is None:
        session.add(RefCounter(prefix=prefix, last=number))
    elif counter.last < number:
        counter.last = number
    session.flush()
