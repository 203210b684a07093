"""Messages and signals between instances, on the engine's terms (timers on the engine's clock: ``timers.py``).

**What an instance waits for** is kept as ``event_subscription`` rows (:func:`sync_subscriptions`, when
the instance is saved and it changed): one per waiting message or signal catch (an intermediate catch,
a boundary event, a branch of an event-based gateway), with the correlation key it expects. Messages
are routed by them, without loading any workflow.

**Correlation.** A message may carry correlation properties, declared as BPMN writes them: a
``bpmn:correlationProperty`` whose ``correlationPropertyRetrievalExpression messageRef="..."`` reads the
value from the message's payload (grouped by a ``bpmn:correlationKey`` of the collaboration, optional).
The sender's key is those values computed from its payload. A waiting catch expects, for each property:
the value of its ``spiffworkflow:processVariableCorrelation`` expression over the waiting process's data
if it has one; else the process data field named like the property; else the value an earlier message
of the conversation set (SpiffWorkflow's ``workflow.correlations``). A key is the properties' values as
canonical JSON (:func:`correlation_key`); a message reaches a catch whose key is equal.

**Routing a thrown message** that nothing inside the thrower caught (``messaging.route``): a message
without correlation properties goes to the instance that started the thrower (``parent_instance_id``),
waiting there if it comes early; with no such instance nobody can tell where it belongs: it is kept as
``undeliverable`` and audited, naming the fix (declare a correlation property). A message with a key
goes, as Camunda's correlation does, to the one running instance that waits for it with that key; more
than one is an error of the thrower (a message has one receiver: a signal reaches all); none yet, and
the message waits without a target (``pending``) for the first instance that waits for it with that
key (:func:`claim_waiting`), audited as ``message_waiting``, never dropped.

**Signals** reach every instance waiting for them (the thrower's own catches through SpiffWorkflow);
nobody waiting is not an error (BPMN: a broadcast), the audit event says how many it reached.

Posted messages and copied signals are ``process_message`` rows, delivered by ``services.deliver_messages``
under the target's row lock; a target busy in another transaction gets them from the worker's next pass.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions import message as _message
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import SignalEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import EventBasedGateway
from sqlalchemy import and_, delete, exists, or_, select, update
from sqlalchemy.orm import Session

from engine.core.clock import Clock
from engine.core.errors import InvalidInput
from engine.core.models import EventSubscription, InstanceState, ProcessInstance, ProcessMessage

MESSAGE, SIGNAL = "message", "signal"
_KEY_LIMIT = 255
#: ``process_instance.waits_for`` of a running instance saved before subscriptions were kept (migration 0013)
UNKNOWN = "?"


# --------------------------------------------------------------------------- correlation keys

def correlation_key(values: dict[str, Any] | None) -> str | None:
    """The canonical key of correlation property values (``{"order_id": 42}``): sorted compact JSON, or
    its sha256 when longer than a column holds; None for no properties."""
    if not values:
        return None
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    if len(text) <= _KEY_LIMIT:
        return text
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def describe_key(key: str | None) -> str:
    """A key in words for messages: ``order_id 42, region EU``."""
    if key is None:
        return "no correlation key"
    if key.startswith("sha256:"):
        return "a long correlation key"
    values = json.loads(key)
    return ", ".join(f"{name} {value}" for name, value in values.items())


def message_key(event: BpmnEvent) -> str | None:
    """The key of a thrown message: its correlation property values (SpiffWorkflow computed them from
    the payload, grouped by correlation key name)."""
    values: dict[str, Any] = {}
    for group in (event.correlations or {}).values():
        if isinstance(group, dict):
            values.update(group)
    return correlation_key(values)


def _expected_key(workflow: Any, task: Any, definition: Any) -> str | None:
    """The key a waiting message catch expects (see the module doc)."""
    properties = getattr(definition, "correlation_properties", None) or []
    if not properties:
        return None
    explicit = {p.name: p.retrieval_expression for p in getattr(definition, "process_correlations", None) or []}
    values: dict[str, Any] = {}
    for prop in properties:
        if prop.name in explicit:
            values[prop.name] = _evaluate(workflow, explicit[prop.name], task.data)
        elif prop.name in task.data:
            values[prop.name] = task.data[prop.name]
        else:
            values[prop.name] = next((workflow.correlations[k][prop.name] for k in prop.correlation_keys
                                      if prop.name in workflow.correlations.get(k, {})), None)
    return correlation_key(values)


def _evaluate(workflow: Any, expression: str, data: dict[str, Any]) -> Any:
    try:
        return workflow.script_engine.environment.evaluate(expression, dict(data))
    except Exception:  # a key that cannot be computed matches nothing; the catch still waits
        return None


# --------------------------------------------------------------------------- what a workflow waits for

@dataclass(frozen=True, order=True)
class Subscription:
    kind: str
    name: str
    correlation: str | None
    element: str


def _kind(definition: Any) -> str | None:
    if isinstance(definition, _message.MessageEventDefinition):
        return MESSAGE
    if isinstance(definition, SignalEventDefinition):
        return SIGNAL
    return None


def _catches(task: Any) -> Iterable[tuple[Any, str]]:
    """(message or signal definition, BPMN id of the event) a waiting task catches: its own, or those
    of the events behind an event-based gateway (one ``MultipleEventDefinition``)."""
    spec = task.task_spec
    definition = getattr(spec, "event_definition", None)
    inner = getattr(definition, "event_definitions", None)
    if isinstance(inner, list):
        for index, item in enumerate(inner):
            if _kind(item) is not None:
                target = spec.outputs[index] if isinstance(spec, EventBasedGateway) and index < len(spec.outputs) \
                    else spec
                yield item, str(target.bpmn_id or target.name)
    elif _kind(definition) is not None:
        yield definition, str(spec.bpmn_id or spec.name)


def subscriptions(workflow: Any) -> list[Subscription]:
    """What the workflow waits for now, sorted."""
    found = set()
    for task in list(workflow.event_manager.tasks.values()):
        for definition, element in _catches(task):
            kind = _kind(definition)
            key = _expected_key(workflow, task, definition) if kind == MESSAGE else None
            found.add(Subscription(kind or "", definition.name, key, element))
    return sorted(found)


def waits_for_messages(workflow: Any) -> bool:
    """True when some task of the workflow waits for a message or a signal."""
    return any(True for task in workflow.event_manager.tasks.values() for _ in _catches(task))


def sync_subscriptions(session: Session, instance: ProcessInstance, workflow: Any) -> None:
    """Make the instance's ``event_subscription`` rows say what ``workflow`` waits for (none once it
    has ended). Writes only when that changed (``instance.waits_for``)."""
    subs = subscriptions(workflow) if instance.status == InstanceState.RUNNING else []
    signature = json.dumps([[s.kind, s.name, s.correlation, s.element] for s in subs],
                           separators=(",", ":")) if subs else None
    if signature == instance.waits_for:
        return
    if instance.waits_for not in (None, UNKNOWN):
        session.execute(delete(EventSubscription).where(EventSubscription.instance_id == instance.id))
    instance.waits_for = signature
    session.add_all(EventSubscription(instance_id=instance.id, kind=s.kind, name=s.name[:100],
                                      correlation=s.correlation, element=s.element[:100]) for s in subs)


def unknown_subscriptions(session: Session, limit: int) -> list[int]:
    """Running instances whose subscriptions are not known yet (:data:`UNKNOWN`)."""
    return list(session.scalars(select(ProcessInstance.id).where(ProcessInstance.status == InstanceState.RUNNING,
                                                                 ProcessInstance.waits_for == UNKNOWN)
                                .order_by(ProcessInstance.id).limit(limit)))


def waiting(workflow: Any, kind: str, name: str, correlation: str | None) -> list[tuple[Any, Any]]:
    """(task, definition) of the workflow's catches a ``kind`` named ``name`` reaches: for a message
    with a key, the catches expecting that key; for one without, every catch of that name (it was
    sent to this instance)."""
    found = []
    for task in list(workflow.event_manager.tasks.values()):
        for definition, _ in _catches(task):
            if _kind(definition) != kind or definition.name != name:
                continue
            if kind == MESSAGE and correlation is not None and \
                    _expected_key(workflow, task, definition) != correlation:
                continue
            found.append((task, definition))
            break
    return found


def deliver(workflow: Any, kind: str, name: str, correlation: str | None, payload: Any) -> bool:
    """Hand a message or signal to the catches of ``workflow`` it reaches (:func:`waiting`); False if none.

    The catch is made directly on the chosen tasks: routing has matched the key already, and
    SpiffWorkflow's own check compares with one key per workflow, which a gateway's or a second
    branch's catch would fail."""
    matches = waiting(workflow, kind, name, correlation)
    for task, definition in matches:
        _check_carries_key(workflow, definition, payload)
        event = BpmnEvent(definition, payload, correlations=dict(workflow.correlations))
        task.task_spec.catch(task, event)
        task.task_spec._update(task)
    return bool(matches)


def _check_carries_key(workflow: Any, definition: Any, payload: Any) -> None:
    """InvalidInput unless ``payload`` carries the message's correlation properties (SpiffWorkflow reads
    them from it when the message is caught, for the rest of the conversation)."""
    for prop in getattr(definition, "correlation_properties", None) or []:
        try:
            workflow.script_engine.environment.evaluate(prop.retrieval_expression,
                                                        dict(payload) if isinstance(payload, dict) else {})
        except Exception:
            raise InvalidInput(f"the message {definition.name} must carry its correlation property {prop.name} "
                               f"(read as {prop.retrieval_expression}) in its payload") from None


# --------------------------------------------------------------------------- what a run threw

def thrown_messages(workflow: Any) -> list[BpmnEvent]:
    """The messages the workflow threw that nothing inside it caught (taking them off its queue).
    Uncaught signals are dropped (:func:`record_signals` has them); other uncaught events are put back."""
    events = workflow.get_events()
    messages = [e for e in events if isinstance(e.event_definition, _message.MessageEventDefinition)]
    workflow.bpmn_events.extend(e for e in events if e not in messages and _kind(e.event_definition) != SIGNAL)
    return messages


def record_signals(workflow: Any, signals: list[BpmnEvent]) -> None:
    """From now on every signal the workflow throws is also appended to ``signals`` (BPMN: a signal
    is broadcast, even when a catch of the thrower's own takes it)."""

    def catch(event: BpmnEvent) -> None:
        if _kind(event.event_definition) == SIGNAL:
            signals.append(event)
        BpmnWorkflow.catch(workflow, event)

    workflow.catch = catch


def thrower(workflow: Any, definition: Any) -> str:
    """The BPMN id of the event in ``workflow``'s specs that throws ``definition`` ('' if not found)."""
    specs = [workflow.spec, *workflow.subprocess_specs.values()]
    for spec in specs:
        for task_spec in getattr(spec, "task_specs", {}).values():
            if getattr(task_spec, "event_definition", None) is definition:
                return str(task_spec.bpmn_id or task_spec.name)
    return ""


# --------------------------------------------------------------------------- rows

def post(session: Session, clock: Clock, name: str, payload: Any, target: ProcessInstance | None,
         source: ProcessInstance | None = None, *, kind: str = MESSAGE, correlation: str | None = None,
         status: str = "pending") -> ProcessMessage:
    """Queue a message (or a signal) for ``target`` (None: the first instance to wait for it with
    ``correlation``); delivered by ``messaging.deliver_messages``. ``status`` "undeliverable": kept
    for the record only."""
    message = ProcessMessage(kind=kind, name=name, correlation=correlation, payload=payload,
                             source_instance_id=source.id if source else None,
                             target_instance_id=target.id if target else None, status=status,
                             created_at=clock.now())
    session.add(message)
    session.flush()
    return message


def subscribers(session: Session, kind: str, name: str, correlation: str | None,
                exclude: int | None = None) -> list[int]:
    """Ids of running instances waiting for a ``kind`` named ``name``; for a message, with exactly that
    key (None: the catches that expect none). Oldest first."""
    stmt = select(EventSubscription.instance_id).where(EventSubscription.kind == kind,
                                                       EventSubscription.name == name)
    if kind == MESSAGE:
        stmt = stmt.where(EventSubscription.correlation == correlation if correlation is not None
                          else EventSubscription.correlation.is_(None))
    if exclude is not None:
        stmt = stmt.where(EventSubscription.instance_id != exclude)
    return sorted(set(session.scalars(stmt)))


def pending(session: Session, instance_id: int) -> list[ProcessMessage]:
    """The instance's undelivered messages and signals, oldest first."""
    return list(session.scalars(select(ProcessMessage).where(ProcessMessage.target_instance_id == instance_id,
                                                             ProcessMessage.status == "pending")
                                .order_by(ProcessMessage.id)))


def claim_waiting(session: Session, instance: ProcessInstance) -> list[ProcessMessage]:
    """Messages that waited without a target and that ``instance`` now waits for (same name and key):
    make them the instance's, oldest first. A compare-and-set on the empty target: of two instances
    claiming one message at once, one gets it."""
    subs = [s for s in session.scalars(select(EventSubscription).where(EventSubscription.instance_id == instance.id,
                                                                        EventSubscription.kind == MESSAGE))]
    if not subs:
        return []
    conditions = [and_(ProcessMessage.name == s.name,
                       ProcessMessage.correlation == s.correlation if s.correlation is not None
                       else ProcessMessage.correlation.is_(None)) for s in subs]
    candidates = list(session.scalars(select(ProcessMessage).where(
        ProcessMessage.target_instance_id.is_(None), ProcessMessage.kind == MESSAGE,
        ProcessMessage.status == "pending", or_(*conditions)).order_by(ProcessMessage.id)))
    claimed = []
    for message in candidates:
        result = session.execute(update(ProcessMessage).where(ProcessMessage.id == message.id,
                                                              ProcessMessage.target_instance_id.is_(None))
                                 .values(target_instance_id=instance.id).execution_options(synchronize_session=False))
        if result.rowcount == 1:  # type: ignore[attr-defined]
            session.refresh(message)
            claimed.append(message)
    return claimed


def deliverable_targets(session: Session, limit: int = 100) -> list[int]:
    """Running instances with pending messages or signals they wait for now (the worker's list)."""
    waits = exists().where(EventSubscription.instance_id == ProcessMessage.target_instance_id,
                           EventSubscription.kind == ProcessMessage.kind,
                           EventSubscription.name == ProcessMessage.name)
    return list(session.scalars(select(ProcessMessage.target_instance_id)
                                .where(ProcessMessage.status == "pending",
                                       ProcessMessage.target_instance_id.is_not(None), waits)
                                .group_by(ProcessMessage.target_instance_id)
                                .order_by(ProcessMessage.target_instance_id).limit(limit)))


def missed_signals(session: Session) -> list[ProcessMessage]:
    """Pending signals whose target no longer waits for them: it moved on before they could be handed
    over (a broadcast reaches who waits at that moment)."""
    waits = exists().where(EventSubscription.instance_id == ProcessMessage.target_instance_id,
                           EventSubscription.kind == SIGNAL, EventSubscription.name == ProcessMessage.name)
    return list(session.scalars(select(ProcessMessage).where(ProcessMessage.kind == SIGNAL,
                                                             ProcessMessage.status == "pending", ~waits)))
