"""Housekeeping of login sessions: the worker deletes the ``user_session`` rows that have expired
(an expired session already lets nobody in; the row is only clutter)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session

from engine.core.models import UserSession


def purge_expired(session: Session, now: datetime) -> int:
    """Delete the sessions that expired at or before ``now``; returns how many. Never commits."""
    result = session.execute(delete(UserSession).where(UserSession.expires_at <= now))
    return int(result.rowcount)  # type: ignore[attr-defined]
