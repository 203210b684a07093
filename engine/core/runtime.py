"""Drives one BpmnWorkflow inside one transaction: restore, act, run engine steps until the workflow
waits, save with the optimistic version check, and project ready human tasks onto ``human_task`` rows.

SpiffWorkflow exceptions become engine errors here, keeping the element id, the script line, the BPMN
file and the task trace.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any, cast
from uuid import UUID

from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.exceptions import WorkflowException
from SpiffWorkflow.util.task import TaskState as SpiffState
from sqlalchemy import Table, bindparam, insert, inspect, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from engine.core import (
    assignment,
    audit_trail,
    definitions,
    directory,
    domain,
    escalation,
    events,
    serializer,
    timers,
)
from engine.core.clock import Clock, as_utc, parse_datetime
from engine.core.context import Context
from engine.core.durations import add_duration
from engine.core.errors import ConflictError, EngineError, ScriptBudgetError, WorkflowError
from engine.core.models import OPEN_STATES, HumanTask, InstanceState, ProcessInstance, TaskState, User
from engine.core.models.base import check_lengths
from engine.core.operators import OperatorContext, StartRequest, get_operator
from engine.core.properties import lookup_path, read_properties
from engine.core.sandbox import make_script_engine
from engine.core.script_budget import BudgetExceeded


@dataclass
class Effects:
    """What operators asked for while the engine ran: audit events and processes to start; the
    messages the workflow threw that nothing inside it caught, and every signal it threw
    (``SpiffWorkflow`` ``BpmnEvent``s, routed to other instances by ``services``)."""

    audit_events: list[dict[str, Any]] = field(default_factory=list)
    starts: list[StartRequest] = field(default_factory=list)
    messages: list[Any] = field(default_factory=list)
    signals: list[Any] = field(default_factory=list)


@dataclass
class Loaded:
    instance: ProcessInstance
    workflow: Any  # BpmnWorkflow


class _WorkflowCache:
    """Workflows this process saved last, by instance id, with the exact state string they were saved as.

    A hit needs the stored state to be *equal* to the cached one, so a row changed elsewhere (another
    process, a rolled-back transaction) is never served stale; a hit is taken out of the cache, since
    the caller is about to change it, and ``save`` puts it back under its new state.
    """

    def __init__(self, limit: int = 1024):
        self._items: OrderedDict[int, tuple[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._limit = limit

    def take(self, instance_id: int, state: str) -> Any | None:
        with self._lock:
            entry = self._items.pop(instance_id, None)
        if entry is not None and entry[0] == state:
            return entry[1]
        return None

    def put(self, instance_id: int, state: str, workflow: Any) -> None:
        with self._lock:
            self._items[instance_id] = (state, workflow)
            self._items.move_to_end(instance_id)
            while len(self._items) > self._limit:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_WORKFLOWS = _WorkflowCache()


def clear_caches() -> None:
    """Forget cached workflows and parsed specs (tests use it to force a restore from the database)."""
    _WORKFLOWS.clear()
    definitions.clear_spec_cache()


def restore(ctx: Context, instance: ProcessInstance) -> Loaded:
    """The instance's workflow, restored onto its pinned version's parsed specs (or taken from the
    cache when this process saved exactly the stored state)."""
    workflow = _WORKFLOWS.take(instance.id, instance.state)
    if workflow is None:
        specs = definitions.specs_for(ctx.session, instance.process_version, ctx.settings.default_lane_role)
        workflow = serializer.loads(instance.state, specs)
    # never SpiffWorkflow's unrestricted default engine, even for a look (bind() adds the operators)
    workflow.script_engine = make_script_engine(None, ctx.settings.script_budget)
    return Loaded(instance, workflow)


@dataclass
class Binding:
    """A workflow bound to this transaction: its sandboxed script engine calls operators with this
    session, clock and actor, and collects what they ask for."""

    workflow: Any
    #: the clock SpiffWorkflow's timers read while this binding runs the workflow
    clock: Clock | None = None
    effects: Effects = field(default_factory=Effects)
    failures: list[EngineError] = field(default_factory=list)

    def step(self, action: Any) -> None:
        """Run ``action()`` (a task's ``run``, ``do_engine_steps``...) with SpiffWorkflow's errors turned
        into WorkflowError naming the element (or the operator's own EngineError); timers read ``clock``."""
        try:
            with timers.using_clock(self.clock):
                action()
        except WorkflowException as exc:
            if self.failures:
                raise self.failures[0] from exc
            raise _workflow_error(exc) from exc
        except EngineError:
            raise
        except SQLAlchemyError as exc:  # its text quotes the statement: name the kind only (the log has it)
            if self.failures:
                raise self.failures[0] from exc
            kind = type(getattr(exc, "orig", None) or exc).__name__
            raise WorkflowError(f"the engine failed in the database ({kind})") from exc
        except Exception as exc:  # a bug in a diagram's data shape, reported with the element
            if self.failures:
                raise self.failures[0] from exc
            raise WorkflowError(f"the engine failed: {exc}") from exc


def bind(ctx: Context, instance: ProcessInstance, workflow: Any, actor: User | None) -> Binding:
    """Attach the sandboxed script engine (operators see ``ctx`` and ``actor``) before anything runs:
    user-task post-scripts run when the task completes, not only in engine steps."""
    binding = Binding(workflow, clock=ctx.clock)

    def handle_service(task: Any, operation_name: str, params: dict[str, Any]) -> str:
        try:
            op = get_operator(operation_name)
            octx = OperatorContext(ctx.session, ctx.clock, ctx.settings, actor, instance,
                                   task.task_spec.bpmn_id or task.task_spec.name, task.data)
            result = op(octx, **params)
        except EngineError as exc:
            binding.failures.append(exc)
            raise
        binding.effects.audit_events.extend(octx.audit_events)
        binding.effects.starts.extend(octx.starts)
        return json.dumps(result if result is not None else {}, default=str)

    workflow.script_engine = make_script_engine(handle_service, ctx.settings.script_budget)
    events.record_signals(workflow, binding.effects.signals)
    return binding


def run(ctx: Context, instance: ProcessInstance, workflow: Any, actor: User | None,
        binding: Binding | None = None) -> Effects:
    """Run engine steps until the workflow waits. Raises WorkflowError (or an operator's EngineError)."""
    binding = binding or bind(ctx, instance, workflow, actor)
    binding.step(workflow.do_engine_steps)
    binding.effects.messages.extend(events.thrown_messages(workflow))
    return binding.effects


def _workflow_error(exc: WorkflowException) -> WorkflowError:
    """The engine's error for a SpiffWorkflow one: the message (with its notes, such as "did you mean"),
    the element id and script line; and SpiffWorkflow's task trace and the BPMN file, for the logs."""
    task = getattr(exc, "task", None)
    spec = getattr(task, "task_spec", None) if task is not None else None
    element = getattr(spec, "bpmn_id", None) or getattr(spec, "name", "") or ""
    line = getattr(exc, "line_number", None) or None
    # SpiffWorkflow's str() already appends the notes ("Did you mean ...") after ". "; say each once
    message = str(exc.args[0]) if exc.args else str(exc)
    notes = [n.strip() for n in getattr(exc, "notes", None) or [] if n and n.strip()]
    if notes:
        message += " (" + "; ".join(dict.fromkeys(notes)) + ")"
    file, trace = _bpmn_file(exc, task), getattr(exc, "task_trace", None)
    budget = _budget_exceeded(exc)
    if budget is not None:  # stopped by the sandbox: say which budget, not SpiffWorkflow's wrapping
        return ScriptBudgetError(f"{element}: {budget}" if element else str(budget), budget.limit,
                                 element=element, line=line, file=file, task_trace=trace)
    return WorkflowError(f"{element}: {message}" if element else message, element=element, line=line,
                         file=file, task_trace=trace)


def _budget_exceeded(exc: BaseException) -> BudgetExceeded | None:
    """The sandbox's budget error behind ``exc`` (SpiffWorkflow keeps it as ``exception`` or the cause)."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None or isinstance(seen, BudgetExceeded):
            return seen
        seen = getattr(seen, "exception", None) or seen.__cause__ or seen.__context__
    return None


def _bpmn_file(exc: WorkflowException, task: Any) -> str | None:
    """The BPMN file of the failing element: named by the exception, else the (sub)process the task
    or the task spec belongs to."""
    process = getattr(getattr(task, "workflow", None), "spec", None) if task is not None else \
        getattr(getattr(exc, "task_spec", None), "_wf_spec", None)
    return getattr(exc, "file_name", None) or getattr(process, "file", None) or None


def save(ctx: Context, instance: ProcessInstance, workflow: Any, flush: bool = True) -> None:
    """Write the workflow state; the UPDATE carries ``WHERE version = old`` (ConflictError on 0 rows).

    With ``flush=False`` the UPDATE goes out with the caller's next :func:`flush`, together with the
    task rows (one round of statements per use case).
    """
    now = ctx.clock.now()
    serializer.prune(workflow)  # a long-lived (looping) instance keeps its live part only
    instance.state = serializer.dumps(workflow)
    instance.updated_at = now
    instance.wake_at = next_timer(workflow)
    if workflow.is_completed() and instance.status == InstanceState.RUNNING:
        instance.status = InstanceState.COMPLETED
        instance.ended_at = now
        instance.end_event = _end_event(workflow)
    events.sync_subscriptions(ctx.session, instance, workflow)
    if flush:
        flush_instance(ctx, instance)
    _WORKFLOWS.put(instance.id, instance.state, workflow)


_INSTANCE_TABLE = cast(Table, ProcessInstance.__table__)
#: write_instance's prepared compare-and-set statements, by the columns they set
_INSTANCE_WRITES: dict[tuple[str, ...], Any] = {}


def _instance_statement(names: tuple[str, ...]) -> Any:
    statement = _INSTANCE_WRITES.get(names)
    if statement is None:
        table = _INSTANCE_TABLE
        statement = _INSTANCE_WRITES[names] = (
            update(table).where(table.c.id == bindparam("i_id"), table.c.version == bindparam("i_version"))
            .values({**{name: bindparam(name, type_=table.c[name].type) for name in names},
                     "version": table.c.version + 1}))
    return statement


def write_instance(session: Session, instance: ProcessInstance) -> None:
    """Write the columns changed on ``instance`` (a saved row) with one prepared compare-and-set on its
    version, as the unit of work would, but without it; the instance then holds them as saved. Raises
    ConflictError when the version moved on meanwhile. Anything else (a new instance, a changed
    relationship) is left to the next flush."""
    state = inspect(instance)
    if not state.persistent or not state.committed_state or \
            not all(key in _INSTANCE_TABLE.c for key in state.committed_state):
        return
    changed = {key: state.dict.get(key) for key in state.committed_state}
    check_lengths(state.mapper, None, instance)
    result = session.connection().execute(_instance_statement(tuple(sorted(changed))),
                                          {**changed, "i_id": instance.id, "i_version": instance.version})
    if result.rowcount != 1:
        raise ConflictError(f"instance {instance.id} was changed by someone else meanwhile; "
                            "reload it and try again")
    set_committed_value(instance, "version", instance.version + 1)
    # as a flush leaves it: nothing pending, so the session's next flush has nothing to look at
    state._commit_all(state.dict, session.identity_map)


def flush_instance(ctx: Context, instance: ProcessInstance) -> None:
    """Flush pending changes; a lost version race on ``instance`` becomes ConflictError."""
    with version_guard(instance):
        ctx.session.flush()


@contextmanager
def version_guard(instance: ProcessInstance) -> Iterator[None]:
    """Any flush inside (explicit or autoflush) that loses the version race raises ConflictError."""
    instance_id = instance.id  # a failed flush expires the row: reading it then raises PendingRollbackError
    try:
        yield
    except StaleDataError:
        raise ConflictError(f"instance {instance_id} was changed by someone else meanwhile; "
                            "reload it and try again") from None


def _end_event(workflow: Any) -> str | None:
    """The BPMN id of the end event the top-level process finished on (the latest one reached)."""
    ends = [t for t in workflow.get_tasks(state=SpiffState.COMPLETED, spec_class=EndEvent)
            if t.workflow is workflow and t.task_spec.bpmn_id]
    return max(ends, key=lambda t: t.last_state_change).task_spec.bpmn_id if ends else None


def next_timer(workflow: Any) -> datetime | None:
    """The earliest due time of the workflow's waiting timers (None without timers)."""
    due = [when for _, when in timers.waiting_timers(workflow)]
    return min(due) if due else None


def ready_human_tasks(workflow: Any) -> dict[str, Any]:
    return {str(t.id): t for t in workflow.get_tasks(state=SpiffState.READY, manual=True)}


_OPEN_ROWS = select(HumanTask).where(HumanTask.instance_id == bindparam("instance_id"),
                                     HumanTask.state.in_(OPEN_STATES))


def open_task_rows(session: Session, instance_id: int) -> list[HumanTask]:
    return list(session.scalars(_OPEN_ROWS, {"instance_id": instance_id}))


def sync_tasks(ctx: Context, instance: ProcessInstance, workflow: Any, done_id: str | None = None,
               open_rows: list[HumanTask] | None = None) -> list[HumanTask]:
    """Make the instance's open task rows match the workflow's ready human tasks.

    New ready tasks get rows (role, assignee, due date, SoD exclusions); rows whose task is no longer
    ready are cancelled. ``done_id`` is the task just completed (its row is closed by the caller);
    ``open_rows`` are the instance's open rows if the caller has them (``[]`` for a new instance),
    else they are read. New rows are inserted at once (:func:`insert_task_rows`). Returns them.
    """
    session = ctx.session
    ready = ready_human_tasks(workflow)
    rows = open_task_rows(session, instance.id) if open_rows is None else open_rows
    open_by_id = {r.spiff_task_id: r for r in rows if r.state in OPEN_STATES}
    now = ctx.clock.now()
    for spiff_id, row in open_by_id.items():
        if spiff_id not in ready and spiff_id != done_id:
            row.state = TaskState.CANCELLED
            row.completed_at = now
    created = []
    blocked: list[tuple[HumanTask, dict[str, Any]]] = []
    done: list[Any] | None = None
    for spiff_id, task in ready.items():
        if spiff_id in open_by_id:
            continue
        row = _new_row(ctx, instance, task, now)
        if row.sod_rules:
            if done is None:
                done = assignment.history(session, instance.id)
            if (event := _apply_candidates(ctx, row, task.data, done)) is not None:
                blocked.append((row, event))
        created.append(row)
    escalation.schedule_new(ctx.settings, created)
    insert_task_rows(session, created)
    for row, event in blocked:  # audited once the row has its id
        audit_trail.append(session, ctx.clock, "sod_violation_blocked", actor=None, instance_id=row.instance_id,
                           task_id=row.id, subject=row.subject, data=event)
    # same transaction: deputy routing, the deadline ladder, the "new task" notifications
    escalation.on_created(session, ctx.clock, ctx.settings, instance.id,
                          ((row, ready[row.spiff_task_id].data) for row in created))
    return created


def _new_row(ctx: Context, instance: ProcessInstance, task: Any, now: datetime) -> HumanTask:
    spec = task.task_spec
    props = read_properties(spec.extensions)
    row = HumanTask(
        instance_id=instance.id, spiff_task_id=str(task.id), task_spec=spec.bpmn_id or spec.name,
        name=spec.bpmn_name or spec.bpmn_id or spec.name, process_id=instance.process_id,
        subject=instance.subject, role=spec.lane or "", state=TaskState.READY, form=props.form,
        escalation_profile=props.escalation_profile, sod_rules=",".join(props.sod_rules) or None,
        created_at=now, due_at=_due_at(props, task.data, now), excluded_ids=[],
    )
    if props.assignee_var:
        email = lookup_path(task.data, props.assignee_var)
        user = directory.find_user(ctx.session, email) if isinstance(email, str) else None
        if user is not None and user.active:
            row.assignee_id = row.designated_id = user.id
        elif isinstance(email, str) and email.strip():  # nobody named: simply the lane's work, no note
            who = "is no longer active" if user is not None else "is not a user here"
            row.note = (f"The person named for this step ({email}) {who}; "
                        f"anyone with the role {domain.roles_in_words({row.role})} may claim it")
    return row


def _apply_candidates(ctx: Context, row: HumanTask, data: dict[str, Any], done: list[Any]) -> dict[str, Any] | None:
    """SoD at candidate building: exclude role holders; unassign a designated user the rules forbid.
    Returns the data of the ``sod_violation_blocked`` event to audit then, else None."""
    assignment.candidate_exclusions(ctx.session, row, data, done)
    if row.assignee_id is None:
        return None
    user = ctx.session.get(User, row.assignee_id)
    if user is None:
        return None
    violations = assignment.sod_violations(ctx.session, user, row, data, done)
    if not violations:
        return None
    row.note = f"{user.email} was named but {violations[0]}; a manager must assign someone else"
    row.assignee_id = row.designated_id = None
    return {"task_spec": row.task_spec, "user": user.email, "at": "candidate_building",
            "rules": [v.rule for v in violations], "reasons": [v.message for v in violations]}


_TASK_TABLE = cast(Table, HumanTask.__table__)
_TASK_COLUMNS = tuple(column for column in _TASK_TABLE.c if column.key != "id")
_INSERT_TASKS = insert(_TASK_TABLE).returning(_TASK_TABLE.c.id, sort_by_parameter_order=True)


def insert_task_rows(session: Session, rows: list[HumanTask]) -> None:
    """INSERT the new ``rows`` with one prepared (multi-row) statement, not through the unit of work, and
    attach them to the session as saved rows: their ids set, every column as written (the defaults
    filled in first), nothing to read back."""
    if not rows:
        return
    mapper = inspect(HumanTask)
    params = []
    for row in rows:
        values = inspect(row).dict
        for column in _TASK_COLUMNS:
            if column.key not in values:
                default = column.default
                arg = getattr(default, "arg", None)
                setattr(row, column.key, arg(None) if callable(arg) else arg)
        check_lengths(mapper, None, row)
        params.append({column.key: values[column.key] for column in _TASK_COLUMNS})
    ids = session.connection().execute(_INSERT_TASKS, params).scalars().all()
    for row, row_id in zip(rows, ids, strict=True):
        row.id = row_id
        make_transient_to_detached(row)
        session.add(row)


def _due_at(props: Any, data: dict[str, Any], now: datetime) -> datetime | None:
    if props.due_in:
        return add_duration(now, props.due_in)
    if props.due_at_var:
        value = lookup_path(data, props.due_at_var)
        if isinstance(value, datetime):
            return as_utc(value)
        if isinstance(value, str) and value.strip():
            try:
                parsed = parse_datetime(value)
            except ValueError:
                return None
            if "T" not in value and " " not in value.strip():
                parsed = datetime.combine(parsed.date(), time(23, 59, 59), parsed.tzinfo)  # due by day's end
            return parsed
    return None


def spiff_task(workflow: Any, row: HumanTask) -> Any:
    """The workflow task behind ``row``; ConflictError if it is no longer ready."""
    task = workflow.get_task_from_id(UUID(row.spiff_task_id))
    if task is None or task.state != SpiffState.READY or not task.task_spec.manual:
        raise ConflictError(f"task {row.id} '{row.name}' is no longer waiting for input")
    return task


def merge_form_data(task: Any, data: dict[str, Any]) -> None:
    """Merge submitted data into the task data; for a multi-instance task, into its output item."""
    parent_spec = getattr(task.parent, "task_spec", None)
    output = getattr(parent_spec, "output_item", None)
    if output is not None:
        name = output.bpmn_id
        current = task.data.get(name)
        if not isinstance(current, dict):
            input_item = getattr(parent_spec, "input_item", None)
            seed = task.data.get(input_item.bpmn_id) if input_item is not None else None
            current = deepcopy(seed) if isinstance(seed, dict) else {}
        task.data[name] = {**current, **deepcopy(data)}
    else:
        task.data.update(deepcopy(data))


def append_effects(ctx: Context, instance: ProcessInstance, actor: User | None, effects: Effects) -> None:
    for event in effects.audit_events:
        audit_trail.append(ctx.session, ctx.clock, event["action"], actor=actor, instance_id=instance.id,
                           subject=event.get("subject") or instance.subject, data=event.get("data"))
