"""Who may see what. A task or instance a user may not see is reported as NotFound (never Forbidden),
so ids cannot be probed; pages a role may not use at all are Forbidden.

A user sees what they may act on, and what their manager rights give them; evidence files follow the
instance they were uploaded to.

* Read-everything roles (the domain's manager roles, and internal and external auditors: admin, AIMS
  owner, top management, auditors) see every instance and task.
* Everyone else sees an instance they started, or one with a task they hold or held (assignee, named for
  it, completed it, the absent user a deputy holds it for), an *unassigned* open task in a lane of one of
  their roles (they may claim it), a task escalated to them (they may reassign it), or a task a direct
  report of theirs holds. Holding a lane's role does not show a task someone else has claimed or was
  assigned: that task, its instance's data and its evidence belong to its holder and their managers.
  Nor does it show a task the segregation-of-duties rules excluded the user from (``excluded_ids``,
  set when the candidates were built): they may not act on it, so the lane gives them no view of it.
* Registers (AI systems, impact assessments, risks, treatment actions, acceptances) are the organisation's
  records, not one person's work: every active user with at least one role reads their lists and rows
  (``require_register_reader``); an account without a role reads none. A row's instance, its data and
  evidence follow the instance rule above.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, exists, or_, select
from sqlalchemy.orm import Session, aliased

from engine.core import domain
from engine.core.db import json_list_holds
from engine.core.errors import Forbidden, NotFound
from engine.core.models import OPEN_STATES, HumanTask, ProcessInstance, User

READ_ALL_ROLES = frozenset({"admin", "aims_owner", "top_management", "internal_auditor", "external_auditor"})
#: roles that see the team view (open and overdue work of their area) and may reassign there
TEAM_ROLES = frozenset({"admin", "aims_owner", "top_management", "approver"})


def sees_everything(user: User) -> bool:
    """The user holds a read-all role or one of the domain's manager roles."""
    return user.active and bool(user.roles & (READ_ALL_ROLES | domain.current().manager_roles))


def _involvement(user: User):  # type: ignore[no-untyped-def]
    """A condition on HumanTask: the user holds or held this task, may claim it (open, unassigned, in a
    lane of theirs), it was escalated to them, or a direct report of theirs holds it."""
    holder = aliased(User)
    conditions = [HumanTask.assignee_id == user.id, HumanTask.completed_by_id == user.id,
                  HumanTask.designated_id == user.id, HumanTask.delegated_from_id == user.id,
                  HumanTask.escalated_to_id == user.id,
                  exists().where(holder.id == HumanTask.assignee_id, holder.manager_id == user.id)]
    if user.roles:
        conditions.append(claimable_by(user))
    return or_(*conditions)


def open_task():  # type: ignore[no-untyped-def]
    """A condition on HumanTask: the task is open (ready or claimed). The states are written into the
    statement, not bound, so the database sees that the partial indexes over open tasks
    (``ix_human_task_open_*``, migration 0020) serve it."""
    return HumanTask.state.in_(bindparam("open_states", [str(s) for s in OPEN_STATES], expanding=True,
                                         literal_execute=True, unique=True))


def claimable_by(user: User, roles: Iterable[str] | None = None):  # type: ignore[no-untyped-def]
    """A condition on HumanTask: open, unassigned, in a lane of one of the user's roles (of ``roles``
    among them, when given), and the segregation-of-duties rules did not exclude the user from it
    (``excluded_ids``). The lane rule of the inbox, the team view and visibility: a person a rule keeps
    off a task does not see it through their role."""
    lanes = sorted(user.roles if roles is None else set(roles) & user.roles)
    role = HumanTask.role == lanes[0] if len(lanes) == 1 else HumanTask.role.in_(lanes)
    return role & open_task() & HumanTask.assignee_id.is_(None) & ~json_list_holds(HumanTask.excluded_ids, user.id)


def instance_visible(session: Session, user: User, instance: ProcessInstance) -> bool:
    if not user.active:
        return False
    if sees_everything(user) or instance.started_by_id == user.id:
        return True
    return bool(session.scalar(select(exists().where(HumanTask.instance_id == instance.id, _involvement(user)))))


def visible_instance(session: Session, user: User, instance_id: int) -> ProcessInstance:
    """The instance, if ``user`` may see it. Raises NotFound otherwise (also when it does not exist)."""
    instance = session.get(ProcessInstance, instance_id)
    if instance is None or not instance_visible(session, user, instance):
        raise NotFound(f"no process instance {instance_id}")
    return instance


def visible_task(session: Session, user: User, task_id: int) -> HumanTask:
    """The task, if ``user`` may see its instance. Raises NotFound otherwise."""
    return visible_task_and_instance(session, user, task_id)[0]


def visible_task_and_instance(session: Session, user: User, task_id: int) -> tuple[HumanTask, ProcessInstance]:
    """The task and its instance, if ``user`` may see the instance. Raises NotFound otherwise.
    (The caller keeps the instance: the session holds loaded rows weakly, so one it dropped is read again.)"""
    pair = session.execute(_TASK_AND_INSTANCE, {"task_id": task_id}).first()
    if pair is None:
        raise NotFound(f"no task {task_id}")
    task, instance = pair
    if not instance_visible(session, user, instance):
        raise NotFound(f"no task {task_id}")
    return task, instance


#: the task and its instance in one read (two ``session.get`` were two statements on every task page and action)
_TASK_AND_INSTANCE = (select(HumanTask, ProcessInstance)
                      .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
                      .where(HumanTask.id == bindparam("task_id")))


def visible_instances_condition(user: User):  # type: ignore[no-untyped-def]
    """A WHERE condition on ProcessInstance for lists: the instances ``user`` may see."""
    if sees_everything(user):
        return ProcessInstance.id.is_not(None)
    return or_(ProcessInstance.started_by_id == user.id,
               exists().where(HumanTask.instance_id == ProcessInstance.id, _involvement(user)))


def require_register_reader(user: User) -> None:
    """Raise Forbidden unless ``user`` may read the registers: active, with at least one role."""
    if not user.active or not user.roles:
        raise Forbidden("the registers are for staff with a role; ask an admin to give you one")


def require_admin(user: User) -> None:
    if not user.active or "admin" not in user.roles:
        raise Forbidden("this page is for admins")


#: roles that edit the organisation's risk criteria (scales, levels, appetite): the AIMS owner runs the
#: risk process, the admin sets the organisation up
CRITERIA_ROLES = frozenset({"admin", "aims_owner"})


def require_criteria_editor(user: User) -> None:
    if not user.active or not user.roles & CRITERIA_ROLES:
        raise Forbidden("the risk criteria are changed by the AIMS owner or an admin")


def require_team_role(user: User) -> None:
    if not user.active or not user.roles & TEAM_ROLES:
        raise Forbidden("the team view is for managers (approver, AIMS owner, top management, admin)")


#: roles that see the Statement of Applicability and the readiness dashboard and download the SoA
#: (XLSX, PDF) and the audit pack: the people who run, direct or check the AIMS. The external auditor
#: receives the pack from them (it holds the whole audit trail), so they have no download of their own.
CERT_ROLES = frozenset({"admin", "aims_owner", "top_management", "internal_auditor"})


def require_cert_role(user: User) -> None:
    if not user.active or not user.roles & CERT_ROLES:
        raise Forbidden("the Statement of Applicability, readiness and audit pack are for the AIMS owner, "
                        "top management, internal auditors and admins")
