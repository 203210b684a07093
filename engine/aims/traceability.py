"""Clause and control traceability (DOMAIN.md section 1 rule 4, section 5): for every clause 4.1-10.2
and every Annex A control, the flows, registers and documented information that serve it, plus the
evidence records (``evidence`` rows) linked to it.

The static part is ``data/traceability.json`` (``"*"`` there stands for every Annex A control).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.aims import catalogue
from engine.aims.registers import Evidence
from engine.core.errors import NotFound

DATA_FILE = Path(__file__).parent / "data" / "traceability.json"
ALL_CONTROLS = "*"


@dataclass
class Links:
    """What serves one clause or control."""

    ref: str
    title: str
    flows: list[str] = field(default_factory=list)
    registers: list[str] = field(default_factory=list)
    #: kinds of documented information a certification body asks for (DOMAIN.md section 7)
    documented_information: list[str] = field(default_factory=list)
    #: refs of evidence records linked to it (with status and validity)
    evidence: list[dict[str, Any]] = field(default_factory=list)


@cache
def _mapping() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    return data


def _covers(refs: list[str], ref: str) -> bool:
    return ref in refs or (ref.startswith("A.") and ALL_CONTROLS in refs)


def _titles() -> dict[str, str]:
    return {c.clause_id: c.title for c in catalogue.clauses()} | \
        {c.control_id: c.title for c in catalogue.controls()}


def static_links(ref: str) -> Links:
    """The flows, registers and documented information that serve ``ref`` (a clause or Annex A control).
    Raises NotFound for anything else."""
    titles = _titles()
    if ref not in titles:
        raise NotFound(f"{ref!r} is neither a clause of clauses.csv nor an Annex A control")
    kind = "controls" if ref.startswith("A.") else "clauses"
    mapping = _mapping()
    return Links(
        ref=ref, title=titles[ref],
        flows=[name for name, m in mapping["flows"].items() if _covers(m[kind], ref)],
        registers=[name for name, m in mapping["registers"].items() if _covers(m[kind], ref)],
        documented_information=[e["item"] for e in mapping["evidence"] if _covers(e["refs"], ref)],
    )


def links(session: Session, ref: str, evidence: list[Evidence] | None = None) -> Links:
    """:func:`static_links` plus the evidence records linked to ``ref`` (from ``evidence`` if given)."""
    out = static_links(ref)
    rows = evidence if evidence is not None else list(session.scalars(select(Evidence).order_by(Evidence.ref)))
    for row in rows:
        if ref in (row.linked_controls if ref.startswith("A.") else row.linked_clauses):
            out.evidence.append({"ref": row.ref, "title": row.title, "status": row.status,
                                 "valid_until": row.valid_until.isoformat() if row.valid_until else None})
    return out


def coverage(session: Session) -> list[Links]:
    """Links for every clause, then every Annex A control, in the standard's order."""
    rows = list(session.scalars(select(Evidence).order_by(Evidence.ref)))
    return [links(session, ref, rows) for ref in catalogue.clause_ids() + catalogue.control_ids()]
