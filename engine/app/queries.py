"""Read side: inboxes and lists as indexed SQL queries returning plain rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, aliased

from engine.app import access
from engine.core.models import OPEN_STATES, HumanTask, User


@dataclass(frozen=True)
class TaskRow:
    id: int
    name: str
    task_spec: str
    process_id: str
    instance_id: int
    subject: str | None
    role: str
    state: str
    assignee: str | None
    due_at: datetime | None
    overdue: bool
    form: str | None
    note: str | None
    #: 0, or the escalation level the deadline ladder reached (the inbox marks the task escalated)
    escalation_level: int = 0
    #: the task's ``row_version``: sent back with an action, a change made since answers 409
    version: int = 1


def inbox(session: Session, user: User, now: datetime, limit: int = 500) -> list[TaskRow]:
    """Open tasks ``user`` may act on: assigned to them, or unassigned in a lane of one of their roles
    (less those the SoD rules excluded them from). Overdue first, then by due date."""
    assignee = aliased(User)
    mine = and_(HumanTask.assignee_id == user.id, HumanTask.state.in_(OPEN_STATES))
    # the exclusions are part of the query, so excluded tasks neither fill the limit nor count in a tab
    stmt = (select(HumanTask, assignee.email).outerjoin(assignee, HumanTask.assignee_id == assignee.id)
            .where(or_(mine, access.claimable_by(user)) if user.roles else mine)
            .order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.id).limit(limit))
    rows = []
    for task, email in session.execute(stmt):
        rows.append(TaskRow(task.id, task.name, task.task_spec, task.process_id, task.instance_id, task.subject,
                            task.role, task.state, email, task.due_at,
                            task.due_at is not None and task.due_at < now, task.form, task.note,
                            task.escalation_level, task.row_version))
    return rows
