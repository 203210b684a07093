"""In-app notifications (the bell), per-user e-mail preferences and the daily digest.

Every notification is a ``notification`` row for one user. How it also reaches them by e-mail is the
user's preference (``user_preference.email_mode``):

* ``immediate`` (the default): an ``outbox_message`` is written in the same transaction, and the worker
  sends it (``engine/outbox.py``);
* ``digest``: nothing now; the worker sends one e-mail a day listing what came in (``queue_digests``);
* ``in_app``: no e-mail at all.

Nothing here commits: callers (services, the worker) own the transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from engine.core.clock import Clock, isoformat, local_text, parse_datetime
from engine.core.errors import InvalidInput
from engine.core.models import HumanTask, Notification, OutboxMessage, User, UserPreference
from engine.core.settings import EngineSettings

#: e-mail mode -> what it means (shown by the CLI and the web)
EMAIL_MODES = {
    "immediate": "an e-mail for every notification",
    "digest": "one e-mail a day listing the day's notifications",
    "in_app": "no e-mail; notifications only in the app",
}
DEFAULT_MODE = "immediate"


@dataclass
class Message:
    """What to tell people: the in-app title and text, and the e-mail template's context.

    ``dedup`` (e.g. ``ladder:12:3``) makes the outbox refuse a second copy for the same recipient;
    ``digest_only`` keeps it out of immediate e-mail (report items, ``NamedRecipient.report``).
    """

    kind: str
    title: str
    body: str | None = None
    task: HumanTask | None = None
    context: dict[str, Any] = field(default_factory=dict)
    dedup: str | None = None
    digest_only: bool = False


class Recipient(Protocol):
    """Whom a notification is for: a User, or a lighter record with the same attributes."""

    @property
    def id(self) -> int: ...

    @property
    def email(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def active(self) -> bool: ...


def _in_zone(message: Message, zone_name: str | None) -> tuple[str, str | None, dict[str, Any]]:
    """The message's title, body and context with its deadline (context ``due_at``, said in UTC as
    ``due``) said in the recipient's time zone instead."""
    due_at, utc_text = message.context.get("due_at"), message.context.get("due")
    if not zone_name or not due_at or not isinstance(utc_text, str):
        return message.title, message.body, message.context
    local = local_text(parse_datetime(due_at), zone_name)
    body = message.body.replace(utc_text, local) if message.body else message.body
    return message.title.replace(utc_text, local), body, {**message.context, "due": local}


def new_message_id(settings: EngineSettings) -> str:
    return f"<{uuid.uuid4().hex}@{settings.mail_domain}>"


_NOTIFICATION: Any = Notification.__table__
_OUTBOX: Any = OutboxMessage.__table__
# built once: executing a prepared statement skips building it and its cache key per call
_INSERT_NOTIFICATIONS = insert(_NOTIFICATION)
_INSERT_MAILS = insert(_OUTBOX)


class Notifier:
    """Writes notifications (and their outbox messages) in the caller's transaction; caches the
    recipients' preferences for a batch.

    Notifications about tasks that already have an id are collected and written by :meth:`write`
    with one multi-row INSERT per table (the worker sends thousands per pass); those about a task
    created in this transaction go through the ORM, which fills in the task id at the flush.
    """

    def __init__(self, session: Session, clock: Clock, settings: EngineSettings):
        self.session = session
        self.clock = clock
        self.settings = settings
        self._modes: dict[int, str] = {}
        self._notes: list[dict[str, Any]] = []
        self._mails: list[dict[str, Any]] = []

    def preload(self, user_ids: Iterable[int]) -> None:
        """Read the e-mail modes of ``user_ids`` in one query."""
        wanted = {i for i in user_ids if i not in self._modes}
        if not wanted:
            return
        rows = self.session.execute(select(UserPreference.user_id, UserPreference.email_mode)
                                    .where(UserPreference.user_id.in_(wanted)))
        found = {user_id: mode for user_id, mode in rows}
        for user_id in wanted:
            self._modes[user_id] = found.get(user_id, DEFAULT_MODE)

    def remember(self, user_id: int, mode: str | None) -> None:
        """Note a mode read elsewhere (None: the user has no preference row)."""
        self._modes[user_id] = mode or DEFAULT_MODE

    def mode(self, user_id: int) -> str:
        if user_id not in self._modes:
            self.preload([user_id])
        return self._modes[user_id]

    def send(self, users: Iterable[Recipient], message: Message) -> int:
        """One notification per distinct active user; an outbox message for those who want e-mail now.
        Returns how many notifications; call :meth:`write` before the transaction ends."""
        now = self.clock.now()
        task = message.task
        count = 0
        seen: set[int] = set()
        for user in users:
            if user.id in seen or not user.active:
                continue
            seen.add(user.id)
            count += 1
            mode = self.mode(user.id)
            delivery = {"immediate": "email", "digest": "digest"}.get(mode, "in_app")
            if message.digest_only and delivery == "email":
                delivery = "digest"
            title, body, context = _in_zone(message, getattr(user, "time_zone", None))
            note = {"user_id": user.id, "kind": message.kind, "title": title[:300], "body": body,
                    "instance_id": task.instance_id if task is not None else None, "delivery": delivery,
                    "created_at": now}
            mail = None
            if delivery == "email":
                mail = {"message_id": new_message_id(self.settings), "kind": message.kind, "to_user_id": user.id,
                        "to_email": user.email, "created_at": now, "next_attempt_at": now, "attempts": 0,
                        "dedup_key": f"{message.dedup}:{user.id}" if message.dedup else None,
                        "context": {**context, "title": title, "body": body, "recipient": user.name}}
            if task is not None and task.id is None:  # a new task row: the ORM links it at the flush
                self.session.add(Notification(task=task, **note))
                if mail is not None:
                    self.session.add(OutboxMessage(task=task, **mail))
                continue
            task_id = task.id if task is not None else None
            self._notes.append({**note, "task_id": task_id})
            if mail is not None:
                self._mails.append({**mail, "task_id": task_id})
        return count

    def write(self) -> None:
        """Insert what :meth:`send` collected (multi-row INSERTs)."""
        if self._notes:
            self.session.execute(_INSERT_NOTIFICATIONS, self._notes)
            self._notes = []
        if self._mails:
            self.session.execute(_INSERT_MAILS, self._mails)
            self._mails = []


# --------------------------------------------------------------------------- the bell

def unread_count(session: Session, user: User) -> int:
    """How many of ``user``'s notifications are unread."""
    return int(session.scalar(select(func.count()).select_from(Notification)
                              .where(Notification.user_id == user.id, Notification.read_at.is_(None))) or 0)


def list_for(session: Session, user: User, *, unread_only: bool = False, limit: int = 50,
             before_id: int | None = None) -> list[Notification]:
    """``user``'s notifications, newest first; ``before_id`` pages back from an older one."""
    stmt = select(Notification).where(Notification.user_id == user.id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    if before_id is not None:
        stmt = stmt.where(Notification.id < before_id)
    return list(session.scalars(stmt.order_by(Notification.id.desc()).limit(limit)))


def mark_read(session: Session, clock: Clock, user: User, ids: Iterable[int] | None = None) -> int:
    """Mark ``ids`` (default: all) of ``user``'s unread notifications read; others' ids are ignored.
    Returns how many changed."""
    stmt = (update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
            .values(read_at=clock.now()).execution_options(synchronize_session=False))
    if ids is not None:
        wanted = [int(i) for i in ids]
        if not wanted:
            return 0
        stmt = stmt.where(Notification.id.in_(wanted))
    return int(session.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- preferences

def preference(session: Session, clock: Clock, user: User) -> UserPreference:
    """``user``'s preference row (created with the defaults on first use)."""
    pref = session.get(UserPreference, user.id)
    if pref is None:
        pref = UserPreference(user_id=user.id, email_mode=DEFAULT_MODE, updated_at=clock.now())
        session.add(pref)
        session.flush()
    return pref


def set_email_mode(session: Session, clock: Clock, user: User, mode: str) -> UserPreference:
    """Choose how ``user`` hears about tasks. Raises InvalidInput for an unknown mode."""
    if mode not in EMAIL_MODES:
        raise InvalidInput(f"unknown e-mail mode {mode!r}; use one of {', '.join(EMAIL_MODES)}")
    pref = preference(session, clock, user)
    pref.email_mode = mode
    pref.updated_at = clock.now()
    session.flush()
    return pref


# --------------------------------------------------------------------------- daily digest

def digest_time(now: datetime, hour: int) -> datetime:
    """The latest digest time at or before ``now`` (today at ``hour``:00 UTC, or yesterday's)."""
    today = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    return today if today <= now else today - timedelta(days=1)


def queue_digests(session: Session, clock: Clock, settings: EngineSettings) -> int:
    """Write the daily digest e-mails: at the first pass on or after ``settings.digest_hour`` (UTC),
    one e-mail per user listing the notifications that came in before that hour and were in no digest
    yet (later ones wait for the next day's). A user who has since chosen ``in_app`` gets none: their
    waiting items count as digested and stay in the bell. Returns how many digests were queued."""
    now = clock.now()
    due_since = digest_time(now, settings.digest_hour)
    waiting = (Notification.delivery == "digest", Notification.digested_at.is_(None),
               Notification.created_at <= due_since)
    user_ids = list(session.scalars(select(Notification.user_id).where(*waiting).distinct()))
    queued = 0
    for user_id in user_ids:
        pref = session.get(UserPreference, user_id)
        if pref is not None and pref.last_digest_at is not None and pref.last_digest_at >= due_since:
            continue
        user = session.get(User, user_id)
        if user is None:
            continue
        items = list(session.scalars(select(Notification).where(Notification.user_id == user_id, *waiting)
                                     .order_by(Notification.id)))
        if not user.active or (pref is not None and pref.email_mode == "in_app"):
            # gone, or now wants no e-mail at all (the items came in under ``digest``): they stay in the bell
            for item in items:
                item.digested_at = now
            continue
        session.add(OutboxMessage(
            message_id=new_message_id(settings), kind="digest", to_user_id=user.id, to_email=user.email,
            created_at=now, next_attempt_at=now, attempts=0,
            context={"recipient": user.name, "title": f"aimsflow: {len(items)} update(s) on your tasks",
                     "date": now.date().isoformat(),
                     "items": [{"kind": i.kind, "title": i.title, "body": i.body, "task_id": i.task_id,
                                "at": isoformat(i.created_at)} for i in items]}))
        for item in items:
            item.digested_at = now
        pref = pref or preference(session, clock, user)
        pref.last_digest_at = now
        queued += 1
    session.flush()
    return queued
