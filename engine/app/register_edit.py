"""Reading and changing the registers people keep by hand, driven by ``engine.aims.register_specs``.

Who reads: every active user with a role (``access.require_register_reader``). Who writes: the roles of
the register's ``writers`` (``require_writer``); a register a flow owns is changed only through its flow.
Every change checks the row's ``row_version`` (``UPDATE ... WHERE row_version = seen``: a change made
since the user looked raises ConflictError naming who made it and when; nothing is written) and is
audited with the values before and after, by label. Rows are retired, never deleted.
Nothing here commits: the caller does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import marshmallow as ma
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.aims import catalogue
from engine.aims.register_fields import LIST_SEPARATOR, Field, rule, same, schema_for, to_text
from engine.aims.register_specs import SPECS, RegisterSpec, plain_value, plain_values, stored_value
from engine.aims.register_tables import REF_FIELD
from engine.app import access
from engine.app.history import Moment, described
from engine.core import audit_trail, directory, refs
from engine.core.clock import isoformat
from engine.core.durations import duration_words, is_duration
from engine.core.errors import ConflictError, FieldError, Forbidden, NotFound, ValidationError
from engine.core.models import AuditEvent, HumanTask, ProcessInstance, ProcessVersion, User
from engine.core.runtime import Context

REF_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
#: how a register change was made (the audit event's ``source``), in words
SOURCES = {"web": "on the site", "web import": "imported from a spreadsheet on the site", "api": "through the API",
           "command line": "from the command line"}


@dataclass(frozen=True)
class RegisterRow:
    register: str
    id: int
    ref: str
    title: str
    status: str
    instance_id: int | None
    retired: bool = False
    #: the name of the process that last changed the row (``rows`` fills it in), for pages
    process: str | None = None

    @property
    def status_words(self) -> str:
        """The status as pages say it (its label in the register's declaration); ``status`` keeps the code."""
        return SPECS[self.register].status_words(self.status)

    @property
    def title_words(self) -> str:
        """The title as pages say it: a register titled by a choice (an impact assessment's trigger) says
        its label; ``title`` keeps what is stored."""
        return SPECS[self.register].title_words(self.title)


@dataclass
class Record:
    """One row as its page shows it: the plain values by field key, the version to send back, the
    history (audit events about it, oldest first) and what the reader may do."""

    spec: RegisterSpec
    row: RegisterRow
    values: dict[str, Any]
    version: int
    retired_at: Any
    updated_at: Any
    updated_by: User | None
    history: list[AuditEvent] = field(default_factory=list)
    may_write: bool = False
    #: people's names by e-mail, for the history's "who" and the people its changes name
    names: dict[str, str] = field(default_factory=dict)
    #: the history in words (who did what), oldest first
    moments: list[Moment] = field(default_factory=list)

    @staticmethod
    def by_way_of(source: Any) -> str:
        """How a change was made, in words ("web import" -> "imported from a spreadsheet on the site")."""
        return SOURCES.get(str(source), str(source))

    def named(self, value: Any) -> Any:
        """``value`` with a person's e-mail address as their name; anything else as it is."""
        return self.names.get(value, value) if isinstance(value, str) else value


def spec_of(name: str) -> RegisterSpec:
    """The register called ``name``. Raises NotFound."""
    if name not in SPECS:
        raise NotFound(f"there is no register {name!r}; the registers are: {', '.join(SPECS)}")
    return SPECS[name]


def may_write(user: User, spec: RegisterSpec) -> bool:
    return user.active and spec.editable and bool(user.roles & spec.writers)


def require_writer(user: User, spec: RegisterSpec) -> None:
    """Raise Forbidden unless ``user`` may change ``spec``'s rows, naming who may."""
    access.require_register_reader(user)
    if spec.flow is not None:
        raise Forbidden(f"{spec.label} change only through the flow “{spec.flow.name}”")
    if not may_write(user, spec):
        from engine.aims.roles import ROLES

        who = " or ".join(ROLES.get(r, r) for r in sorted(spec.writers))
        raise Forbidden(f"only the {who} may change {spec.label.lower()}")


def _row(spec: RegisterSpec, row: Any) -> RegisterRow:
    title = getattr(row, spec.field(spec.title).column)
    return RegisterRow(spec.name, row.id, row.ref, str(title or ""), row.status, row.instance_id,
                       row.retired_at is not None)


def rows(session: Session, user: User, name: str, retired: bool = False, limit: int = 2000) -> list[RegisterRow]:
    """The rows of a register by reference; retired ones only when asked. Raises Forbidden, NotFound."""
    access.require_register_reader(user)
    spec = spec_of(name)
    stmt = select(spec.model)
    if not retired:
        stmt = stmt.where(spec.model.retired_at.is_(None))
    found = list(session.scalars(stmt.order_by(spec.model.ref).limit(limit)))
    names = _process_names(session, {r.instance_id for r in found if r.instance_id is not None})
    return [replace(_row(spec, r), process=names.get(r.instance_id)) for r in found]


def _process_names(session: Session, instance_ids: set[int]) -> dict[int, str]:
    """Instance id -> the name of its process ("Evidence review"), in one query."""
    if not instance_ids:
        return {}
    return {i: name for i, name in session.execute(
        select(ProcessInstance.id, ProcessVersion.name)
        .join(ProcessVersion, ProcessInstance.process_version_id == ProcessVersion.id)
        .where(ProcessInstance.id.in_(instance_ids)))}


def _find(session: Session, spec: RegisterSpec, ref: str) -> Any:
    row = session.scalar(select(spec.model).where(spec.model.ref == ref))
    if row is None:
        raise NotFound(f"there is no {spec.noun} {ref}")
    return row


def record(session: Session, user: User, name: str, ref: str) -> Record:
    """One row with its values and history. Raises Forbidden, NotFound."""
    access.require_register_reader(user)
    spec = spec_of(name)
    row = _find(session, spec, ref)
    history = list(session.scalars(select(AuditEvent).where(AuditEvent.subject == ref).order_by(AuditEvent.seq)))
    names = directory.names_by_email(session, _people_in(history))
    instances = {e.instance_id for e in history if e.instance_id is not None}
    steps = ({spec_id: step for spec_id, step in session.execute(
        select(HumanTask.task_spec, HumanTask.name).where(HumanTask.instance_id.in_(instances)))}
        if instances else {})
    return Record(spec, _row(spec, row), plain_values(session, spec, row), row.row_version, row.retired_at,
                  row.updated_at, session.get(User, row.updated_by_id) if row.updated_by_id else None,
                  history, may_write(user, spec), names, described(session, history, steps, ref))


def _people_in(history: list[AuditEvent]) -> set[str]:
    """Who acted in ``history`` and the values its changes name (an e-mail among them is a person)."""
    found = {e.actor for e in history if e.actor}
    for e in history:
        changes = e.data.get("changes") if isinstance(e.data, dict) else None
        for change in changes.values() if isinstance(changes, dict) else ():
            if isinstance(change, dict):
                found |= {v for v in (change.get("before"), change.get("after")) if isinstance(v, str)}
    return found


def defaults(spec: RegisterSpec) -> dict[str, Any]:
    """The values a new row starts with: the register's initial status and the columns' defaults."""
    out: dict[str, Any] = {}
    table = spec.model.__table__
    for f in spec.fields:
        column = table.c.get(f.column)
        default = column.default.arg if column is not None and column.default is not None else None
        if f.key == "status":
            out[f.key] = spec.initial_status
        elif f.kind in ("user", "ref"):
            out[f.key] = None
        elif callable(default):
            out[f.key] = [] if f.many else None
        else:
            out[f.key] = default if default is not None or not f.many else []
    return out


def rules(spec: RegisterSpec) -> list[tuple[Field, str]]:
    """Every column of the register with its rule in words (the import template and page)."""
    ref_rule = ("optional; a new row without one gets the next " + f"{spec.prefix}-..." if spec.prefix
                else "required; a short code (letters, digits, . _ -)")
    return [(REF_FIELD, ref_rule + "; rows are matched by it")] + [
        (f, rule(f, SPECS[f.target].label if f.target else "")) for f in spec.fields]


# --------------------------------------------------------------------------- checking values

@dataclass
class Checked:
    """Values checked against the register: the plain values after the change, the changes by key
    (before, after) and the stored values to write, by attribute."""

    values: dict[str, Any]
    changes: dict[str, tuple[Any, Any]]
    stored: dict[str, Any]


def check(session: Session, spec: RegisterSpec, given: dict[str, Any],
          current: dict[str, Any] | None, today: date | None = None) -> tuple[Checked, list[FieldError]]:
    """Check ``given`` (plain values or text, by field key or label; only the keys given change) against
    ``current`` (None: a new row); a ``past_only`` date given after ``today`` (the unit's clock; None:
    not checked) is a problem. Returns what would change and every problem, by field."""
    errors: list[FieldError] = []
    by_name = {f.key: f for f in spec.fields} | {f.label.lower(): f for f in spec.fields}
    editable: dict[str, Any] = {}
    base = dict(current) if current is not None else defaults(spec)
    for name, value in given.items():
        f = by_name.get(name) or by_name.get(str(name).lower())
        if f is None:
            known = ", ".join(x.label for x in spec.fields)
            errors.append(FieldError(str(name), f"{name!r} is not a field of {spec.label.lower()}; "
                                                f"the fields are: {known}"))
        elif f.editable and spec.editable:
            editable[f.key] = value
        elif current is not None and _differs(f, current.get(f.key), value):
            owner = f"the flow “{spec.flow.name}”" if spec.flow else "the flows"
            errors.append(FieldError(f.key, f"{f.label}: is set by {owner} and cannot be changed here"))
    try:
        loaded = schema_for(list(spec.fields)).load(editable, partial=True, unknown=ma.EXCLUDE)
    except ma.ValidationError as exc:
        loaded = {k: v for k, v in exc.valid_data.items()} if isinstance(exc.valid_data, dict) else {}
        for key, messages in exc.normalized_messages().items():
            text = messages[0] if isinstance(messages, list) else str(messages)
            errors.append(FieldError(key, f"{spec.field(key).label}: {text}"))
    merged = base | loaded
    for f in spec.editable_fields():
        day = loaded.get(f.key)
        if f.past_only and today is not None and isinstance(day, date) and day > today:
            errors.append(FieldError(f.key, f"{f.label}: cannot be in the future ({day.isoformat()} is after "
                                            f"today, {today.isoformat()})"))
    failed = {e.path for e in errors}
    for f in spec.editable_fields():
        if f.required and f.key not in failed and merged.get(f.key) in (None, "", []):
            errors.append(FieldError(f.key, f"{f.label}: is required"))
    changes: dict[str, tuple[Any, Any]] = {}
    stored: dict[str, Any] = {}
    for f in spec.editable_fields():
        before, after = (current or {}).get(f.key), merged.get(f.key)
        if (current is not None and same(f, before, after)) or f.key in failed:
            continue
        try:
            stored[f.column] = _empty(spec, f) if after in (None, "", []) else stored_value(session, f, after)
        except ValueError as exc:
            errors.append(FieldError(f.key, f"{f.label}: {exc}"))
            continue
        if current is not None or after not in (None, "", []):
            changes[f.key] = (before, after)
    return Checked(merged, changes, stored), errors


def _differs(f: Field, current: Any, given: Any) -> bool:
    from engine.aims.register_fields import KINDS

    try:
        parsed = KINDS[f.kind][0](f).parse(given)
    except ma.ValidationError:
        return True
    return not same(f, current, parsed)


def _empty(spec: RegisterSpec, f: Field) -> Any:
    """What an emptied field stores: None where the column allows it, else ``""``."""
    column = spec.model.__table__.c[f.column]
    if f.many:
        return []
    return None if column.nullable else ""


def audit_changes(spec: RegisterSpec, changes: dict[str, tuple[Any, Any]]) -> dict[str, Any]:
    """The changes as the audit trail keeps them: by field key, its label and the values before and after
    as people read them (choice labels, yes/no, lists joined)."""
    return {k: {"label": spec.field(k).label, "before": _shown(spec.field(k), b), "after": _shown(spec.field(k), a)}
            for k, (b, a) in changes.items()}


def _shown(f: Field, value: Any) -> str:
    if f.zero is not None and value == 0 and not isinstance(value, bool):
        return f.zero
    if f.kind == "choice" and value:
        return f.choice_label(value)
    if f.kind == "choices":
        return ", ".join(f.choice_label(v) for v in value or [])
    if f.kind == "lines" and isinstance(value, list):  # controls with their titles
        return LIST_SEPARATOR.join(catalogue.control_label(str(v)) for v in value)
    if f.kind == "text" and isinstance(value, str):
        return duration_words(value) if is_duration(value) else catalogue.control_label(value)
    return to_text(f, value)


def check_ref(spec: RegisterSpec, ref: str | None) -> FieldError | None:
    if not ref:
        return None if spec.prefix else FieldError("ref", "Reference: is required (a short code)")
    if not REF_PATTERN.match(ref):
        return FieldError("ref", f"Reference: {ref!r} must be letters, digits, dots, dashes or underscores, "
                                 f"at most 40, starting with a letter or digit")
    return None


# --------------------------------------------------------------------------- changing rows

def insert_row(ctx: Context, user: User, spec: RegisterSpec, ref: str | None, checked: Checked,
            source: str) -> Any:
    now = ctx.clock.now()
    if ref and spec.prefix and (m := re.fullmatch(rf"{re.escape(spec.prefix)}-(\d+)", ref)):
        refs.ensure_at_least(ctx.session, spec.prefix, int(m.group(1)))
    while not ref or ctx.session.scalar(select(spec.model.id).where(spec.model.ref == ref)) is not None:
        ref = refs.next_ref(ctx.session, spec.prefix or "REF", spec.ref_width)  # skips refs typed by hand
    row = spec.model(ref=ref, status=spec.initial_status, created_at=now, updated_at=now, created_by_id=user.id,
                     updated_by_id=user.id, row_version=1, iso_refs=list(spec.iso_refs))
    for column, value in checked.stored.items():
        setattr(row, column, value)
    ctx.session.add(row)
    ctx.session.flush()
    audit_trail.append(ctx.session, ctx.clock, "register_created", actor=user, subject=ref,
                       data={"register": spec.name, "source": source,
                             "changes": audit_changes(spec, checked.changes)})
    return row


def create(ctx: Context, user: User, name: str, values: dict[str, Any], source: str = "web") -> RegisterRow:
    """Add a row (``values`` by field key; ``ref`` optional where the register numbers its rows).
    Raises Forbidden, NotFound, ValidationError (every problem by field), ConflictError (the reference
    is taken)."""
    spec = spec_of(name)
    require_writer(user, spec)
    values = dict(values)
    ref = str(values.pop("ref", "") or "").strip() or None
    checked, errors = check(ctx.session, spec, values, None, ctx.clock.now().date())
    ref_error = check_ref(spec, ref)
    if ref_error:
        errors.insert(0, ref_error)
    if errors:
        raise ValidationError(f"the {spec.noun} was not added", errors)
    if ref and ctx.session.scalar(select(spec.model.id).where(spec.model.ref == ref)) is not None:
        raise ConflictError(f"there is already a {spec.noun} {ref}; pick another reference")
    return _row(spec, insert_row(ctx, user, spec, ref, checked, source))


def changed_since(ctx: Context, spec: RegisterSpec, row: Any, seen: int) -> ConflictError:
    ctx.session.refresh(row)
    who = ctx.session.get(User, row.updated_by_id) if row.updated_by_id else None
    when = isoformat(row.updated_at)[:16].replace("T", " ") + " UTC" if row.updated_at else "meanwhile"
    return ConflictError(f"{spec.noun} {row.ref} was changed by {who.name if who else 'someone'} at {when} since "
                         f"you opened it (version {row.row_version}, you had {seen}); reload it and try again")


def guarded_update(ctx: Context, user: User, spec: RegisterSpec, row: Any, seen: int | None,
                    values: dict[str, Any]) -> None:
    """Write ``values`` (by attribute) if the row is still at version ``seen`` (None: the version just read).
    Raises ConflictError and writes nothing otherwise."""
    expected = row.row_version if seen is None else seen
    result = ctx.session.execute(
        update(spec.model).where(spec.model.id == row.id, spec.model.row_version == expected)
        .values(**values, row_version=expected + 1, updated_at=ctx.clock.now(), updated_by_id=user.id)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise changed_since(ctx, spec, row, expected)
    ctx.session.expire(row)


def edit(ctx: Context, user: User, name: str, ref: str, values: dict[str, Any], seen: int | None,
         source: str = "web") -> tuple[RegisterRow, dict[str, tuple[Any, Any]]]:
    """Change the fields given in ``values``. Returns the row and what changed (nothing changed: no write,
    no audit). Raises Forbidden, NotFound, ValidationError, ConflictError (changed since version ``seen``,
    or retired)."""
    spec = spec_of(name)
    require_writer(user, spec)
    row = _find(ctx.session, spec, ref)
    values = {k: v for k, v in values.items() if k != "ref"}
    checked, errors = check(ctx.session, spec, values, plain_values(ctx.session, spec, row),
                            ctx.clock.now().date())
    if errors:
        raise ValidationError(f"{spec.noun} {ref} was not changed", errors)
    if seen is not None and row.row_version != seen:
        raise changed_since(ctx, spec, row, seen)
    if row.retired_at is not None:
        raise ConflictError(f"{spec.noun} {ref} is retired; restore it before changing it")
    if not checked.changes:
        return _row(spec, row), {}
    guarded_update(ctx, user, spec, row, seen, checked.stored)
    audit_trail.append(ctx.session, ctx.clock, "register_changed", actor=user, subject=ref,
                       data={"register": spec.name, "source": source, "changes": audit_changes(spec, checked.changes)})
    return _row(spec, row), checked.changes


def retire(ctx: Context, user: User, name: str, ref: str, reason: str, seen: int | None,
           restore: bool = False, source: str = "web") -> RegisterRow:
    """Retire a row (it stays, hidden from lists unless asked) or bring it back. A reason is required.
    Raises Forbidden, NotFound, ValidationError, ConflictError."""
    spec = spec_of(name)
    require_writer(user, spec)
    row = _find(ctx.session, spec, ref)
    reason = (reason or "").strip()
    if not reason or len(reason) > 1000:
        raise ValidationError("give a reason", [FieldError("reason", "Reason: is required (at most 1000 characters)")])
    if seen is not None and row.row_version != seen:
        raise changed_since(ctx, spec, row, seen)
    if (row.retired_at is None) == restore:
        raise ConflictError(f"{spec.noun} {ref} is {'not' if restore else 'already'} retired")
    guarded_update(ctx, user, spec, row, seen, {"retired_at": None if restore else ctx.clock.now()})
    audit_trail.append(ctx.session, ctx.clock, "register_restored" if restore else "register_retired", actor=user,
                       subject=ref, data={"register": spec.name, "source": source, "reason": reason})
    return _row(spec, row)


def display(spec: RegisterSpec, values: dict[str, Any], session: Session | None = None) -> list[tuple[Field, str]]:
    """The values as a page shows them: people by name and references with their rows' titles (given a
    session to look them up), choice labels, yes/no, durations in words, lists joined."""
    people = [values.get(f.key) for f in spec.fields if f.kind == "user"]
    names = directory.names_by_email(session, people) if session is not None else {}
    return [(f, _titled(session, f, values.get(f.key)) if session is not None and f.kind in ("ref", "refs")
             else in_words(f, values.get(f.key), names)) for f in spec.fields]


def _titled(session: Session, f: Field, value: Any) -> str:
    """References with their rows' titles: "RSK-003 — Scoring drift" (a reference no row has: as it is)."""
    target = SPECS[f.target or ""]
    wanted = [str(v) for v in (value if isinstance(value, list) else [value]) if v]
    if not wanted:
        return ""
    title = target.field(target.title)
    titles = {ref: to_text(title, target.title_words(t)) for ref, t in session.execute(
        select(target.model.ref, getattr(target.model, title.column)).where(target.model.ref.in_(wanted)))}
    return LIST_SEPARATOR.join(f"{ref} — {titles[ref]}" if titles.get(ref) else ref for ref in wanted)


def in_words(f: Field, value: Any, names: dict[str, str]) -> str:
    """A plain value of field ``f`` as pages show it: a person by name (``names``, by normalised e-mail,
    from ``directory.names_by_email``; an address no user has as typed), a choice by its label, controls
    with their titles, yes/no, durations in words, lists joined."""
    if f.kind == "user" and isinstance(value, str):
        return names.get(directory.normalise_email(value), value)
    return _shown(f, value)


def plain(session: Session, spec: RegisterSpec, row: Any) -> dict[str, Any]:
    return plain_values(session, spec, row)


__all__ = ["REF_FIELD", "Checked", "Record", "RegisterRow", "audit_changes", "changed_since", "check", "choices_for",
           "create", "defaults", "display", "edit", "guarded_update", "in_words", "insert_row", "may_write", "plain",
           "plain_value", "record", "require_writer", "retire", "rows", "rules", "spec_of"]


def person_label(user: User) -> str:
    """A person as a picker offers them: "Name — their roles in words" ("Priya Raman — AIMS owner")."""
    from engine.aims.roles import ROLES

    held = sorted(ROLES[r] for r in user.roles if r in ROLES)
    name = user.name or user.email
    return f"{name} — {', '.join(held)}" if held else name


def choices_for(session: Session, spec: RegisterSpec) -> dict[str, list[tuple[str, str]]]:
    """The options of the fields that pick a person or a row, by field key: (value, text)."""
    out: dict[str, list[tuple[str, str]]] = {}
    people = None
    for f in spec.editable_fields():
        if f.kind == "user":
            if people is None:
                people = [(u.email, person_label(u)) for u in
                          session.scalars(select(User).where(User.active.is_(True)).order_by(User.name))]
            out[f.key] = people
        elif f.kind in ("ref", "refs") and f.target:
            target = SPECS[f.target]
            title = target.field(target.title).column
            out[f.key] = [(r.ref, f"{r.ref} {getattr(r, title) or ''}".strip()) for r in session.scalars(
                select(target.model).where(target.model.retired_at.is_(None)).order_by(target.model.ref))]
        else:
            out[f.key] = list(f.choices)
    return out
