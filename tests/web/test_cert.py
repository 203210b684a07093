"""The Statement of Applicability page and its downloads (XLSX, PDF, audit pack) and the readiness
dashboard: what they show, that downloads open and are audited, and who may use them."""

from __future__ import annotations

import html
import io
import json
import re
import zipfile
from collections.abc import Callable

import pytest
from flask import Flask
from openpyxl import load_workbook
from sqlalchemy import func, select

from engine.aims import soa
from engine.aims.exports import HEADER_ROW
from engine.app.access import CERT_ROLES
from engine.core.models import AuditEvent
from web.extensions import db

from .conftest import Browser, Flows

pytestmark = pytest.mark.demo

CONTROLS = 38


def text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(str(response.get_data(as_text=True)))


def _events(app: Flask, action: str) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(AuditEvent)
                                     .where(AuditEvent.action == action)) or 0)


def test_soa_page_lists_the_38_controls_with_their_columns(browser: Callable[[str], Browser]) -> None:
    page = text(browser("aims_owner").get("/soa"))
    controls = re.findall(r'data-control="([^"]+)"', page)
    assert len(controls) == CONTROLS and len(set(controls)) == CONTROLS
    assert controls[0] == "A.2.2" and "A.10.4" in controls
    for header in ("Applicable · justification", "Status", "Owner", "Linked risks", "Evidence (validity)",
                   "Last review"):
        assert f"<th>{header}</th>" in page
    counts = {st: int(n) for st, n in re.findall(r'data-count="([a-z_]+)">(\d+)<', page)}
    assert set(counts) == set(soa.STATUSES) and sum(counts.values()) == CONTROLS
    assert 'href="/soa/export.xlsx"' in page and 'href="/soa/export.pdf"' in page and 'href="/audit-pack.zip"' in page


def test_soa_page_filters_by_status_and_names_an_unknown_one(browser: Callable[[str], Browser]) -> None:
    b = browser("internal_auditor")
    page = text(b.get("/soa"))
    counts = {st: int(n) for st, n in re.findall(r'data-count="([a-z_]+)">(\d+)<', page)}
    status = max(counts, key=lambda s: counts[s])
    filtered = text(b.get(f"/soa?status={status}"))
    assert len(re.findall(r'data-control="', filtered)) == counts[status]
    wrong = b.get("/soa?status=done")
    assert wrong.status_code == 422 and "unknown status 'done'" in text(wrong)


def test_soa_xlsx_download_has_the_38_controls_and_is_audited(app: Flask, browser: Callable[[str], Browser]) -> None:
    before = _events(app, "soa_exported")
    response = browser("top_management").get("/soa/export.xlsx")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "attachment" in response.headers["Content-Disposition"] and ".xlsx" in response.headers[
        "Content-Disposition"]
    ws = load_workbook(io.BytesIO(response.data))["SoA"]
    assert ws.cell(row=HEADER_ROW, column=1).value == "Control"
    ids = [ws.cell(row=r, column=1).value for r in range(HEADER_ROW + 1, ws.max_row + 1)]
    ids = [i for i in ids if i]
    assert len(ids) == CONTROLS and "A.6.2.8" in ids
    assert _events(app, "soa_exported") == before + 1


def test_soa_pdf_download_is_a_pdf(browser: Callable[[str], Browser]) -> None:
    response = browser("admin").get("/soa/export.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-")


def test_soa_export_in_an_unknown_format_is_refused(app: Flask, browser: Callable[[str], Browser]) -> None:
    before = _events(app, "soa_exported")
    response = browser("aims_owner").get("/soa/export.docx")
    assert response.status_code == 422 and "unknown format 'docx'" in text(response)
    assert _events(app, "soa_exported") == before


def test_audit_pack_download_is_a_zip_with_its_manifest(app: Flask, browser: Callable[[str], Browser]) -> None:
    before = _events(app, "audit_pack_built")
    response = browser("internal_auditor").get("/audit-pack.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.data)) as zf:
        names = set(zf.namelist())
        manifest = json.loads(zf.read("manifest.json"))
        assert {f["path"] for f in manifest["files"]} == names - {"manifest.json"}
        assert "soa/statement_of_applicability.xlsx" in names and "audit_trail/verification.json" in names
        assert json.loads(zf.read("audit_trail/verification.json"))["ok"] is True
    assert _events(app, "audit_pack_built") == before + 1


def test_readiness_dashboard_shows_the_figures_and_carries_chart_data(
        app: Flask, browser: Callable[[str], Browser], flows: Flows) -> None:
    flows.start(topic="Overdue later")
    clock = app.extensions["aimsflow.clock"]
    page = text(browser("aims_owner").get("/readiness"))
    data = json.loads(re.search(r'<script type="application/json" id="readiness-data">(.*?)</script>', page,
                                re.S).group(1))  # type: ignore[union-attr]
    assert set(data) == {"status", "ncs", "flows", "owners"}
    assert [k for k, _ in data["status"]] == list(soa.STATUSES)  # in the table's order
    assert sum(n for _, n in data["status"]) == CONTROLS
    assert [k for k, _ in data["ncs"]] == ["major", "minor", "ungraded"]
    assert 'src="/static/vendor/chart.umd.min.js"' in page and 'src="/static/readiness.js"' in page
    assert "<script>" not in page  # nothing inline: the CSP allows only 'self'
    assert 'data-testid="days-operating"' in page
    clock.advance(days=30)  # web_assessment's first task is due in 5 days
    try:
        later = text(browser("aims_owner").get("/readiness"))
    finally:
        clock.advance(days=-30)
    data = json.loads(re.search(r'id="readiness-data">(.*?)</script>', later, re.S).group(1))  # type: ignore[union-attr]
    assert dict(data["flows"]).get("Web assessment", 0) >= 1  # the process by its name, not its id
    assert "Web assessment" in later.split('data-testid="overdue-flows"')[1].split("</table>")[0]


@pytest.mark.parametrize("url", ["/soa", "/soa/export.xlsx", "/soa/export.pdf", "/audit-pack.zip", "/readiness"])
def test_roles_outside_the_cert_roles_get_403_and_nothing_is_audited(
        app: Flask, browser: Callable[[str], Browser], url: str) -> None:
    before = _events(app, "soa_exported") + _events(app, "audit_pack_built")
    for role in ("process_owner", "assessor", "approver", "action_owner"):
        assert browser(role).get(url).status_code == 403, (role, url)
    assert _events(app, "soa_exported") + _events(app, "audit_pack_built") == before


def test_navbar_shows_soa_and_readiness_only_to_cert_roles(browser: Callable[[str], Browser]) -> None:
    assert 'href="/soa"' in text(browser("top_management").get("/tasks"))
    assert 'href="/soa"' not in text(browser("assessor").get("/tasks"))
    assert CERT_ROLES == {"admin", "aims_owner", "top_management", "internal_auditor"}


def test_soa_control_page_links_the_register_records_that_implement_it(browser: Callable[[str], Browser]) -> None:
    page = text(browser("internal_auditor").get("/soa/controls/A.10.3"))
    block = page.split('data-testid="control-records"', 1)[1]
    assert 'data-register="suppliers"' in block and 'data-register="party_requirements"' in block
    assert '<a href="/registers/suppliers/SUP-002">SUP-002</a> Veridoc Systems GmbH (fictional)' in block
    assert '<a href="/registers?register=suppliers"' in block
    assert 'href="/registers/data_resources/DS-003"' in text(browser("aims_owner").get("/soa/controls/A.7.5"))
    assert 'data-testid="control-records"' not in text(browser("aims_owner").get("/soa/controls/A.2.2"))


def test_readiness_page_lists_the_checks_with_their_findings_linked(browser: Callable[[str], Browser]) -> None:
    page = text(browser("aims_owner").get("/readiness"))
    checks = re.findall(r'data-check="(RC-\d+)"', page)
    assert checks == [f"RC-{i:02d}" for i in range(1, 21)] + ["RC-22"]
    row = page.split('data-check="RC-18"', 1)[1].split("</tr>", 1)[0]
    assert "Warning" in row
    assert ('<a href="/registers/suppliers/SUP-002">SUP-002 Veridoc Systems GmbH (fictional) supplies OCR model, '
            'document-classification model and has not been assessed</a>') in row
    assert '<a href="/soa/controls/A.10.3">A.10.3 in progress</a>' in row
    blocked = page.split('data-check="RC-06"', 1)[1].split("</tr>", 1)[0]
    assert "Blocks" in blocked and '<a href="/registers/ai_systems/AIS-004">AIS-004 never risk-assessed</a>' in blocked
    assert '<a href="/registers/nonconformities/NC-2026-003">NC-2026-003 minor without an approved plan (root cause ' \
        'analysis)</a>' in page
