"""Reference data shipped with the engine: the ISO/IEC 42001 clauses 4.1-10.2 (``data/clauses.csv``) and
the 38 Annex A controls (``data/annex_a.csv``), loaded into the ``clause`` and ``control`` tables.

Loading is idempotent: rows are found by their id and updated; organisation controls (``ORG-xx``)
added by an admin are left alone.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.aims.registers import Clause, Control

DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class ClauseRow:
    clause_id: str
    title: str
    summary: str


@dataclass(frozen=True)
class ControlRow:
    control_id: str
    objective_group: str
    title: str
    summary: str

    @property
    def guidance_ref(self) -> str:
        return "B." + self.control_id[2:]


@cache
def clauses() -> tuple[ClauseRow, ...]:
    """Every requirement sub-clause, in the standard's order."""
    with (DATA / "clauses.csv").open(encoding="utf-8", newline="") as f:
        return tuple(ClauseRow(r["id"], r["title"], r["summary"]) for r in csv.DictReader(f))


@cache
def controls() -> tuple[ControlRow, ...]:
    """The 38 Annex A controls, in the standard's order."""
    with (DATA / "annex_a.csv").open(encoding="utf-8", newline="") as f:
        return tuple(ControlRow(r["id"], r["objective_group"], r["short_title"], r["summary"])
                     for r in csv.DictReader(f))


def clause_ids() -> list[str]:
    return [c.clause_id for c in clauses()]


def control_ids() -> list[str]:
    return [c.control_id for c in controls()]


def control_label(control_id: str) -> str:
    """An Annex A control with its title ("A.6.2.5 — AI system deployment"); any other text as it is."""
    titles = {c.control_id: c.title for c in controls()}
    return f"{control_id} — {titles[control_id]}" if control_id in titles else control_id


def is_known_ref(ref: str) -> bool:
    """True for a clause id (``9.2.2``) or an Annex A control id (``A.6.2.4``)."""
    return ref in clause_ids() or ref in control_ids()


def load_reference_data(session: Session) -> dict[str, int]:
    """Insert or update the clause and Annex A control rows; returns how many of each there are."""
    known_clauses = {c.clause_id: c for c in session.scalars(select(Clause))}
    for row in clauses():
        clause = known_clauses.get(row.clause_id)
        if clause is None:
            session.add(Clause(clause_id=row.clause_id, title=row.title, summary=row.summary))
        else:
            clause.title, clause.summary = row.title, row.summary
    known_controls = {c.control_id: c for c in session.scalars(select(Control))}
    for crow in controls():
        control = known_controls.get(crow.control_id)
        if control is None:
            session.add(Control(control_id=crow.control_id, objective_group=crow.objective_group, title=crow.title,
                                summary=crow.summary, source="annex_a", guidance_ref=crow.guidance_ref))
        else:
            control.objective_group, control.title, control.summary = crow.objective_group, crow.title, crow.summary
            control.guidance_ref = crow.guidance_ref
    session.flush()
    return {"clauses": len(clauses()), "controls": len(controls())}
