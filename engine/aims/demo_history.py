"""Plays a short history of the demo organisation through the services, at the times it happened, with the
deadline sweep the worker would have run in between. ``demo_work.py`` holds the story itself.

A story is what happened to one piece of work: a process started by someone, tasks completed by the
people who hold them, each step at a time of the demo calendar (the calendar of
``data/demo_organisation.json``). :func:`play` moves the calendar so that its ``today`` is the real
today, plays the steps of every story in time order (the audit trail stays in time order) and, before
each step and once more at the real now, takes the ladder steps (reminders, overdue notices,
escalations) that came due meanwhile, each at its own time, as the worker would have.

Form data is written in the demo calendar too: every ISO date in it is moved like the registers' dates
(:func:`engine.aims.demo.shift_dates`); dates written in words are not, so a story's prose says "yesterday",
not "4 June".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from engine.aims.demo import shift_dates
from engine.core import directory, escalation, runtime, services
from engine.core.clock import FixedClock, as_utc, parse_datetime
from engine.core.errors import EngineError, NotFound
from engine.core.models import OPEN_STATES, HumanTask, ProcessInstance, User
from engine.core.runtime import Context


@dataclass(frozen=True)
class Start:
    """Start ``process_id`` with ``data`` (the start form)."""

    process_id: str
    data: dict[str, Any] = field(default_factory=dict)

    def run(self, ctx: Context, actor: User, instance: ProcessInstance | None,
            data: dict[str, Any]) -> ProcessInstance:
        return services.start_process(ctx, actor, self.process_id, data).instance


@dataclass(frozen=True)
class Complete:
    """Complete the story's one open ``task_spec`` task with ``data`` (its form)."""

    task_spec: str
    data: dict[str, Any]

    def run(self, ctx: Context, actor: User, instance: ProcessInstance | None,
            data: dict[str, Any]) -> ProcessInstance:
        if instance is None:
            raise NotFound(f"{self.task_spec}: the story has not started a process yet")
        found = [t for t in services.open_tasks(ctx, instance.id) if t.task_spec == self.task_spec]
        if len(found) != 1:
            waiting = ", ".join(sorted(t.task_spec for t in services.open_tasks(ctx, instance.id))) or "nothing"
            raise NotFound(f"{instance.process_id} #{instance.id} has {len(found)} open {self.task_spec} "
                           f"tasks (it waits for {waiting})")
        services.complete_task(ctx, actor, found[0].id, data)
        return instance


@dataclass(frozen=True)
class Step:
    """``by`` (an e-mail local part of the demo domain) does ``action`` at ``at`` (demo calendar, UTC)."""

    at: str
    by: str
    action: Start | Complete


@dataclass(frozen=True)
class Story:
    """One piece of the demo's open work: what happened to it, step by step."""

    title: str
    steps: tuple[Step, ...]


@dataclass
class Played:
    """What one story left: its instance and the tasks it waits for now, or why it could not be played."""

    title: str
    process_id: str
    instance_id: int | None = None
    tasks: list[HumanTask] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True)
class Calendar:
    """The demo calendar: ``today`` there is the real today; ``domain`` is the demo users' e-mail domain."""

    today: date
    domain: str

    def shift(self, now: datetime) -> int:
        """Days to add to a demo-calendar date to make it a real one."""
        return (as_utc(now).date() - self.today).days

    def real(self, at: str, now: datetime) -> datetime:
        return parse_datetime(at) + timedelta(days=self.shift(now))


class StepFailed(Exception):
    def __init__(self, story: int, message: str):
        super().__init__(message)
        self.story, self.message = story, message


def play(ctx: Context, calendar: Calendar, stories: Sequence[Story]) -> list[Played]:
    """Play every story, each step as its person at its time, then sweep at ``ctx.clock.now()``.

    The whole history is one savepoint: a story whose step fails is reported with the reason, and the
    history is played again without it, so a failed story leaves nothing behind and the times stay in
    order. Raises ValueError when a step lies after the real now (the story is wrong, not the data)."""
    now = ctx.clock.now()
    failed: dict[int, str] = {}
    while True:
        chosen = [i for i in range(len(stories)) if i not in failed]
        savepoint = ctx.session.begin_nested()
        try:
            instances = _play(ctx, calendar, stories, chosen, now)
        except StepFailed as exc:
            savepoint.rollback()
            runtime.clear_caches()  # workflows cached by instance id belong to the rolled-back attempt
            failed[exc.story] = exc.message
            continue
        savepoint.commit()
        break
    out = []
    for i, story in enumerate(stories):
        first = story.steps[0].action
        process_id = first.process_id if isinstance(first, Start) else "?"
        if i in failed:
            out.append(Played(story.title, process_id, error=failed[i]))
            continue
        instance = instances[i]
        out.append(Played(story.title, instance.process_id, instance.id, services.open_tasks(ctx, instance.id)))
    return out


def _play(ctx: Context, calendar: Calendar, stories: Sequence[Story], chosen: list[int],
          now: datetime) -> dict[int, ProcessInstance]:
    timeline = sorted(((calendar.real(step.at, now), i, n) for i in chosen
                       for n, step in enumerate(stories[i].steps)))
    instances: dict[int, ProcessInstance] = {}
    for at, i, n in timeline:
        if at > now:
            raise ValueError(f"{stories[i].title}: step {n + 1} at {stories[i].steps[n].at} lies in the future")
        step = stories[i].steps[n]
        sweep_until(ctx, at)
        then = Context(ctx.session, FixedClock(at), ctx.settings)
        try:
            actor = directory.user_by_email(ctx.session, f"{step.by}@{calendar.domain}")
            data = shift_dates(step.action.data, calendar.shift(now))
            instances[i] = step.action.run(then, actor, instances.get(i), data)
        except EngineError as exc:
            raise StepFailed(i, f"step {n + 1} ({step.by}): {exc.message}") from exc
    sweep_until(ctx, now)
    return instances


_NEXT_LADDER_STEP = select(func.min(HumanTask.next_action_at)).where(HumanTask.state.in_(OPEN_STATES))


def sweep_until(ctx: Context, until: datetime) -> int:
    """Run the deadline sweep at every moment a ladder step of an open task came due, up to ``until``:
    reminders, overdue notices and escalations get the time a worker running all along gave them.
    Returns how many sweeps ran."""
    sweeps = 0
    while True:
        due = ctx.session.scalar(_NEXT_LADDER_STEP)
        if due is None or as_utc(due) > until:
            return sweeps
        report = escalation.sweep(ctx.session, FixedClock(as_utc(due)), ctx.settings)
        sweeps += 1
        if not report.tasks:  # nothing could be taken (never expected): do not spin
            return sweeps


def instance_count(ctx: Context) -> int:
    return int(ctx.session.scalar(select(func.count()).select_from(ProcessInstance)) or 0)
