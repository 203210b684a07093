"""A nonconformity's root causes with the corrective actions that address each, in words: what its
record page shows under its fields (an action names its root cause by the index of the analysis's
list; people read the cause's words)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.aims.registers import CorrectiveAction, Nonconformity
from engine.core.models import User
from engine.core.words import humanize


@dataclass(frozen=True)
class Action:
    ref: str
    description: str
    status: str
    owner: str | None
    due_date: date | None


@dataclass(frozen=True)
class Cause:
    """One root cause (``words`` None: the actions that name no cause of the analysis) and its actions."""

    words: str | None
    category: str | None
    actions: tuple[Action, ...]


def by_root_cause(session: Session, nc_ref: str) -> list[Cause]:
    """The root causes of nonconformity ``nc_ref`` in the analysis's order, each with the actions that
    address it (oldest first; cancelled ones left out), then any action that names no cause. Empty when
    there is no such NC or it has neither."""
    nc = session.scalar(select(Nonconformity).where(Nonconformity.ref == nc_ref))
    if nc is None:
        return []
    words = nc.cause_words
    rows = list(session.scalars(select(CorrectiveAction).where(CorrectiveAction.nc_id == nc.id,
                                                               CorrectiveAction.status != "cancelled")
                                .order_by(CorrectiveAction.id)))
    owners = {u.id: u.name or u.email for u in session.scalars(
        select(User).where(User.id.in_({r.owner_id for r in rows if r.owner_id is not None})))} if rows else {}

    def actions(index: int | None) -> tuple[Action, ...]:
        return tuple(Action(r.ref, r.description, humanize(r.status), owners.get(r.owner_id or 0), r.due_date)
                     for r in rows if (r.addresses_root_cause if r.addresses_root_cause in range(len(words))
                                       else None) == index)

    out = [Cause(text, humanize(str(c.get("category")))
                 if isinstance(c, dict) and c.get("category") else None, actions(i))
           for i, (text, c) in enumerate(zip(words, nc.root_causes or [], strict=True))]
    loose = actions(None)
    if loose:
        out.append(Cause(None, None, loose))
    return out
