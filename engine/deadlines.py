"""Due dates that act: escalation profiles, the ladder of each task, and the worker's ladder sweep.

**Profiles** (``processes/escalation_profiles.json``, FLOWS.md 0.4) name ladders; a user task names one
in its ``escalation_profile`` property and gets a ``due_at`` from ``due_in`` / ``due_at_var``::

    "STD": {
      "reminders": ["-P2D"],                                  # offsets from the due time, <= 0
      "short_window": {"below": "P4D", "reminders": ["-P1D"]}, # tasks given less time than "below"
      "overdue_notice": ["assignee", "lane_lead"],            # told at the due time
      "levels": [{"after_due": "P2D", "to": "assignee_manager"},
                 {"after_due": "P5D", "to": "aims_owner", "offer_reassignment": true}]
    }

**The ladder** of a task is a time-ordered list of steps computed from its profile, ``created_at`` and
``due_at``. The task row keeps what was done (``reminders_sent``, ``overdue_notified_at``,
``escalation_level``, ``escalated_at``, ``escalated_to_id``), ``ladder_done_until`` (every step up to
then is taken) and ``next_action_at``, the indexed time the worker looks at it next.

**The sweep** (:func:`sweep`) takes due open tasks with ``SELECT ... FOR UPDATE SKIP LOCKED`` (several
workers on PostgreSQL share the work; a task being completed right now is locked and skipped) and acts
in the same transaction: a task completed or cancelled is never picked, because the query reads its
state under the lock. A worker that was down catches up: the steps due meanwhile are taken at once,
except reminders overtaken by a later step.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, lazyload

from . import assignment, audit, directory
from .clock import Clock
from .delegation import Deputies, route_new_task
from .durations import add_duration, is_duration
from .models import HumanTask, Organisation, RoleAssignment, User, UserPreference
from .notifications import Message, Notifier, Recipient
from .settings import EngineSettings
from .sod import DoneTask

#: the open task states (runtime.OPEN_STATES; a test keeps the two equal)
OPEN_STATES = ("ready", "claimed")

#: who a ladder step can notify -> what it means (README "Escalation profiles")
RECIPIENTS = {
    "assignee": "the task's holder; an unassigned task: everyone who may claim it",
    "lane_lead": "the lead named for the task's role in the organisation settings (details.lane_leads), "
                 "else the assignee's line manager",
    "assignee_manager": "the assignee's line manager",
    "approver_deputy_or_manager": "the assignee's deputy while they are out of office, else their line manager",
    "aims_owner": "the organisation's AIMS owner",
    "top_management_sponsor": "the organisation's top-management sponsor",
    "ceo": "the organisation's CEO",
    "aims_owner_report": "listed for the AIMS owner's report: in the app and the daily digest, no immediate e-mail",
}
PROFILE_KEYS = ("reminders", "short_window", "overdue_notice", "levels", "description")
LEVEL_KEYS = ("after_due", "to", "offer_reassignment")
#: order of steps falling on the same instant
_KIND_ORDER = {"reminder": 0, "overdue": 1, "escalation": 2}


# --------------------------------------------------------------------------- profiles

@dataclass(frozen=True)
class Level:
    after_due: str
    to: str
    offer_reassignment: bool = False


@dataclass(frozen=True)
class Profile:
    name: str
    reminders: tuple[str, ...] = ()
    short_below: str | None = None
    short_reminders: tuple[str, ...] = ()
    overdue_notice: tuple[str, ...] = ()
    levels: tuple[Level, ...] = ()


def _offset_problem(value: Any, where: str) -> str | None:
    if not isinstance(value, str) or not is_duration(value.lstrip("-")):
        return f"{where}: {value!r} is not an ISO 8601 duration offset such as -P2D or P0D"
    if not value.startswith("-") and shift_seconds(value) != 0:
        return (f"{where}: {value!r} is after the due time; reminders are offsets before it (-P2D) or P0D "
                "(at it); use levels for steps after the due time")
    return None


def shift_seconds(offset: str) -> float:
    """A rough length of ``offset`` in seconds (only used to tell zero from non-zero)."""
    parsed = TimerEventDefinition.parse_iso_duration(offset.lstrip("-"))
    return sum(float(v) for v in parsed.values())


def _recipient_problem(value: Any, where: str) -> str | None:
    if value not in RECIPIENTS:
        return f"{where}: {value!r} is not a recipient; use one of {', '.join(RECIPIENTS)}"
    return None


def profile_problems(profile: Any) -> list[str]:
    """Everything wrong with one profile, each naming the key and the fix (empty: valid)."""
    if not isinstance(profile, dict):
        return ["a profile must be an object with reminders, overdue_notice and levels"]
    out: list[str] = []
    for key in profile:
        if key not in PROFILE_KEYS and not key.startswith(("$", "_")):
            out.append(f"unknown key {key!r}; a profile has {', '.join(PROFILE_KEYS)}")
    out.extend(_reminder_problems(profile.get("reminders", []), "reminders"))
    window = profile.get("short_window")
    if window is not None:
        if not isinstance(window, dict) or set(window) - {"below", "reminders"} or "below" not in window:
            out.append('short_window must be {"below": DURATION, "reminders": [OFFSET, ...]}')
        else:
            if not is_duration(window["below"]):
                out.append(f"short_window.below: {window['below']!r} is not an ISO 8601 duration such as P4D")
            out.extend(_reminder_problems(window.get("reminders", []), "short_window.reminders"))
    notice = profile.get("overdue_notice", [])
    if not isinstance(notice, list):
        out.append("overdue_notice must be a list of recipients (may be empty), e.g. [\"assignee\"]")
    else:
        out.extend(p for i, r in enumerate(notice) if (p := _recipient_problem(r, f"overdue_notice[{i}]")))
    out.extend(_level_problems(profile.get("levels", [])))
    return out


def _reminder_problems(reminders: Any, where: str) -> list[str]:
    if not isinstance(reminders, list):
        return [f"{where} must be a list of offsets from the due time, e.g. [\"-P2D\"]"]
    return [p for i, r in enumerate(reminders) if (p := _offset_problem(r, f"{where}[{i}]"))]


def _level_problems(levels: Any) -> list[str]:
    if not isinstance(levels, list):
        return ["levels must be a list of {\"after_due\": DURATION, \"to\": RECIPIENT}"]
    out: list[str] = []
    previous: timedelta | None = None
    base = datetime(2001, 1, 1)
    for i, level in enumerate(levels, 1):
        where = f"level {i}"
        if not isinstance(level, dict) or "after_due" not in level or "to" not in level:
            out.append(f"{where} needs after_due (a duration such as P2D) and to (a recipient)")
            continue
        out.extend(f"{where}: unknown key {k!r}; a level has {', '.join(LEVEL_KEYS)}" for k in level
                   if k not in LEVEL_KEYS)
        if not isinstance(level["after_due"], str) or not is_duration(level["after_due"]):
            out.append(f"{where}: after_due {level['after_due']!r} is not an ISO 8601 duration such as P2D")
        else:
            delay = add_duration(base, level["after_due"]) - base
            if previous is not None and delay <= previous:
                out.append(f"{where}: after_due {level['after_due']} must come later than the level before")
            previous = delay
        if (p := _recipient_problem(level["to"], f"{where}: to")) is not None:
            out.append(p)
        if "offer_reassignment" in level and not isinstance(level["offer_reassignment"], bool):
            out.append(f"{where}: offer_reassignment must be true or false")
    return out


def parse_profile(name: str, data: dict[str, Any]) -> Profile:
    """A valid profile (see :func:`profile_problems`) as a typed record."""
    window = data.get("short_window") or {}
    return Profile(
        name=name, reminders=tuple(data.get("reminders", [])), short_below=window.get("below"),
        short_reminders=tuple(window.get("reminders", [])), overdue_notice=tuple(data.get("overdue_notice", [])),
        levels=tuple(Level(lv["after_due"], lv["to"], bool(lv.get("offer_reassignment", False)))
                     for lv in data.get("levels", [])),
    )


@dataclass(frozen=True)
class ProfileFile:
    profiles: dict[str, Profile]  # the valid ones
    problems: tuple[tuple[str, str], ...]  # (profile name or "", message)
    names: tuple[str, ...] = ()  # every profile the file defines, valid or not


_FILE_CACHE: dict[Path, tuple[tuple[int, int], ProfileFile]] = {}


def read_profiles(path: Path) -> ProfileFile:
    """The profiles of ``path`` (valid ones) and the problems of the file; cached until it changes."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return ProfileFile({}, ())
    key = (stat.st_mtime_ns, stat.st_size)
    cached = _FILE_CACHE.get(path)
    if cached is not None and cached[0] == key:
        return cached[1]
    result = _parse_file(path)
    _FILE_CACHE[path] = (key, result)
    return result


def _parse_file(path: Path) -> ProfileFile:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f" (line {exc.lineno}: {exc.msg})" if isinstance(exc, json.JSONDecodeError) else ""
        return ProfileFile({}, (("", f"not valid JSON{where}"),))
    if not isinstance(raw, dict):
        return ProfileFile({}, (("", "must be an object mapping profile names to ladders"),))
    profiles: dict[str, Profile] = {}
    problems: list[tuple[str, str]] = []
    for name, data in raw.items():
        if name.startswith(("$", "_")):
            continue
        found = profile_problems(data)
        if len(name) > 20 or not name.strip():
            found.insert(0, "a profile name has 1 to 20 characters")
        problems.extend((name, p) for p in found)
        if not found:
            profiles[name] = parse_profile(name, data)
    return ProfileFile(profiles, tuple(problems), tuple(n for n in raw if not n.startswith(("$", "_"))))


def profiles(settings: EngineSettings) -> dict[str, Profile]:
    """The valid profiles of ``settings``' escalation_profiles.json."""
    return read_profiles(settings.escalation_profiles_path).profiles


# --------------------------------------------------------------------------- the ladder

@dataclass(frozen=True)
class Step:
    at: datetime
    kind: str  # reminder, overdue, escalation
    number: int  # reminder number or escalation level (1-based); 0 for the overdue notice
    to: tuple[str, ...]
    offer_reassignment: bool = False


@cache
def _parsed(duration: str) -> tuple[tuple[str, float], ...]:
    return tuple(TimerEventDefinition.parse_iso_duration(duration).items())


def shift(due: datetime, offset: str) -> datetime:
    """``due`` moved by a signed ISO 8601 duration (calendar months and years)."""
    parsed = dict(_parsed(offset.lstrip("-")))  # a copy: SpiffWorkflow's helpers consume the dict
    if offset.startswith("-"):
        return due - TimerEventDefinition.get_timedelta_from_end(parsed, due)
    return due + TimerEventDefinition.get_timedelta_from_start(parsed, due)


def ladder(profile: Profile, created_at: datetime, due_at: datetime) -> list[Step]:
    """The steps of a task created at ``created_at`` and due at ``due_at``, in time order. Reminders
    that would fall before the task existed are left out."""
    reminders = profile.reminders
    if profile.short_below is not None and due_at < add_duration(created_at, profile.short_below):
        reminders = profile.short_reminders
    steps = [Step(at, "reminder", i, ("assignee",)) for i, offset in enumerate(reminders, 1)
             if (at := shift(due_at, offset)) > created_at]
    if profile.overdue_notice:
        steps.append(Step(due_at, "overdue", 0, profile.overdue_notice))
    steps.extend(Step(shift(due_at, level.after_due), "escalation", n, (level.to,), level.offer_reassignment)
                 for n, level in enumerate(profile.levels, 1))
    steps.sort(key=lambda s: (s.at, _KIND_ORDER[s.kind], s.number))
    return steps


def next_action(steps: list[Step], after: datetime) -> datetime | None:
    return next((s.at for s in steps if s.at > after), None)


def schedule(task: HumanTask, settings: EngineSettings) -> list[Step]:
    """Set ``task.next_action_at`` from its profile and due date; returns its ladder."""
    profile = profiles(settings).get(task.escalation_profile or "")
    if profile is None or task.due_at is None:
        task.next_action_at = None
        return []
    steps = ladder(profile, task.created_at, task.due_at)
    task.next_action_at = next_action(steps, task.ladder_done_until or task.created_at)
    return steps


# --------------------------------------------------------------------------- who is told

@dataclass(frozen=True)
class Person:
    """A user as a notification needs them."""

    id: int
    email: str
    name: str
    active: bool = True


_ROLE_HOLDERS = (select(User.id, User.email, User.name, UserPreference.email_mode)
                 .join(RoleAssignment, RoleAssignment.user_id == User.id)
                 .outerjoin(UserPreference, UserPreference.user_id == User.id)
                 .where(RoleAssignment.role == bindparam("role"), User.active.is_(True)).order_by(User.email))


class People:
    """Resolves ladder recipients for a batch of tasks at one moment (users, organisation, deputies
    and role holders read once)."""

    def __init__(self, session: Session, now: datetime, deputies: Deputies | None = None,
                 notifier: Notifier | None = None):
        self.session = session
        self.notifier = notifier
        self.deputies = deputies or Deputies(session, now)
        self._org: Organisation | None = None
        self._org_read = False
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
        org = self.org()
        wanted = {t.assignee_id for t in tasks if t.assignee_id is not None}
        if org is not None:
            wanted.update(i for i in (org.aims_owner_id, org.top_management_sponsor_id, org.ceo_id) if i is not None)
        for _ in range(2):  # the users, then their managers
            missing = wanted - set(self._users)
            if missing:
                # role rows load only if asked for (User.role_rows is "selectin" by default)
                for user in self.session.scalars(select(User).where(User.id.in_(missing))
                                                 .options(lazyload(User.role_rows))):
                    self._users[user.id] = user
            wanted = {u.manager_id for u in self._users.values() if u is not None and u.manager_id is not None}

    def org(self) -> Organisation | None:
        if not self._org_read:
            self._org = directory.organisation(self.session)
            self._org_read = True
        return self._org

    def role_holders(self, role: str) -> list[Person]:
        """Active holders of ``role`` (plain records: no role rows loaded, this runs for every new task)."""
        if role not in self._roles:
            holders = []
            for user_id, email, name, mode in self.session.execute(_ROLE_HOLDERS, {"role": role}):
                holders.append(Person(user_id, email, name))
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

    def _org_user(self, attribute: str) -> User | None:
        org = self.org()
        return self.get(getattr(org, attribute)) if org is not None else None

    def _manager(self, task: HumanTask) -> User | None:
        holder = self.get(task.assignee_id)
        manager = self.get(holder.manager_id) if holder is not None else None
        return manager or self._org_user("aims_owner_id")

    def resolve(self, key: str, task: HumanTask) -> list[Recipient]:
        """The people ``key`` (a RECIPIENTS name) stands for on ``task``, each replaced by their deputy
        while they are away."""
        found: list[Recipient | None]
        if key == "assignee":
            found = list(self.candidates(task))
        elif key == "assignee_manager":
            found = [self._manager(task)]
        elif key == "approver_deputy_or_manager":
            holder = self.get(task.assignee_id)
            deputy = self.deputies.deputy_of(holder) if holder is not None else None
            found = [deputy or self._manager(task)]
        elif key == "lane_lead":
            org = self.org()
            leads = ((org.details or {}).get("lane_leads") or {}) if org is not None else {}
            lead = directory.find_user(self.session, leads.get(task.role)) if isinstance(leads, dict) else None
            found = [lead or self._manager(task)]
        elif key in ("aims_owner", "aims_owner_report"):
            found = [self._org_user("aims_owner_id")]
        elif key == "top_management_sponsor":
            found = [self._org_user("top_management_sponsor_id")]
        elif key == "ceo":
            found = [self._org_user("ceo_id")]
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
    return f"{due:%Y-%m-%d %H:%M} UTC" if due is not None else "-"


def _context(task: HumanTask, people: People, **extra: Any) -> dict[str, Any]:
    holder = people.get(task.assignee_id)
    return {"task_name": task.name, "subject": task.subject, "process_id": task.process_id,
            "instance_id": task.instance_id, "role": task.role, "due": _due_text(task.due_at),
            "assignee": holder.email if holder is not None else None, **extra}


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
    held = holder.email if holder is not None else f"nobody yet (role {task.role})"
    if step.to == ("aims_owner_report",):
        return Message("report", f"For the AIMS owner report: {_label(task)} is {days} day(s) overdue", task=task,
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
    to their deputy (SoD permitting), schedule its ladder, and tell the people who may do it."""
    created = list(created)
    if not created:
        return
    # the task rows get their ids now (the caller's flush, moved forward: the callers run sync_tasks
    # inside runtime.version_guard), so the notifications go out as plain multi-row inserts
    session.flush()
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
                route_new_task(session, clock, row, data, people.deputies, done)
            schedule(row, settings)
            recipients = people.candidates(row)
            notifier.preload(u.id for u in recipients)
            notifier.send(recipients, new_task_message(row, people))
        notifier.write()


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
              .with_for_update(skip_locked=True))


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
    with session.no_autoflush:  # one flush for the whole batch, at the end
        for task in rows:
            if task.state not in OPEN_STATES:  # read under the row lock in this transaction
                continue
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
    session.flush()
    notifier.write()
    audit.append_many(session, clock, report.audit)
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

