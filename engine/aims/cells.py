"""Spreadsheet cells an auditor can open safely: the one place CSV and XLSX exports neutralise formulas.

A text cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by Excel,
LibreOffice and Sheets as a formula (CSV injection, OWASP). A risk title typed as
``=HYPERLINK("http://evil.example","x")`` would become a live link on the auditor's machine. Following
OWASP's advice such text is prefixed with a single quote; in an XLSX the value is also written as a
string cell (``data_type 's'``), so openpyxl never stores it as a formula. Numbers, dates and booleans
are left alone: only text a person typed can carry a formula.
"""

from __future__ import annotations

from typing import Any

#: what a spreadsheet reads as the start of a formula
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """``value`` with a leading ``'`` when it is text beginning with a formula prefix; anything else as is."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def write(ws: Any, row: int, column: int, value: Any) -> Any:
    """Set one worksheet cell to ``value``, text always as a string cell. Returns the cell."""
    cell = ws.cell(row=row, column=column)
    cell.value = neutralise(value)
    if isinstance(cell.value, str):
        cell.data_type = "s"
    return cell



def write_rows(ws: Any, rows: list[list[Any]], first_row: int = 1) -> None:
    """Write ``rows`` from ``first_row`` down, each cell through :func:`write`."""
    for index, values in enumerate(rows, start=first_row):
        for column, value in enumerate(values, start=1):
            write(ws, index, column, value)
