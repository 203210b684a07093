"""Messages between instances, on the engine's terms (timers on the engine's clock: ``timers.py``).

**Messages.** A message an instance throws (intermediate throw or end event with a
``messageEventDefinition``) that nothing inside the same workflow catches is posted to the instance
that started it (``parent_instance_id``): the usual pattern of a parent flow and the
flows it starts (an action reports to the case that raised it). Posted messages are ``process_message`` rows; one is
delivered as soon as its target waits for a message of that name, and waits (``pending``) until
then, so a message is never lost because it came early. Delivery itself is a use case in
``services`` (``deliver_messages``, ``send_message``).
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.specs.event_definitions import message as _message
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.core.clock import Clock
from engine.core.models import ProcessInstance, ProcessMessage

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
