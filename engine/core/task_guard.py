"""Races on task rows and instances: compare-and-set writes, and the words the loser gets.

Every change of a ``human_task`` row is a compare-and-set on the state and ``row_version`` it was read
with: the use cases write through :func:`write` (``UPDATE ... WHERE id = :id AND row_version = :read AND
state IN (...)``, the row count tells), every other ORM update carries the same check through the
mapper's ``version_id_col`` (a lost one is StaleDataError, made ConflictError by ``runtime``). On
PostgreSQL the second writer waits for the first to commit and then finds the version moved on; on
SQLite (``BEGIN IMMEDIATE``) writers queue, and a change made since the actor *looked* shows as an
``expected_version`` that no longer matches (:func:`check_version`).

A use case that moves an instance locks the instance row first (:func:`lock_instance`), then writes
its task rows: always in this order, so two of them never wait for each other. A message or signal
one instance's run hands to another locks the receiver without waiting (:func:`lock_for_delivery`,
``SKIP LOCKED``): two instances messaging each other at once never deadlock; a busy receiver gets the
message from the worker's next pass.

The loser gets ConflictError saying what happened, with people's names and the time: "already
completed by Elena Petrova at 2026-11-02 10:42 UTC", "reassigned to Lucas Moreau at ... meanwhile".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.attributes import set_committed_value

from engine.core import directory, runtime
from engine.core.db import JSONText
from engine.core.errors import ConflictError
from engine.core.models import OPEN_STATES, AuditEvent, HumanTask, InstanceState, ProcessInstance, TaskState, User

#: the audit actions that change who holds a task, or escalate it
_HOLDER_ACTIONS = ("claim", "release", "reassign", "escalate", "delegation_routed")


def when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment is not None else "an unknown time"


def name_of(session: Session, user_id: int | None) -> str:
    """The user's name (their e-mail if the name is empty); "nobody" for None."""
    if user_id is None:
        return "nobody"
    user = session.get(User, user_id)
    if user is None:
        return f"user {user_id}"
    return user.name or user.email


def _name_by_email(session: Session, email: str | None) -> str:
    if not email:
        return "the engine"
    user = directory.find_user(session, email)
    return (user.name or user.email) if user is not None else email


def _label(task: HumanTask) -> str:
    return f"task {task.id} '{task.name}'"


def closed_error(session: Session, task: HumanTask) -> ConflictError | None:
    """ConflictError for a task that is no longer open (who completed it and when), else None."""
    if task.state == TaskState.COMPLETED:
        return ConflictError(f"{_label(task)} was already completed by {name_of(session, task.completed_by_id)} "
                             f"at {when(task.completed_at)}")
    if task.state == TaskState.CANCELLED:
        return ConflictError(f"{_label(task)} was cancelled at {when(task.completed_at)} "
                             "(the process moved on or ended)")
    return None


def _last_event(session: Session, task: HumanTask) -> AuditEvent | None:
    return session.scalar(select(AuditEvent).where(AuditEvent.action.in_(_HOLDER_ACTIONS),
                                                   AuditEvent.task_id == task.id)
                          .order_by(AuditEvent.seq.desc()).limit(1))


def changed_error(session: Session, task: HumanTask) -> ConflictError:
    """What happened to ``task`` (read afresh) since the actor read it, as a ConflictError."""
    if (closed := closed_error(session, task)) is not None:
        return closed
    event = _last_event(session, task)
    if task.escalated_at is not None and (event is None or task.escalated_at > event.at):
        whom = name_of(session, task.escalated_to_id) if task.escalated_to_id else "the next level"
        what = f"was escalated to {whom} at {when(task.escalated_at)}"
    elif event is None:
        what = "was changed"
    elif event.action == "reassign":
        what = f"was reassigned to {name_of(session, task.assignee_id)} at {when(event.at)}"
    elif event.action == "claim":
        what = f"was claimed by {_name_by_email(session, event.actor)} at {when(event.at)}"
    elif event.action == "release":
        what = f"was released by {_name_by_email(session, event.actor)} at {when(event.at)}"
    elif event.action == "escalate":
        to = ", ".join(_name_by_email(session, e) for e in (event.data or {}).get("to", [])) or "the next level"
        what = f"was escalated to {to} at {when(event.at)}"
    else:
        what = f"was passed to {name_of(session, task.assignee_id)} at {when(event.at)}"
    return ConflictError(f"{_label(task)} {what} meanwhile; reload it and try again")


def check_version(session: Session, task: HumanTask, expected_version: int | None) -> None:
    """ConflictError if the task is closed, or changed since the actor saw it at ``expected_version``."""
    if (closed := closed_error(session, task)) is not None:
        raise closed
    if expected_version is not None and task.row_version != expected_version:
        raise changed_error(session, task)


_TASK_TABLE = cast(Table, HumanTask.__table__)
#: write's prepared compare-and-set statements, by the columns they set and the states they accept
_WRITES: dict[tuple[tuple[str, ...], tuple[str, ...]], Any] = {}


def _write_statement(names: tuple[str, ...], states: tuple[str, ...]) -> Any:
    statement = _WRITES.get((names, states))
    if statement is None:
        table = _TASK_TABLE
        # the states as plain equalities: an expanding IN is rewritten on every execution
        statement = _WRITES[names, states] = (
            update(table)
            .where(table.c.id == bindparam("w_id"), table.c.row_version == bindparam("w_version"),
                   or_(*(table.c.state == state for state in states)))
            .values({**{name: bindparam(name, type_=table.c[name].type) for name in names},
                     "row_version": table.c.row_version + 1}))
    return statement


def write(session: Session, task: HumanTask, states: tuple[str, ...], **values: Any) -> None:
    """Set ``values`` on ``task``'s row if it still has the ``row_version`` it was read with and one of
    ``states``, and bump the version; ``task`` then holds them as saved (no read back). One prepared
    statement; pending ORM changes are not flushed first (they go out with the caller's next flush).
    Raises ConflictError saying what happened instead (the row read afresh: the winner's, committed,
    since we waited for it)."""
    names = tuple(sorted(values))
    result = session.connection().execute(
        _write_statement(names, states), {**values, "w_id": task.id, "w_version": task.row_version})
    if result.rowcount != 1:
        session.refresh(task)
        raise changed_error(session, task)
    for name, value in values.items():  # as the database now holds them (JSON columns as read back)
        column_type = _TASK_TABLE.c[name].type
        if isinstance(column_type, JSONText) and value is not None:
            value = column_type.process_result_value(column_type.process_bind_param(value, None), None)
        set_committed_value(task, name, value)
    set_committed_value(task, "row_version", task.row_version + 1)


#: what the worker's ladder sweep writes on a task: bookkeeping, not a change of the task's holder or fate
LADDER_FIELDS = ("reminders_sent", "overdue_notified_at", "escalation_level", "escalated_at", "escalated_to_id",
                 "ladder_done_until", "next_action_at")

_LADDER_UPDATE = (update(_TASK_TABLE)
                  .where(_TASK_TABLE.c.id == bindparam("b_id"), _TASK_TABLE.c.row_version == bindparam("b_version"))
                  .values({name: bindparam(name) for name in LADDER_FIELDS}))


def write_ladder(session: Session, tasks: list[HumanTask]) -> None:
    """Save the ladder bookkeeping of ``tasks``, which the caller holds row locks on (the sweep's
    ``FOR UPDATE``), without bumping ``row_version``: a reminder or an escalation notice does not change
    who holds the task or what it asks, so the holder who opened it before the reminder can still complete
    it. The rows are locked, so the version in the ``WHERE`` still holds; a miss would be a bug."""
    if not tasks:
        return
    params = [{"b_id": t.id, "b_version": t.row_version, **{name: getattr(t, name) for name in LADDER_FIELDS}}
              for t in tasks]
    result = session.connection().execute(_LADDER_UPDATE, params)
    if result.rowcount not in (-1, len(tasks)):  # type: ignore[attr-defined]
        raise ConflictError("a task changed while the worker held its row lock")
    for task in tasks:  # as saved: the next flush must not write them again (nor bump the version)
        for name in LADDER_FIELDS:
            set_committed_value(task, name, getattr(task, name))


def spiff_task(session: Session, workflow: Any, task: HumanTask) -> Any:
    """``runtime.spiff_task``, but when the workflow no longer waits for the task (it was read after a
    racing change committed) the ConflictError says what closed the task."""
    try:
        return runtime.spiff_task(workflow, task)
    except ConflictError:
        session.refresh(task)
        if (closed := closed_error(session, task)) is not None:
            raise closed from None
        raise


def lock_instance(session: Session, instance: ProcessInstance, task: HumanTask | None = None) -> None:
    """Lock the instance row (PostgreSQL; SQLite's writers queue anyway) and check it still has the
    version it was read with. Raises ConflictError saying what moved it on (``task``'s fate first).

    ``FOR NO KEY UPDATE``, as PostgreSQL's own UPDATE takes: it excludes every other locker, but not a
    row inserted elsewhere that refers to the instance (a message for it, a child's parent link),
    whose foreign-key check would otherwise wait for this transaction while holding locks it needs."""
    row = session.connection().execute(
        select(ProcessInstance.version, ProcessInstance.status)
        .where(ProcessInstance.id == instance.id).with_for_update(key_share=True)).one()
    if row.version == instance.version:
        return
    if task is not None:
        session.refresh(task)
        if (closed := closed_error(session, task)) is not None:
            raise closed
    raise moved_error(session, instance.id, row.status)


def lock_instance_of_task(session: Session, task_id: int) -> ProcessInstance | None:
    """Lock the instance of task ``task_id`` (as :func:`lock_instance` does) and read it under that lock, in
    one statement: a use case that reads the instance this way needs no version check afterwards. None
    when there is no such task."""
    return session.scalar(_LOCK_INSTANCE_OF_TASK, {"task_id": task_id})


_LOCK_INSTANCE_OF_TASK = (select(ProcessInstance)
                          .where(ProcessInstance.id == select(HumanTask.instance_id)
                                 .where(HumanTask.id == bindparam("task_id")).scalar_subquery())
                          .with_for_update(key_share=True, of=ProcessInstance)
                          .execution_options(populate_existing=True))


_TASK_AND_OPEN_SIBLINGS = select(HumanTask).where(
    HumanTask.instance_id == select(HumanTask.instance_id).where(HumanTask.id == bindparam("task_id"))
    .scalar_subquery(),
    or_(HumanTask.state.in_(OPEN_STATES), HumanTask.id == bindparam("task_id")))

_SIBLING: Any = aliased(HumanTask)
#: SQLite: the instance with the task and the instance's other open tasks, one row per task
_INSTANCE_WITH_TASKS = (select(ProcessInstance, HumanTask).join(HumanTask, HumanTask.instance_id == ProcessInstance.id)
                        .where(ProcessInstance.id == select(_SIBLING.instance_id)
                               .where(_SIBLING.id == bindparam("task_id")).scalar_subquery(),
                               or_(*(HumanTask.state == state for state in OPEN_STATES),
                                   HumanTask.id == bindparam("task_id")))
                        .execution_options(populate_existing=True))


def lock_task(session: Session, task_id: int) -> tuple[ProcessInstance | None, list[HumanTask]]:
    """The instance of task ``task_id``, locked and read as :func:`lock_instance_of_task` does, and its task rows
    read under that lock: the task and the instance's other open tasks (None and [] when there is no such task).

    On PostgreSQL these are two statements: one that waited for the row lock would see the task rows as they were
    before it waited (READ COMMITTED re-reads only the locked row), not as the lock's holder left them. On SQLite the
    transaction has held the database's write lock since its ``BEGIN IMMEDIATE``, so nothing can change meanwhile:
    one statement reads them all."""
    if session.get_bind().dialect.name == "sqlite":
        pairs = session.execute(_INSTANCE_WITH_TASKS, {"task_id": task_id}).all()
        return (pairs[0][0], [task for _, task in pairs]) if pairs else (None, [])
    instance = lock_instance_of_task(session, task_id)
    if instance is None:
        return None, []
    return instance, list(session.scalars(_TASK_AND_OPEN_SIBLINGS, {"task_id": task_id}))


def lock_for_delivery(session: Session, instance_id: int, *, wait: bool) -> ProcessInstance | None:
    """Lock the instance row and read it afresh, to hand it a message or signal. ``wait`` False (the
    sender is itself an instance holding its own lock): None when another transaction holds it, so
    the message waits for the worker instead of the two transactions for each other. SQLite's writers
    queue anyway: there it always locks."""
    return session.scalar(select(ProcessInstance).where(ProcessInstance.id == instance_id)
                          .with_for_update(skip_locked=not wait, key_share=True, of=ProcessInstance)
                          .execution_options(populate_existing=True))


def check_instance_version(session: Session, instance: ProcessInstance, expected_version: int | None) -> None:
    """ConflictError if the instance moved on since the actor saw it at ``expected_version``."""
    if expected_version is not None and instance.version != expected_version:
        raise moved_error(session, instance.id, instance.status)


def moved_error(session: Session, instance_id: int, status: str) -> ConflictError:
    """What moved the instance on meanwhile: its cancellation or end, else the latest completed task."""
    if status == InstanceState.CANCELLED:
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "cancel",
                                                        AuditEvent.instance_id == instance_id)
                               .order_by(AuditEvent.seq.desc()).limit(1))
        by = f" by {_name_by_email(session, event.actor)} at {when(event.at)}" if event is not None else ""
        return ConflictError(f"process {instance_id} was cancelled{by} meanwhile")
    done = session.scalar(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                  HumanTask.state == TaskState.COMPLETED)
                          .order_by(HumanTask.completed_at.desc(), HumanTask.id.desc()).limit(1)
                          .execution_options(populate_existing=True))
    ended = " and has ended" if status == InstanceState.COMPLETED else ""
    if done is not None:
        return ConflictError(f"process {instance_id} moved on{ended} meanwhile: {_label(done)} was completed by "
                             f"{name_of(session, done.completed_by_id)} at {when(done.completed_at)}; "
                             "reload it and try again")
    return ConflictError(f"process {instance_id} was changed by someone else meanwhile{ended}; "
                         "reload it and try again")
