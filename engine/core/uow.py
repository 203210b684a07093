"""The edge's transaction: commit on success, roll back on error, and keep the audit events that
must survive a rollback (a blocked segregation-of-duties attempt is on record although nothing changed).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from engine.core import audit_trail
from engine.core.clock import Clock
from engine.core.errors import EngineError


@contextmanager
def transaction(session: Session, clock: Clock) -> Iterator[Session]:
    """``with transaction(session, clock): services...`` commits, or rolls back and re-raises."""
    try:
        yield session
        session.commit()
    except EngineError as exc:
        session.rollback()
        event = exc.audit_after_rollback
        if event is not None:
            audit_trail.append(session, clock, event["action"], actor=event.get("actor"),
                               instance_id=event.get("instance_id"), task_id=event.get("task_id"),
                               subject=event.get("subject"), data=event.get("data"))
            session.commit()
        raise
    except BaseException:
        session.rollback()
        raise
