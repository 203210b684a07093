"""SoA exports (XLSX read back with openpyxl, PDF text extracted with pypdf) and the audit pack zip."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile
from datetime import UTC, datetime

import pytest
from openpyxl import Workbook, load_workbook
from pypdf import PdfReader
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from engine.aims import audit_pack, catalogue, cells, control_records, exports, register_tables, soa
from engine.aims.register_specs import SPECS
from engine.aims.registers import Evidence, Risk, Supplier
from engine.core import audit_trail
from engine.core.clock import FixedClock
from engine.core.models import AuditEvent

pytestmark = pytest.mark.demo

#: the demo SoA: every control implemented except these
NOT_IMPLEMENTED = {"A.4.6": "in_progress", "A.6.2.7": "in_progress", "A.7.5": "in_progress", "A.8.3": "in_progress",
                   "A.8.5": "planned", "A.10.3": "in_progress"}


def expected_status(control_id: str) -> str:
    return NOT_IMPLEMENTED.get(control_id, "implemented")


def test_soa_xlsx_lists_38_controls_with_their_statuses(session: Session, clock: FixedClock) -> None:
    data = exports.export(soa.compute(session, clock), "xlsx")
    wb = load_workbook(io.BytesIO(data))
    ws = wb["SoA"]
    header = [c.value for c in ws[exports.HEADER_ROW]]
    assert header[:4] == ["Control", "Title", "Objective group", "Applicable"]
    col = {name: i for i, name in enumerate(header)}
    rows = [r for r in ws.iter_rows(min_row=exports.HEADER_ROW + 1, values_only=True) if r[0]]
    assert [r[0] for r in rows] == catalogue.control_ids()
    assert {r[0]: r[col["Status"]] for r in rows} == {c: expected_status(c) for c in catalogue.control_ids()}
    a22 = rows[0]
    assert (a22[col["Owner"]], a22[col["Linked risks"]], a22[col["Evidence (validity)"]], a22[col["Last review"]]) \
        == ("priya.raman@lumenvale.example", "RSK-007", "EVD-001 accepted until 2026-11-16", "2026-07-24")
    by_control = {r[0]: r for r in rows}
    assert by_control["A.4.4"][col["Gaps"]] == "G4" and by_control["A.8.5"][col["Gaps"]] == "G1"
    assert ws["A2"].value == "SOA-001 version 0.9 (generated)"
    gaps = [r for r in wb["Gaps"].iter_rows(min_row=2, values_only=True)]
    assert [(g[0], g[2], g[3], g[4]) for g in gaps] == [("G4", "A.4.4", None, "yes"), ("G1", "A.8.5", None, "yes"),
                                                        ("G6", None, "RSK-006", "yes")]  # "" reads back as None
    summary = dict(wb["Summary"].iter_rows(min_row=2, values_only=True))
    assert (summary["implemented"], summary["in_progress"], summary["planned"], summary["total"]) == (32, 5, 1, 38)


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_soa_pdf_text_shows_38_controls_with_their_statuses(session: Session, clock: FixedClock) -> None:
    text = pdf_text(exports.export(soa.compute(session, clock), "pdf"))
    assert "Statement of Applicability - Lumenvale Financial Ltd" in text
    assert "Controls by status: implemented 32, in_progress 5, planned 1, not_started 0, not_applicable 0" in text
    ids = catalogue.control_ids()
    # each control's table row, from its id to the next control's id, names its status
    starts = []
    for control_id in ids:
        match = re.search(rf"(?m)^{re.escape(control_id)}\s", text)
        assert match is not None, f"{control_id} is not in the PDF"
        starts.append(match.start())
    assert starts == sorted(starts)
    for i, control_id in enumerate(ids):
        segment = text[starts[i]:starts[i + 1] if i + 1 < len(ids) else text.index("\nGaps")]
        statuses = set(re.findall(r"\b(implemented|in_progress|planned|not_started|not_applicable)\b", segment))
        assert statuses == {expected_status(control_id)}, (control_id, segment)
    assert "G1 (blocking): A.8.5: missing justification" in text


def test_export_refuses_an_unknown_format(session: Session, clock: FixedClock) -> None:
    with pytest.raises(ValueError, match="unknown format 'docx'; use one of xlsx, pdf"):
        exports.export(soa.compute(session, clock), "docx")


def test_pdf_text_keeps_latin1_and_replaces_the_rest() -> None:
    assert exports.pdf_text("risk \u2265 6 \u2014 d\u00e9j\u00e0 vu \u4e2d") == "risk >= 6 - d\u00e9j\u00e0 vu ?"


# --------------------------------------------------------------------------- audit pack

PACK_FILES = audit_pack.files_every_pack_holds()


def read_pack(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        return {name: zf.read(name) for name in zf.namelist()}


def test_audit_pack_holds_what_an_auditor_asks_for(session: Session, clock: FixedClock) -> None:
    pack = audit_pack.build(session, clock)
    files = read_pack(pack.data)
    assert sorted(files) == PACK_FILES
    manifest = json.loads(files["manifest.json"])
    assert [m["path"] for m in manifest["files"]] == [p for p in PACK_FILES if p != "manifest.json"]
    for item in manifest["files"]:
        assert hashlib.sha256(files[item["path"]]).hexdigest() == item["sha256"], item["path"]

    statement = json.loads(files["soa/statement_of_applicability.json"])
    assert len(statement["rows"]) == 38 and statement["counts"]["implemented"] == 32
    assert load_workbook(io.BytesIO(files["soa/statement_of_applicability.xlsx"]))["SoA"]["A1"].value \
        == "Statement of Applicability - Lumenvale Financial Ltd"
    assert "A.10.4" in pdf_text(files["soa/statement_of_applicability.pdf"])
    [policy] = json.loads(files["policy/ai_policy.json"])
    assert [(v["version"], v["status"]) for v in policy["versions"]] == [("1.0", "published"), ("1.1", "in_review")]
    assert policy["versions"][0]["approver_id"] == "jonas.weber@lumenvale.example"
    assert len(json.loads(files["risk/impact_assessments.json"])) == 4
    register = list(csv.DictReader(io.StringIO(files["risk/risk_register.csv"].decode())))
    assert [r["ref"] for r in register] == [f"RSK-00{i}" for i in range(1, 8)]
    assert len(json.loads(files["risk/risk_acceptances.json"])) == 5
    audits = json.loads(files["audit/internal_audits.json"])
    assert audits["programmes"] and any(a["findings"] for a in audits["audits"])
    ncs = json.loads(files["nonconformities/nonconformities.json"])
    assert [n["ref"] for n in ncs] == ["NC-2026-001", "NC-2026-002", "NC-2026-003"]
    assert any(n["corrective_actions"] for n in ncs)
    for nc in ncs:  # an auditor reads the root cause an action addresses in its words, not only its index
        causes = [c["cause"] for c in nc["root_causes"]]
        for action in nc["corrective_actions"]:
            assert action["root_cause"] == (causes[action["addresses_root_cause"]]
                                            if action["addresses_root_cause"] is not None else None)
    assert any(a["root_cause"] for n in ncs for a in n["corrective_actions"])
    reviews = json.loads(files["management_review/minutes.json"])
    assert reviews[0]["decisions"] and reviews[0]["conclusions"] is not None
    [scope] = json.loads(files["scope/scope_statement.json"])
    assert (scope["version"], scope["status"], scope["approver_id"]) == (1, "approved", "jonas.weber@lumenvale.example")
    objectives = {o["ref"]: o for o in json.loads(files["objectives/objectives.json"])}
    assert objectives["OBJ-04"]["performance"]["latest"] == 1.7 and objectives["OBJ-04"]["target"] == 1.5
    assert [m["value"] for m in objectives["OBJ-03"]["measurements"]] == [55, 60, 70, 75]

    # every register as CSV and XLSX, the same tables as `aimsflow export` writes
    suppliers = list(csv.DictReader(io.StringIO(files["registers/suppliers.csv"].decode("utf-8-sig"))))
    assert [r["Reference"] for r in suppliers] == ["SUP-001", "SUP-002", "SUP-003"]
    assert suppliers[1]["Status"] == "under_assessment"
    assert files["registers/suppliers.csv"] == register_tables.as_file(session, SPECS["suppliers"], "csv")[0]
    for name in ("context_issues", "interested_parties", "party_requirements", "data_resources", "competence",
                 "training"):
        sheet = load_workbook(io.BytesIO(files[f"registers/{name}.xlsx"])).active
        assert sheet is not None and sheet.title == SPECS[name].label[:31] and sheet.max_row > 1, name
    issues = load_workbook(io.BytesIO(files["registers/context_issues.xlsx"])).active
    assert issues is not None and [c.value for c in issues["A"]][1:] == ["CI-01", "CI-02", "CI-03", "CI-04"]

    index = list(csv.DictReader(io.StringIO(files["evidence/evidence_index.csv"].decode())))
    assert len(index) == session.scalar(select(func.count()).select_from(Evidence)) == 18
    assert set(index[0]) >= {"ref", "sha256", "valid_until", "valid_now", "status"}
    assert {e["ref"]: e["valid_now"] for e in index}["EVD-018"] == "no"

    verification = json.loads(files["audit_trail/verification.json"])
    count = session.scalar(select(func.count()).select_from(AuditEvent))
    assert (verification["ok"], verification["events"], verification["problem"]) == (True, count, None)
    assert verification["head"] == str(audit_trail.head(session))
    events = [json.loads(line) for line in files["audit_trail/events.jsonl"].decode().splitlines()]
    assert [e["seq"] for e in events] == list(range(1, count + 1))
    # the extract re-verifies on its own: each event links to the one before
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(events, events[1:], strict=False))
    assert "Audit trail hash chain: verified" in files["README.txt"].decode()


def test_audit_pack_reports_a_broken_chain(session: Session, clock: FixedClock) -> None:
    session.execute(update(AuditEvent).where(AuditEvent.seq == 2).values(actor="mallory@example.com"))
    pack = audit_pack.build(session, clock)
    verification = json.loads(read_pack(pack.data)["audit_trail/verification.json"])
    assert not pack.verification.ok and verification["ok"] is False
    assert verification["first_bad_event"] == 2 and "event 2" in verification["problem"]
    assert "BROKEN" in read_pack(pack.data)["README.txt"].decode()


def test_audit_pack_extract_since_a_date(session: Session, clock: FixedClock) -> None:
    audit_trail.append(session, clock, "late_event", subject="x")
    clock.advance(hours=1)
    audit_trail.append(session, clock, "later_event", subject="y")
    pack = audit_pack.build(session, clock, since=datetime(2026, 11, 2, 9, 30, tzinfo=UTC))
    lines = read_pack(pack.data)["audit_trail/events.jsonl"].decode().splitlines()
    assert [json.loads(line)["action"] for line in lines] == ["later_event"]
    assert pack.verification.ok


EVIL = '=HYPERLINK("http://evil.example","x")'


def test_exports_keep_a_formula_risk_title_as_text(session: Session, clock: FixedClock) -> None:
    """A risk title typed as a formula stays text in the audit pack's CSV and in the SoA XLSX (OWASP)."""
    session.execute(update(Risk).where(Risk.ref == "RSK-006").values(title=EVIL))
    session.flush()
    files = read_pack(audit_pack.build(session, clock).data)
    register = {r["ref"]: r for r in csv.DictReader(io.StringIO(files["risk/risk_register.csv"].decode()))}
    assert register["RSK-006"]["title"] == "'" + EVIL
    assert register["RSK-001"]["inherent_score"].lstrip("'") == register["RSK-001"]["inherent_score"]

    for data in (exports.export(soa.compute(session, clock), "xlsx"),
                 files["soa/statement_of_applicability.xlsx"]):
        gaps = load_workbook(io.BytesIO(data))["Gaps"]
        assert gaps["G1"].value == "Risk title"
        [title] = [row[6] for row in gaps.iter_rows(min_row=2) if row[3].value == "RSK-006"]
        assert (title.data_type, title.value) == ("s", "'" + EVIL)


@pytest.mark.parametrize("text", ["=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx"],
                         ids=["equals", "plus", "minus", "at", "tab", "cr"])
def test_cells_neutralise_every_formula_prefix(text: str) -> None:
    assert cells.neutralise(text) == "'" + text
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    cell = cells.write(ws, 1, 1, text)
    assert (cell.data_type, cell.value) == ("s", "'" + text)


def test_cells_leave_plain_text_and_numbers_alone() -> None:
    assert [cells.neutralise(v) for v in ("RSK-001", "a-b", -3, 2.5, None)] == ["RSK-001", "a-b", -3, 2.5, None]


def test_control_records_link_the_registers_that_implement_a_control(session: Session) -> None:
    linked = control_records.for_controls(session, ["A.10.3", "A.7.5", "A.4.6", "A.10.4", "A.2.2"])
    assert [(x.register, [r.ref for r in x.records]) for x in linked["A.10.3"]] == [
        ("suppliers", ["SUP-001", "SUP-002", "SUP-003"]), ("party_requirements", ["REQ-007"])]
    assert [(x.register, [r.ref for r in x.records]) for x in linked["A.7.5"]] == [
        ("data_resources", ["DS-001", "DS-002", "DS-003"])]
    assert [x.register for x in linked["A.4.6"]] == ["competence", "training"]
    assert [r.ref for r in linked["A.10.4"][0].records] == ["IP-02"]  # the customers only
    assert linked["A.2.2"] == []
    first = linked["A.10.3"][0].records[0]
    assert (first.title, first.status) == ("Nimbus Language Models Inc. (fictional)", "active")
    ended = session.scalar(select(Supplier).where(Supplier.ref == "SUP-003"))
    assert ended is not None
    ended.status = "ended"
    session.flush()
    assert [r.ref for r in control_records.for_control(session, "A.10.3")[0].records] == ["SUP-001", "SUP-002"]


def test_soa_xlsx_counts_and_lists_the_register_records_of_each_control(session: Session,
                                                                        clock: FixedClock) -> None:
    statement = soa.compute(session, clock)
    data = exports.export(statement, "xlsx", control_records.for_statement(session, statement))
    book = load_workbook(io.BytesIO(data))
    ws = book["SoA"]
    header = [c.value for c in ws[exports.HEADER_ROW]]
    assert header[-1] == "Register records"
    by_control = {r[0]: r[-1] for r in ws.iter_rows(min_row=exports.HEADER_ROW + 1, values_only=True) if r[0]}
    assert by_control["A.10.3"] == "Suppliers 3; Party requirements 1"
    assert by_control["A.7.5"] == "Data resources 3"
    assert by_control["A.2.2"] is None
    listed = [r for r in book["Register records"].iter_rows(min_row=2, values_only=True)]
    assert ("A.10.3", "Suppliers", "SUP-002", "Veridoc Systems GmbH (fictional)", "under assessment") in listed
    assert "Register records" not in load_workbook(io.BytesIO(exports.export(statement, "xlsx"))).sheetnames


def test_soa_pdf_lists_the_register_records_of_each_control(session: Session, clock: FixedClock) -> None:
    statement = soa.compute(session, clock)
    text = pdf_text(exports.export(statement, "pdf", control_records.for_statement(session, statement)))
    section = " ".join(text[text.index("Register records that implement or evidence each control"):].split())
    assert "SUP-002 Veridoc Systems GmbH (fictional) (under assessment)" in section
    a103 = section[section.index("A.10.3 "):section.index("A.10.4 ")]  # the paragraph of A.10.3
    assert "Suppliers: SUP-001" in a103 and "Party requirements:" in a103
    assert "A.2.2 " not in section  # a control no register answers is not listed
    assert "Register records" not in pdf_text(exports.export(statement, "pdf"))
