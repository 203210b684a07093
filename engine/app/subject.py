"""What a step is about: the business records (register rows) of its process instance, each as a short
record card people read before they decide: noun, reference, title, status, owner by name and a few key
fields in words. The task page shows them above the step's summary ("What is being approved").

A record belongs to the step when the instance touched it (``instance_id``), when the instance's subject
names it (``AIS-001``), or when the process data holds its reference (a risk acceptance's ``risk_id``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import literal, or_, select, union_all
from sqlalchemy.orm import Session

from engine.aims import catalogue
from engine.aims.register_specs import SPECS, RegisterSpec
from engine.aims.registers import DocumentVersion
from engine.aims.registers.common import RegisterMixin
from engine.core.durations import duration_words, is_duration
from engine.core.models import Base, User
from engine.core.words import humanize

#: what a record's reference looks like (RSK-003, DOC-POL-001, NC-2026-004, AIIA-003-v2, SOA-2026-1)
REFERENCE = re.compile(r"^[A-Z]{2,5}(?:-[A-Za-z0-9]{1,12}){1,3}$")
#: at most this many records per step (the process's own first), and key fields per record
MOST_RECORDS = 8
MOST_FACTS = 6
#: a longer text is cut to this many characters in a record card
SHORT_TEXT = 160
#: a stored code (``minor``, ``action_planning``), said in words
_CODE = re.compile(r"[a-z]+(?:_[a-z0-9]+)*")
#: columns every register row has, which a record card does not list as key fields
_COMMON = {"id", "ref", "status", "created_at", "updated_at", "row_version", "iso_refs", "retired_at",
           "created_by_id", "updated_by_id", "instance_id", "sha256", "details"}
#: the column naming whose record it is, in order of preference
_OWNERS = ("owner_id", "system_owner_id", "chair_id", "lead_auditor_id", "assessor_id",
           "internal_point_of_contact_id", "requester_id", "reported_by_id")
#: the states of a document version before it is published
_OPEN_VERSIONS = ("draft", "in_review", "pending_approval", "approved")
#: the column that titles a row of a register without a spec, in order of preference
_TITLES = ("title", "name", "description", "period", "version", "level", "trigger")
#: columns that hold an index into a list of the row's parent, said by the attribute holding the item's
#: words: (label, attribute, what to say when it names no item) — a corrective action's root cause
_WORDED = {"addresses_root_cause": ("Root cause it addresses", "root_cause", "no longer among the root causes")}


@dataclass(frozen=True)
class Subject:
    """One record as the task page shows it. ``register`` names its register page (None: no page)."""

    noun: str
    ref: str
    title: str
    status: str
    owner: str | None
    facts: tuple[tuple[str, str], ...]
    register: str | None = None
    #: the record is the Statement of Applicability (its page is the SoA)
    soa: bool = False
    #: what the owner is to the record ("Risk owner", "Chair", "Assessor")
    owner_label: str = "Owner"


@lru_cache(maxsize=1)
def _models() -> tuple[Any, ...]:
    """Every register table (each class with a human reference and a status)."""
    return tuple(m.class_ for m in Base.registry.mappers if issubclass(m.class_, RegisterMixin))


def _spec_of(model: Any) -> RegisterSpec | None:
    return next((s for s in SPECS.values() if s.model is model), None)


def _refs_in(value: Any, depth: int = 0) -> Iterator[str]:
    if isinstance(value, str):
        if REFERENCE.match(value):
            yield value
    elif isinstance(value, list) and depth < 2:
        for item in value:
            yield from _refs_in(item, depth + 1)
    elif isinstance(value, dict) and depth < 2:
        for item in value.values():
            yield from _refs_in(item, depth + 1)


def subjects(session: Session, instance_id: int, subject: str | None, data: dict[str, Any]) -> list[Subject]:
    """The records the step of ``instance_id`` is about: the one its subject names first, then those the
    instance touched, then those its data refers to; at most ``MOST_RECORDS``, each once."""
    wanted = list(dict.fromkeys([*([subject] if subject else []), *_refs_in(data)]))[:20]

    def rank(row: Any) -> tuple[int, int, str, int]:
        named = wanted.index(row.ref) if row.ref in wanted else len(wanted)
        first = 0 if row.ref == subject else 1 if row.mine else 2
        return first, named, row.tab, row.id

    return _cards(session, sorted(_located(session, instance_id, wanted), key=rank)[:MOST_RECORDS])


def touched(session: Session, instance_id: int) -> list[Subject]:
    """Every record the instance last touched (wrote), as cards: register by register, oldest first."""
    return _cards(session, sorted(_located(session, instance_id, []), key=lambda r: (r.tab, r.id)))


def _located(session: Session, instance_id: int, wanted: list[str]) -> list[Any]:
    """(tab, id, ref, mine) of every register row the instance touched or ``wanted`` names, in one round
    trip; ``mine``: touched by the instance."""
    parts = []
    for name, model in _tables().items():
        match = model.instance_id == instance_id
        if wanted:
            match = or_(match, model.ref.in_(wanted))
        parts.append(select(literal(name).label("tab"), model.id, model.ref,
                            (model.instance_id == instance_id).label("mine")).where(match))
    return list(session.execute(union_all(*parts))) if parts else []


def _tables() -> dict[str, Any]:
    return {m.__tablename__: m for m in _models()}


def _cards(session: Session, located: list[Any]) -> list[Subject]:
    tables = _tables()
    return [_card(session, session.get(tables[r.tab], r.id)) for r in located]


def _card(session: Session, row: Any) -> Subject:
    model = type(row)
    spec = _spec_of(model)
    names = _People(session)
    columns = [c.key for c in model.__table__.columns]
    owner_column = next((c for c in _OWNERS if c in columns), None)
    owner = names.name(getattr(row, owner_column)) if owner_column else None
    owner_label = humanize(owner_column or "owner")
    if spec is not None and owner_column:
        owner_label = next((f.label for f in spec.fields if f.column == owner_column), owner_label)
    if spec is not None:
        title = spec.title_words(getattr(row, spec.field(spec.title).column))
        facts = _spec_facts(session, spec, row, names, skip={spec.title, "status", "owner", owner_column})
        noun = spec.noun[:1].upper() + spec.noun[1:]
    else:
        title_column = next((c for c in _TITLES if c in columns), None)
        title = getattr(row, title_column) if title_column else ""
        facts = _column_facts(model, row, names, skip={title_column, owner_column})
        noun = humanize(model.__tablename__)
    if model.__tablename__ == "document":
        facts = _open_version(session, row, names) + facts
    status = spec.status_words(row.status) if spec is not None else humanize(str(row.status or ""))
    return Subject(noun, row.ref, _plain(title) if title else "", status, owner,
                   tuple(facts[:MOST_FACTS]), spec.name if spec is not None else None,
                   soa=model.__tablename__ == "soa_version", owner_label=owner_label)


def _open_version(session: Session, document: Any, names: _People) -> list[tuple[str, str]]:
    """The version of a document under work (not yet published), said first on its card: what an
    approver of the document approves."""
    version = session.scalar(select(DocumentVersion).where(
        DocumentVersion.document_id == document.id, DocumentVersion.status.in_(_OPEN_VERSIONS))
        .order_by(DocumentVersion.id.desc()).limit(1))
    if version is None:
        return []
    out = [("Version under work", f"{version.version} ({humanize(version.status).lower()})")]
    if version.change_summary:
        out.append(("Change", _short(version.change_summary)))
    if version.author_id:
        out.append(("Author", names.name(version.author_id) or ""))
    return out


def _spec_facts(session: Session, spec: RegisterSpec, row: Any, names: _People,
                skip: set[str | None]) -> list[tuple[str, str]]:
    out = []
    for f in spec.fields:
        if f.key in skip or f.column in skip or f.column in _COMMON:
            continue
        stored = getattr(row, f.column, None)
        if stored is None or stored == "" or stored == []:
            continue
        if f.kind == "user":
            text = names.name(stored) or ""
        elif f.kind in ("ref", "refs"):
            target = SPECS[f.target or ""].model
            ids = stored if isinstance(stored, list) else [stored]
            text = ", ".join(r.ref for r in (session.get(target, i) for i in ids) if r is not None)
        elif f.zero is not None and stored == 0:
            text = f.zero
        elif f.kind in ("choice", "choices"):
            text = ", ".join(f.choice_label(v) for v in (stored if isinstance(stored, list) else [stored]))
        else:
            text = _plain(stored)
        if text:
            out.append((f.label, text))
    return out


def _column_facts(model: Any, row: Any, names: _People, skip: set[str | None]) -> list[tuple[str, str]]:
    out = []
    for column in model.__table__.columns:
        key = column.key
        if key in skip or key in _COMMON or key.endswith("_document_version_id"):
            continue
        stored = getattr(row, key, None)
        if stored is None or stored == "" or isinstance(stored, list | dict):
            continue
        if key in _WORDED:
            label, attribute, missing = _WORDED[key]
            words = getattr(row, attribute, None)
            out.append((label, _short(str(words)) if words else missing))
            continue
        if key.endswith("_id"):
            if not any(fk.column.table.name == "user_account" for fk in column.foreign_keys):
                continue
            text = names.name(stored) or ""
        else:
            text = _plain(stored)
        if text:
            out.append((humanize(key), text))
    return out


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, datetime):
        return value.strftime("%-d %b %Y")
    if isinstance(value, date):
        return value.strftime("%-d %b %Y")
    if isinstance(value, list):  # controls with their titles: "A.4.4 — Tooling resources"
        return ", ".join(catalogue.control_label(str(v)) for v in value)
    text = str(value)
    if is_duration(text):  # an ISO 8601 period such as a review interval: P1Y -> "1 year"
        return duration_words(text)
    if text != catalogue.control_label(text):
        return catalogue.control_label(text)
    return humanize(text) if _CODE.fullmatch(text) else _short(text)


def _short(text: str) -> str:
    return text if len(text) <= SHORT_TEXT else text[:SHORT_TEXT - 1].rstrip() + "…"


class _People:
    """User ids -> names, each looked up once."""

    def __init__(self, session: Session):
        self.session = session
        self.names: dict[int, str | None] = {}

    def name(self, user_id: Any) -> str | None:
        if not isinstance(user_id, int):
            return None
        if user_id not in self.names:
            user = self.session.get(User, user_id)
            self.names[user_id] = user.name if user is not None else None
        return self.names[user_id]
