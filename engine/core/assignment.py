"""Who may act on a human task: lanes name roles, ``assignee_var`` names a user, and the
segregation-of-duties rules (``sod.py``) exclude people, at candidate building and at completion.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.core import directory, domain
from engine.core.errors import Forbidden, SodViolation
from engine.core.models import HumanTask, TaskState, User
from engine.core.sod import DoneTask, SodContext, Violation, check


def rules_of(task: HumanTask) -> tuple[str, ...]:
    return tuple(r for r in (task.sod_rules or "").split(",") if r)


def history(session: Session, instance_id: int) -> list[DoneTask]:
    """Completed human tasks of the instance, oldest first, with who completed them."""
    rows = session.execute(
        select(HumanTask.task_spec, HumanTask.name, HumanTask.role, HumanTask.sod_rules, User.email)
        .join(User, HumanTask.completed_by_id == User.id)
        .where(HumanTask.instance_id == instance_id, HumanTask.state == TaskState.COMPLETED)
        .order_by(HumanTask.completed_at, HumanTask.id)
    )
    return [DoneTask(spec, name, role, tuple(r for r in (rules or "").split(",") if r), email)
            for spec, name, role, rules, email in rows]


def sod_context(session: Session, user: User, task: HumanTask, data: dict[str, Any],
                done: list[DoneTask], delegator: User | None = None) -> SodContext:
    manager = directory.email_of(session, user.manager_id) if delegator is not None else None
    return SodContext(email=user.email, roles=user.roles, task_spec=task.task_spec, task_role=task.role,
                      data=data, history=done, delegator=delegator.email if delegator else None,
                      manager_email=manager, facts=domain.current().sod_facts(session))


def sod_violations(session: Session, user: User, task: HumanTask, data: dict[str, Any],
                   done: list[DoneTask], delegator: User | None = None) -> list[Violation]:
    rule = domain.current().delegation_rule
    rules = rules_of(task) + ((rule,) if delegator is not None and rule else ())
    if not rules:
        return []
    return check(sod_context(session, user, task, data, done, delegator), rules)


def holds_lane(user: User, task: HumanTask) -> bool:
    """The user may act in the task's lane: they hold its role, or are its named assignee. A deputy who
    holds a task for an absent user (``delegated_from_id``) must hold the role: delegation hands over
    work, never a role."""
    if task.assignee_id == user.id and task.delegated_from_id is None:
        return True
    return task.role in user.roles


def _role(code: str) -> str:
    """A role as people read it ("Process owner"); its code when the domain does not name it."""
    return domain.current().roles.get(code, code)


def check_can_act(session: Session, user: User, task: HumanTask, data: dict[str, Any],
                  done: list[DoneTask]) -> None:
    """Raise Forbidden or SodViolation unless ``user`` may complete ``task`` now."""
    if not user.active:
        raise Forbidden(f"{user.email} is deactivated")
    if task.assignee_id is not None and task.assignee_id != user.id:
        holder = session.get(User, task.assignee_id)
        who = (holder.name or holder.email) if holder is not None else "someone else"
        raise Forbidden(f"task {task.id} '{task.name}' is assigned to {who}; ask them or a manager to "
                        "release or reassign it")
    if not holds_lane(user, task):
        raise Forbidden(f"task {task.id} '{task.name}' is for the role {_role(task.role)}, which "
                        f"{user.name or user.email} does not hold")
    violations = sod_violations(session, user, task, data, done)
    if violations:
        raise sod_error(user, task, violations)


def sod_error(user: User, task: HumanTask, violations: list[Violation]) -> SodViolation:
    """A SodViolation whose blocked attempt is audited even though the transaction rolls back."""
    first = violations[0]
    error = SodViolation(f"{user.email} may not act on task {task.id} '{task.name}': "
                         + "; ".join(str(v) for v in violations), first.rule)
    error.audit_after_rollback = {
        "action": "sod_violation_blocked", "actor": user.email, "instance_id": task.instance_id,
        "task_id": task.id, "subject": task.subject,
        "data": {"task_spec": task.task_spec, "rules": [v.rule for v in violations],
                 "reasons": [v.message for v in violations]},
    }
    return error


def candidate_exclusions(session: Session, task: HumanTask, data: dict[str, Any],
                         done: list[DoneTask]) -> list[int]:
    """Set and return ``task.excluded_ids``: holders of the lane role whom SoD rules exclude."""
    excluded: list[int] = []
    if rules_of(task):
        for user in directory.users_with_role(session, task.role):
            if sod_violations(session, user, task, data, done):
                excluded.append(user.id)
    task.excluded_ids = excluded
    return excluded


def check_can_claim(session: Session, user: User, task: HumanTask) -> None:
    """Raise Forbidden unless ``user`` may claim ``task`` (role, assignee, candidate exclusions)."""
    if not user.active:
        raise Forbidden(f"{user.email} is deactivated")
    if not holds_lane(user, task):
        raise Forbidden(f"task {task.id} '{task.name}' is for the role {_role(task.role)}, which "
                        f"{user.name or user.email} does not hold")
    if user.id in (task.excluded_ids or []):
        raise Forbidden(f"segregation of duties excludes {user.name or user.email} from task {task.id} '{task.name}' "
                        f"({task.sod_rules})")


def may_reassign(session: Session, actor: User, task: HumanTask) -> bool:
    """The domain's manager roles; the holder's line manager; and whoever the task's latest escalation
    went to."""
    if actor.has_role(*domain.current().manager_roles):
        return True
    if task.escalated_to_id is not None and task.escalated_to_id == actor.id:
        return True
    if task.assignee_id is not None:
        holder = session.get(User, task.assignee_id)
        return holder is not None and holder.manager_id == actor.id
    return False

