"""The demo as its logins meet it: the admin's draft the demo leaves (``engine.aims.demo_work.ADMIN_DRAFT``)
and, in words, what each login finds when they log in (``web/welcome.py`` prints it after ``make run``).
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.aims import demo_work
from engine.app import process_admin, worklist
from engine.core import definitions, directory, escalation
from engine.core.clock import as_utc
from engine.core.models import ProcessVersion, User
from engine.core.runtime import Context


def save_admin_draft(ctx: Context) -> ProcessVersion:
    """Save ``demo_work.ADMIN_DRAFT`` as a new draft version, by its admin, at ``ctx.clock``: the published
    version with the task properties changed. Raises EngineError (NotFound, ConflictError when that draft
    exists already, ...) and then leaves nothing behind."""
    change = demo_work.ADMIN_DRAFT
    admin = directory.user_by_email(ctx.session, f"{change.by}@{demo_work.DOMAIN}")
    published = definitions.latest_version(ctx.session, change.process_id)
    xml = process_admin.patch_properties(published.bpmn_xml, change.element_id, change.properties)
    with ctx.session.begin_nested():
        version, _ = process_admin.save_draft(ctx.session, ctx.settings, ctx.clock, admin, change.process_id, xml)
    return version


# --------------------------------------------------------------------------- in words

def due_words(due_at: datetime | None, now: datetime) -> str:
    """``3 days overdue``, ``overdue since today``, ``due today``, ``due tomorrow``, ``due in 5 days`` (by
    calendar day, UTC) or ``no due date``."""
    if due_at is None:
        return "no due date"
    due, today = as_utc(due_at), as_utc(now)
    days = (due.date() - today.date()).days
    if due < today:
        return "overdue since today" if days == 0 else f"{-days} day{'s' if days < -1 else ''} overdue"
    return {0: "due today", 1: "due tomorrow"}.get(days, f"due in {days} days")


def findings(session: Session, user: User, now: datetime) -> list[str]:
    """What ``user`` finds: each task of their inbox (assigned to them or theirs to claim, overdue first)
    with its deadline in words, the open tasks escalated to them, and, for an admin, the draft process
    versions waiting to be published."""
    lines = []
    for row in worklist.inbox_page(session, user, now, "all").rows:
        about = f" ({row.subject})" if row.subject else ""
        escalated = ", escalated" if row.escalation_level else ""
        claim = "; you may claim it" if row.assignee is None else ""
        lines.append(f"{row.name}{about} — {due_words(row.due_at, now)}{escalated}{claim}")
    for task in escalation.escalated_to(session, user):
        holder = session.get(User, task.assignee_id) if task.assignee_id is not None else None
        held = f"held by {holder.name}" if holder is not None else "not claimed yet"
        about = f" ({task.subject})" if task.subject else ""
        lines.append(f"Escalated to you: {task.name}{about}, {held} — {due_words(task.due_at, now)}; "
                     "you may reassign it")
    if "admin" in user.roles:
        if not lines:
            lines.append("No tasks: an admin holds no lane of the processes")
        lines.extend(draft_words(session))
    return lines


_DAYS = re.compile(r"^P(\d+)D$")


def _duration(value: str) -> str:
    match = _DAYS.match(value)
    if match is None:
        return value or "nothing"
    return f"{match.group(1)} day{'s' if match.group(1) != '1' else ''}"


def _change(label: str, what: str, old: str, new: str) -> str:
    name = label.split("'", 1)[1].rsplit("'", 1)[0] if label.count("'") >= 2 else label
    if what == "property due in":
        return f"{name} due in {_duration(new)} instead of {_duration(old)}"
    return f"{name}: {what.removeprefix('property ')} {old or 'not set'} -> {new or 'not set'}"


def draft_words(session: Session) -> list[str]:
    """One line per draft process version: what it changes against the published version."""
    lines = []
    drafts = session.scalars(select(ProcessVersion).where(ProcessVersion.status == "draft")
                             .order_by(ProcessVersion.process_id, ProcessVersion.version))
    published = definitions.latest_versions(session)
    for draft in drafts:
        base = published.get(draft.process_id)
        what = f"Definitions: {draft.name} version {draft.version} is a draft"
        if base is None:
            lines.append(f"{what} to validate and publish")
            continue
        diff = process_admin.compare(session, base.id, draft.id)
        changes = [_change(c.label, what, old, new) for c in diff.structure.elements if c.status == "changed"
                   for what, old, new in c.facets]
        said = f" ({'; '.join(changes)})" if changes else ""
        lines.append(f"{what}{said} to compare with version {base.version} and publish")
    return lines
