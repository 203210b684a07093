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

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from types import MethodType
from typing import Any

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.specs.event_definitions import timer as _spiff_timer
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import EventBasedGateway
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.core import audit_trail, timer_syntax
from engine.core.clock import Clock, as_utc, isoformat, parse_datetime
from engine.core.durations import add_duration, is_duration
from engine.core.models import ProcessSchedule, ProcessVersion
from engine.core.timer_syntax import TimerSyntaxError

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


# --------------------------------------------------------------------------- ISO 8601 and expressions

def kind_of(definition: TimerEventDefinition) -> str:
    """``timeDate``, ``timeDuration`` or ``timeCycle``: the BPMN element the timer was written in."""
    if isinstance(definition, CycleTimerEventDefinition):
        return "timeCycle"
    if isinstance(definition, DurationTimerEventDefinition):
        return "timeDuration"
    return "timeDate"


def prepare(specs: tuple[Any, dict[str, Any]]) -> None:
    """Make the timers of freshly parsed ``specs`` behave as drawn (call once, right after parsing):

    * a timer reads ISO 8601 as other modelers write it, quoted or not (``P7D``, ``R3/PT1H``,
      ``2027-01-01T09:00:00Z``), else evaluates its Python expression and checks the value
      (:mod:`timer_syntax`); a wrong value fails naming the timer, what it gave and what to write;
    * an event-based gateway (and any catch event with several event definitions) is won by the first
      of its events: a message or signal that came cancels the timers, the earliest due timer cancels
      the rest, and each timer keeps its own due time.

    SpiffWorkflow's own timer code then runs on the values armed here; nothing of this is stored in
    the workflow state beyond what SpiffWorkflow stores itself.
    """
    spec, subprocess_specs = specs
    for process in (spec, *subprocess_specs.values()):
        if process is None:
            continue
        for task_spec in process.task_specs.values():
            definition = getattr(task_spec, "event_definition", None)
            if isinstance(definition, MultipleEventDefinition):
                for inner in definition.event_definitions:
                    _prepare_timer(inner)
                if not definition.parallel:
                    definition.has_fired = MethodType(_first_event_has_fired, definition)  # type: ignore[method-assign]
            else:
                _prepare_timer(definition)


def _prepare_timer(definition: Any) -> None:
    if not isinstance(definition, TimerEventDefinition):
        return
    kind = kind_of(definition)
    try:
        literal, problem = timer_syntax.literal(kind, definition.expression), None
    except TimerSyntaxError as exc:  # lint refuses it; a version deployed before says so when armed
        literal, problem = None, str(exc)
    definition.aimsflow_timer = (kind, literal, problem)  # type: ignore[attr-defined]
    if isinstance(definition, CycleTimerEventDefinition):
        definition.cycle_complete = MethodType(_cycle_complete, definition)  # type: ignore[method-assign]
    else:
        definition.has_fired = MethodType(_has_fired, definition)  # type: ignore[method-assign]


def _has_fired(self: Any, task: Any) -> bool:
    _arm(self, task)
    return bool(type(self).has_fired(self, task))


def _cycle_complete(self: Any, task: Any) -> bool:
    _arm(self, task)
    return bool(CycleTimerEventDefinition.cycle_complete(self, task))


def _arm(definition: Any, task: Any) -> None:
    """Set the timer's ``event_value`` the first time it is asked (SpiffWorkflow then keeps it):
    the due date-time, or for a cycle ``{cycles, next, duration}``, on the engine's clock."""
    if task._get_internal_data("event_value") is not None:
        return
    kind, value, problem = definition.aimsflow_timer
    label = timer_syntax.timer_label(definition.name)
    if problem is not None:
        raise WorkflowTaskException(f"{label}: {kind} {problem}", task=task)
    if value is None:
        try:
            raw = task.workflow.script_engine.evaluate(task, definition.expression)
        except WorkflowTaskException as exc:
            cause = exc.__cause__
            missing = cause.name if isinstance(cause, NameError) else None
            if not missing:
                raise
            raise WorkflowTaskException(
                f"{label}: {kind} {timer_syntax.quote(definition.expression)} reads the data field “{missing}”, "
                f"which the process does not have here; set it before the timer, or write ISO 8601 such as "
                f"{timer_syntax.EXAMPLES[kind]}", task=task) from None
        try:
            value = timer_syntax.runtime_value(kind, raw)
        except TimerSyntaxError as exc:
            raise WorkflowTaskException(f"{label}: {kind} {timer_syntax.quote(definition.expression)} {exc}",
                                        task=task) from None
    now = _spiff_timer.datetime.now(UTC)
    if kind == "timeDate":
        event_value: Any = value
    elif kind == "timeDuration":
        event_value = add_duration(now, value).isoformat()
    else:
        cycles, start, duration = TimerEventDefinition.parse_iso_recurring_interval(value)
        event_value = {"cycles": cycles, "next": start.isoformat(), "duration": duration.total_seconds()}
    task._set_internal_data(event_value=event_value)


_SLOT_KEYS = ("event_value", "event_fired")


@contextmanager
def _slot(task: Any, slot: int | None) -> Iterator[None]:
    """Inside, the task's ``event_value``/``event_fired`` are those of its timer number ``slot``
    (SpiffWorkflow keeps one per task; a gateway with two timers needs two). ``None``: the task's own."""
    if slot is None:
        yield
        return
    data = task.internal_data
    saved = {key: data.pop(key) for key in _SLOT_KEYS if key in data}
    for key in _SLOT_KEYS:
        if f"{key}:{slot}" in data:
            data[key] = data.pop(f"{key}:{slot}")
    try:
        yield
    finally:
        for key in _SLOT_KEYS:
            if key in data:
                data[f"{key}:{slot}"] = data.pop(key)
        data.update(saved)


def _timers_of(definition: Any) -> list[tuple[int, int | None, Any]]:
    """(index among the event definitions, slot, timer definition) of a catching task's timers."""
    if isinstance(definition, TimerEventDefinition):
        return [(0, None, definition)]
    inner = getattr(definition, "event_definitions", None)
    if not isinstance(inner, list):
        return []
    found = [(i, d) for i, d in enumerate(inner) if isinstance(d, TimerEventDefinition)]
    return [(i, None if n == 0 else i, d) for n, (i, d) in enumerate(found)]


def _first_event_has_fired(self: Any, task: Any) -> bool:
    """``MultipleEventDefinition.has_fired`` for an exclusive choice: the first event wins."""
    seen = task.internal_data.get("seen_events", [])
    if seen:  # a message or signal was caught: it wins, the timers go with the gateway
        return True
    due = []
    for _, slot, timer in _timers_of(self):
        with _slot(task, slot):
            if timer.has_fired(task):
                due.append((_due(task.internal_data.get("event_value")), timer))
    if due:
        seen = [BpmnEvent(min(due, key=lambda item: item[0] or datetime.max.replace(tzinfo=UTC))[1])]
        task.internal_data["seen_events"] = seen
    return bool(seen)


def _due(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, dict):
        if value.get("cycles") == 0:
            return None
        value = value.get("next")
    return TimerEventDefinition.get_datetime(value) if isinstance(value, str) else None


# --------------------------------------------------------------------------- waiting timers

def waiting_timers(workflow: Any) -> list[tuple[Any, datetime]]:
    """(task, due time) of every armed timer the workflow waits on, also those behind an
    event-based gateway."""
    return [(task, when) for task, _, when in _armed(workflow)]


#: per parsed process spec (immutable: parsed once per process version): whether any element catches a timer
_HAS_TIMERS: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def _has_timers(spec: Any) -> bool:
    found = _HAS_TIMERS.get(spec)
    if found is None:
        found = _HAS_TIMERS[spec] = any(_timers_of(getattr(task_spec, "event_definition", None))
                                        for task_spec in spec.task_specs.values())
    return found


def _armed(workflow: Any) -> Iterator[tuple[Any, str, datetime]]:
    # every save asks: a workflow whose diagrams have no timer is not walked for waiting ones
    if not any(_has_timers(spec) for spec in (workflow.spec, *workflow.subprocess_specs.values())):
        return
    for task in workflow.get_tasks(state=TaskState.WAITING):
        definition = getattr(task.task_spec, "event_definition", None)
        for index, slot, _ in _timers_of(definition):
            key = "event_value" if slot is None else f"event_value:{slot}"
            when = _due(task.internal_data.get(key))
            if when is not None:
                yield task, _element(task, index), when


def _element(task: Any, index: int) -> str:
    """The BPMN id of a timer: its own event, or the timer event behind the gateway."""
    spec = task.task_spec
    if isinstance(spec, EventBasedGateway) and index < len(spec.outputs):
        return str(spec.outputs[index].bpmn_id or spec.outputs[index].name)
    return str(spec.bpmn_id or spec.name)


def due_timers(workflow: Any, now: datetime) -> list[str]:
    """BPMN ids of the timers that ``refresh_timers`` will fire at ``now`` (SpiffWorkflow: due < now)."""
    return sorted(element for _, element, when in _armed(workflow) if when < now)


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


def literal_expression(definition: TimerEventDefinition) -> str:
    """The ISO 8601 text a timer start event's expression stands for, quoted or not. It must be a
    literal: there is no process data before the process starts. Raises ValueError saying so."""
    kind = kind_of(definition)
    value = timer_syntax.literal(kind, definition.expression)
    if value is None:
        raise ValueError(f"the timer of a start event must be ISO 8601 such as R/P1Y or 2027-01-01T08:00:00Z, "
                         f"not an expression (there is no process data before the process starts); got "
                         f"{timer_syntax.quote(definition.expression)}")
    return value


def recurrence(definition: TimerEventDefinition, anchor: datetime) -> Recurrence:
    """Parse a start event's timer. ``anchor`` is when the schedule is set up: a cycle without a start
    time (``R/P1Y``) first fires one interval after it, a duration (``P30D``) once, that long after it.

    Raises ValueError naming what is wrong.
    """
    text = literal_expression(definition)
    if isinstance(definition, CycleTimerEventDefinition):
        return _cycle(text, anchor)
    if isinstance(definition, DurationTimerEventDefinition):
        if not is_duration(text):
            raise ValueError(f"timeDuration {timer_syntax.quote(text)} is not an ISO 8601 duration such as P30D")
        return Recurrence(add_duration(anchor, text), None, 1)
    if isinstance(definition, TimeDateEventDefinition):
        try:
            return Recurrence(parse_datetime(text), None, 1)
        except ValueError:
            raise ValueError(f"timeDate {timer_syntax.quote(text)} is not an ISO 8601 date-time such as "
                             "2027-01-01T08:00:00Z") from None
    raise ValueError(f"unsupported timer {type(definition).__name__}")


def _cycle(text: str, anchor: datetime) -> Recurrence:
    parts = text.upper().split("/")
    if not parts[0].startswith("R") or len(parts) not in (2, 3):
        raise ValueError(f"timeCycle {timer_syntax.quote(text)} must read R[n]/PERIOD or R[n]/START/PERIOD, "
                         "e.g. R/P1Y or R3/2027-01-01T08:00:00Z/P1Y")
    if len(parts) == 3 and is_duration(parts[1]) and not is_duration(parts[2]):
        raise ValueError(f"timeCycle {timer_syntax.quote(text)}: a start event's cycle must read R[n]/PERIOD or "
                         "R[n]/START/PERIOD (a schedule counts forward from its start, not back from an end)")
    count_text = parts[0][1:]
    if count_text and not count_text.isdigit():
        raise ValueError(f"timeCycle {timer_syntax.quote(text)}: the repeat count after R must be a number")
    count = int(count_text) if count_text else -1
    period = parts[-1]
    if not is_duration(period):
        raise ValueError(f"timeCycle {timer_syntax.quote(text)}: {timer_syntax.quote(period)} is not an ISO 8601 "
                         "duration such as P1Y")
    if len(parts) == 3:
        try:
            first = parse_datetime(text.split("/")[1])
        except ValueError:
            raise ValueError(f"timeCycle {timer_syntax.quote(text)}: {timer_syntax.quote(parts[1])} is not an "
                             "ISO 8601 date-time") from None
    else:
        first = add_duration(anchor, period)
    if count == 0:
        raise ValueError(f"timeCycle {timer_syntax.quote(text)} never fires (R0)")
    return Recurrence(first, period, count)


def start_timer_problem(spec: Any) -> tuple[str, str] | None:
    """(start event id, message) when ``spec``'s timer start event cannot be scheduled, else None."""
    start = timer_start_event(spec)
    if start is None:
        return None
    try:
        timer_syntax.literal(kind_of(start.event_definition), start.event_definition.expression)
    except TimerSyntaxError:
        return None  # the timer lint (timer_syntax.lint) says what is wrong with it
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
