"""Escalation profiles and the ladder each task gets from its profile.

**Profiles** (``processes/escalation_profiles.json``, FLOWS.md 0.4) name ladders; a user task names one
in its ``escalation_profile`` property and gets a ``due_at`` from ``due_in`` / ``due_at_var``::

    "STD": {
      "reminders": ["-P2D"],                                  # offsets from the due time, <= 0
      "short_window": {"below": "P4D", "reminders": ["-P1D"]}, # tasks given less time than "below"
      "overdue_notice": ["assignee", "lane_lead"],            # told at the due time
      "levels": [{"after_due": "P2D", "to": "assignee_manager"},
                 {"after_due": "P5D", "to": "lane_lead", "offer_reassignment": true}]
    }

**The ladder** of a task is a time-ordered list of steps computed from its profile, ``created_at`` and
``due_at``. The task row keeps what was done (``reminders_sent``, ``overdue_notified_at``,
``escalation_level``, ``escalated_at``, ``escalated_to_id``), ``ladder_done_until`` (every step up to
then is taken) and ``next_action_at``, the indexed time the worker looks at it next. Acting on the
steps is ``escalation.py``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from engine.core import domain
from engine.core.durations import add_duration, is_duration
from engine.core.models import HumanTask
from engine.core.settings import EngineSettings

#: who a ladder step can notify -> what it means (README "Escalation profiles"); the installed domain
#: adds the organisation's named people (``Domain.recipients``)
BASE_RECIPIENTS = {
    "assignee": "the task's holder; an unassigned task: everyone who may claim it",
    "lane_lead": "the lead named for the task's role in the organisation settings (details.lane_leads), "
                 "else the assignee's line manager",
    "assignee_manager": "the assignee's line manager",
    "approver_deputy_or_manager": "the assignee's deputy while they are out of office, else their line manager",
}


def recipients() -> dict[str, str]:
    """Every recipient a ladder step may name -> what it means."""
    return {**BASE_RECIPIENTS, **{k: r.description for k, r in domain.current().recipients.items()}}
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
    known = recipients()
    if value not in known:
        return f"{where}: {value!r} is not a recipient; use one of {', '.join(known)}"
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
