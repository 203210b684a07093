"""How the AI objectives are doing (6.2, 9.1): each objective's measurements over time, its latest value
against its target, and whether a measurement is overdue (none within its measurement frequency).

The readiness checks, the management-review inputs and the objective's page all read this, so they
agree. A retired measurement (recorded by mistake) counts for nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.aims.registers import AIObjective, ObjectiveMeasurement
from engine.core.durations import add_duration, is_duration

#: objectives in these states are not (or no longer) measured
NOT_MEASURED = ("draft", "withdrawn", "achieved", "not_achieved")


@dataclass(frozen=True)
class Point:
    ref: str
    measured_on: date
    value: float
    note: str | None
    recorded_by_id: int | None


@dataclass
class Performance:
    objective: AIObjective
    points: list[Point] = field(default_factory=list)
    #: the day the next measurement is due (None: no frequency, or never measured)
    next_due: date | None = None

    @property
    def latest(self) -> Point | None:
        return self.points[-1] if self.points else None

    @property
    def lower_is_better(self) -> bool:
        o = self.objective
        return o.baseline is not None and o.target is not None and o.target < o.baseline

    @property
    def on_target(self) -> bool | None:
        """Whether the latest value meets the target (None: no target or no measurement)."""
        if self.latest is None or self.objective.target is None:
            return None
        if self.lower_is_better:
            return self.latest.value <= self.objective.target
        return self.latest.value >= self.objective.target

    def overdue(self, today: date) -> bool:
        """Measured, but not within its frequency; or never measured while it should be."""
        if self.objective.status in NOT_MEASURED:
            return False
        if self.latest is None:
            return True
        return self.next_due is not None and self.next_due < today

    def words(self, today: date) -> str:
        """The objective's performance in one line, for findings and review inputs."""
        o = self.objective
        if self.latest is None:
            return f"{o.ref} has no measurement"
        unit = f" {o.unit}" if o.unit and o.unit != "ratio" else ""
        text = f"{o.ref} latest {number(self.latest.value)}{unit} on {self.latest.measured_on}"
        if o.target is not None:
            text += f" against a target of {number(o.target)}{unit}" + (
                " (met)" if self.on_target else " (not met)")
        if self.overdue(today):
            text += f"; a measurement was due by {self.next_due}"
        return text

    def to_dict(self, today: date) -> dict[str, Any]:
        o = self.objective
        latest = self.latest
        return {"ref": o.ref, "title": o.title, "status": o.status, "unit": o.unit, "target": o.target,
                "baseline": o.baseline, "latest": latest.value if latest else None,
                "measured_on": latest.measured_on.isoformat() if latest else None,
                "on_target": self.on_target, "overdue": self.overdue(today), "measurements": len(self.points)}


def number(value: float) -> str:
    return f"{value:g}"


def _next_due(objective: AIObjective, latest: Point | None) -> date | None:
    frequency = objective.measurement_frequency or ""
    if latest is None or not is_duration(frequency):
        return None
    return add_duration(datetime.combine(latest.measured_on, datetime.min.time()), frequency).date()


def performance(session: Session, objectives: list[AIObjective] | None = None) -> list[Performance]:
    """Every objective (or those given) with its measurements, oldest first."""
    if objectives is None:
        objectives = list(session.scalars(select(AIObjective).where(AIObjective.retired_at.is_(None))
                                           .order_by(AIObjective.ref)))
    by_id = {o.id: Performance(o) for o in objectives}
    if by_id:
        stmt = (select(ObjectiveMeasurement)
                .where(ObjectiveMeasurement.objective_id.in_(list(by_id)), ObjectiveMeasurement.retired_at.is_(None))
                .order_by(ObjectiveMeasurement.measured_on, ObjectiveMeasurement.id))
        for m in session.scalars(stmt):
            by_id[m.objective_id].points.append(Point(m.ref, m.measured_on, m.value, m.note, m.created_by_id))
    for p in by_id.values():
        p.next_due = _next_due(p.objective, p.latest)
    return list(by_id.values())
