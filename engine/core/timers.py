"""BPMN timers on the engine's clock, and timer start events as schedules.

**The clock.** SpiffWorkflow reads ``datetime.now(timezone.utc)`` inside its timer module, when a timer
is armed (``event_value`` = now + duration) and when ``refresh_timers()`` asks whether it is due. That
module's ``datetime`` is replaced here, once, by a subclass whose ``now()`` returns the clock bound with
:func:`using_clock` (a context variable: threads and requests never see each other's clock); outside of
it, the real time. ``runtime.Binding.step`` binds the context's clock around everything the workflow
runs, so a FixedClock moved by a test, or ``aimsflow worker --once --now``, is what timers see.

**Timer start events** follow BPMN: every firing starts a *new* instance (the yearly policy review is
one instance a year). A published version whose start event is a timer gets a ``process_schedule`` row
(:func:`register_schedule`, called on deploy); the worker starts an instance when ``next_at`` is due and
moves ``next_at`` on by the cycle's interval. An instance started that way (or by hand) does not wait
on its start timer: :func:`prime_start_timer` marks it fired before the first engine step.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions import timer as _spiff_timer
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.core import audit_trail
from engine.core.clock import Clock, as_utc, isoformat, parse_datetime
from engine.core.durations import add_duration, is_duration
from engine.core.models import ProcessSchedule, ProcessVersion

_CLOCK: ContextVar[Clock | None] = ContextVar("aimsflow_timer_clock", default=None)


class _ClockDateTime(datetime):
    """``datetime`` for SpiffWorkflow's timer module: ``now()`` asks the bound clock."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
        clock = _CLOCK.get()
        if clock is None:
            return datetime.now(tz)
        value = clock.now()
        return value.astimezone(tz) if tz is not None else value.replace(tzinfo=None)


_spiff_timer.datetime = _ClockDateTime  # type: ignore[misc]


@contextmanager
def using_clock(clock: Clock | None) -> Iterator[None]:
    """SpiffWorkflow's timers read ``clock`` inside the block (the real time when ``clock`` is None)."""
    token = _CLOCK.set(clock)
    try:
        yield
    finally:
        _CLOCK.reset(token)


# --------------------------------------------------------------------------- waiting timers

def waiting_timers(workflow: Any) -> list[tuple[Any, datetime]]:
    """(task, due time) of every armed timer the workflow waits on."""
    found = []
    for task in workflow.get_tasks(state=TaskState.WAITING):
        definition = getattr(task.task_spec, "event_definition", None)
        if isinstance(definition, TimerEventDefinition):
            value = definition.details(task).value
            if value is None:
                continue
            when = TimerEventDefinition.get_datetime(value if isinstance(value, str) else value["next"])
            found.append((task, when))
    return found


def due_timers(workflow: Any, now: datetime) -> list[str]:
    """BPMN ids of the timers that ``refresh_timers`` will fire at ``now`` (SpiffWorkflow: due < now)."""
    return sorted(task.task_spec.bpmn_id or task.task_spec.name for task, when in waiting_timers(workflow)
                  if when < now)


# --------------------------------------------------------------------------- timer start events

def timer_start_event(spec: Any) -> Any | None:
    """The top-level start event of ``spec`` that carries a timer, or None."""
    for task_spec in spec.task_specs.values():
        if isinstance(task_spec, StartEvent) and isinstance(task_spec.event_definition, TimerEventDefinition):
            return task_spec
    return None


def prime_start_timer(workflow: Any) -> None:
    """Mark the top-level timer start event of a new workflow as fired, so the instance runs now.

    Without this SpiffWorkflow would arm the timer and wait (and a cycle would spawn one branch per
    period inside the same instance). Each instance is one firing; the schedule starts the next one.
    """
    start = timer_start_event(workflow.spec)
    if start is None:
        return
    for task in workflow.get_tasks(state=TaskState.PREDICTED_MASK | TaskState.FUTURE):
        if task.workflow is workflow and task.task_spec is start:
            task._set_internal_data(event_fired=True)
            # a cycle start event predicts no outputs; give it the one branch a firing takes, and predict
            # the path beyond it (else the workflow would end after the first task)
            task._sync_children(start.outputs, TaskState.FUTURE)
            for child in task.children:
                child.task_spec._predict(child, mask=TaskState.PREDICTED_MASK | TaskState.FUTURE)


@dataclass(frozen=True)
class Recurrence:
    """When a timer start event fires: first at ``first``, then every ``interval``; ``count`` firings
    in all (-1: endless)."""

    first: datetime
    interval: str | None
    count: int


def literal_expression(expression: str) -> str:
    """The string a timer start event's expression stands for. It must be a quoted literal: there is
    no process data before the process starts. Raises ValueError saying so."""
    try:
        value = ast.literal_eval(expression.strip())
    except (ValueError, SyntaxError):
        value = None
    if not isinstance(value, str):
        raise ValueError(f"the timer of a start event must be a quoted literal such as \"R/P1Y\" or "
                         f"\"2027-01-01T08:00:00Z\" (there is no process data before the process starts); "
                         f"got {expression.strip()!r}")
    return value


def recurrence(definition: TimerEventDefinition, anchor: datetime) -> Recurrence:
    """Parse a start event's timer. ``anchor`` is when the schedule is set up: a cycle without a start
    time (``R/P1Y``) first fires one interval after it, a duration (``P30D``) once, that long after it.

    Raises ValueError naming what is wrong.
    """
    text = literal_expression(definition.expression).strip()
    if isinstance(definition, CycleTimerEventDefinition):
        return _cycle(text, anchor)
    if isinstance(definition, DurationTimerEventDefinition):
        if not is_duration(text):
            raise ValueError(f"timeDuration {text!r} is not an ISO 8601 duration such as P30D")
        return Recurrence(add_duration(anchor, text), None, 1)
    if isinstance(definition, TimeDateEventDefinition):
        try:
            return Recurrence(parse_datetime(text), None, 1)
        except ValueError:
            raise ValueError(f"timeDate {text!r} is not an ISO 8601 date-time such as 2027-01-01T08:00:00Z") from None
    raise ValueError(f"unsupported timer {type(definition).__name__}")


def _cycle(text: str, anchor: datetime) -> Recurrence:
    parts = text.upper().split("/")
    if not parts[0].startswith("R") or len(parts) not in (2, 3):
        raise ValueError(f"timeCycle {text!r} must read R[n]/PERIOD or R[n]/START/PERIOD, e.g. R/P1Y or "
                         "R3/2027-01-01T08:00:00Z/P1Y")
    count_text = parts[0][1:]
    if count_text and not count_text.isdigit():
        raise ValueError(f"timeCycle {text!r}: the repeat count after R must be a number")
    count = int(count_text) if count_text else -1
    period = parts[-1]
    if not is_duration(period):
        raise ValueError(f"timeCycle {text!r}: {period!r} is not an ISO 8601 duration such as P1Y")
    if len(parts) == 3:
        try:
            first = parse_datetime(text.split("/")[1])
        except ValueError:
            raise ValueError(f"timeCycle {text!r}: {parts[1]!r} is not an ISO 8601 date-time") from None
    else:
        first = add_duration(anchor, period)
    if count == 0:
        raise ValueError(f"timeCycle {text!r} never fires (R0)")
    return Recurrence(first, period, count)


def start_timer_problem(spec: Any) -> tuple[str, str] | None:
    """(start event id, message) when ``spec``'s timer start event cannot be scheduled, else None."""
    start = timer_start_event(spec)
    if start is None:
        return None
    try:
        recurrence(start.event_definition, as_utc(datetime(2000, 1, 1)))
    except ValueError as exc:
        return start.bpmn_id, str(exc)
    return None


def register_schedule(session: Session, clock: Clock, version: ProcessVersion, spec: Any) -> ProcessSchedule | None:
    """Keep the process's schedule in step with a newly published ``version``.

    A version without a timer start event deactivates the schedule. The same timer expression as
    before keeps the schedule's next firing (a redeploy does not reset the cadence); a new expression
    starts over from now. Audited as ``schedule``.
    """
    start = timer_start_event(spec)
    existing = session.scalar(select(ProcessSchedule).where(ProcessSchedule.process_id == version.process_id))
    now = clock.now()
    if start is None:
        if existing is not None and existing.active:
            existing.active = False
            existing.version_id = version.id
            existing.updated_at = now
            audit_trail.append(session, clock, "schedule", subject=version.process_id,
                               data={"process_id": version.process_id, "version": version.version, "active": False})
        return existing
    expression = start.event_definition.expression.strip()
    if existing is not None and existing.active and existing.expression == expression:
        existing.version_id = version.id
        existing.start_event = start.bpmn_id
        return existing
    rec = recurrence(start.event_definition, now)
    schedule = existing or ProcessSchedule(process_id=version.process_id, created_at=now)
    schedule.start_event = start.bpmn_id
    schedule.expression = expression
    schedule.next_at = rec.first
    schedule.interval = rec.interval
    schedule.remaining = rec.count
    schedule.active = True
    schedule.version_id = version.id
    schedule.updated_at = now
    if existing is None:
        session.add(schedule)
    session.flush()
    audit_trail.append(session, clock, "schedule", subject=version.process_id,
                       data={"process_id": version.process_id, "version": version.version, "active": True,
                             "start_event": start.bpmn_id, "expression": expression, "next_at": isoformat(rec.first),
                             "interval": rec.interval, "count": rec.count})
    return schedule


def advance(schedule: ProcessSchedule, now: datetime) -> int:
    """Move ``schedule`` past ``now`` after a firing; returns how many due firings were skipped
    (the worker was down for more than one period: one instance is started, not a burst)."""
    skipped = 0
    if schedule.remaining > 0:
        schedule.remaining -= 1
    if schedule.interval is None or schedule.remaining == 0 or schedule.next_at is None:
        schedule.next_at = None
        schedule.active = schedule.remaining != 0 and schedule.interval is not None
        return 0
    nxt = add_duration(schedule.next_at, schedule.interval)
    while nxt <= now and schedule.remaining != 0:
        skipped += 1
        if schedule.remaining > 0:
            schedule.remaining -= 1
        nxt = add_duration(nxt, schedule.interval)
    schedule.next_at = nxt if schedule.remaining != 0 else None
    schedule.active = schedule.next_at is not None
    return skipped


def retry_delay() -> timedelta:
    """How long an instance whose timer failed waits before the worker tries it again."""
    return timedelta(hours=1)
