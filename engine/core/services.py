"""Use cases: start, claim, release, complete, reassign, cancel, wake (timers). One transaction each.

Every function takes a :class:`Context` (session, clock, settings) and the acting user, flushes and
never commits: the caller commits on success and rolls back on error (``engine.uow.transaction``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.util.task import TaskState as SpiffState
from sqlalchemy import select

from engine.core import (
    assignment,
    audit_trail,
    decisions,
    definitions,
    directory,
    domain,
    escalation,
    events,
    forms,
    runtime,
    serializer,
    task_guard,
    timers,
)
from engine.core.errors import ConflictError, Forbidden, InvalidInput, NotFound
from engine.core.models import OPEN_STATES, HumanTask, InstanceState, ProcessInstance, TaskState, User
from engine.core.runtime import Context
from engine.core.sandbox import make_script_engine


@dataclass
class Outcome:
    """What a use case changed: the instance and the human tasks that became ready."""

    instance: ProcessInstance
    new_tasks: list[HumanTask] = field(default_factory=list)
    task: HumanTask | None = None
    started: list[ProcessInstance] = field(default_factory=list)
    #: BPMN ids of the timers that fired (wake_instance)
    timers_fired: list[str] = field(default_factory=list)
    #: how many messages and signals were handed to the instance (messaging.deliver_messages)
    messages_delivered: int = 0


def _user_check(ctx: Context) -> forms.UserCheck:
    def check(email: str, roles: list[str]) -> str | None:
        user = directory.find_user(ctx.session, email)
        if user is None or not user.active:
            return f"choose a person from the list ({email} is not an active user)"
        if roles and not user.roles.intersection(roles):
            return (f"choose someone with the role {domain.roles_in_words(set(roles))}; "
                    f"{user.name} does not have it")
        return None

    return check


def _ref_check(ctx: Context) -> forms.RefCheck:
    def check(value: str, kind: str) -> str | None:
        reference = domain.current().references.get(kind)
        if reference is None or reference.exists(ctx.session, value):
            return None
        return f"there is no {reference.label} {value}; choose one from the list"

    return check


def validate_form(ctx: Context, schema: dict[str, Any] | None, data: dict[str, Any], name: str,
                  task_data: dict[str, Any] | None = None) -> None:
    if schema is None:
        if not isinstance(data, dict):
            raise InvalidInput("the data must be a JSON object")
        return
    forms.validate(schema, data, _user_check(ctx), form=name, task_data=task_data, ref_check=_ref_check(ctx))


# --------------------------------------------------------------------------- start

def start_process(ctx: Context, actor: User | None, process_id: str, data: dict[str, Any] | None = None,
                  *, parent: ProcessInstance | None = None, subject: str | None = None) -> Outcome:
    """Start the latest published version of ``process_id`` with ``data`` (checked against its start
    form). ``actor`` None means the engine itself (a parent process or the scheduler) starts it.

    Raises NotFound, Forbidden (the actor's roles may not start it), ValidationError, WorkflowError.
    """
    data = dict(data or {})
    version = definitions.latest_version(ctx.session, process_id)
    specs = definitions.specs_for(ctx.session, version, ctx.settings.default_lane_role)
    start_spec, props = definitions.start_event_properties(specs)
    if actor is not None:
        _check_may_start(actor, process_id, props.start_roles or
                         ((start_spec.lane,) if start_spec is not None and start_spec.lane else ()))
    if props.form:
        validate_form(ctx, definitions.form_schema(version, props.form), data, props.form)
    if actor is not None:
        data.setdefault("started_by", actor.email)
    workflow = serializer.new_workflow(specs, version.sha256, make_script_engine(None))
    workflow.task_tree.data.update(data)
    timers.prime_start_timer(workflow)  # a timer start event: this instance is one firing, it runs now
    now = ctx.clock.now()
    instance = ProcessInstance(process_version=version, process_id=process_id, status=InstanceState.RUNNING, state="",
                               started_by_id=actor.id if actor else None, started_at=now, updated_at=now,
                               parent_instance_id=parent.id if parent else None, subject=subject)
    ctx.session.add(instance)
    ctx.session.flush()

    def audit() -> None:
        audit_trail.append(ctx.session, ctx.clock, "start", actor=actor, instance_id=instance.id,
                           subject=instance.subject,
                           data={"process_id": process_id, "version": version.version, "data": data,
                                 "parent_instance_id": instance.parent_instance_id})

    return advance(ctx, Outcome(instance), workflow, actor, audit=audit, open_rows=[], lock=False)


def advance(ctx: Context, outcome: Outcome, workflow: Any, actor: User | None, *,
             act: Callable[[runtime.Binding], None] | None = None, run: bool = True,
             close: Callable[[], None] | None = None, audit: Callable[[], None], done_id: str | None = None,
             open_rows: list[HumanTask] | None = None, deliver_early: bool = True, lock: bool = True) -> Outcome:
    """The one way a use case moves ``outcome.instance``'s workflow, in the caller's transaction.

    Binds the workflow (operators see ``ctx`` and ``actor``), does ``act`` (a task's run, caught messages,
    due timers, a cancel; nothing for a new instance), runs engine steps until it waits (unless ``run`` is
    False: ``act`` ran them or nothing may run); then, under the optimistic version check, saves it, does
    ``close`` (the use case's compare-and-set on its own row), syncs the task rows (``done_id``, ``open_rows``: see
    :func:`runtime.sync_tasks`) and flushes; then ``audit`` and what the run asked for (:func:`_after_run`,
    with the early messages for it when ``deliver_early``). Sets ``outcome.new_tasks`` and returns ``outcome``.
    First it locks the instance row and checks its version (:func:`task_guard.lock_instance`), unless
    ``lock`` is False (a new instance; or the caller locked it already, before writing a task row).
    Raises WorkflowError (or an operator's EngineError), ConflictError (the instance changed meanwhile).
    """
    instance = outcome.instance
    if lock:
        task_guard.lock_instance(ctx.session, instance)
    binding = runtime.bind(ctx, instance, workflow, actor)
    if act is not None:
        act(binding)
    if run:
        runtime.run(ctx, instance, workflow, actor, binding)
    with runtime.version_guard(instance):
        runtime.save(ctx, instance, workflow, flush=False)
        runtime.write_instance(ctx.session, instance)
        if close is not None:
            close()
        outcome.new_tasks = runtime.sync_tasks(ctx, instance, workflow, done_id=done_id, open_rows=open_rows)
        ctx.session.flush()
    audit()
    _after_run(ctx, instance, actor, binding.effects, outcome, workflow, deliver_early)
    return outcome


def _check_may_start(actor: User, process_id: str, roles: tuple[str, ...]) -> None:
    if not actor.active:
        raise Forbidden(f"{actor.email} is deactivated")
    if roles and not actor.roles.intersection(roles):
        raise Forbidden(f"{actor.email} may not start {process_id}: it needs one of the roles "
                        f"{', '.join(roles)}")


def _after_run(ctx: Context, instance: ProcessInstance, actor: User | None, effects: runtime.Effects,
               outcome: Outcome, workflow: Any, deliver_early: bool = True) -> None:
    """What a run asked for, after its instance is saved: audit events, child instances, the messages and
    signals it threw (``messaging.route``); then, if the instance now waits for messages (and
    ``deliver_early``), those that came for it early. An instance that ended closes what still waited for it."""
    from engine.core import messaging

    runtime.append_effects(ctx, instance, actor, effects)
    for request in effects.starts:
        child = start_process(ctx, None, request.process_id, request.data, parent=instance,
                              subject=request.subject)
        outcome.started.append(child.instance)
        outcome.started.extend(child.started)
        outcome.new_tasks.extend(child.new_tasks)
    targets = messaging.route(ctx, instance, actor, workflow, effects)
    if instance.status != InstanceState.RUNNING:
        messaging.close_pending(ctx, instance)
    elif deliver_early and instance.waits_for is not None and instance not in targets:
        events.claim_waiting(ctx.session, instance)
        targets.append(instance)
    for target in targets:
        delivered = messaging.deliver_messages(ctx, target.id)
        outcome.started.extend(delivered.started)
        outcome.new_tasks.extend(delivered.new_tasks)


# --------------------------------------------------------------------------- tasks

def get_task(ctx: Context, task_id: int) -> HumanTask:
    """The task row. Raises NotFound."""
    task = ctx.session.get(HumanTask, task_id)
    if task is None:
        raise NotFound(f"no task {task_id}")
    return task


def get_instance(ctx: Context, instance_id: int) -> ProcessInstance:
    """The process instance. Raises NotFound."""
    instance = ctx.session.get(ProcessInstance, instance_id)
    if instance is None:
        raise NotFound(f"no process instance {instance_id}")
    return instance


#: the fewest characters a reason for a reassignment or a cancellation may have
MIN_REASON = 3


def _reason(reason: str | None, what: str) -> str:
    """``reason`` stripped; InvalidInput ("``what`` needs a reason ...") when it is too short."""
    text = (reason or "").strip()
    if len(text) < MIN_REASON:
        raise InvalidInput(f"{what} needs a reason (at least {MIN_REASON} characters)")
    return text


def claim_task(ctx: Context, actor: User, task_id: int, *, expected_version: int | None = None) -> HumanTask:
    """Take a ready task. ``expected_version``: the ``row_version`` the actor saw (a change since then is
    a ConflictError). Raises NotFound, Forbidden, ConflictError (someone else holds it, it changed or closed).
    """
    task = get_task(ctx, task_id)
    task_guard.check_version(ctx.session, task, expected_version)
    if task.state == TaskState.CLAIMED:
        if task.assignee_id == actor.id:
            return task
        raise ConflictError(f"task {task.id} '{task.name}' is already claimed by "
                            f"{task_guard.name_of(ctx.session, task.assignee_id)} "
                            f"(since {task_guard.when(task.claimed_at)})")
    if task.assignee_id not in (None, actor.id):
        raise Forbidden(f"task {task.id} '{task.name}' is assigned to "
                        f"{directory.email_of(ctx.session, task.assignee_id)}")
    assignment.check_can_claim(ctx.session, actor, task)
    task_guard.write(ctx.session, task, (TaskState.READY,), state=TaskState.CLAIMED, assignee_id=actor.id,
                     claimed_at=ctx.clock.now())
    audit_trail.append(ctx.session, ctx.clock, "claim", actor=actor, instance_id=task.instance_id, task_id=task.id,
                       subject=task.subject, data={"task_spec": task.task_spec})
    return task


def release_task(ctx: Context, actor: User, task_id: int, *, expected_version: int | None = None) -> HumanTask:
    """Give a claimed task back to its lane (or to the user ``assignee_var`` named). Raises NotFound,
    Forbidden, ConflictError (not claimed, closed, or changed since ``expected_version``/meanwhile)."""
    task = get_task(ctx, task_id)
    task_guard.check_version(ctx.session, task, expected_version)
    if task.state != TaskState.CLAIMED:
        raise ConflictError(f"task {task.id} '{task.name}' is not claimed")
    if task.assignee_id != actor.id and not assignment.may_reassign(ctx.session, actor, task):
        raise Forbidden(f"only the holder or a manager may release task {task.id}")
    previous = directory.email_of(ctx.session, task.assignee_id)
    task_guard.write(ctx.session, task, (TaskState.CLAIMED,), state=TaskState.READY, assignee_id=task.designated_id,
                     claimed_at=None)
    audit_trail.append(ctx.session, ctx.clock, "release", actor=actor, instance_id=task.instance_id, task_id=task.id,
                       subject=task.subject, data={"task_spec": task.task_spec, "from": previous})
    return task


def complete_task(ctx: Context, actor: User, task_id: int, data: dict[str, Any], *,
                  expected_version: int | None = None) -> Outcome:
    """Submit ``data`` for a task and run the process on until it waits again.

    Checks, before anything changes: the task is open and unchanged since ``expected_version``
    (ConflictError names who completed, reassigned... it), the actor may act (Forbidden; SodViolation,
    audited), the data fits the form (ValidationError). Then it locks the instance and closes the row
    with a compare-and-set on its state, holder and version: of two racing changes (a completion, a
    reassignment, a release, a cancellation, an escalation) one wins, the other gets ConflictError.
    """
    session = ctx.session
    # the instance read once under its row lock (every use case locks in this order: the instance, then its
    # task rows), with the task and the instance's other open tasks (sync_tasks needs them afterwards)
    instance, rows = task_guard.lock_task(session, task_id)
    task = next((r for r in rows if r.id == task_id), None)
    if instance is None or task is None:
        raise NotFound(f"no task {task_id}")
    task_guard.check_version(session, task, expected_version)
    loaded = runtime.restore(ctx, instance)
    spiff = task_guard.spiff_task(ctx.session, loaded.workflow, task)
    done = assignment.history(session, instance.id) if assignment.rules_of(task) else []
    assignment.check_can_act(session, actor, task, spiff.data, done)
    schema = definitions.form_schema(instance.process_version, task.form)
    validate_form(ctx, schema, data, task.form or task.task_spec, spiff.data)

    def act(binding: runtime.Binding) -> None:
        runtime.merge_form_data(spiff, data)
        binding.step(spiff.run)  # runs the task's post-script, sandboxed

    def close() -> None:  # the race's decision: a compare-and-set on the row's state, holder and version
        task_guard.write(session, task, OPEN_STATES, state=TaskState.COMPLETED, assignee_id=actor.id,
                         completed_by_id=actor.id, completed_at=ctx.clock.now(), submitted=data)

    def audit() -> None:
        audit_trail.append(session, ctx.clock, "complete", actor=actor, instance_id=instance.id, task_id=task.id,
                           subject=task.subject, data={"task_spec": task.task_spec, "data": data})
        decision = decisions.decision_of(data)
        if decisions.is_rejection(decision):
            audit_trail.append(session, ctx.clock, "reject", actor=actor, instance_id=instance.id, task_id=task.id,
                               subject=task.subject, data={"task_spec": task.task_spec, "decision": decision,
                                                           "comment": decisions.comment_of(data)})

    return advance(ctx, Outcome(instance, task=task), loaded.workflow, actor, act=act, close=close, audit=audit,
                    done_id=task.spiff_task_id, open_rows=rows, lock=False)


def reassign_task(ctx: Context, actor: User, task_id: int, to_email: str, reason: str, *,
                  expected_version: int | None = None) -> HumanTask:
    """Hand a task to someone else (managers and admins; a reason is required and audited).

    The new holder must hold the lane's role and pass the task's SoD rules and the delegation rule.
    The row is written with a compare-and-set: ConflictError if it was completed, cancelled, released,
    reassigned... meanwhile, or since the actor saw it at ``expected_version``.
    """
    reason = _reason(reason, "a reassignment")
    task = get_task(ctx, task_id)
    task_guard.check_version(ctx.session, task, expected_version)
    if not assignment.may_reassign(ctx.session, actor, task):
        managers = domain.roles_in_words(domain.current().manager_roles)
        raise Forbidden(f"{actor.email} may not reassign task {task.id}: it takes the assignee's line manager, "
                        f"the person the task was escalated to, or someone with the role {managers}")
    target = directory.user_by_email(ctx.session, to_email)
    if not target.active:
        raise InvalidInput(f"{target.name or target.email} is deactivated")
    if task.role not in target.roles:
        role = domain.current().roles.get(task.role, task.role)
        raise InvalidInput(f"{target.name or target.email} does not hold the role {role} this task needs")
    instance = get_instance(ctx, task.instance_id)
    loaded = runtime.restore(ctx, instance)
    spiff = task_guard.spiff_task(ctx.session, loaded.workflow, task)
    done = assignment.history(ctx.session, instance.id)
    violations = assignment.sod_violations(ctx.session, target, task, spiff.data, done, delegator=actor)
    if violations:
        raise assignment.sod_error(target, task, violations)
    previous = directory.email_of(ctx.session, task.assignee_id)
    task_guard.write(ctx.session, task, OPEN_STATES, assignee_id=target.id, state=TaskState.CLAIMED,
                     claimed_at=ctx.clock.now(), note=None)
    audit_trail.append(ctx.session, ctx.clock, "reassign", actor=actor, instance_id=task.instance_id, task_id=task.id,
                       subject=task.subject, data={"task_spec": task.task_spec, "from": previous, "to": target.email,
                                                   "reason": reason})
    escalation.on_reassigned(ctx.session, ctx.clock, ctx.settings, task, actor, reason)
    return task


def cancel_instance(ctx: Context, actor: User, instance_id: int, reason: str, *,
                    expected_version: int | None = None) -> ProcessInstance:
    """Stop a running instance; its open tasks are cancelled. The domain's manager roles or the user who
    started it; a reason is required. ConflictError if it has ended, or moved on since the actor saw it
    at ``expected_version``, or meanwhile."""
    reason = _reason(reason, "cancelling a process")
    instance = get_instance(ctx, instance_id)
    if instance.status != InstanceState.RUNNING:
        raise ConflictError(f"instance {instance_id} is already {instance.status}")
    task_guard.check_instance_version(ctx.session, instance, expected_version)
    if not (actor.has_role(*domain.current().manager_roles) or instance.started_by_id == actor.id):
        raise Forbidden(f"{actor.email} may not cancel instance {instance_id}")
    workflow = runtime.restore(ctx, instance).workflow

    def act(binding: runtime.Binding) -> None:
        binding.step(workflow.cancel)
        instance.status = InstanceState.CANCELLED  # before the save, which would call it completed
        instance.ended_at = ctx.clock.now()

    def audit() -> None:
        audit_trail.append(ctx.session, ctx.clock, "cancel", actor=actor, instance_id=instance.id,
                           subject=instance.subject, data={"reason": reason})

    advance(ctx, Outcome(instance), workflow, actor, act=act, run=False, audit=audit)
    return instance


def instance_data(ctx: Context, instance_id: int) -> dict[str, Any]:
    """The current process data of an instance (the workflow's data once finished)."""
    instance = get_instance(ctx, instance_id)
    workflow = runtime.restore(ctx, instance).workflow
    if workflow.is_completed():
        return dict(workflow.data)
    data: dict[str, Any] = {}
    for task in workflow.get_tasks(state=SpiffState.READY | SpiffState.STARTED | SpiffState.WAITING):
        data.update(task.data)  # the live frontier
    return data


def open_tasks(ctx: Context, instance_id: int) -> list[HumanTask]:
    return list(ctx.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                            HumanTask.state.in_(OPEN_STATES))
                                    .order_by(HumanTask.id)))


# --------------------------------------------------------------------------- messages and timers

def send_message(ctx: Context, actor: User | None, instance_id: int, name: str,
                 payload: dict[str, Any] | None = None) -> Outcome:
    """``messaging.send_message``: post a message to one instance by its number."""
    from engine.core import messaging

    return messaging.send_message(ctx, actor, instance_id, name, payload)


def deliver_messages(ctx: Context, instance_id: int, actor: User | None = None) -> Outcome:
    """``messaging.deliver_messages``: hand the instance what waits for it."""
    from engine.core import messaging

    return messaging.deliver_messages(ctx, instance_id, actor, wait=True)


def wake_instance(ctx: Context, instance_id: int) -> Outcome | None:
    """Fire the instance's timers that are due at ``ctx.clock.now()`` and run it on until it waits
    again (boundary timers interrupt or branch off their task, intermediate timers move on), in one
    transaction with the task rows and the audit event ``timer``. Returns None when the instance is
    not running. Raises WorkflowError (a diagram's script failed), ConflictError (changed meanwhile).
    """
    instance = ctx.session.get(ProcessInstance, instance_id)
    if instance is None or instance.status != InstanceState.RUNNING:
        return None
    loaded = runtime.restore(ctx, instance)
    fired = timers.due_timers(loaded.workflow, ctx.clock.now())
    if not fired:  # nothing due after all (stale wake_at): just put the next time right
        instance.wake_at = runtime.next_timer(loaded.workflow)
        runtime.flush_instance(ctx, instance)
        return Outcome(instance)

    def audit() -> None:
        audit_trail.append(ctx.session, ctx.clock, "timer", actor=None, instance_id=instance.id,
                           subject=instance.subject, data={"fired": fired, "status": instance.status})

    return advance(ctx, Outcome(instance, timers_fired=fired), loaded.workflow, None,
                    act=lambda binding: binding.step(loaded.workflow.refresh_timers), audit=audit)


def due_instances(ctx: Context, limit: int = 100) -> list[int]:
    """Ids of running instances whose earliest timer is due by the context's clock."""
    return list(ctx.session.scalars(
        select(ProcessInstance.id).where(ProcessInstance.status == InstanceState.RUNNING,
                                         ProcessInstance.wake_at <= ctx.clock.now())
        .order_by(ProcessInstance.wake_at).limit(limit)))
