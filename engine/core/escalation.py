"""Due dates that act: who a ladder step tells, the messages, the ladder of a new or reassigned task, and
the worker's ladder sweep. Profiles and the steps of a ladder are ``ladders.py``.

**The sweep** (:func:`sweep`) takes due open tasks with ``SELECT ... FOR UPDATE SKIP LOCKED`` (several
workers on PostgreSQL share the work; a task being completed right now is locked and skipped) and acts
in the same transaction: a task completed or cancelled is never picked, because the query reads its
state under the lock. A worker that was down catches up: the steps due meanwhile are taken at once,
except reminders overtaken by a later step.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, lazyload

from engine.core import assignment, audit_trail, directory, domain, task_guard
from engine.core.clock import Clock, local_text
from engine.core.delegation import Deputies, route_new_task
from engine.core.ladders import Step, ladder, next_action, profiles, schedule
from engine.core.models import OPEN_STATES, HumanTask, RoleAssignment, User, UserPreference
from engine.core.notifications import Message, Notifier, Recipient
from engine.core.settings import EngineSettings
from engine.core.sod import DoneTask

# --------------------------------------------------------------------------- who is told

@dataclass(frozen=True)
class Person:
    """A user as a notification needs them."""

    id: int
    email: str
    name: str
    active: bool = True
    time_zone: str | None = None


_USERS: Any = User.__table__
_ROLE_ROWS: Any = RoleAssignment.__table__
_PREFERENCES: Any = UserPreference.__table__
#: on the tables, not the mapped classes: a plain Core read (this runs for every new task), without the
#: ORM's per-execution set-up, which cost three times the read
_ROLE_HOLDERS = (select(_USERS.c.id, _USERS.c.email, _USERS.c.name, _PREFERENCES.c.email_mode, _USERS.c.time_zone)
                 .join(_ROLE_ROWS, _ROLE_ROWS.c.user_id == _USERS.c.id)
                 .outerjoin(_PREFERENCES, _PREFERENCES.c.user_id == _USERS.c.id)
                 .where(_ROLE_ROWS.c.role == bindparam("role"), _USERS.c.active.is_(True)).order_by(_USERS.c.email))


class People:
    """Resolves ladder recipients for a batch of tasks at one moment (users, organisation, deputies
    and role holders read once)."""

    def __init__(self, session: Session, now: datetime, deputies: Deputies | None = None,
                 notifier: Notifier | None = None):
        self.session = session
        self.notifier = notifier
        self.deputies = deputies or Deputies(session, now)
        self._org: domain.OrganisationPeople | None = None
        self._roles: dict[str, list[Person]] = {}
        self._users: dict[int, User | None] = {}

    def get(self, user_id: int | None) -> User | None:
        if user_id is None:
            return None
        if user_id not in self._users:  # kept here: the session's identity map holds rows only weakly
            self._users[user_id] = self.session.get(User, user_id)
        return self._users[user_id]

    def known_ids(self) -> list[int]:
        return [i for i, u in self._users.items() if u is not None]

    def preload(self, tasks: Iterable[HumanTask]) -> None:
        """Read the holders of ``tasks``, their managers and the organisation's people in two queries."""
        wanted = {t.assignee_id for t in tasks if t.assignee_id is not None}
        wanted.update(i for i in self.org().people.values() if i is not None)
        for _ in range(2):  # the users, then their managers
            missing = wanted - set(self._users)
            if missing:
                # role rows load only if asked for (User.role_rows is "selectin" by default)
                for user in self.session.scalars(select(User).where(User.id.in_(missing))
                                                 .options(lazyload(User.role_rows))):
                    self._users[user.id] = user
            wanted = {u.manager_id for u in self._users.values() if u is not None and u.manager_id is not None}

    def org(self) -> domain.OrganisationPeople:
        """The organisation's named people, lane leads and fallback manager (read once)."""
        if self._org is None:
            self._org = domain.current().organisation_people(self.session)
        return self._org

    def role_holders(self, role: str) -> list[Person]:
        """Active holders of ``role`` (plain records: no role rows loaded, this runs for every new task)."""
        if role not in self._roles:
            holders = []
            for user_id, email, name, mode, time_zone in self.session.execute(_ROLE_HOLDERS, {"role": role}):
                holders.append(Person(user_id, email, name, time_zone=time_zone))
                if self.notifier is not None:
                    self.notifier.remember(user_id, mode)
            self._roles[role] = holders
        return self._roles[role]

    def candidates(self, task: HumanTask) -> list[Recipient]:
        """The holder of ``task``, or everyone who may claim it."""
        holder = self.get(task.assignee_id)
        if holder is not None:
            return [holder]
        excluded = set(task.excluded_ids or ())
        return [u for u in self.role_holders(task.role) if u.id not in excluded]

    def _org_user(self, person: str | None) -> User | None:
        return self.get(self.org().people.get(person)) if person else None

    def manager(self, task: HumanTask) -> User | None:
        """The holder's line manager, else the organisation's fallback manager."""
        holder = self.get(task.assignee_id)
        manager = self.get(holder.manager_id) if holder is not None else None
        return manager or self._org_user(self.org().fallback_manager)

    def resolve(self, key: str, task: HumanTask) -> list[Recipient]:
        """The people ``key`` (a :func:`recipients` name) stands for on ``task``, each replaced by their deputy
        while they are away."""
        found: list[Recipient | None]
        if key == "assignee":
            found = list(self.candidates(task))
        elif key == "assignee_manager":
            found = [self.manager(task)]
        elif key == "approver_deputy_or_manager":
            holder = self.get(task.assignee_id)
            deputy = self.deputies.deputy_of(holder) if holder is not None else None
            found = [deputy or self.manager(task)]
        elif key == "lane_lead":
            lead = directory.find_user(self.session, self.org().lane_leads.get(task.role))
            found = [lead or self.manager(task)]
        elif key in domain.current().recipients:
            found = [self._org_user(domain.current().recipients[key].person)]
        else:
            found = []
        out: list[Recipient] = []
        ids: set[int] = set()
        for user in found:
            if user is None or not user.active:
                continue
            present = self.deputies.present(user)
            if present.id not in ids:
                ids.add(present.id)
                out.append(present)
        return out


# --------------------------------------------------------------------------- messages

def _due_text(due: datetime | None) -> str:
    """The deadline in UTC; :meth:`Notifier.send` says it again in each recipient's time zone."""
    return local_text(due, None) if due is not None else "-"


def _context(task: HumanTask, people: People, **extra: Any) -> dict[str, Any]:
    holder = people.get(task.assignee_id)
    return {"task_name": task.name, "subject": task.subject, "process_id": task.process_id,
            "instance_id": task.instance_id, "role": task.role, "due": _due_text(task.due_at),
            "due_at": task.due_at.isoformat() if task.due_at is not None else None,
            "assignee": f"{holder.name} ({holder.email})" if holder is not None and holder.name else
            (holder.email if holder is not None else None), **extra}


def _label(task: HumanTask) -> str:
    return f"'{task.name}'" + (f" ({task.subject})" if task.subject else "")


def new_task_message(task: HumanTask, people: People) -> Message:
    due = f", due {_due_text(task.due_at)}" if task.due_at else ""
    note = f". {task.note}" if task.note else ""
    return Message("new_task", f"New task: {_label(task)}{due}", task=task, context=_context(task, people),
                   body=f"{task.process_id} #{task.instance_id}; role {task.role}{note}")


def step_message(task: HumanTask, step: Step, people: People, now: datetime) -> Message:
    dedup = f"ladder:{task.id}:{step.kind}:{step.number}"
    if step.kind == "reminder":
        return Message("reminder", f"Reminder: {_label(task)} is due {_due_text(task.due_at)}", task=task,
                       context=_context(task, people, reminder=step.number), dedup=dedup)
    if step.kind == "overdue":
        return Message("overdue", f"Overdue: {_label(task)} was due {_due_text(task.due_at)}", task=task,
                       context=_context(task, people), dedup=dedup)
    days = max(0, (now - task.due_at).days) if task.due_at else 0
    holder = people.get(task.assignee_id)
    held = (holder.name or holder.email) if holder is not None else f"nobody yet (role {task.role})"
    named = domain.current().recipients.get(step.to[0]) if len(step.to) == 1 else None
    if named is not None and named.report:
        return Message("report", f"For {named.report}: {_label(task)} is {days} day(s) overdue", task=task,
                       body=f"Held by {held}; escalation level {step.number}.", dedup=dedup, digest_only=True,
                       context=_context(task, people, level=step.number, days=days))
    return Message("escalation", f"Escalated to you (level {step.number}): {_label(task)} is {days} day(s) overdue",
                   task=task, dedup=dedup,
                   body=f"It was due {_due_text(task.due_at)} and is held by {held}. You may reassign it "
                        "(a reason is required).",
                   context=_context(task, people, level=step.number, days=days,
                                    offer_reassignment=step.offer_reassignment))


# --------------------------------------------------------------------------- new tasks (runtime.sync_tasks)

def on_created(session: Session, clock: Clock, settings: EngineSettings, instance_id: int,
               created: Iterable[tuple[HumanTask, dict[str, Any]]]) -> None:
    """For tasks that just became ready, in the same transaction: route a task meant for an absent user
    to their deputy (SoD permitting) and tell the people who may do it. The rows are saved already
    (their ladder was scheduled before: :func:`schedule_new`); the notifications go out as multi-row inserts."""
    created = list(created)
    if not created:
        return
    now = clock.now()
    notifier = Notifier(session, clock, settings)
    people = People(session, now, notifier=notifier)
    history: list[DoneTask] | None = None

    def done() -> list[DoneTask]:
        nonlocal history
        if history is None:
            history = assignment.history(session, instance_id)
        return history

    # the caller flushes once at the end; the lookups here need none of its pending changes
    with session.no_autoflush:
        for row, data in created:
            if row.assignee_id is not None:
                route_new_task(session, clock, row, data, people.deputies, done, notifier=notifier,
                               manager_of=people.manager)
            recipients = people.candidates(row)
            notifier.preload(u.id for u in recipients)
            notifier.send(recipients, new_task_message(row, people))
        notifier.write()


def schedule_new(settings: EngineSettings, rows: Iterable[HumanTask]) -> None:
    """Schedule the ladder of new task rows before they are inserted (it depends on neither holder nor id)."""
    for row in rows:
        schedule(row, settings)


def on_reassigned(session: Session, clock: Clock, settings: EngineSettings, task: HumanTask, by: User,
                  reason: str) -> None:
    """Tell the new holder of a reassigned task (in the reassignment's transaction)."""
    people = People(session, clock.now())
    holder = people.get(task.assignee_id)
    if holder is None:
        return
    message = new_task_message(task, people)
    message.title = f"Assigned to you by {by.email}: {_label(task)}"
    message.body = f"Reason: {reason}"
    notifier = Notifier(session, clock, settings)
    notifier.send([people.deputies.present(holder)], message)
    notifier.write()


# --------------------------------------------------------------------------- the sweep

@dataclass
class SweepReport:
    tasks: int = 0
    reminders: int = 0
    overdue_notices: int = 0
    escalations: int = 0
    notifications: int = 0
    skipped_reminders: int = 0
    task_ids: list[int] = field(default_factory=list)
    #: audit events of this batch, appended together at its end
    audit: list[dict[str, Any]] = field(default_factory=list)

    def add(self, other: SweepReport) -> None:
        for name in ("tasks", "reminders", "overdue_notices", "escalations", "notifications", "skipped_reminders"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.task_ids.extend(other.task_ids)


_DUE_TASKS = (select(HumanTask)
              .where(HumanTask.state.in_(OPEN_STATES), HumanTask.next_action_at <= bindparam("now"))
              .order_by(HumanTask.next_action_at, HumanTask.id).limit(bindparam("limit"))
              .with_for_update(skip_locked=True)
              # the rows as they are under the lock, not as this session last saw them
              .execution_options(populate_existing=True))


def sweep(session: Session, clock: Clock, settings: EngineSettings, limit: int = 200) -> SweepReport:
    """Take the ladder steps due by ``clock.now()`` of up to ``limit`` open tasks, in the caller's
    transaction (the rows stay locked until it ends). Returns what was done; ``tasks < limit`` means
    nothing more is due."""
    now = clock.now()
    report = SweepReport()
    rows = list(session.scalars(_DUE_TASKS, {"now": now, "limit": limit}))
    if not rows:
        return report
    notifier = Notifier(session, clock, settings)
    people = People(session, now, notifier=notifier)
    known = profiles(settings)
    people.preload(rows)
    notifier.preload(people.known_ids())
    taken: list[HumanTask] = []
    with session.no_autoflush:  # one write for the whole batch, at the end
        for task in rows:
            if task.state not in OPEN_STATES:  # read under the row lock in this transaction
                continue
            taken.append(task)
            report.tasks += 1
            report.task_ids.append(task.id)
            profile = known.get(task.escalation_profile or "")
            if profile is None or task.due_at is None:
                task.next_action_at = None
                continue
            steps = ladder(profile, task.created_at, task.due_at)
            since = task.ladder_done_until or task.created_at
            due = [s for s in steps if since < s.at <= now]
            for i, step in enumerate(due):
                if step.kind == "reminder" and i < len(due) - 1:
                    report.skipped_reminders += 1  # overtaken by a later step that is due too
                    continue
                _take(session, clock, notifier, people, task, step, now, report)
            task.ladder_done_until = now
            task.next_action_at = next_action(steps, now)
    task_guard.write_ladder(session, taken)
    session.flush()
    notifier.write()
    audit_trail.append_many(session, clock, report.audit)
    report.audit = []
    return report


def _take(session: Session, clock: Clock, notifier: Notifier, people: People, task: HumanTask, step: Step,
          now: datetime, report: SweepReport) -> None:
    if step.kind == "escalation":
        recipients = _escalation_recipients(people, task, step)
    else:
        recipients = [u for key in step.to for u in people.resolve(key, task)]
    notifier.preload(u.id for u in recipients)
    report.notifications += notifier.send(recipients, step_message(task, step, people, now))
    if step.kind == "reminder":
        task.reminders_sent += 1
        report.reminders += 1
    elif step.kind == "overdue":
        task.overdue_notified_at = now
        report.overdue_notices += 1
    else:
        task.escalation_level = step.number
        task.escalated_at = now
        task.escalated_to_id = recipients[0].id if recipients else None
        report.escalations += 1
        report.audit.append({"action": "escalate", "instance_id": task.instance_id, "task_id": task.id,
                             "subject": task.subject,
                             "data": {"task_spec": task.task_spec, "profile": task.escalation_profile,
                                      "level": step.number, "to": [u.email for u in recipients],
                                      "recipient": step.to[0], "due_at": _due_text(task.due_at)}})


def _escalation_recipients(people: People, task: HumanTask, step: Step) -> list[Recipient]:
    """An escalation never goes to the person it is about (the holder, or the only person who may
    claim an unassigned task): it moves up to their line manager instead."""
    recipients = people.resolve(step.to[0], task)
    holder = people.get(task.assignee_id)
    if holder is None:
        candidates = people.candidates(task)
        holder = people.get(candidates[0].id) if len(candidates) == 1 else None
    if holder is not None and any(r.id == holder.id for r in recipients):
        recipients = [r for r in recipients if r.id != holder.id]
        manager = people.get(holder.manager_id)
        if manager is not None and manager.active and all(r.id != manager.id for r in recipients):
            recipients.append(people.deputies.present(manager))
    return recipients


def escalated_to(session: Session, user: User, limit: int = 200) -> list[HumanTask]:
    """Open tasks whose latest escalation went to ``user`` (they may reassign them)."""
    return list(session.scalars(select(HumanTask).where(HumanTask.escalated_to_id == user.id,
                                                        HumanTask.state.in_(OPEN_STATES))
                                .order_by(HumanTask.due_at, HumanTask.id).limit(limit)))

