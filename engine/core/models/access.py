"""Who is logged in: server-side browser sessions, API tokens for scripts, failed logins (throttling),
one-time links to set a password.

Secrets are never stored: a session or token row keeps the sha256 of the random value the client holds,
so a copy of the database does not let anyone in.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.core.models.base import Base


class UserSession(Base):
    """One logged-in browser. Deleting the row (logout, deactivation) ends the session at once."""

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))


class ApiToken(Base):
    """A bearer token a script uses for ``/api/v1``; it acts as its user, with that user's roles."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: the first characters of the token, shown so people can tell their tokens apart
    prefix: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class LoginFailure(Base):
    """A failed login attempt; enough recent ones for an account, a client address or a device slow the next
    attempts down (``engine.app.accounts.Throttle``). The worker deletes the ones older than the throttle's
    window."""

    __tablename__ = "login_failure"
    # the throttle counts recent failures by account, by client address and by device; the worker purges by age
    __table_args__ = (Index("ix_login_failure_email_at", "email", "at"), Index("ix_login_failure_ip_at", "ip", "at"),
                      Index("ix_login_failure_device_at", "device", "at"), Index("ix_login_failure_at", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    ip: Mapped[str | None] = mapped_column(String(64))
    #: the device the attempt came from (sha256 of its device cookie's nonce), when it presented a valid
    #: device cookie for this account
    device: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime]


class PasswordLink(Base):
    """A one-time link that lets its holder set a user's password (the first admin of an empty install
    gets one from ``aimsflow init``): it works once, until ``expires_at``; only its sha256 is stored."""

    __tablename__ = "password_link"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
