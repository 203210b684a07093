"""Read side: inboxes and lists as indexed SQL queries returning plain rows.

The inbox is two kinds of rows: tasks assigned to the user (``mine``) and the unassigned tasks of their
roles' queues they may claim (``queue``, ``access.claimable_by``). Each is counted exactly (one grouped
count for both) and each tab's page is read in due-date order straight off an index
(``ix_human_task_open_assignee``, ``ix_human_task_open_queue``, migration 0020: partial indexes over
open tasks), one ordered branch per kind and role, so the cost follows the page size, not the number of
tasks the user holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, and_, case, cast, func, literal_column, select, union_all
from sqlalchemy.orm import Session, aliased

from engine.app import access
from engine.core.models import HumanTask, ProcessVersion, User

#: rows on one page of the inbox (web page, API, unless asked otherwise)
PAGE_SIZE = 50
#: the inbox's tabs: the two kinds of rows each shows, and whether only overdue ones
TAB_KINDS = {"mine": ("mine",), "claimable": ("queue",), "overdue": ("mine", "queue"), "all": ("mine", "queue")}


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
    #: the holder's name (``assignee`` is their e-mail)
    assignee_name: str | None = None


@dataclass(frozen=True)
class KindCount:
    """Open tasks of one kind (``mine`` or ``queue``): all, those with a due date, the overdue ones."""

    total: int = 0
    dated: int = 0
    overdue: int = 0


@dataclass(frozen=True)
class InboxCounts:
    """Exact counts of the inbox's two kinds of rows, and the processes they belong to (unfiltered)."""

    mine: KindCount
    queue: KindCount
    processes: list[str]

    def tabs(self) -> dict[str, int]:
        """The count each tab shows."""
        return {"mine": self.mine.total, "claimable": self.queue.total,
                "overdue": self.mine.overdue + self.queue.overdue, "all": self.mine.total + self.queue.total}

    def dated(self, tab: str) -> int:
        """Rows of ``tab`` with a due date (they come before the undated ones)."""
        if tab == "overdue":
            return self.mine.overdue + self.queue.overdue
        return sum(getattr(self, kind).dated for kind in TAB_KINDS[tab])


def _branches(user: User, kinds: Sequence[str]) -> list[ColumnElement[bool]]:
    """One condition per ordered branch: the user's own tasks, and one per role of theirs."""
    out = []
    if "mine" in kinds:
        out.append(and_(HumanTask.assignee_id == user.id, access.open_task()))
    if "queue" in kinds:
        out += [access.claimable_by(user, [role]) for role in sorted(user.roles)]
    return out


def _filters(process_id: str, query: str) -> list[ColumnElement[bool]]:
    """The process filter and the search: every word is in the id, name, step, process, subject or instance."""
    out: list[ColumnElement[bool]] = []
    if process_id:
        out.append(HumanTask.process_id == process_id)
    if query.split():
        text = func.lower(cast(HumanTask.id, String) + " " + HumanTask.name + " " + HumanTask.task_spec + " "
                          + HumanTask.process_id + " " + func.coalesce(HumanTask.subject, "") + " "
                          + cast(HumanTask.instance_id, String))
        out += [text.contains(word, autoescape=True) for word in query.lower().split()]
    return out


def _grouped(session: Session, user: User, now: datetime, extra: list[ColumnElement[bool]]) -> list[Any]:
    """(kind, process_id, total, dated, overdue) of the user's open tasks: one statement."""
    kinds: list[tuple[str, ColumnElement[bool]]] = [
        ("mine", and_(HumanTask.assignee_id == user.id, access.open_task()))]
    if user.roles:
        kinds.append(("queue", access.claimable_by(user)))
    selects = []
    for kind, condition in kinds:
        columns: list[Any] = [literal_column(f"'{kind}'").label("kind"), HumanTask.process_id, func.count(),
                              func.count(HumanTask.due_at), func.count(case((HumanTask.due_at < now, 1)))]
        selects.append(select(*columns).where(condition, *extra).group_by(HumanTask.process_id))
    return list(session.execute(union_all(*selects) if len(selects) > 1 else selects[0]))


def _sum(rows: list[Any], kind: str) -> KindCount:
    mine = [r for r in rows if r[0] == kind]
    return KindCount(sum(r[2] for r in mine), sum(r[3] for r in mine), sum(r[4] for r in mine))


def inbox_counts(session: Session, user: User, now: datetime, process_id: str = "", query: str = "") -> InboxCounts:
    """Exact counts of the user's open tasks, assigned to them and claimable by them, after the process
    filter and the search; ``processes`` lists the processes of all of them (before the filters)."""
    rows = _grouped(session, user, now, [])
    processes = sorted({r[1] for r in rows})
    if query.split():
        rows = _grouped(session, user, now, _filters(process_id, query))
    elif process_id:
        rows = [r for r in rows if r[1] == process_id]
    return InboxCounts(_sum(rows, "mine"), _sum(rows, "queue"), processes)


def _ordered_ids(session: Session, branches: list[ColumnElement[bool]], dated: bool, offset: int,
                 limit: int) -> list[int]:
    """Ids of the rows ``offset`` to ``offset + limit`` of the union of ``branches``, by due date then id
    (``dated``) or by id (the undated ones). Each branch is read in index order and stops early."""
    key = [HumanTask.due_at, HumanTask.id] if dated else [HumanTask.id]
    due = HumanTask.due_at.is_not(None) if dated else HumanTask.due_at.is_(None)
    if len(branches) == 1:
        stmt = select(HumanTask.id).where(branches[0], due).order_by(*key).offset(offset).limit(limit)
        return list(session.scalars(stmt))
    parts = [select(HumanTask.id, HumanTask.due_at).where(b, due).order_by(*key).limit(offset + limit).subquery()
             for b in branches]
    merged = union_all(*[select(p.c.id, p.c.due_at) for p in parts]).subquery()
    order = [merged.c.due_at, merged.c.id] if dated else [merged.c.id]
    return list(session.scalars(select(merged.c.id).order_by(*order).offset(offset).limit(limit)))


def _rows(session: Session, ids: list[int], now: datetime) -> list[TaskRow]:
    if not ids:
        return []
    holder = aliased(User)
    stmt = (select(HumanTask.id, HumanTask.name, HumanTask.task_spec, HumanTask.process_id, HumanTask.instance_id,
                   HumanTask.subject, HumanTask.role, HumanTask.state, holder.email, HumanTask.due_at,
                   HumanTask.form, HumanTask.note, HumanTask.escalation_level, HumanTask.row_version, holder.name)
            .outerjoin(holder, HumanTask.assignee_id == holder.id).where(HumanTask.id.in_(ids)))
    by_id = {}
    for (id_, name, spec, process_id, instance_id, subject, role, state, email, due_at, form, note, level,
         version, holder_name) in session.execute(stmt):
        by_id[id_] = TaskRow(id_, name, spec, process_id, instance_id, subject, role, state, email, due_at,
                             due_at is not None and due_at < now, form, note, level, version, holder_name)
    return [by_id[i] for i in ids if i in by_id]


def inbox_rows(session: Session, user: User, now: datetime, tab: str, counts: InboxCounts, *, process_id: str = "",
               query: str = "", offset: int = 0, limit: int = PAGE_SIZE) -> list[TaskRow]:
    """One page of a tab (``mine``, ``claimable``, ``overdue``, ``all``): overdue first, then by due date,
    undated last, then by id; ``counts`` are this user's with the same filters (``inbox_counts``)."""
    kinds = TAB_KINDS[tab]
    branches = _branches(user, kinds)
    if not branches:
        return []
    extra = _filters(process_id, query)
    if tab == "overdue":
        extra.append(HumanTask.due_at < now)
    branches = [and_(b, *extra) for b in branches]
    dated = counts.dated(tab)
    ids: list[int] = []
    if offset < dated:
        ids = _ordered_ids(session, branches, True, offset, limit)
    if len(ids) < limit and tab != "overdue":
        ids += _ordered_ids(session, branches, False, max(0, offset - dated), limit - len(ids))
    return _rows(session, ids, now)


def process_names(session: Session, process_ids: Sequence[str] | set[str]) -> dict[str, str]:
    """The name people read for each process id: the name of its latest version (one statement)."""
    if not process_ids:
        return {}
    rows = session.execute(select(ProcessVersion.process_id, ProcessVersion.name)
                           .where(ProcessVersion.process_id.in_(sorted(process_ids)))
                           .order_by(ProcessVersion.process_id, ProcessVersion.version))
    return {process_id: name for process_id, name in rows}  # the latest version's name wins


def inbox(session: Session, user: User, now: datetime, limit: int = 500) -> list[TaskRow]:
    """The first ``limit`` open tasks ``user`` may act on: assigned to them, or unassigned in a lane of
    one of their roles (less those the SoD rules excluded them from). Overdue first, then by due date."""
    return inbox_rows(session, user, now, "all", inbox_counts(session, user, now), limit=limit)
