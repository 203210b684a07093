"""BPMN timers and messages between instances, on the engine's terms.

**Timers read the injected clock.** SpiffWorkflow's timer definitions call ``datetime.now(timezone.utc)``
themselves. :func:`install` gives its timer module a ``datetime`` whose ``now()`` answers from the
clock of the use case running in this thread or task (a ``ContextVar`` set by :func:`use_clock`),
and from the system clock otherwise; so a test moves a ``FixedClock`` instead of sleeping, and a
timer never fires early or late because the host's clock differs from the engine's.

**Messages.** A message an instance throws (intermediate throw or end event with a
``messageEventDefinition``) that nothing inside the same workflow catches is posted to the instance
that started it (``parent_instance_id``): the pattern of every AIMS flow (an action reports to its
NC, an NC to its audit or certification cycle). Posted messages are ``process_message`` rows; one is
delivered as soon as its target waits for a message of that name, and waits (``pending``) until
then, so a message is never lost because it came early. Delivery itself is a use case in
``services`` (``deliver_messages``, ``send_message``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, tzinfo
from typing import Any

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.specs.event_definitions import message as _message
from SpiffWorkflow.bpmn.specs.event_definitions import timer as _timer
from sqlalchemy import select
from sqlalchemy.orm import Session

from .clock import Clock
from .models import ProcessInstance, ProcessMessage

_CLOCK: ContextVar[Clock | None] = ContextVar("aimsflow_clock", default=None)


class _ClockDatetime(datetime):
    """``datetime`` whose ``now()`` asks the use case's clock (SpiffWorkflow's timer module uses it)."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> _ClockDatetime:
        clock = _CLOCK.get()
        current = clock.now() if clock is not None else datetime.now(tz)
        if tz is not None:
            current = current.astimezone(tz)
        elif current.tzinfo is not None:
            current = current.astimezone().replace(tzinfo=None)
        return cls.combine(current.date(), current.timetz())


def install() -> None:
    """Make SpiffWorkflow's timers read :func:`use_clock`'s clock (idempotent)."""
    _timer.datetime = _ClockDatetime  # type: ignore[misc]


@contextmanager
def use_clock(clock: Clock) -> Iterator[None]:
    """Within the block, SpiffWorkflow's timers in this thread or task read ``clock``."""
    token = _CLOCK.set(clock)
    try:
        yield
    finally:
        _CLOCK.reset(token)


install()


# --------------------------------------------------------------------------- messages

def thrown_messages(workflow: Any) -> list[BpmnEvent]:
    """The messages the workflow threw that nothing inside it caught (taking them off its queue);
    other uncaught events are put back."""
    events = workflow.get_events()
    messages = [e for e in events if isinstance(e.event_definition, _message.MessageEventDefinition)]
    workflow.bpmn_events.extend(e for e in events if e not in messages)
    return messages


def _message_definitions(task: Any) -> list[Any]:
    """The message definitions a waiting task catches: its own, or those of the events behind an
    event-based gateway (one ``MultipleEventDefinition``)."""
    definition = getattr(task.task_spec, "event_definition", None)
    inner = getattr(definition, "event_definitions", None)
    candidates = inner if isinstance(inner, list) else [definition]
    return [d for d in candidates if isinstance(d, _message.MessageEventDefinition)]


def waiting_catches(workflow: Any, name: str) -> list[Any]:
    """The message definitions named ``name`` that the workflow's waiting tasks catch."""
    return [d for task in workflow.event_manager.tasks.values() for d in _message_definitions(task)
            if d.name == name]


def waits_for_messages(workflow: Any) -> bool:
    """True when some task of the workflow waits for a message."""
    return any(_message_definitions(t) for t in workflow.event_manager.tasks.values())


def catch(workflow: Any, name: str, payload: Any) -> bool:
    """Hand the message to the workflow if it waits for it (True), else leave it (False)."""
    definitions = waiting_catches(workflow, name)
    if not definitions:
        return False
    workflow.send_event(BpmnEvent(definitions[0], payload))
    return True


def post(session: Session, clock: Clock, name: str, payload: Any, target: ProcessInstance,
         source: ProcessInstance | None = None) -> ProcessMessage:
    """Queue a message for ``target`` (delivered by ``services.deliver_messages``)."""
    message = ProcessMessage(name=name, payload=payload, source_instance_id=source.id if source else None,
                             target_instance_id=target.id, status="pending", created_at=clock.now())
    session.add(message)
    session.flush()
    return message


def pending(session: Session, instance_id: int) -> list[ProcessMessage]:
    """The instance's undelivered messages, oldest first."""
    return list(session.scalars(select(ProcessMessage).where(ProcessMessage.target_instance_id == instance_id,
                                                             ProcessMessage.status == "pending")
                                .order_by(ProcessMessage.id)))
