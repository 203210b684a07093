"""Use cases for messages and signals between instances; the rules are in ``events.py``'s docstring.

* :func:`send_message` posts a message to one instance by its number (it waits there until the
  instance reaches a catch for it);
* :func:`correlate_message` delivers a message to the one running instance that waits for it with a
  correlation key, as Camunda's ``correlateMessage`` does: NotFound when none waits, ConflictError
  when several do (nothing is stored then);
* :func:`broadcast_signal` copies a signal to every instance waiting for it (none is no error; a
  receiver busy in another transaction gets it from the worker's next pass);
* :func:`route` handles what a run threw (``services`` calls it after every run); :func:`deliver_messages`
  hands an instance what waits for it, under its row lock; :func:`deliver_pending` is the worker's pass.

Like every use case these flush and never commit. A delivery runs the receiver on in the sender's
transaction; one that would go deeper than :data:`MAX_DEPTH` (instances answering each other) is left
to the worker's next pass instead.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from engine.core import audit_trail, domain, events, runtime, services, task_guard
from engine.core.clock import Clock
from engine.core.errors import ConflictError, EngineError, Forbidden, InvalidInput, NotFound, WorkflowError
from engine.core.events import MESSAGE, SIGNAL
from engine.core.models import HumanTask, InstanceState, ProcessInstance, ProcessMessage, User
from engine.core.runtime import Context
from engine.core.uow import transaction

#: how many deliveries deep one transaction goes (an instance answering the one that messaged it ...)
MAX_DEPTH = 8
_DEPTH: ContextVar[int] = ContextVar("aimsflow_delivery_depth", default=0)


# --------------------------------------------------------------------------- from outside

def _check_sender(actor: User | None) -> None:
    """People who may post messages and signals from outside: the domain's manager roles (None: the engine)."""
    if actor is None:
        return
    roles = domain.current().manager_roles
    if not actor.active or not actor.has_role(*roles):
        raise Forbidden(f"{actor.email} may not send messages or signals to processes: it takes the role "
                        f"{domain.roles_in_words(roles)}")


def _name(name: str | None, what: str) -> str:
    text = (name or "").strip()
    if not text:
        raise InvalidInput(f"a {what} needs a name")
    if len(text) > 100:
        raise InvalidInput(f"a {what} name has at most 100 characters")
    return text


def send_message(ctx: Context, actor: User | None, instance_id: int, name: str,
                 payload: dict[str, Any] | None = None) -> services.Outcome:
    """Post the BPMN message ``name`` to a running instance and deliver it if the instance waits for it
    (else it waits, ``pending``, until the instance reaches a catch event for it).

    Raises NotFound (no such instance), ConflictError (the instance has ended), InvalidInput (no
    name), Forbidden (the actor may not send messages).
    """
    name = _name(name, "message")
    _check_sender(actor)
    services.get_instance(ctx, instance_id)  # NotFound
    # the receiver's row first, before the audit trail's: every use case locks in this order
    instance = task_guard.lock_for_delivery(ctx.session, instance_id, wait=True)
    assert instance is not None
    if instance.status != InstanceState.RUNNING:
        raise ConflictError(f"process {instance_id} is {instance.status}; it takes no more messages")
    events.post(ctx.session, ctx.clock, name, payload or {}, instance)
    audit_trail.append(ctx.session, ctx.clock, "message_posted", actor=actor, instance_id=instance.id,
                       subject=instance.subject, data={"message": name, "payload": payload or {}})
    return deliver_messages(ctx, instance.id, actor, wait=True)


def correlate_message(ctx: Context, actor: User | None, name: str, correlation: dict[str, Any] | None = None,
                      payload: dict[str, Any] | None = None) -> services.Outcome:
    """Deliver the message ``name`` to the one running instance waiting for it with the key
    ``correlation`` (property -> value, as the diagrams declare them; None or empty: a catch without
    correlation properties). The key's values are part of the payload the process receives.

    Raises NotFound (none waits: nothing is stored), ConflictError (several wait: say which one with a
    key that tells them apart), InvalidInput, Forbidden.
    """
    name = _name(name, "message")
    _check_sender(actor)
    if correlation is not None and not isinstance(correlation, dict):
        raise InvalidInput("a correlation key is a JSON object: property name -> value")
    key = events.correlation_key(correlation)
    candidates = events.subscribers(ctx.session, MESSAGE, name, key)
    if not candidates:
        raise NotFound(f"no running process waits for the message {name} with {events.describe_key(key)}")
    if len(candidates) > 1:
        raise ConflictError(f"the message {name} with {events.describe_key(key)} matches {len(candidates)} waiting "
                            f"processes ({_numbers(candidates)}); give a correlation key that tells them apart, "
                            "or send it to one process by its number")
    # the receiver's row first (before the audit trail's); then make sure it still waits: it may have
    # moved on (a timer fired, a user acted) while we looked
    target = task_guard.lock_for_delivery(ctx.session, candidates[0], wait=True)
    if target is None or target.id not in events.subscribers(ctx.session, MESSAGE, name, key):
        raise NotFound(f"no running process waits for the message {name} with {events.describe_key(key)} "
                       f"(process {candidates[0]} moved on meanwhile)")
    payload = {**(correlation or {}), **(payload or {})}  # the message carries its key, as a thrown one does
    events.post(ctx.session, ctx.clock, name, payload, target, correlation=key)
    audit_trail.append(ctx.session, ctx.clock, "message_posted", actor=actor, instance_id=target.id,
                       subject=target.subject, data={"message": name, "correlation": correlation or {},
                                                     "payload": payload})
    return deliver_messages(ctx, target.id, actor, wait=True)


@dataclass
class Broadcast:
    """What a signal reached: the instances waiting for it, and the human tasks that became ready."""

    name: str
    receivers: list[int] = field(default_factory=list)
    new_tasks: list[HumanTask] = field(default_factory=list)


def broadcast_signal(ctx: Context, actor: User | None, name: str,
                     payload: dict[str, Any] | None = None) -> Broadcast:
    """Throw the BPMN signal ``name`` to every running instance waiting for it (none: nothing happens,
    audited with no receivers). Raises InvalidInput, Forbidden."""
    name = _name(name, "signal")
    _check_sender(actor)
    result = Broadcast(name)
    for target in _broadcast(ctx, actor, name, payload or {}, source=None):
        result.receivers.append(target.id)
        # without waiting: the audit trail is locked by now; a busy receiver gets it from the worker
        result.new_tasks.extend(deliver_messages(ctx, target.id, actor, wait=False).new_tasks)
    return result


def _numbers(ids: list[int]) -> str:
    shown = ", ".join(f"#{i}" for i in ids[:5])
    return shown + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")


# --------------------------------------------------------------------------- what a run threw

def route(ctx: Context, source: ProcessInstance, actor: User | None, workflow: Any,
          effects: runtime.Effects) -> list[ProcessInstance]:
    """Post the messages and signals a run of ``source`` threw (``effects``); returns the instances to
    deliver to now. Raises WorkflowError when a message matches several waiting instances."""
    targets: list[ProcessInstance] = []
    for event in effects.messages:
        target = _route_message(ctx, source, workflow, event)
        if target is not None and target not in targets:
            targets.append(target)
    for event in effects.signals:
        payload = event.payload if event.payload is not None else {}
        for target in _broadcast(ctx, actor, event.event_definition.name, payload, source=source):
            if target not in targets:
                targets.append(target)
    return targets


def _route_message(ctx: Context, source: ProcessInstance, workflow: Any, event: Any) -> ProcessInstance | None:
    session, clock = ctx.session, ctx.clock
    name = event.event_definition.name
    key = events.message_key(event)
    if key is None:  # no key: a child reports to the process that started it; nobody else can tell
        parent = session.get(ProcessInstance, source.parent_instance_id) if source.parent_instance_id else None
        message = events.post(session, clock, name, event.payload, parent, source,
                              status="pending" if parent is not None else "undeliverable")
        if parent is None:
            audit_trail.append(session, clock, "message_undeliverable", instance_id=source.id, subject=source.subject,
                               data={"message": name, "id": message.id,
                                     "reason": "it has no correlation key and no process started this one; declare "
                                               "a correlation property of the message so that it finds the process "
                                               "waiting for it"})
        return parent
    candidates = events.subscribers(session, MESSAGE, name, key, exclude=source.id)
    if len(candidates) > 1:
        element = events.thrower(workflow, event.event_definition)
        raise WorkflowError(f"{element}: the message {name} with {events.describe_key(key)} matches "
                            f"{len(candidates)} waiting processes ({_numbers(candidates)}); a message goes to one "
                            "process: give it a correlation key that tells them apart, or throw a signal to reach "
                            "them all", element=element)
    target = session.get(ProcessInstance, candidates[0]) if candidates else None
    message = events.post(session, clock, name, event.payload, target, source, correlation=key)
    if target is None:
        audit_trail.append(session, clock, "message_waiting", instance_id=source.id, subject=source.subject,
                           data={"message": name, "correlation": events.describe_key(key), "id": message.id,
                                 "reason": "no running process waits for it yet; the first that does gets it"})
    return target


def _broadcast(ctx: Context, actor: User | None, name: str, payload: Any,
               source: ProcessInstance | None) -> list[ProcessInstance]:
    session = ctx.session
    receivers = events.subscribers(session, SIGNAL, name, None, exclude=source.id if source else None)
    targets = [t for t in (session.get(ProcessInstance, i) for i in receivers) if t is not None]
    for target in targets:
        events.post(session, ctx.clock, name, payload, target, source, kind=SIGNAL)
    audit_trail.append(session, ctx.clock, "signal_sent", actor=actor if source is None else None,
                       instance_id=source.id if source else None, subject=source.subject if source else name,
                       data={"signal": name, "receivers": [t.id for t in targets], "payload": payload})
    return targets


# --------------------------------------------------------------------------- delivery

def deliver_messages(ctx: Context, instance_id: int, actor: User | None = None, *,
                     wait: bool = False) -> services.Outcome:
    """Deliver the instance's pending messages and signals that it waits for, oldest first, running the
    process on after each; what it then throws or starts is handled as after any run.

    Locks the instance first (``wait`` False: skip it if another transaction holds it; the worker
    delivers later). Messages for an instance that has ended become ``undeliverable``; a signal it no
    longer waits for is ``missed``.
    """
    depth = _DEPTH.get()
    instance = task_guard.lock_for_delivery(ctx.session, instance_id, wait=wait) if depth < MAX_DEPTH else None
    if instance is None:  # busy elsewhere, or too deep: the worker's next pass delivers
        return services.Outcome(services.get_instance(ctx, instance_id))
    outcome = services.Outcome(instance)
    queued = events.pending(ctx.session, instance.id)
    if not queued:
        return outcome
    if instance.status != InstanceState.RUNNING:
        close_pending(ctx, instance, queued)
        return outcome
    workflow = runtime.restore(ctx, instance).workflow
    _drop_missed(ctx, instance, [m for m in queued if m.kind == SIGNAL and
                                 not events.waiting(workflow, SIGNAL, m.name, None)])
    if not any(m.status == "pending" and events.waiting(workflow, m.kind, m.name, m.correlation) for m in queued):
        ctx.session.flush()
        return outcome  # none of them yet: they wait
    delivered: list[ProcessMessage] = []

    def act(binding: runtime.Binding) -> None:
        progress = True
        while progress:  # a delivered message may move the workflow on to catch the next one
            progress = False
            for message in queued:
                if message.status != "pending" or not events.waiting(workflow, message.kind, message.name,
                                                                     message.correlation):
                    continue
                binding.step(lambda m=message: events.deliver(workflow, m.kind, m.name, m.correlation, m.payload))
                message.status, message.delivered_at = "delivered", ctx.clock.now()
                delivered.append(message)
                runtime.run(ctx, instance, workflow, actor, binding)
                progress = True

    def audit() -> None:
        for message in delivered:
            # the action spelled out, so the words for every action can be checked (tests/engine/test_event_words.py)
            action = "signal_delivered" if message.kind == SIGNAL else "message_delivered"
            audit_trail.append(ctx.session, ctx.clock, action, actor=actor,
                               instance_id=instance.id, subject=instance.subject,
                               data={message.kind: message.name, "id": message.id,
                                     "from_instance": message.source_instance_id,
                                     "correlation": events.describe_key(message.correlation)
                                     if message.correlation else None})

    token = _DEPTH.set(depth + 1)
    try:
        outcome.messages_delivered = 0
        result = services.advance(ctx, outcome, workflow, actor, act=act, run=False, audit=audit,
                                  deliver_early=False, lock=False)
        result.messages_delivered = len(delivered)
        return result
    finally:
        _DEPTH.reset(token)


def close_pending(ctx: Context, instance: ProcessInstance, queued: list[ProcessMessage] | None = None) -> None:
    """The instance has ended: what still waits for it is ``undeliverable`` (a signal: ``missed``), audited."""
    queued = events.pending(ctx.session, instance.id) if queued is None else queued
    now = ctx.clock.now()
    for message in queued:
        message.status, message.delivered_at = ("missed" if message.kind == SIGNAL else "undeliverable"), now
        if message.kind == MESSAGE:
            audit_trail.append(ctx.session, ctx.clock, "message_undeliverable", instance_id=instance.id,
                               subject=instance.subject,
                               data={"message": message.name, "id": message.id, "from_instance":
                                     message.source_instance_id, "reason": f"the process has {instance.status}"})
    ctx.session.flush()


def _drop_missed(ctx: Context, instance: ProcessInstance, signals: list[ProcessMessage]) -> None:
    for message in signals:
        message.status, message.delivered_at = "missed", ctx.clock.now()


def deliver_pending(session: Session, clock: Clock, settings: Any, limit: int = 100) -> tuple[int, list[str]]:
    """The worker's pass: learn what instances saved before subscriptions existed wait for
    (:func:`learn_subscriptions`); hand every running instance the pending messages and signals it waits
    for (those whose receiver was busy when they came), one transaction per instance, rows claimed with
    ``SKIP LOCKED``; mark the signals whose receiver moved on meanwhile ``missed``. Commits.
    Returns (instances delivered to, failures in words)."""
    ctx = Context(session, clock, settings)
    delivered, failures, seen = 0, list[str](), set[int]()
    learn_subscriptions(ctx, limit)
    with transaction(session, clock):
        for message in events.missed_signals(session):
            message.status, message.delivered_at = "missed", clock.now()
    while True:
        with transaction(session, clock):
            ids = [i for i in events.deliverable_targets(session, limit) if i not in seen]
        if not ids:
            return delivered, failures
        for instance_id in ids:
            seen.add(instance_id)
            with transaction(session, clock):
                try:
                    with session.begin_nested():
                        outcome = deliver_messages(ctx, instance_id, wait=False)
                except EngineError as exc:
                    failures.append(f"messages for process {instance_id}: {exc.message}")
                    continue
                delivered += 1 if outcome.messages_delivered else 0


#: False once this process found no instance left whose subscriptions are unknown (new ones never are)
_UNKNOWN_LEFT = True


def learn_subscriptions(ctx: Context, limit: int = 100) -> int:
    """Write the subscriptions of running instances saved before there were any (migration 0013 marks
    them :data:`events.UNKNOWN`), a transaction per instance, skipping locked ones; returns how many.
    Once none is left this process stops looking."""
    global _UNKNOWN_LEFT
    done = 0
    while _UNKNOWN_LEFT:
        with transaction(ctx.session, ctx.clock):
            ids = events.unknown_subscriptions(ctx.session, limit)
        if not ids:
            _UNKNOWN_LEFT = False
            break
        learned = 0
        for instance_id in ids:
            with transaction(ctx.session, ctx.clock):
                instance = task_guard.lock_for_delivery(ctx.session, instance_id, wait=False)
                if instance is None or instance.waits_for != events.UNKNOWN:
                    continue
                workflow = runtime.restore(ctx, instance).workflow
                events.sync_subscriptions(ctx.session, instance, workflow)
                ctx.session.flush()
                learned += 1
        done += learned
        if not learned:  # all of them busy: the next pass
            break
    return done
