"""The tamper-evident audit trail: append-only events, each hashed with its predecessor.

``hash = sha256(prev_hash + canonical(event))`` where ``canonical`` is the event's sequence number,
time, actor, action, instance, task, subject and data as sorted, compact JSON. Appends lock the single
``audit_head`` row (an event is inserted only if it extends the head, which a trigger then moves to it; or
the head is read under the lock first), so two writers never fork the chain; ``verify`` recomputes the chain
and names the first altered or missing event, and, given a head kept elsewhere (``HASH:COUNT``), a cut-off tail.
"""

from __future__ import annotations

import hashlib
import json
import weakref
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Text, bindparam, exists, func, insert, select, type_coerce
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from engine.core.clock import Clock, isoformat
from engine.core.models import AuditEvent, AuditHead, User

GENESIS = "0" * 64


def canonical(seq: int, at: str, actor: str | None, action: str, instance_id: int | None,
              task_id: int | None, subject: str | None, data: dict[str, Any]) -> str:
    return json.dumps({"seq": seq, "at": at, "actor": actor, "action": action, "instance_id": instance_id,
                       "task_id": task_id, "subject": subject, "data": data},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(prev_hash: str, canonical_event: str) -> str:
    return hashlib.sha256((prev_hash + canonical_event).encode("utf-8")).hexdigest()


def _plain(data: dict[str, Any] | None) -> dict[str, Any]:
    """The data as it will read back from the database (dates as strings, keys as strings)."""
    return json.loads(json.dumps(data or {}, default=str))


def _event_canonical(e: Any) -> str:
    """The canonical form of an AuditEvent (or a row with the same attributes)."""
    return canonical(e.seq, isoformat(e.at), e.actor, e.action, e.instance_id, e.task_id, e.subject, e.data)


def _stored_data(raw: str | None) -> Any:
    """The data column as stored; text that is no longer JSON stays text (and so fails its hash)."""
    try:
        return None if raw is None else json.loads(raw)
    except ValueError:
        return raw


def ensure_head(session: Session) -> None:
    """Create the chain's head row if this database has none yet (migrations create it too)."""
    if session.get(AuditHead, 1) is None:
        session.add(AuditHead(id=1, seq=0, hash=GENESIS))
        session.flush()


_HEAD: Any = AuditHead.__table__
_EVENTS: Any = AuditEvent.__table__
# built once: executing a prepared statement with parameters skips building and coercing per call
_SELECT_HEAD = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1).with_for_update()
_INSERT_EVENTS = insert(_EVENTS)
_EVENT_VALUES = {column.key: bindparam(column.key, type_=column.type) for column in _EVENTS.c}
#: the event, inserted only if it extends the head (a compare-and-set), which it then locks until commit; the
#: trigger ``audit_head_follows`` (``models.audit_trail``) moves the head to it in the same statement
_EXTEND = insert(_EVENTS).from_select(
    list(_EVENT_VALUES), select(*_EVENT_VALUES.values()).where(exists(
        select(_HEAD.c.id).where(_HEAD.c.id == 1, _HEAD.c.seq + 1 == _EVENT_VALUES["seq"],
                                 _HEAD.c.hash == _EVENT_VALUES["prev_hash"]).with_for_update())),
).execution_options(preserve_rowcount=True)  # an INSERT's row count is read only when asked for (psycopg)

#: per database, the head this process moved the chain to last. Only a guess (another process, or a
#: rolled-back transaction, may have moved it since): :func:`_write` chains to it and inserts only if the head
#: is still there, so a right guess saves the head read and a wrong one costs a read under the lock.
_LAST_HEAD: weakref.WeakKeyDictionary[Engine, tuple[int, str]] = weakref.WeakKeyDictionary()


def _chained(events: list[dict[str, Any]], at: datetime, seq: int, prev_hash: str) -> list[dict[str, Any]]:
    """The rows for ``events`` (dicts of :func:`append`'s keyword arguments plus ``action``) chained in
    order after the event ``seq`` whose hash is ``prev_hash``."""
    stamp = isoformat(at)
    rows = []
    for event in events:
        seq += 1
        actor = event.get("actor")
        actor_name = actor.email if isinstance(actor, User) else actor
        plain = _plain(event.get("data"))
        digest = chain_hash(prev_hash, canonical(seq, stamp, actor_name, event["action"], event.get("instance_id"),
                                                 event.get("task_id"), event.get("subject"), plain))
        rows.append(dict(seq=seq, at=at, actor=actor_name, action=event["action"],
                         instance_id=event.get("instance_id"), task_id=event.get("task_id"),
                         subject=event.get("subject"), data=plain, prev_hash=prev_hash, hash=digest))
        prev_hash = digest
    return rows


def _extend(session: Session, rows: list[dict[str, Any]]) -> bool:
    """Insert ``rows`` if the first extends the head (each following one extends the one before); False,
    inserting nothing, when the head has moved elsewhere."""
    if session.execute(_EXTEND, rows[0]).rowcount != 1:  # type: ignore[attr-defined]
        return False
    if len(rows) > 1:  # the head is locked now, and the trigger moves it along these
        session.execute(_INSERT_EVENTS, rows[1:])
    return True


def _write(session: Session, clock: Clock, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chain ``events`` to the head and insert them, in the caller's transaction (the head row stays locked
    until commit, so two writers never fork the chain).

    Usually one statement: the events chained to the head this process wrote last, inserted only if the head
    is still there (:data:`_EXTEND`; the head moves with them; a second statement inserts the rest of a
    batch). When it is not, the head is read under the lock and the events are chained to it."""
    at = clock.now()
    engine = session.get_bind().engine
    guess = _LAST_HEAD.get(engine)
    rows = _chained(events, at, *guess) if guess is not None else []
    if not rows or not _extend(session, rows):
        head = session.execute(_SELECT_HEAD).first()
        if head is None:
            ensure_head(session)
            head = session.execute(_SELECT_HEAD).one()
        rows = _chained(events, at, head[0], head[1])
        if not _extend(session, rows):
            raise RuntimeError("the audit chain's head did not follow its events: is the trigger "
                               "audit_head_follows missing (run the database migrations)?")
    _LAST_HEAD[engine] = (rows[-1]["seq"], rows[-1]["hash"])
    return rows


def append(session: Session, clock: Clock, action: str, *, actor: User | str | None = None,
           instance_id: int | None = None, task_id: int | None = None, subject: str | None = None,
           data: dict[str, Any] | None = None) -> int:
    """Append one event in the caller's transaction (locks the head row until commit).

    Prepared Core statements (see :func:`_write`): this runs in every use case, so it skips the ORM unit
    of work. Returns the event's sequence number.
    """
    row, = _write(session, clock, [dict(action=action, actor=actor, instance_id=instance_id, task_id=task_id,
                                        subject=subject, data=data)])
    return int(row["seq"])


def append_many(session: Session, clock: Clock, events: list[dict[str, Any]]) -> int:
    """Append several events (dicts of :func:`append`'s keyword arguments plus ``action``) in order,
    with one (multi-row) insert: the worker audits a batch of escalations this way.
    Returns how many were appended."""
    if not events:
        return 0
    return len(_write(session, clock, events))


@dataclass(frozen=True)
class Head:
    hash: str
    count: int

    def __str__(self) -> str:
        return f"{self.hash}:{self.count}"

    @classmethod
    def parse(cls, text: str) -> Head:
        """``HASH:COUNT`` as ``aimsflow audit head`` prints it. Raises ValueError naming the problem."""
        hash_, sep, count = text.strip().partition(":")
        # isdigit() alone accepts "²" (int() then fails) and "١٢" (taken as 12)
        if (not sep or len(hash_) != 64 or any(c not in "0123456789abcdef" for c in hash_)
                or not (count.isascii() and count.isdigit())):
            raise ValueError(f"expected HASH:COUNT (64 hex digits, a colon, a number), got {text!r}")
        return cls(hash_, int(count))


def head(session: Session) -> Head:
    """The chain's current head as recorded by the last append."""
    row = session.get(AuditHead, 1)
    return Head(row.hash, row.seq) if row else Head(GENESIS, 0)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    count: int
    head: Head
    problem: str | None = None
    bad_seq: int | None = None


def verify(session: Session, expected: Head | None = None) -> VerifyResult:
    """Recompute the whole chain. The first altered, missing or reordered event is named."""
    prev = GENESIS
    expected_seq = 1
    count = 0
    # data is read as text: a tampered value that is not JSON must be reported, not crash the walk
    columns = [c for c in AuditEvent.__table__.c if c.key != "data"]
    stmt = (select(*columns, type_coerce(AuditEvent.__table__.c.data, Text).label("data"))
            .order_by(AuditEvent.seq).execution_options(yield_per=2000))
    # close the (server-side, on PostgreSQL) cursor when a broken chain ends the walk early
    with closing(session.execute(stmt)) as rows:
        for row in rows:
            event = SimpleNamespace(**dict(row._asdict(), data=_stored_data(row.data)))
            if event.seq != expected_seq:
                missing = (f"event {expected_seq}" if event.seq == expected_seq + 1
                           else f"events {expected_seq}-{event.seq - 1}")
                return VerifyResult(False, count, Head(prev, count), f"{missing} missing: the chain jumps from "
                                                                     f"event {expected_seq - 1} to {event.seq}",
                                    expected_seq)
            if event.prev_hash != prev:
                return VerifyResult(False, count, Head(prev, count),
                                    f"event {event.seq} ({event.action}) does not link to event {event.seq - 1}: "
                                    "an event before it was altered or replaced", event.seq)
            recomputed = chain_hash(prev, _event_canonical(event))
            if recomputed != event.hash:
                return VerifyResult(False, count, Head(prev, count),
                                    f"event {event.seq} ({event.action} at {isoformat(event.at)}) was altered: "
                                    "its content no longer matches its hash", event.seq)
            prev = event.hash
            count += 1
            expected_seq += 1
    found = Head(prev, count)
    recorded = session.get(AuditHead, 1)
    if recorded is not None and (recorded.seq, recorded.hash) != (count, prev):
        if recorded.seq > count:
            return VerifyResult(False, count, found, f"events {count + 1}-{recorded.seq} are missing: the "
                                                     f"chain ends at event {count} but {recorded.seq} were "
                                                     "recorded", count + 1)
        return VerifyResult(False, count, found, f"the recorded head ({recorded.seq} events) does not match "
                                                 f"the chain ({count} events)", recorded.seq)
    if expected is not None:
        if expected.count > count:
            return VerifyResult(False, count, found, f"the chain has {count} events but the head kept elsewhere "
                                                     f"says {expected.count}: events {count + 1}-{expected.count} "
                                                     "were cut off", count + 1)
        at = session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == expected.count)) \
            if expected.count else GENESIS
        if at != expected.hash:
            return VerifyResult(False, count, found, f"event {expected.count} does not have the hash kept "
                                                     "elsewhere: the chain was rewritten up to there",
                                expected.count)
    return VerifyResult(True, count, found)


def count_events(session: Session, action: str | None = None) -> int:
    stmt = select(func.count()).select_from(AuditEvent)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    return session.scalar(stmt) or 0
