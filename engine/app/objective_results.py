"""An objective's results over time, on its page and through the API: the measurements (oldest first),
the latest against the target, when the next is due, and recording a new one.

Who records: the objective's owner, and the writers of the objectives register (AIMS owner, top
management). A measurement is a row of the register "Objective measurements" (``MEAS-0001``): checked
like any register row (its value a number, its day a date and not in the future), audited, and
correctable there (a wrong one is retired). Nothing here commits: the caller does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.aims import objectives
from engine.aims.register_specs import MEASUREMENT_WRITERS, MEASUREMENTS, OBJECTIVES
from engine.aims.registers import AIObjective
from engine.app import access
from engine.app.register_edit import RegisterRow, check, insert_row
from engine.core.errors import ConflictError, FieldError, Forbidden, NotFound, ValidationError
from engine.core.models import User
from engine.core.runtime import Context

#: the fields a person gives when recording a measurement
FIELDS = ("measured_on", "value", "note")


@dataclass
class Results:
    """What the objective's page shows about its results."""

    objective: AIObjective
    performance: objectives.Performance
    overdue: bool
    may_record: bool
    #: who recorded each measurement, by user id
    recorders: dict[int, str]

    def chart(self) -> dict[str, Any]:
        """The figures the page's chart draws: days, values, the target and the unit."""
        o = self.objective
        return {"labels": [p.measured_on.isoformat() for p in self.performance.points],
                "values": [p.value for p in self.performance.points], "target": o.target,
                "baseline": o.baseline, "unit": o.unit or "", "title": f"{o.ref} {o.title}"}


def _objective(session: Session, ref: str) -> AIObjective:
    row = session.scalar(select(AIObjective).where(AIObjective.ref == ref))
    if row is None:
        raise NotFound(f"there is no objective {ref}")
    return row


def may_record(user: User, objective: AIObjective) -> bool:
    return user.active and objective.retired_at is None and (
        bool(user.roles & MEASUREMENT_WRITERS) or objective.owner_id == user.id)


def results(session: Session, today: date, user: User, ref: str) -> Results:
    """The objective's results. Raises Forbidden (no role), NotFound."""
    access.require_register_reader(user)
    objective = _objective(session, ref)
    [perf] = objectives.performance(session, [objective])
    ids = {p.recorded_by_id for p in perf.points if p.recorded_by_id}
    names = {u.id: u.name for u in session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    return Results(objective, perf, perf.overdue(today), may_record(user, objective), names)


def record(ctx: Context, user: User, ref: str, values: dict[str, Any], source: str = "web") -> RegisterRow:
    """Record a measurement of objective ``ref`` (``values``: measured_on, value, note). Raises Forbidden
    (not its owner nor a writer of objectives), NotFound, ValidationError (every problem by field, in
    words), ConflictError (the objective is retired)."""
    access.require_register_reader(user)
    objective = _objective(ctx.session, ref)
    if not (user.active and (user.roles & MEASUREMENT_WRITERS or objective.owner_id == user.id)):
        raise Forbidden(f"only the owner of {ref}, the AIMS owner or top management record its measurements")
    if objective.retired_at is not None:
        raise ConflictError(f"objective {ref} is retired; restore it before recording a measurement")
    given = {k: values.get(k) for k in FIELDS if k in values}
    unknown = sorted(set(values) - set(FIELDS))
    checked, errors = check(ctx.session, MEASUREMENTS, given | {"objective": ref}, None, ctx.clock.now().date())
    errors += [FieldError(k, f"{k!r} is not part of a measurement; give the day, the value and a note")
               for k in unknown]
    if errors:
        raise ValidationError(f"the measurement of {ref} was not recorded", errors)
    row = insert_row(ctx, user, MEASUREMENTS, None, checked, source)
    return RegisterRow(MEASUREMENTS.name, row.id, row.ref, f"{OBJECTIVES.noun} {ref}", row.status, None)
