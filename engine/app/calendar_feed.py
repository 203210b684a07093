"""A calendar feed per user (RFC 5545 ``.ics``): the due dates of their open tasks.

The feed is read by calendar apps that cannot log in, so its address carries a secret token
(``/calendar/<token>.ics``, served by ``web/calendar.py``). :func:`token_for` creates or replaces it;
:func:`feed` renders the calendar for a token.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.app import queries
from engine.core import notifications
from engine.core.clock import Clock
from engine.core.errors import NotFound
from engine.core.models import User, UserPreference
from engine.core.settings import EngineSettings

PRODID = "-//aimsflow//task deadlines//EN"
#: how long each deadline event lasts in the calendar
EVENT_MINUTES = 30


def token_for(session: Session, clock: Clock, user: User, *, reset: bool = False) -> str:
    """``user``'s feed token, created on first use; ``reset`` replaces it (the old address stops working)."""
    pref = notifications.preference(session, clock, user)
    if pref.calendar_token is None or reset:
        pref.calendar_token = secrets.token_urlsafe(32)
        pref.updated_at = clock.now()
        session.flush()
    return pref.calendar_token


def feed_path(token: str) -> str:
    return f"/calendar/{token}.ics"


def user_for_token(session: Session, token: str) -> User:
    """The user whose feed ``token`` opens. Raises NotFound (unknown or replaced token, inactive user)."""
    if not token or len(token) > 64:
        raise NotFound("no calendar feed at this address")
    user = session.scalar(select(User).join(UserPreference, UserPreference.user_id == User.id)
                          .where(UserPreference.calendar_token == token))
    if user is None or not user.active:
        raise NotFound("no calendar feed at this address")
    return user


def feed(session: Session, settings: EngineSettings, token: str, now: datetime) -> str:
    """The ``.ics`` text for ``token``: one event at the due time of each open task the user may act on
    (assigned to them, or claimable through their roles). Raises NotFound for an unknown token."""
    user = user_for_token(session, token)
    rows = [r for r in queries.inbox(session, user, now) if r.due_at is not None]
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "CALSCALE:GREGORIAN", "METHOD:PUBLISH",
             f"X-WR-CALNAME:{escape(f'aimsflow deadlines: {user.name}')}", "REFRESH-INTERVAL;VALUE=DURATION:PT1H",
             "X-PUBLISHED-TTL:PT1H"]
    stamp = _utc(now)
    for row in rows:
        assert row.due_at is not None
        holder = row.assignee or f"anyone with the role {row.role}"
        description = (f"{row.process_id} #{row.instance_id}" + (f" {row.subject}" if row.subject else "")
                       + f"\nHeld by: {holder}" + ("\nOVERDUE" if row.overdue else "")
                       + (f"\nEscalated (level {row.escalation_level})" if row.escalation_level else "")
                       + f"\n{settings.task_link(row.id)}")
        lines += ["BEGIN:VEVENT", f"UID:task-{row.id}@{settings.mail_domain}", f"DTSTAMP:{stamp}",
                  f"DTSTART:{_utc(row.due_at)}", f"DURATION:PT{EVENT_MINUTES}M",
                  f"SUMMARY:{escape('Due: ' + row.name + (f' ({row.subject})' if row.subject else ''))}",
                  f"DESCRIPTION:{escape(description)}", f"URL:{settings.task_link(row.id)}",
                  "CATEGORIES:aimsflow", "TRANSP:TRANSPARENT", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)


def _utc(value: datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%SZ")


def escape(text: str) -> str:
    """RFC 5545 TEXT escaping: backslash, semicolon, comma and newlines."""
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


def fold(line: str, limit: int = 75) -> str:
    """Fold a content line into chunks of at most ``limit`` octets (continuations start with a space),
    never splitting a UTF-8 character."""
    out: list[str] = []
    current, size = "", 0
    for char in line:
        width = len(char.encode("utf-8"))
        budget = limit if not out else limit - 1
        if size + width > budget:
            out.append(current)
            current, size = "", 0
        current += char
        size += width
    out.append(current)
    return "\r\n ".join(out)
