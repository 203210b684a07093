"""A register as a table of cells: the header (the reference, the field labels, "Retired on") and one
row per record (retired ones too) with what people see: e-mail addresses, references, dates. The
exports, ``aimsflow export``, the register downloads and the audit pack all write registers through
these, as CSV (UTF-8 with a byte-order mark, so a spreadsheet reads the accents) or XLSX.

Cells are written through ``engine.aims.cells``: a text that begins like a formula is neutralised.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.aims import cells
from engine.aims.register_fields import Field, to_text
from engine.aims.register_specs import RegisterSpec, plain_values

#: the reference column, first in every table
REF_FIELD = Field("ref", "Reference", max_length=40)
RETIRED = "Retired on"
FORMATS = ("csv", "xlsx")
#: one sheet: its title, its header, its rows
Sheet = tuple[str, list[str], list[list[Any]]]


def header(spec: RegisterSpec) -> list[str]:
    return [REF_FIELD.label, *(f.label for f in spec.fields), RETIRED]


def _cell(f: Field, value: Any) -> Any:
    if f.kind in ("number", "integer") and value is not None:
        return value
    return to_text(f, value)


def table(session: Session, spec: RegisterSpec) -> tuple[list[str], list[list[Any]]]:
    """The header and the rows (retired ones too, by reference) of the register ``spec``."""
    rows = []
    for row in session.scalars(select(spec.model).order_by(spec.model.ref)):
        values = plain_values(session, spec, row)
        retired = row.retired_at.date().isoformat() if row.retired_at else ""
        rows.append([row.ref, *(_cell(f, values[f.key]) for f in spec.fields), retired])
    return header(spec), rows


def to_csv(head: list[str], rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for values in [head, *rows]:
        writer.writerow(["" if v is None else cells.neutralise(v) for v in values])
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(sheets: list[Sheet]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    book.remove(book.active)
    for title, head, rows in sheets:
        sheet = book.create_sheet(title[:31])
        cells.write_rows(sheet, [head, *rows])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        sheet.freeze_panes = "A2"
        for index, _ in enumerate(head, start=1):
            sheet.column_dimensions[sheet.cell(1, index).column_letter].width = 24
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def as_file(session: Session, spec: RegisterSpec, fmt: str) -> tuple[bytes, int]:
    """The register as ``fmt`` (csv or xlsx) and its number of rows."""
    head, rows = table(session, spec)
    return (to_csv(head, rows) if fmt == "csv" else to_xlsx([(spec.label, head, rows)])), len(rows)
