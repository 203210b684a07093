"""The hash-chained audit trail: verify finds altered, missing and cut-off events; appends never fork."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session, sessionmaker

from engine.core import audit_trail
from engine.core.clock import FixedClock
from engine.core.db import make_engine
from engine.core.models import AuditEvent

START = "2026-11-02T09:00:00+00:00"


def append_events(factory: sessionmaker[Session], n: int, action: str = "note") -> list[int]:
    """Append and commit ``n`` events; their seqs."""
    clock = FixedClock(START)
    seqs = []
    with factory() as s:
        for i in range(n):
            clock.advance(minutes=1)
            seqs.append(audit_trail.append(s, clock, action, actor="tester@lumenvale.example", subject=f"event {i}",
                                           data={"i": i, "text": "naïve ünïcode", "when": clock.now()}))
        s.commit()
    return seqs


def execute(factory: sessionmaker[Session], sql: str, **params: object) -> None:
    with factory() as s:
        s.execute(text(sql), params)
        s.commit()


def verify(factory: sessionmaker[Session], expected: audit_trail.Head | None = None) -> audit_trail.VerifyResult:
    with factory() as s:
        return audit_trail.verify(s, expected)


def current_head(factory: sessionmaker[Session]) -> audit_trail.Head:
    with factory() as s:
        return audit_trail.head(s)


def test_verify_accepts_an_untouched_chain(fresh_db: sessionmaker[Session]) -> None:
    seqs = append_events(fresh_db, 5)
    result = verify(fresh_db)
    assert result.ok, result.problem
    assert result.count == seqs[-1]
    assert result.head == current_head(fresh_db)
    assert verify(fresh_db, result.head).ok


def test_append_links_each_event_to_its_predecessor(fresh_db: sessionmaker[Session]) -> None:
    append_events(fresh_db, 3)
    with fresh_db() as s:
        events = list(s.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
    assert events[0].prev_hash == audit_trail.GENESIS
    for before, after in zip(events, events[1:], strict=False):
        assert after.prev_hash == before.hash
        assert after.hash == audit_trail.chain_hash(before.hash, audit_trail._event_canonical(after))


@pytest.mark.parametrize(("column", "value"), [
    ("data", '{"i":99}'),
    ("data", "{not json"),
    ("data", "[]"),
    ("actor", "mallory@lumenvale.example"),
    ("action", "approve"),
    ("subject", "something else"),
], ids=["data", "data-not-json", "data-not-an-object", "actor", "action", "subject"])
def test_verify_names_the_altered_event(fresh_db: sessionmaker[Session], column: str, value: str) -> None:
    seqs = append_events(fresh_db, 6)
    victim = seqs[2]
    execute(fresh_db, f"UPDATE audit_event SET {column} = :value WHERE seq = :seq", value=value, seq=victim)

    result = verify(fresh_db)

    assert not result.ok
    assert result.bad_seq == victim
    assert f"event {victim} " in result.problem and "altered" in result.problem
    assert result.count == victim - 1


def test_verify_names_a_deleted_middle_event(fresh_db: sessionmaker[Session]) -> None:
    seqs = append_events(fresh_db, 6)
    victim = seqs[3]
    execute(fresh_db, "DELETE FROM audit_event WHERE seq = :seq", seq=victim)

    result = verify(fresh_db)

    assert not result.ok
    assert result.bad_seq == victim
    assert f"event {victim} missing" in result.problem


def test_verify_names_deleted_tail_events_while_the_head_row_remembers(fresh_db: sessionmaker[Session]) -> None:
    seqs = append_events(fresh_db, 6)
    execute(fresh_db, "DELETE FROM audit_event WHERE seq > :seq", seq=seqs[3])

    result = verify(fresh_db)

    assert not result.ok
    assert result.bad_seq == seqs[4]
    assert f"events {seqs[4]}-{seqs[5]} are missing" in result.problem


def test_verify_needs_a_head_kept_elsewhere_to_detect_a_cut_off_tail(fresh_db: sessionmaker[Session]) -> None:
    seqs = append_events(fresh_db, 6)
    kept = audit_trail.Head.parse(str(current_head(fresh_db)))
    keep_to = seqs[3]
    with fresh_db() as s:
        new_tip = s.scalar(select(AuditEvent.hash).where(AuditEvent.seq == keep_to))
    execute(fresh_db, "DELETE FROM audit_event WHERE seq > :seq", seq=keep_to)
    execute(fresh_db, "UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1", seq=keep_to, hash=new_tip)

    assert verify(fresh_db).ok, "a consistent cut cannot be seen from inside the database"
    result = verify(fresh_db, kept)

    assert not result.ok
    assert result.bad_seq == keep_to + 1
    assert f"events {keep_to + 1}-{kept.count} were cut off" in result.problem


def test_verify_detects_a_rewritten_chain_against_a_kept_head(fresh_db: sessionmaker[Session]) -> None:
    """Rewriting an event and re-hashing everything after it fools verify, but not a kept head."""
    append_events(fresh_db, 4)
    kept = current_head(fresh_db)
    with fresh_db() as s:
        events = list(s.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
        prev = events[0].prev_hash
        events[0].subject = "rewritten"
        for e in events:
            e.prev_hash = prev
            e.hash = audit_trail.chain_hash(prev, audit_trail._event_canonical(e))
            prev = e.hash
        s.flush()
        s.execute(text("UPDATE audit_head SET hash = :hash WHERE id = 1"), {"hash": prev})
        s.commit()

    assert verify(fresh_db).ok
    result = verify(fresh_db, kept)
    assert not result.ok
    assert result.bad_seq == kept.count
    assert "rewritten" in result.problem


HASH = "a" * 64


@pytest.mark.parametrize("text_", [
    "", HASH, f"{HASH}:", f":{12}", f"{HASH[:-1]}:12", f"{HASH}0:12", f"{'A' * 64}:12", f"{'g' * 64}:12",
    f"{HASH}:-1", f"{HASH}:12a", f"{HASH}:1.5", f"{HASH}:\u00b2", f"{HASH}:\u0661\u0662",
], ids=["empty", "no-count", "empty-count", "no-hash", "short-hash", "long-hash", "upper-case", "not-hex",
        "negative", "trailing-letters", "fraction", "superscript-digit", "arabic-indic-digits"])
def test_head_parse_rejects_bad_input(text_: str) -> None:
    with pytest.raises(ValueError, match="expected HASH:COUNT") as info:
        audit_trail.Head.parse(text_)
    assert repr(text_) in str(info.value)


def test_head_parse_round_trips_what_head_prints() -> None:
    head = audit_trail.Head(HASH, 12)
    assert audit_trail.Head.parse(f"  {head}\n") == head


APPENDS_PER_THREAD = 40


def test_append_from_two_threads_never_forks_the_chain(fresh_db: sessionmaker[Session]) -> None:
    start_seq = current_head(fresh_db).count
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        clock = FixedClock(START)
        try:
            barrier.wait(timeout=30)
            for i in range(APPENDS_PER_THREAD):
                with fresh_db() as s:
                    audit_trail.append(s, clock, "note", actor=name, data={"i": i})
                    s.commit()
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"writer{n}@lumenvale.example",)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    assert not errors, errors

    with fresh_db() as s:
        seqs = list(s.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))
        prevs = list(s.scalars(select(AuditEvent.prev_hash)))
        actors = list(s.scalars(select(AuditEvent.actor).where(AuditEvent.seq > start_seq)))
    total = start_seq + 2 * APPENDS_PER_THREAD
    assert seqs == list(range(1, total + 1))
    assert len(set(prevs)) == len(prevs), "two events share a predecessor: the chain forked"
    assert sorted(set(actors)) == ["writer1@lumenvale.example", "writer2@lumenvale.example"]
    result = verify(fresh_db)
    assert result.ok, result.problem
    assert result.count == total


def test_two_processes_and_a_rolled_back_append_keep_one_chain(fresh_db: sessionmaker[Session]) -> None:
    """Each process chains to the head it wrote last, a guess the other process (or a rollback) makes
    wrong; the insert's compare-and-set on the head catches it and the event is chained to the real head. A
    right guess costs one statement: the insert (the head follows it)."""
    first = fresh_db.kw["bind"]
    second = make_engine(first.engine.url.render_as_string(hide_password=False))
    other = sessionmaker(second, expire_on_commit=False)
    sent: list[str] = []

    def count(*args: object) -> None:
        sent.append(str(args[2]))

    clock = FixedClock(START)
    start = current_head(fresh_db).count
    try:
        for i in range(3):
            for factory in (fresh_db, other):
                with factory() as s:
                    audit_trail.append(s, clock, "note", actor="tester@lumenvale.example", data={"i": i})
                    s.commit()
            with fresh_db() as s:  # rolled back: the head this process remembers was never committed
                audit_trail.append(s, clock, "note", actor="tester@lumenvale.example", data={"lost": i})
                s.rollback()
        with fresh_db() as s:
            audit_trail.append(s, clock, "note", actor="tester@lumenvale.example", data={"i": "last"})
            s.commit()
        event.listen(first.engine, "before_cursor_execute", count)
        with fresh_db() as s:
            audit_trail.append(s, clock, "note", actor="tester@lumenvale.example", data={"i": "guessed"})
            s.commit()
        event.remove(first.engine, "before_cursor_execute", count)
    finally:
        second.dispose()
    assert [q.split()[0] for q in sent if not q.startswith("BEGIN")] == ["INSERT"], sent
    result = verify(fresh_db)
    assert result.ok, result.problem
    assert result.count == start + 8
    with fresh_db() as s:
        assert "lost" not in str(list(s.scalars(select(AuditEvent.data))))
