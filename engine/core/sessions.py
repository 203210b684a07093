"""Housekeeping of logins: the worker deletes the ``user_session`` rows that have expired (an expired
session already lets nobody in; the row is only clutter) and the ``login_failure`` rows older than the
login throttle's window (the throttle no longer counts them)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session

from engine.core.models import LoginFailure, UserSession


def purge_expired(session: Session, now: datetime) -> int:
    """Delete the sessions that expired at or before ``now``; returns how many. Never commits."""
    result = session.execute(delete(UserSession).where(UserSession.expires_at <= now))
    return int(result.rowcount)  # type: ignore[attr-defined]


def purge_login_failures(session: Session, before: datetime) -> int:
    """Delete the failed logins recorded before ``before`` (now minus the throttle's window: the throttle
    counts only failures at or after that); returns how many. Never commits."""
    result = session.execute(delete(LoginFailure).where(LoginFailure.at < before))
    return int(result.rowcount)  # type: ignore[attr-defined]
