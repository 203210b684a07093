"""Which register records implement or evidence an Annex A control: one table (``LINKS``) says which
register answers which control and why, and the party requirements that name a control
(``linked_controls``) are linked to it too. The SoA control page lists them; the SoA workbook counts
and lists them.

A retired record, and one in a status that means it no longer applies (a supplier ``ended``, a data
resource ``retired``, a requirement ``withdrawn``, ...), is left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.aims.register_specs import SPECS, plain_value
from engine.aims.soa import Statement

#: statuses in which a record no longer implements anything
INACTIVE = frozenset({"ended", "retired", "withdrawn", "no_longer_relevant", "closed"})


@dataclass(frozen=True)
class Link:
    """Register ``register`` answers ``controls``: ``why`` in words; ``where``: only its rows whose
    attributes have these values."""

    controls: tuple[str, ...]
    register: str
    why: str
    where: tuple[tuple[str, Any], ...] = ()


_DATA = ("A.7.2", "A.7.3", "A.7.4", "A.7.5", "A.7.6")

#: which register implements or evidences which control
LINKS: tuple[Link, ...] = (
    Link(("A.4.3", *_DATA), "data_resources",
         "The data resources AI systems use, with their provenance, quality checks and retention."),
    Link(("A.4.6",), "competence", "The competences the roles and AI systems need."),
    Link(("A.4.6",), "training", "Training assigned and completed against those competences."),
    Link(("A.10.2", "A.10.3"), "suppliers", "The suppliers of AI systems and components, and their assessment."),
    Link(("A.10.4",), "interested_parties", "The customers among the interested parties.",
         where=(("party_type", "customer"),)),
    Link(("A.8.5",), "interested_parties", "The interested parties the AIMS informs."),
)
#: the requirements of interested parties are linked to the controls they name
REQUIREMENTS = "party_requirements"


@dataclass(frozen=True)
class Record:
    register: str
    ref: str
    title: str
    status: str

    @property
    def status_words(self) -> str:
        """The status as pages say it; ``status`` keeps the code."""
        return SPECS[self.register].status_words(self.status)


@dataclass
class Linked:
    """One register's records linked to a control."""

    register: str
    label: str
    why: str
    records: list[Record] = field(default_factory=list)


def links_of(control_id: str) -> list[Link]:
    return [link for link in LINKS if control_id in link.controls]


class _Registers:
    """The live rows of each register, loaded once."""

    def __init__(self, session: Session):
        self.session = session
        self.rows: dict[str, list[Any]] = {}

    def of(self, name: str) -> list[Any]:
        if name not in self.rows:
            model = SPECS[name].model
            self.rows[name] = [r for r in self.session.scalars(select(model).order_by(model.ref))
                               if r.retired_at is None and r.status not in INACTIVE]
        return self.rows[name]

    def record(self, name: str, row: Any) -> Record:
        spec = SPECS[name]
        title = plain_value(self.session, spec.field(spec.title), getattr(row, spec.field(spec.title).column))
        return Record(name, row.ref, str(title or ""), row.status)


def for_controls(session: Session, control_ids: Iterable[str]) -> dict[str, list[Linked]]:
    """Control id -> the registers (with their records) that implement or evidence it; a control no
    register answers maps to an empty list."""
    registers = _Registers(session)
    out: dict[str, list[Linked]] = {}
    for control_id in control_ids:
        found = []
        for link in links_of(control_id):
            rows = [r for r in registers.of(link.register) if all(getattr(r, k) == v for k, v in link.where)]
            found.append(Linked(link.register, SPECS[link.register].label, link.why,
                                [registers.record(link.register, r) for r in rows]))
        asked = [r for r in registers.of(REQUIREMENTS) if control_id in (r.linked_controls or [])]
        if asked:
            found.append(Linked(REQUIREMENTS, SPECS[REQUIREMENTS].label,
                                "Requirements of interested parties this control addresses.",
                                [registers.record(REQUIREMENTS, r) for r in asked]))
        out[control_id] = found
    return out


def for_statement(session: Session, statement: Statement) -> dict[str, list[Linked]]:
    """The register records of every control of ``statement`` (what the SoA workbook lists)."""
    return for_controls(session, [row.control_id for row in statement.rows])


def for_control(session: Session, control_id: str) -> list[Linked]:
    return for_controls(session, [control_id])[control_id]


def summary(linked: list[Linked]) -> str:
    """``Suppliers 3; Party requirements 1`` (what the workbook's column shows)."""
    return "; ".join(f"{x.label} {len(x.records)}" for x in linked if x.records)
