"""The e-mail outbox: messages written in the same transaction as the change that caused them,
delivered afterwards, at least once, never dropped.

Delivery (:func:`deliver`) takes a ``send(mail)`` callable, so the engine knows no SMTP library: the
web layer passes flask-mail (``web/mailer.py``), tests pass a recorder or a real SMTP client. For each
batch the worker

1. **claims** due messages in a short transaction (``SELECT ... FOR UPDATE SKIP LOCKED``, then a
   lease: ``lease_until = now + LEASE``), so several workers never take the same message and no
   database lock is held while talking to the mail server;
2. **sends** each one, outside any transaction, with its ``Message-ID`` (an idempotency key written at
   enqueue time);
3. **marks** it sent (``sent_at``); marks are committed in small groups (up to ``MARK_GROUP``
   messages, or after ``MARK_WINDOW`` seconds, and at the end of each batch), so a fast server is not
   held up by one commit per message.

A worker that dies between 2 and 3 leaves the messages it sent since its last commit unmarked, with
a lease that runs out; the next worker sends them again with the same Message-IDs: duplicates the
receiving side can detect, never a lost mail. A failed send counts an attempt and retries later with
exponential back-off (1 minute doubling up to an hour, without end: nothing is dropped); when the
server cannot be reached at all (:class:`TransportDown`), delivery stops for this pass and the rest
wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, Template, select_autoescape
from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from engine.core.clock import Clock
from engine.core.models import OutboxMessage
from engine.core.settings import EngineSettings
from engine.core.uow import transaction

#: how long a claimed message belongs to the worker that claimed it
LEASE = timedelta(minutes=10)
#: sent marks are committed after this many messages or this many seconds (whichever comes first)
MARK_GROUP = 100
MARK_WINDOW = 0.25
FIRST_RETRY = timedelta(minutes=1)
MAX_RETRY = timedelta(hours=1)
TEMPLATES = Path(__file__).resolve().parent / "templates" / "mail"
#: message kind -> template name (``<name>.txt`` and ``<name>.html``)
TEMPLATE_OF = {"new_task": "task", "reminder": "task", "overdue": "task", "escalation": "task", "report": "task",
               "delegation": "delegation", "digest": "digest"}


class TransportDown(Exception):
    """Raised by a sender when the mail server cannot be reached at all (not one bad message)."""


@dataclass(frozen=True)
class OutgoingMail:
    """One rendered e-mail, what a sender needs."""

    message_id: str
    to: str
    subject: str
    text: str
    html: str
    kind: str


Send = Callable[[OutgoingMail], None]


def backoff(attempts: int) -> timedelta:
    """The wait before the next try after ``attempts`` failed ones: 1, 2, 4 ... minutes, at most an hour."""
    return min(FIRST_RETRY * (2 ** max(0, attempts - 1)), MAX_RETRY)


# --------------------------------------------------------------------------- rendering

@cache
def _template(name: str) -> Template:
    """A compiled mail template (read once per process: templates ship with the code)."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      keep_trailing_newline=True, auto_reload=False)
    return env.get_template(name)


@dataclass(frozen=True)
class Claimed:
    """A claimed message as plain data (the session may expire ORM rows on commit)."""

    id: int
    message_id: str
    kind: str
    to_email: str
    task_id: int | None
    context: dict[str, Any]
    attempts: int


def render(message: Claimed, settings: EngineSettings) -> OutgoingMail:
    """Plain text and HTML from the kind's templates, with a link to the task."""
    context = dict(message.context)
    context["kind"] = message.kind
    context["link"] = settings.task_link(message.task_id)
    if isinstance(context.get("items"), list):
        context["items"] = [dict(item, link=settings.task_link(item["task_id"]) if item.get("task_id") else None)
                            for item in context["items"] if isinstance(item, dict)]
    name = TEMPLATE_OF.get(message.kind, "task")
    subject = "[aimsflow] " + " ".join(str(context.get("title") or message.kind).split())
    return OutgoingMail(message.message_id, message.to_email, subject[:300],
                        _template(f"{name}.txt").render(context), _template(f"{name}.html").render(context),
                        message.kind)


# --------------------------------------------------------------------------- delivery

@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    #: messages still waiting after this pass (SMTP down, back-off, leased by another worker)
    waiting: int = 0
    errors: list[str] = field(default_factory=list)
    transport_down: bool = False


_OUTBOX: Any = OutboxMessage.__table__
_DUE = (select(_OUTBOX.c.id, _OUTBOX.c.message_id, _OUTBOX.c.kind, _OUTBOX.c.to_email, _OUTBOX.c.task_id,
               _OUTBOX.c.context, _OUTBOX.c.attempts)
        .where(_OUTBOX.c.sent_at.is_(None), _OUTBOX.c.next_attempt_at <= bindparam("now"),
               or_(_OUTBOX.c.lease_until.is_(None), _OUTBOX.c.lease_until <= bindparam("now")))
        .order_by(_OUTBOX.c.id).limit(bindparam("limit")).with_for_update(skip_locked=True))
_LEASE = (update(_OUTBOX).where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
          .values(lease_until=bindparam("until")))
_SENT = (update(_OUTBOX).where(_OUTBOX.c.id == bindparam("mid"))
         .values(sent_at=bindparam("at"), subject=bindparam("sent_subject"), attempts=_OUTBOX.c.attempts + 1,
                 lease_until=None, last_error=None))
_FAILED = (update(_OUTBOX).where(_OUTBOX.c.id == bindparam("mid"))
           .values(attempts=_OUTBOX.c.attempts + 1, next_attempt_at=bindparam("retry_at"),
                   last_error=bindparam("error"), lease_until=None))
_RELEASE = (update(_OUTBOX).where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
            .values(lease_until=None))


def claim(session: Session, clock: Clock, limit: int = 100, lease: timedelta = LEASE) -> list[Claimed]:
    """Take up to ``limit`` due messages for this worker (committed: the lease outlives the transaction)."""
    now = clock.now()
    with transaction(session, clock):
        rows = session.execute(_DUE, {"now": now, "limit": limit}).all()
        if rows:
            session.execute(_LEASE, {"ids": [r.id for r in rows], "until": now + lease})
    return [Claimed(r.id, r.message_id, r.kind, r.to_email, r.task_id, r.context or {}, r.attempts) for r in rows]


def _mark_sent(session: Session, clock: Clock, sent: list[tuple[int, str]]) -> None:
    """Commit ``sent_at`` for (message id, subject as sent) pairs."""
    if sent:
        at = clock.now()
        with transaction(session, clock):
            session.execute(_SENT, [{"mid": mid, "at": at, "sent_subject": subject} for mid, subject in sent])


def _mark_failed(session: Session, clock: Clock, message: Claimed, error: BaseException) -> None:
    text = f"{type(error).__name__}: {error}"[:500]
    with transaction(session, clock):
        session.execute(_FAILED, {"mid": message.id, "retry_at": clock.now() + backoff(message.attempts + 1),
                                  "error": text})


def _release(session: Session, clock: Clock, messages: list[Claimed]) -> None:
    if messages:
        with transaction(session, clock):
            session.execute(_RELEASE, {"ids": [m.id for m in messages]})


def deliver(session: Session, clock: Clock, settings: EngineSettings, send: Send, *, batch: int = 100,
            lease: timedelta = LEASE) -> DeliveryReport:
    """Send every due message (see the module docstring); commits as it goes. Returns the counts."""
    report = DeliveryReport()
    seen: set[int] = set()
    sent: list[tuple[int, str]] = []
    since = time.monotonic()

    def commit_marks() -> None:
        nonlocal since
        _mark_sent(session, clock, sent)
        sent.clear()
        since = time.monotonic()

    while True:
        claimed = [m for m in claim(session, clock, batch, lease) if m.id not in seen]
        if not claimed:
            break
        for i, message in enumerate(claimed):
            seen.add(message.id)
            try:
                mail = render(message, settings)
                send(mail)
            except TransportDown as exc:
                _mark_failed(session, clock, message, exc)
                _release(session, clock, claimed[i + 1:])
                report.failed += 1
                report.transport_down = True
                report.errors.append(f"{message.message_id}: {exc}")
                break
            except Exception as exc:  # one bad message (refused recipient, template error): retry later
                _mark_failed(session, clock, message, exc)
                report.failed += 1
                report.errors.append(f"{message.message_id}: {exc}")
                continue
            sent.append((message.id, mail.subject))
            report.sent += 1
            if len(sent) >= MARK_GROUP or time.monotonic() - since >= MARK_WINDOW:
                commit_marks()
        commit_marks()
        if report.transport_down or len(claimed) < batch:
            break
    report.waiting = pending_count(session)
    session.rollback()  # end the read transaction
    return report


def pending_count(session: Session) -> int:
    """Messages not sent yet (due, backing off, or leased)."""
    return int(session.scalar(select(func.count()).select_from(_OUTBOX).where(_OUTBOX.c.sent_at.is_(None))) or 0)
