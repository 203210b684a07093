"""The Statement of Applicability as documents: an XLSX workbook (openpyxl) and a PDF (fpdf2).

Both are built from a :class:`engine.aims.soa.Statement`, so they show exactly what the registers say;
the workbook counts and lists, and the PDF lists, the register records that implement or evidence each
control (``engine.aims.control_records``) when they are given them. Output is deterministic for a given statement
(document dates are the statement's computation time).
"""

from __future__ import annotations

import io
from datetime import date, datetime
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from engine.aims import cells
from engine.aims.control_records import Linked, summary
from engine.aims.soa import GAP_TEXT, Row, Statement, canonical_sha256
from engine.core.clock import isoformat

FORMATS = ("xlsx", "pdf")

#: (header, width in characters, value of a row)
COLUMNS: tuple[tuple[str, int, Any], ...] = (
    ("Control", 10, lambda r: r.control_id),
    ("Title", 36, lambda r: r.title),
    ("Objective group", 30, lambda r: r.objective_group),
    ("Applicable", 11, lambda r: "yes" if r.applicable else "no"),
    ("Justification", 50, lambda r: r.justification),
    ("Exclusion basis", 22, lambda r: r.exclusion_basis or ""),
    ("Status", 15, lambda r: r.status),
    ("Implementation", 40, lambda r: r.implementation_description or ""),
    ("Owner", 30, lambda r: r.owner or ""),
    ("Systems", 14, lambda r: "all" if r.system_scope == "all_systems" else ", ".join(r.systems)),
    ("Linked risks", 18, lambda r: ", ".join(r.linked_risks)),
    ("Evidence (validity)", 45, lambda r: evidence_text(r)),
    ("Last review", 12, lambda r: _day(r.last_reviewed)),
    ("Effectiveness", 16, lambda r: r.effectiveness),
    ("Target date", 12, lambda r: _day(r.target_date)),
    ("Gaps", 10, lambda r: ", ".join(r.gaps)),
)


def _day(value: date | None) -> str:
    return value.isoformat() if value else ""


def evidence_text(row: Row) -> str:
    """``EVD-001 accepted until 2026-11-16; EVD-018 submitted`` (what the auditor reads)."""
    parts = []
    for e in row.evidence:
        until = f" until {e.valid_until.isoformat()}" if e.valid_until else ""
        parts.append(f"{e.ref} {e.status}{until}")
    return "; ".join(parts)


def headline(statement: Statement) -> str:
    if statement.version_ref is None:
        return "no SoA version yet: computed from the registers"
    text = f"{statement.version_ref} version {statement.version} ({statement.version_status})"
    if statement.approved_at is not None:
        text += f", approved {statement.approved_at:%Y-%m-%d} by {statement.approved_by or 'unknown'}"
    return text


def approval_text(statement: Statement) -> str:
    """The approval block: who approved which version when, or that the version is not approved yet."""
    if statement.version_ref is None:
        return "Approval: none - no SoA version has been generated yet"
    if statement.approved_at is not None:
        approver = statement.approved_by_name or statement.approved_by or "unknown"
        return (f"Approval: version {statement.version} ({statement.version_ref}) approved on "
                f"{statement.approved_at:%Y-%m-%d} by {approver}")
    return (f"Approval: not approved yet - working version {statement.version} ({statement.version_ref}), "
            f"{(statement.version_status or '').replace('_', ' ')}")


def export(statement: Statement, fmt: str, records: dict[str, list[Linked]] | None = None) -> bytes:
    """The statement as ``fmt`` (``xlsx`` or ``pdf``); ``records`` (control id -> its register records)
    go into the workbook and the report. Raises ValueError for another format."""
    if fmt == "xlsx":
        return soa_xlsx(statement, records)
    if fmt == "pdf":
        return soa_pdf(statement, records)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


# --------------------------------------------------------------------------- XLSX

HEADER_ROW = 5


RECORDS_HEADER = "Register records"


def soa_xlsx(statement: Statement, records: dict[str, list[Linked]] | None = None) -> bytes:
    """Sheets: ``SoA`` (a header block, then one row per control from row ``HEADER_ROW + 1``), ``Gaps``
    and ``Summary`` (controls by status). With ``records``, the SoA sheet has a last column counting each
    control's register records by register and a ``Register records`` sheet lists them."""
    wb = Workbook()
    wb.properties.creator = "aimsflow"
    wb.properties.title = f"Statement of Applicability - {statement.organisation}"
    wb.properties.created = wb.properties.modified = statement.computed_at.replace(tzinfo=None)
    ws = wb.active
    assert ws is not None
    ws.title = "SoA"
    cells.write(ws, 1, 1, f"Statement of Applicability - {statement.organisation}").font = Font(bold=True, size=14)
    cells.write(ws, 2, 1, headline(statement))
    cells.write(ws, 3, 1, f"Computed from the registers at {isoformat(statement.computed_at)} (ISO/IEC 42001 6.1.3 d)")
    cells.write(ws, 4, 1, approval_text(statement)).font = Font(bold=True)
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDE6F0")
    for col, (header, width, _) in enumerate(COLUMNS, start=1):
        cell = cells.write(ws, HEADER_ROW, col, header)
        cell.font, cell.fill = bold, fill
        ws.column_dimensions[get_column_letter(col)].width = width
    wrap = Alignment(wrap_text=True, vertical="top")
    for index, row in enumerate(statement.rows, start=HEADER_ROW + 1):
        for col, (_, _, value) in enumerate(COLUMNS, start=1):
            cells.write(ws, index, col, value(row)).alignment = wrap
    last = len(COLUMNS)
    if records is not None:
        last += 1
        cell = cells.write(ws, HEADER_ROW, last, RECORDS_HEADER)
        cell.font, cell.fill = bold, fill
        ws.column_dimensions[get_column_letter(last)].width = 36
        for index, row in enumerate(statement.rows, start=HEADER_ROW + 1):
            cells.write(ws, index, last, summary(records.get(row.control_id, []))).alignment = wrap
    ws.freeze_panes = ws.cell(row=HEADER_ROW + 1, column=2)
    ws.auto_filter.ref = f"A{HEADER_ROW}:{get_column_letter(last)}{HEADER_ROW + len(statement.rows)}"

    gaps = wb.create_sheet("Gaps")
    cells.write_rows(gaps, [["Gap", "Meaning", "Control", "Risk", "Blocks approval", "Detail", "Risk title"]]
                     + [[g.code, GAP_TEXT[g.code], g.control_id or "", g.risk_ref or "", "yes" if g.hard else "no",
                         g.detail, g.risk_title or ""] for g in statement.gaps])
    for letter, width in zip("ABCDEFG", (6, 45, 10, 10, 15, 80, 40), strict=True):
        gaps.column_dimensions[letter].width = width
        gaps[f"{letter}1"].font = bold

    counts = wb.create_sheet("Summary")
    cells.write_rows(counts, [["Status", "Controls"], *([s, n] for s, n in statement.counts().items()),
                              ["total", len(statement.rows)], ["blocking gaps", len(statement.hard_gaps)]])
    counts["A1"].font = counts["B1"].font = bold
    counts.column_dimensions["A"].width = 20

    if records is not None:
        listed = wb.create_sheet(RECORDS_HEADER)
        cells.write_rows(listed, [["Control", "Register", "Reference", "Title", "Status"]] + [
            [row.control_id, linked.label, rec.ref, rec.title, rec.status.replace("_", " ")]
            for row in statement.rows for linked in records.get(row.control_id, []) for rec in linked.records])
        for letter, width in zip("ABCDE", (10, 26, 22, 60, 18), strict=True):
            listed.column_dimensions[letter].width = width
            listed[f"{letter}1"].font = bold

    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# --------------------------------------------------------------------------- PDF

#: (header, width in mm, value of a row): landscape A4 leaves 277 mm
PDF_COLUMNS: tuple[tuple[str, float, Any], ...] = (
    ("Control", 16, lambda r: r.control_id),
    ("Title", 34, lambda r: r.title),
    ("Appl.", 10, lambda r: "yes" if r.applicable else "no"),
    ("Status", 22, lambda r: r.status),
    ("Owner", 28, lambda r: r.owner_name or r.owner or "-"),
    ("Justification / exclusion basis", 52,
     lambda r: r.justification + (f" [{r.exclusion_basis}]" if r.exclusion_basis else "")),
    ("Implementation", 41, lambda r: r.implementation_description or "-"),
    ("Linked risks", 18, lambda r: ", ".join(r.linked_risks) or "-"),
    ("Evidence (validity)", 40, lambda r: evidence_text(r) or "-"),
    ("Last review", 16, lambda r: _day(r.last_reviewed) or "-"),
)

_LATIN1 = str.maketrans({"\u2014": "-", "\u2013": "-", "\u2018": "'", "\u2019": "'", "\u201c": '"',
                         "\u201d": '"', "\u2265": ">=", "\u2264": "<=", "\u2192": "->", "\u2026": "...",
                         "\u00a0": " ", "\u2022": "-"})


def pdf_text(value: Any) -> str:
    """Text the PDF core fonts can draw (Latin-1); anything else becomes ``?``."""
    text = "" if value is None else str(value)
    return text.translate(_LATIN1).encode("latin-1", "replace").decode("latin-1")


class _SoaPdf(FPDF):
    def __init__(self, statement: Statement):
        super().__init__(orientation="L", unit="mm", format="A4")
        self.statement = statement

    def footer(self) -> None:
        self.set_y(-10)
        self.set_font("Helvetica", size=7)
        self.cell(0, 5, pdf_text(f"{self.statement.organisation} - Statement of Applicability - "
                                 f"{headline(self.statement)} - page {self.page_no()}/{{nb}}"), align="C")


def soa_pdf(statement: Statement, records: dict[str, list[Linked]] | None = None) -> bytes:
    """A landscape A4 report: heading, controls by status, one table row per control, then the gaps; with
    ``records``, then the register records that implement or evidence each control (``RECORDS_HEADER``),
    one paragraph per control, its records by register."""
    pdf = _SoaPdf(statement)
    pdf.set_creation_date(statement.computed_at.replace(tzinfo=None) if isinstance(statement.computed_at, datetime)
                          else statement.computed_at)
    pdf.set_title(pdf_text(f"Statement of Applicability - {statement.organisation}"))
    pdf.set_author("aimsflow")
    pdf.set_auto_page_break(auto=True, margin=14)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 8, pdf_text(f"Statement of Applicability - {statement.organisation}"),
             new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "B", 9)
    pdf.cell(0, 5, pdf_text(approval_text(statement)), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=9)
    pdf.cell(0, 5, pdf_text(headline(statement)), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.cell(0, 5, pdf_text(f"Computed from the registers at {isoformat(statement.computed_at)}; "
                            f"sha256 {canonical_sha256(statement.to_dict())}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    counts = ", ".join(f"{status} {n}" for status, n in statement.counts().items())
    pdf.cell(0, 5, pdf_text(f"Controls by status: {counts}; blocking gaps {len(statement.hard_gaps)}"),
             new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    pdf.set_font("Helvetica", size=7)
    with pdf.table(col_widths=tuple(w for _, w, _ in PDF_COLUMNS), text_align="LEFT", line_height=3.4,
                   first_row_as_headings=True) as table:
        header = table.row()
        for title, _, _ in PDF_COLUMNS:
            header.cell(title)
        for row in statement.rows:
            line = table.row()
            for _, _, value in PDF_COLUMNS:
                line.cell(pdf_text(value(row)))
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(0, 6, "Gaps", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=8)
    if not statement.gaps:
        pdf.cell(0, 5, "none", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    for gap in statement.gaps:
        pdf.multi_cell(0, 4, pdf_text(f"{gap.code} ({'blocking' if gap.hard else 'warning'}): {gap.detail}"),
                       new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if records is not None:
        _pdf_records(pdf, statement, records)
    return bytes(pdf.output())


def _pdf_records(pdf: FPDF, statement: Statement, records: dict[str, list[Linked]]) -> None:
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(0, 6, f"{RECORDS_HEADER} that implement or evidence each control", new_x=XPos.LMARGIN,
             new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=8)
    listed = [(row, [x for x in records.get(row.control_id, []) if x.records]) for row in statement.rows]
    listed = [(row, linked) for row, linked in listed if linked]
    if not listed:
        pdf.cell(0, 5, "no control has register records yet", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    for row, linked in listed:
        text = "; ".join(f"{x.label}: " + ", ".join(f"{r.ref} {r.title} ({r.status.replace('_', ' ')})"
                                                     for r in x.records) for x in linked)
        pdf.multi_cell(0, 4, pdf_text(f"{row.control_id} {row.title} - {text}"),
                       new_x=XPos.LMARGIN, new_y=YPos.NEXT)
