"""Registers in and out of spreadsheets: export (CSV or XLSX, one register or all of them in a zip), the
import template, and import (plan, then apply).

Columns are the register's field labels (an import also takes the field keys), plus the reference and
"Retired on". Cells are written through ``engine.aims.cells`` (a text that begins like a formula is
prefixed with ``'``, and read back without it): a ``=HYPERLINK(...)`` typed into a register stays text.

An import is all or nothing: ``plan`` checks every row (each problem named by row and column) and says
what each row would do (added, changed with the values before and after, unchanged); rows are matched by
reference, so importing an export changes nothing. ``apply`` plans again in the caller's transaction and
writes only when there is no problem, and, when the versions the preview saw are given, only when no
row changed since (ConflictError otherwise).
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.aims import cells, register_tables
from engine.aims.register_fields import to_text
from engine.aims.register_specs import SPECS, RegisterSpec, plain_values
from engine.aims.register_tables import FORMATS, RETIRED, to_csv, to_xlsx
from engine.app import access
from engine.app.register_edit import (
    REF_FIELD,
    audit_changes,
    changed_since,
    check,
    check_ref,
    guarded_update,
    in_words,
    insert_row,
    require_writer,
    rules,
    spec_of,
)
from engine.core import audit_trail, directory
from engine.core.clock import Clock
from engine.core.errors import ConflictError, FieldError, InvalidInput, ValidationError
from engine.core.models import User
from engine.core.runtime import Context

MAX_ROWS = 20000


# --------------------------------------------------------------------------- export

def export(session: Session, user: User, name: str, fmt: str) -> bytes:
    """One register as CSV or XLSX. Raises Forbidden, NotFound, InvalidInput (unknown format)."""
    if fmt not in FORMATS:
        raise InvalidInput(f"the format must be csv or xlsx, not {fmt!r}")
    access.require_register_reader(user)
    return register_tables.as_file(session, spec_of(name), fmt)[0]


def export_all(session: Session, user: User, fmt: str) -> tuple[bytes, dict[str, int]]:
    """Every register in one zip (``NAME.csv`` or ``NAME.xlsx`` each). Returns the zip and the rows per
    register."""
    access.require_register_reader(user)
    out, counts = io.BytesIO(), {}
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, spec in SPECS.items():
            data, counts[name] = register_tables.as_file(session, spec, fmt)
            archive.writestr(f"{name}.{fmt}", data)
    return out.getvalue(), counts


def template(session: Session, user: User, name: str, fmt: str) -> bytes:
    """The columns to fill: CSV (the header), or XLSX (the header, and a sheet with each column's rule)."""
    access.require_register_reader(user)
    spec = spec_of(name)
    header = register_tables.header(spec)
    if fmt == "csv":
        return to_csv(header, [])
    explained = [[f.label, text] for f, text in rules(spec)] + [[RETIRED, "set on the record's page; leave as it is"]]
    return to_xlsx([(spec.label, header, []), ("Columns", ["Column", "Rule"], explained)])


# --------------------------------------------------------------------------- reading a file

def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.date().isoformat() if (value.hour, value.minute, value.second) == (0, 0, 0) else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    if text.startswith("'") and text[1:].startswith(cells.FORMULA_PREFIXES):
        text = text[1:]  # our export's neutralising quote
    return text


def read_table(filename: str, data: bytes) -> list[list[str]]:
    """The cells of a CSV or XLSX file as text, first row first. Raises InvalidInput in words."""
    lower = filename.lower()
    if lower.endswith(".xlsx"):
        from openpyxl import load_workbook

        try:
            book = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
        except Exception:  # noqa: BLE001 - any unreadable workbook is the same answer to the user
            raise InvalidInput(f"{filename} is not an Excel workbook (.xlsx) that can be read") from None
        sheet = book.worksheets[0]
        rows = [[_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        book.close()
        return rows
    if lower.endswith(".csv") or lower.endswith(".txt"):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidInput(f"{filename} is not UTF-8 text; save it as “CSV UTF-8”") from None
        try:
            dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        return [[_text(v) for v in row] for row in csv.reader(io.StringIO(text), dialect)]
    raise InvalidInput(f"{filename}: send a .csv or .xlsx file")


# --------------------------------------------------------------------------- planning an import

@dataclass
class PlannedRow:
    number: int
    ref: str | None
    action: str  # added, changed, unchanged
    #: label -> (before, after) as text
    changes: dict[str, tuple[str, str]] = field(default_factory=dict)
    version: int = 0
    given: dict[str, str] = field(default_factory=dict)
    #: label -> (before, after) as the preview page shows them: people by name, choices by their labels
    shown: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: field key -> (before, after) as plain values
    plain: dict[str, tuple[Any, Any]] = field(default_factory=dict, repr=False)


@dataclass
class Plan:
    spec: RegisterSpec
    rows: list[PlannedRow] = field(default_factory=list)
    problems: list[FieldError] = field(default_factory=list)
    sha256: str = ""

    def count(self, action: str) -> int:
        return sum(1 for r in self.rows if r.action == action)

    def summary(self) -> str:
        return f"{self.count('added')} added, {self.count('changed')} changed, {self.count('unchanged')} unchanged"

    def versions(self) -> dict[str, int]:
        """What the plan saw: each matched reference and its row version (0: a new reference)."""
        return {r.ref: r.version for r in self.rows if r.ref}


def _problem(problems: list[FieldError], number: int, column: str | None, message: str) -> None:
    where = f"row {number}" + (f", column “{column}”" if column else "")
    problems.append(FieldError(f"row {number}" + (f"/{column}" if column else ""), f"{where}: {message}"))


def _columns(spec: RegisterSpec, header: list[str], problems: list[FieldError]) -> dict[int, str]:
    """Column index -> field key (``ref``, ``retired``, a field key); unknown or repeated columns are
    problems of row 1."""
    names = {REF_FIELD.label.lower(): "ref", "ref": "ref", RETIRED.lower(): "retired"}
    for f in spec.fields:
        names[f.label.lower()] = f.key
        names[f.key.lower()] = f.key
    out: dict[int, str] = {}
    for index, title in enumerate(header):
        title = title.strip()
        if not title:
            continue
        key = names.get(title.lower())
        if key is None:
            known = ", ".join(register_tables.header(spec))
            _problem(problems, 1, title, f"is not a column of {spec.label.lower()}; the columns are: {known}")
        elif key in out.values():
            _problem(problems, 1, title, "appears twice")
        else:
            out[index] = key
    if "ref" not in out.values() and not spec.prefix:
        _problem(problems, 1, None, f"the column “{REF_FIELD.label}” is missing: rows are matched by it")
    return out


def plan(session: Session, user: User, name: str, filename: str, data: bytes, *, clock: Clock) -> Plan:
    """What importing the file would do, row by row, with every problem (``clock``: the unit's, for the
    dates that cannot be in the future). Changes nothing. Raises
    Forbidden (not a writer of the register; a flow's register may be checked by any reader, but none of
    its rows may be added or changed), NotFound, InvalidInput (an unreadable file)."""
    spec = spec_of(name)
    if spec.flow is None:
        require_writer(user, spec)
    else:
        access.require_register_reader(user)
    result = Plan(spec, sha256=hashlib.sha256(data).hexdigest())
    table_rows = read_table(filename, data)
    if not table_rows:
        raise InvalidInput(f"{filename} is empty: the first row must name the columns")
    if len(table_rows) > MAX_ROWS + 1:
        raise InvalidInput(f"{filename} has {len(table_rows) - 1} rows; import at most {MAX_ROWS} at a time")
    columns = _columns(spec, table_rows[0], result.problems)
    labels = {"ref": REF_FIELD.label, "retired": RETIRED} | {f.key: f.label for f in spec.fields}
    seen_refs: dict[str, int] = {}
    for number, cells_ in enumerate(table_rows[1:], start=2):
        given = {columns[i]: v.strip() for i, v in enumerate(cells_) if i in columns}
        if not any(given.values()):
            continue
        ref = given.pop("ref", "") or None
        retired = given.pop("retired", None)
        if ref in seen_refs:
            _problem(result.problems, number, REF_FIELD.label, f"{ref} appears again (first on row {seen_refs[ref]})")
            continue
        if ref:
            seen_refs[ref] = number
        _plan_row(session, spec, result, number, ref, retired, given, labels, clock.now().date())
    _word(session, result)
    return result


def _word(session: Session, result: Plan) -> None:
    """Each row's changes as the preview shows them, the people of every row looked up in one query."""
    spec = result.spec
    people = {v for r in result.rows for k, pair in r.plain.items() if spec.field(k).kind == "user" for v in pair}
    names = directory.names_by_email(session, people)
    for r in result.rows:
        r.shown = {spec.field(k).label: (in_words(spec.field(k), b, names), in_words(spec.field(k), a, names))
                   for k, (b, a) in r.plain.items()}


def _plan_row(session: Session, spec: RegisterSpec, result: Plan, number: int, ref: str | None,
              retired: str | None, given: dict[str, str], labels: dict[str, str], today: date) -> None:
    row = session.scalar(select(spec.model).where(spec.model.ref == ref)) if ref else None
    if row is None and spec.flow is not None:
        _problem(result.problems, number, REF_FIELD.label,
                 f"there is no {spec.noun} {ref or '(blank)'}; {spec.label.lower()} are added through the flow "
                 f"“{spec.flow.name}”")
        return
    if row is None:
        ref_error = check_ref(spec, ref)
        if ref_error:
            _problem(result.problems, number, REF_FIELD.label, ref_error.message.removeprefix("Reference: "))
    was_retired = row.retired_at.date().isoformat() if row is not None and row.retired_at else ""
    if retired is not None and retired != was_retired:
        _problem(result.problems, number, RETIRED, "rows are retired and restored on their page, not by import")
    current = plain_values(session, spec, row) if row is not None else None
    checked, errors = check(session, spec, given, current, today)
    for error in errors:
        label = labels.get(error.path, error.path)
        _problem(result.problems, number, label, error.message.removeprefix(f"{label}: "))
    if errors:
        return
    changes = {spec.field(k).label: (to_text(spec.field(k), b), to_text(spec.field(k), a))
               for k, (b, a) in checked.changes.items()}
    action = "added" if row is None else ("changed" if checked.changes else "unchanged")
    result.rows.append(PlannedRow(number, ref, action, changes, row.row_version if row is not None else 0, given,
                                  plain=dict(checked.changes)))


def apply(ctx: Context, user: User, name: str, filename: str, data: bytes,
          seen: dict[str, int] | None = None, source: str = "import") -> Plan:
    """Import the file in the caller's transaction: plan it; any problem raises ValidationError (every
    problem; nothing is written); a row changed (or a reference taken) since the versions ``seen`` of the
    preview raises ConflictError. Returns the plan that was applied."""
    result = plan(ctx.session, user, name, filename, data, clock=ctx.clock)
    spec = result.spec
    if result.problems:
        raise ValidationError(f"nothing was imported: {len(result.problems)} problem"
                              f"{'s' if len(result.problems) != 1 else ''} in {filename}", result.problems)
    if seen is not None:
        now = result.versions()
        for ref in sorted(set(now) | set(seen)):
            if now.get(ref) != seen.get(ref):
                row = ctx.session.scalar(select(spec.model).where(spec.model.ref == ref))
                if row is None or seen.get(ref, 0) == 0:
                    raise ConflictError(f"{spec.noun} {ref} was added by someone else since the preview; "
                                        f"upload the file again to see what it would change now")
                raise changed_since(ctx, spec, row, seen.get(ref, 0))
    if spec.flow is None:
        _write(ctx, user, spec, result, source)
    audit_trail.append(ctx.session, ctx.clock, "register_imported", actor=user, subject=spec.name,
                       data={"register": spec.name, "file": filename, "sha256": result.sha256,
                             "added": result.count("added"), "changed": result.count("changed"),
                             "unchanged": result.count("unchanged")})
    return result


def _write(ctx: Context, user: User, spec: RegisterSpec, result: Plan, source: str) -> None:
    for planned in result.rows:
        if planned.action == "unchanged":
            continue
        row = ctx.session.scalar(select(spec.model).where(spec.model.ref == planned.ref)) if planned.ref else None
        current = plain_values(ctx.session, spec, row) if row is not None else None
        checked, errors = check(ctx.session, spec, planned.given, current, ctx.clock.now().date())
        if errors:  # planned a moment ago in this transaction: cannot differ
            raise ValidationError("nothing was imported", errors)
        if row is None:
            new = insert_row(ctx, user, spec, planned.ref, checked, source)
            planned.ref = new.ref
            continue
        guarded_update(ctx, user, spec, row, planned.version, checked.stored)
        audit_trail.append(ctx.session, ctx.clock, "register_changed", actor=user, subject=row.ref,
                           data={"register": spec.name, "source": source,
                                 "changes": audit_changes(spec, checked.changes)})
