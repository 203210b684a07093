"""The registers people keep by hand: add, edit (a stale edit answers 409 and keeps the typed values),
retire and restore, through the pages (forms posted as the browser posts them), the API and the command
line; every change audited with before and after; import (dry run, apply, re-import changes nothing, bad
rows named with exit 3 and nothing changed) and export round trips for every register."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from openpyxl import load_workbook
from sqlalchemy import func, select

from engine.aims.register_specs import SPECS
from engine.aims.registers import AISystem, ObjectiveMeasurement, TrainingRecord
from engine.app import accounts
from engine.core.models import AuditEvent, User
from web.extensions import db

from .conftest import PEOPLE, Browser, user

pytestmark = pytest.mark.demo

OWNER = PEOPLE["aims_owner"]
SYSTEM = {"name": "Claims triage", "status": "proposed", "personal_data": "personal",
          "system_owner": PEOPLE["process_owner"], "org_roles": ["ai_producer", "ai_customer"],
          "affected_parties": "customers\nclaims handlers", "continuous_learning": "yes", "in_aims_scope": "yes",
          "ai_technique": "classical_ml"}


def text(response: Any) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def count(model: Any) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def system(ref: str) -> AISystem:
    db.session.expire_all()
    row = db.session.scalar(select(AISystem).where(AISystem.ref == ref))
    assert row is not None
    return row


def add_system(b: Browser, **extra: Any) -> str:
    response = b.post("/registers/ai_systems/new", {**SYSTEM, **extra})
    assert response.status_code == 303, text(response)[:2000]
    return response.headers["Location"].rsplit("/", 1)[-1]


def version_on(b: Browser, ref: str) -> str:
    page = b.get(f"/registers/ai_systems/{ref}/edit").get_data(as_text=True)
    match = re.search(r'name="version" value="(\d+)"', page)
    assert match
    return match.group(1)


# --------------------------------------------------------------------------- pages, by role

WRITERS = {"aims_owner": True, "process_owner": True, "reviewer": False, "approver": False,
           "internal_auditor": False, "admin": False}


@pytest.mark.parametrize("role", sorted(WRITERS))
def test_registers_page_create_edit_retire_by_role(app: Flask, browser: Callable[[str], Browser], role: str) -> None:
    b = browser(role)
    allowed = WRITERS[role]
    page = text(b.get("/registers?register=ai_systems"))
    assert ("Add AI system" in page) == allowed
    with app.app_context():
        before = count(AISystem)
    response = b.post("/registers/ai_systems/new", {**SYSTEM, "name": f"By {role}"})
    assert response.status_code == (303 if allowed else 403)
    with app.app_context():
        assert count(AISystem) == before + (1 if allowed else 0)
    assert b.get("/registers/ai_systems/AIS-001/edit").status_code == (200 if allowed else 403)
    edited = b.post("/registers/ai_systems/AIS-002/edit", {**SYSTEM, "name": "Renamed", "version": "1"})
    assert edited.status_code in ((303, 409) if allowed else (403,))
    retired = b.post("/registers/ai_systems/AIS-003/retire", {"reason": "test"})
    assert retired.status_code == (303 if allowed else 403)
    with app.app_context():
        assert (system("AIS-003").retired_at is not None) == allowed
        if allowed:  # put it back for the next role
            b.post("/registers/ai_systems/AIS-003/retire", {"reason": "back", "restore": "1"})
            assert system("AIS-003").retired_at is None


def test_registers_page_add_edit_audited_with_before_and_after(app: Flask, browser: Callable[[str], Browser]) -> None:
    b = browser("aims_owner")
    ref = add_system(b, name="Fraud radar")
    with app.app_context():
        row = system(ref)
        assert row.name == "Fraud radar" and row.org_roles == ["ai_producer", "ai_customer"]
        assert row.affected_parties == ["customers", "claims handlers"] and row.continuous_learning is True
        assert row.system_owner_id == user("process_owner").id and row.row_version == 1
    response = b.post(f"/registers/ai_systems/{ref}/edit",
                      {**SYSTEM, "name": "Fraud radar 2", "personal_data": "special_category",
                       "version": version_on(b, ref)})
    assert response.status_code == 303
    with app.app_context():
        row = system(ref)
        assert row.name == "Fraud radar 2" and row.row_version == 2 and row.updated_by_id == user("aims_owner").id
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.subject == ref)
                                    .order_by(AuditEvent.seq)).all()
        assert [e.action for e in events] == ["register_created", "register_changed"]
        changes = events[1].data["changes"]
        assert set(changes) == {"name", "personal_data"}
        assert changes["name"] == {"label": "Name", "before": "Fraud radar", "after": "Fraud radar 2"}
        assert events[1].actor == OWNER
    page = text(b.get(f"/registers/ai_systems/{ref}"))
    assert "History" in page and "Fraud radar 2" in page and "Special category" in page
    assert "<del>Fraud radar</del>" in page


def test_registers_page_names_people_with_their_roles_and_the_history_by_name(
        app: Flask, browser: Callable[[str], Browser]) -> None:
    b = browser("aims_owner")
    ref = add_system(b, name="People by name")
    edit = b.get(f"/registers/ai_systems/{ref}/edit").get_data(as_text=True)
    picker = edit[edit.index('name="system_owner"'):]
    picker = picker[:picker.index("</select>")]
    with app.app_context():
        tomas, ingrid = user("process_owner"), user("approver")
    assert re.search(rf'value="{re.escape(tomas.email)}" selected>Tomás Alvarez — [^<]*Process owner', picker)
    assert "@" not in re.sub(r'value="[^"]*"', "", picker), "the picker shows people by name, not e-mail"
    changed = b.post(f"/registers/ai_systems/{ref}/edit", {**SYSTEM, "name": "People by name",
                                                            "system_owner": ingrid.email,
                                                            "version": version_on(b, ref)})
    assert changed.status_code == 303
    page = text(b.get(f"/registers/ai_systems/{ref}"))
    history = page[page.index('data-testid="history"'):]
    assert "<strong>Priya Raman</strong> changed the record ·" in history
    assert "<del>Tomás Alvarez</del></td><td>Ingrid Larsen</td>" in history
    assert "@lumenvale.example" not in history


def test_registers_page_stale_edit_answers_409_and_keeps_the_typed_values(
        app: Flask, browser: Callable[[str], Browser]) -> None:
    priya, tomas = browser("aims_owner"), browser("process_owner")
    ref = add_system(priya, name="Stale test")
    seen = version_on(priya, ref)
    assert tomas.post(f"/registers/ai_systems/{ref}/edit", {**SYSTEM, "name": "Tomas was first",
                                                             "version": version_on(tomas, ref)}).status_code == 303
    response = priya.post(f"/registers/ai_systems/{ref}/edit",
                          {**SYSTEM, "name": "Priya typed this", "human_oversight": "Four eyes", "version": seen})
    assert response.status_code == 409
    page = text(response)
    assert "Priya typed this" in page and "Four eyes" in page
    assert "was changed by Tomás Alvarez" in page and "reload it" in page
    with app.app_context():
        assert system(ref).name == "Tomas was first"


def test_registers_page_validation_names_the_field_in_plain_words(browser: Callable[[str], Browser]) -> None:
    b = browser("aims_owner")
    response = b.post("/registers/ai_systems/new", {**SYSTEM, "name": "", "system_owner": "nobody@x.example",
                                                    "personal_data": "lots"})
    assert response.status_code == 422
    page = text(response)
    assert "Name: is required" in page
    assert "System owner: no active user has the e-mail address nobody@x.example" in page
    assert "Personal data: &#39;lots&#39; is not one of the choices (None, Personal, Special category)" in page
    assert "Our AI roles" in page and "AI producer" in page
    for leak in ("system_owner_id", "Missing data", "Traceback", "Not a valid"):
        assert leak not in page


def test_registers_retired_rows_hidden_unless_asked(app: Flask, browser: Callable[[str], Browser]) -> None:
    b = browser("aims_owner")
    ref = add_system(b, name="Old bot")
    assert b.post(f"/registers/ai_systems/{ref}/retire", {"reason": ""}).status_code == 303
    with app.app_context():
        assert system(ref).retired_at is None  # a reason is required
    assert b.post(f"/registers/ai_systems/{ref}/retire", {"reason": "switched off"}).status_code == 303
    link = f'href="/registers/ai_systems/{ref}"'
    assert link not in text(b.get("/registers?register=ai_systems"))
    assert link in text(b.get("/registers?register=ai_systems&retired=1"))
    page = text(b.get(f"/registers/ai_systems/{ref}"))
    assert "retired" in page and "switched off" in page and "Restore" in page
    assert b.post(f"/registers/ai_systems/{ref}/edit", {**SYSTEM, "version": "3"}).status_code == 409


def test_registers_flow_owned_rows_are_changed_through_their_flow(browser: Callable[[str], Browser]) -> None:
    b = browser("aims_owner")
    page = text(b.get("/registers/risks/RSK-001"))
    assert "changed only through the flow" in page and "Risk assessment and acceptance" in page
    assert "/start/aims_risk_assessment" in page and "Edit" not in page.split("History")[0].split("</h1>")[1]
    assert b.get("/registers/risks/RSK-001/edit").status_code == 403
    assert b.post("/registers/risks/new", {"title": "x"}).status_code == 403


# --------------------------------------------------------------------------- API

def _api(app: Flask, who: str) -> Callable[..., Any]:
    with app.app_context():
        _, secret = accounts.create_token(db.session, app.extensions["aimsflow.clock"], user(who), "registers")
        db.session.commit()
    client = app.test_client()

    def call(method: str, url: str, body: Any = None, **headers: str) -> Any:
        return client.open(f"/api/v1{url}", method=method, json=body,
                           headers={"Authorization": f"Bearer {secret}", **headers})
    return call


def test_api_registers_create_edit_conflict_retire(app: Flask) -> None:
    api = _api(app, "aims_owner")
    listed = {r["name"]: r for r in api("GET", "/registers").get_json()}
    assert listed["ai_systems"]["writable"] and listed["risks"]["changed_through"]
    assert any(f["key"] == "system_owner" and "e-mail" in f["rule"] for f in listed["ai_systems"]["fields"])
    made = api("POST", "/registers/objectives", {"values": {
        "title": "Explain declines", "kind": "responsible_use", "theme": "transparency_explainability",
        "status": "active", "target": 0.9, "owner": PEOPLE["process_owner"], "ai_systems": ["AIS-001"]}})
    assert made.status_code == 201, made.get_json()
    ref, version = made.get_json()["ref"], made.get_json()["version"]
    assert made.get_json()["values"]["ai_systems"] == ["AIS-001"]
    changed = api("PATCH", f"/registers/objectives/{ref}", {"values": {"target": 0.95}, "version": version})
    assert changed.status_code == 200 and changed.get_json()["values"]["target"] == 0.95
    stale = api("PATCH", f"/registers/objectives/{ref}", {"values": {"target": 0.5}}, **{"If-Match": f'"{version}"'})
    assert stale.status_code == 409 and stale.get_json()["error"]["code"] == "conflict"
    bad = api("PATCH", f"/registers/objectives/{ref}", {"values": {"due_date": "next week", "colour": "red"}})
    assert bad.status_code == 422
    messages = [e["message"] for e in bad.get_json()["error"]["errors"]]
    assert "Due date: must be a date like 2027-03-31, not 'next week'" in messages
    assert any("'colour' is not a field of ai objectives" in m for m in messages)
    retired = api("POST", f"/registers/objectives/{ref}/retire", {"reason": "merged"})
    assert retired.status_code == 200 and retired.get_json()["retired_at"]
    assert ref not in [r["ref"] for r in api("GET", "/registers/objectives").get_json()]
    assert ref in [r["ref"] for r in api("GET", "/registers/objectives?retired=true").get_json()]
    assert api("POST", f"/registers/objectives/{ref}/restore", {"reason": "split again"}).status_code == 200


def test_api_registers_refuses_readers_and_flow_owned(app: Flask) -> None:
    reviewer = _api(app, "reviewer")
    assert reviewer("POST", "/registers/ai_systems", {"values": {"name": "x"}}).status_code == 403
    assert reviewer("PATCH", "/registers/ai_systems/AIS-001", {"values": {"name": "x"}}).status_code == 403
    owner = _api(app, "aims_owner")
    refused = owner("PATCH", "/registers/risks/RSK-001", {"values": {"title": "x"}})
    assert refused.status_code == 403 and "Risk assessment and acceptance" in refused.get_json()["error"]["message"]


# --------------------------------------------------------------------------- import and export (CLI)

def cli(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=list(args))


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


HEADER = ["Reference", "Name", "Governance status", "Personal data", "System owner", "Our AI roles"]


def test_cli_import_dry_run_apply_and_reimport_changes_nothing(app: Flask, tmp_path: Path) -> None:
    rows = [HEADER,
            ["AIS-101", "Voice bot", "in_operation", "personal", PEOPLE["process_owner"], "ai_provider; ai_customer"],
            ["AIS-102", "Doc summariser", "Proposed", "None", "", ""]]
    source = write_csv(tmp_path / "systems.csv", rows)
    with app.app_context():
        before = count(AISystem)
    dry = cli(app, "import", "ai_systems", str(source), "--dry-run", "--as", OWNER)
    assert dry.exit_code == 0, dry.output
    assert "would be: 2 added, 0 changed, 0 unchanged" in dry.output
    with app.app_context():
        assert count(AISystem) == before
    done = cli(app, "import", "ai_systems", str(source), "--as", OWNER)
    assert done.exit_code == 0, done.output
    assert done.output.strip().endswith("2 added, 0 changed, 0 unchanged")
    with app.app_context():
        assert count(AISystem) == before + 2
        assert system("AIS-101").org_roles == ["ai_provider", "ai_customer"]
        assert system("AIS-102").status == "proposed" and system("AIS-102").personal_data == "none"
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "register_imported")
                                 .order_by(AuditEvent.seq.desc())).data["added"] == 2
    again = cli(app, "import", "ai_systems", str(source), "--as", OWNER)
    assert again.exit_code == 0 and again.output.strip().endswith("0 added, 0 changed, 2 unchanged")
    source.write_text(source.read_text().replace("Voice bot", "Voice assistant"), encoding="utf-8")
    changed = cli(app, "import", "ai_systems", str(source), "--as", OWNER)
    assert changed.exit_code == 0 and "Name: 'Voice bot' -> 'Voice assistant'" in changed.output
    assert "0 added, 1 changed, 1 unchanged" in changed.output
    blank = write_csv(tmp_path / "new.csv", [HEADER, ["", "Numbered for me", "proposed", "none", "", ""]])
    numbered = cli(app, "import", "ai_systems", str(blank), "--as", OWNER)
    assert numbered.exit_code == 0 and re.search(r"row 2 AIS-\d+ added: Name: 'Numbered for me'", numbered.output)
    with app.app_context():
        assert count(AISystem) == before + 3


def test_cli_import_bad_rows_exit_3_naming_row_and_column_and_change_nothing(app: Flask, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "bad.csv", [
        [*HEADER, "Colour"],
        ["AIS-201", "Good row", "proposed", "none", "", "", ""],
        ["AIS-202", "", "proposed", "maybe", "ghost@nowhere.example", "ai_wizard", ""],
        ["AIS-201", "Twice", "proposed", "none", "", "", ""],
    ])
    with app.app_context():
        before, events = count(AISystem), count(AuditEvent)
    result = cli(app, "import", "ai_systems", str(source), "--as", OWNER)
    assert result.exit_code == 3
    out = result.output
    assert "nothing was imported" in out
    assert "row 1, column “Colour”: is not a column of ai systems" in out
    assert "row 3, column “Name”: is required" in out
    assert "row 3, column “Personal data”: 'maybe' is not one of the choices" in out
    assert "row 3, column “System owner”: no active user has the e-mail address ghost@nowhere.example" in out
    assert "row 3, column “Our AI roles”: 'ai_wizard' is not one of the choices" in out
    assert "row 4, column “Reference”: AIS-201 appears again (first on row 2)" in out
    assert "Traceback" not in out and "_id" not in out
    with app.app_context():
        assert count(AISystem) == before and count(AuditEvent) == events


def test_a_measurement_dated_in_the_future_is_refused_by_import_and_by_the_generic_add(
        app: Flask, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "measurements.csv", [
        ["Objective", "Measured on", "Value"], ["OBJ-03", "2026-10-15", "81"], ["OBJ-03", "2099-01-31", "80"]])
    api = _api(app, "aims_owner")
    with app.app_context():
        before, events = count(ObjectiveMeasurement), count(AuditEvent)
    for dry in ((), ("--dry-run",)):
        result = cli(app, "import", "objective_measurements", str(source), *dry, "--as", OWNER)
        assert result.exit_code == 3, result.output
        assert "row 3, column “Measured on”: cannot be in the future (2099-01-31 is after today, " in result.output
        assert "row 2" not in result.output
    refused = api("POST", "/registers/objective_measurements", {"values": {
        "objective": "OBJ-03", "measured_on": "2099-01-31", "value": 80}})
    assert refused.status_code == 422
    assert any(e["message"].startswith("Measured on: cannot be in the future")
               for e in refused.get_json()["error"]["errors"])
    with app.app_context():
        assert count(ObjectiveMeasurement) == before and count(AuditEvent) == events


def test_cli_import_refusals_exit_codes(app: Flask, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "s.csv", [HEADER, ["AIS-301", "X", "proposed", "none", "", ""]])
    assert cli(app, "import", "ai_systems", str(source), "--as", PEOPLE["reviewer"]).exit_code == 5
    assert cli(app, "import", "nothing", str(source), "--as", OWNER).exit_code == 6
    assert cli(app, "import", "ai_systems", str(tmp_path / "missing.csv"), "--as", OWNER).exit_code == 6
    assert cli(app, "import", "ai_systems", str(source), "--as", "ghost@x.example").exit_code == 6
    (tmp_path / "s.pdf").write_bytes(b"%PDF")
    assert cli(app, "import", "ai_systems", str(tmp_path / "s.pdf"), "--as", OWNER).exit_code == 3
    risks = write_csv(tmp_path / "r.csv", [["Reference", "Title"], ["RSK-001", "Renamed by import"]])
    refused = cli(app, "import", "risks", str(risks), "--as", OWNER)
    assert refused.exit_code == 3 and "set by the flow “Risk assessment and acceptance”" in refused.output


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("name", list(SPECS))
def test_cli_export_then_import_changes_nothing(app: Flask, tmp_path: Path, name: str, fmt: str) -> None:
    out = tmp_path / f"{name}.{fmt}"
    exported = cli(app, "export", name, "--format", fmt, "-o", str(out), "--as", OWNER)
    assert exported.exit_code == 0, exported.output
    result = cli(app, "import", name, str(out), "--as", OWNER)
    assert result.exit_code == 0, result.output
    assert re.search(r"^0 added, 0 changed, \d+ unchanged$", result.output.strip(), re.M), result.output
    with app.app_context():
        rows = count(SPECS[name].model)
    assert f"{rows} unchanged" in result.output


def test_cli_export_all_writes_every_register_in_a_zip(app: Flask, tmp_path: Path) -> None:
    out = tmp_path / "all.zip"
    result = cli(app, "export", "all", "-o", str(out), "--as", PEOPLE["internal_auditor"])
    assert result.exit_code == 0, result.output
    names = zipfile.ZipFile(out).namelist()
    assert names == [f"{n}.csv" for n in SPECS]
    assert {"context_issues.csv", "interested_parties.csv", "party_requirements.csv", "suppliers.csv",
            "data_resources.csv", "competence.csv", "training.csv"} <= set(names)
    datasets = zipfile.ZipFile(out).read("data_resources.csv").decode("utf-8-sig")
    assert "DS-003" in datasets and "Labelled payment events 2022-2026" in datasets
    assert cli(app, "export", "all", "-o", str(out), "--as", "no.role.here@x.example").exit_code == 6


def test_registers_formula_cell_stays_text(app: Flask, tmp_path: Path) -> None:
    link = '=HYPERLINK("http://evil.example","click")'
    source = write_csv(tmp_path / "f.csv", [HEADER, ["AIS-401", link, "proposed", "none", "", ""]])
    assert cli(app, "import", "ai_systems", str(source), "--as", OWNER).exit_code == 0
    with app.app_context():
        assert system("AIS-401").name == link
    xlsx = tmp_path / "s.xlsx"
    assert cli(app, "export", "ai_systems", "--format", "xlsx", "-o", str(xlsx), "--as", OWNER).exit_code == 0
    sheet = load_workbook(xlsx).worksheets[0]
    cell = next(c for c in sheet["B"] if c.value and "HYPERLINK" in str(c.value))
    assert cell.data_type == "s" and cell.value == "'" + link
    csv_file = tmp_path / "s.csv"
    assert cli(app, "export", "ai_systems", "-o", str(csv_file), "--as", OWNER).exit_code == 0
    assert "'" + link.replace('"', '""') in csv_file.read_text(encoding="utf-8-sig")
    for exported in (xlsx, csv_file):
        again = cli(app, "import", "ai_systems", str(exported), "--as", OWNER)
        assert again.exit_code == 0 and "0 added, 0 changed" in again.output


# --------------------------------------------------------------------------- import and export (web)

def upload(b: Browser, name: str, filename: str, data: bytes) -> Any:
    return b.post(f"/registers/{name}/import", {"file": (io.BytesIO(data), filename)},
                  content_type="multipart/form-data")


def hidden(page: str, field: str) -> str:
    match = re.search(rf'name="{field}" value="([^"]*)"', page)
    assert match, field
    return match.group(1).replace("&#34;", '"').replace("&quot;", '"')


def test_registers_page_import_preview_then_apply(app: Flask, browser: Callable[[str], Browser]) -> None:
    b = browser("aims_owner")
    data = ("Reference,Course,Person,Status,Effective?\r\n"
            f"TRN-001,ISO/IEC 42001 Internal Auditor (3 days),{PEOPLE['internal_auditor']},completed,effective\r\n"
            f"TRN-501,Prompt safety,{PEOPLE['process_owner']},assigned,not checked\r\n").encode()
    preview = upload(b, "training", "training.csv", data)
    assert preview.status_code == 200, text(preview)[:2000]
    page = text(preview)
    assert "1 added, 1 changed, 0 unchanged" in page and "Internal Auditor (2 days)" in page
    with app.app_context():
        assert db.session.scalar(select(TrainingRecord).where(TrainingRecord.ref == "TRN-501")) is None
    raw = preview.get_data(as_text=True)
    applied = b.post("/registers/training/import/apply", {"filename": "training.csv", "payload": hidden(raw, "payload"),
                                                          "seen": hidden(raw, "seen")})
    assert applied.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(TrainingRecord).where(TrainingRecord.ref == "TRN-501")) is not None


def test_registers_page_import_preview_names_people(app: Flask, browser: Callable[[str], Browser]) -> None:
    """People in the preview read by name, before and after; an address no user has is named in the
    problem as typed."""
    b = browser("aims_owner")
    with app.app_context():
        row = db.session.scalar(select(TrainingRecord).where(TrainingRecord.user_id.is_not(None))
                                .order_by(TrainingRecord.id))
        assert row is not None
        ref, before = row.ref, db.session.get(User, row.user_id)
        assert before is not None
        was = before.name
        other = next(k for k in ("process_owner", "assessor") if PEOPLE[k] != before.email)
        names = {k: user(k).name for k in (other, "reviewer")}
    data = ("Reference,Course,Person,Status\r\n"
            f"{ref},{row.course},{PEOPLE[other]},{row.status}\r\n"
            f"TRN-502,Red-teaming basics,{PEOPLE['reviewer']},assigned\r\n").encode()
    preview = upload(b, "training", "training.csv", data)
    assert preview.status_code == 200, text(preview)[:2000]
    table = text(preview)[text(preview).index('data-testid="preview-table"'):]
    table = re.sub(r"<[^>]+>", " ", table[:table.index("</table>")])
    assert re.search(rf"Person\s*:\s*{re.escape(was)}\s*→\s*{re.escape(names[other])}", table), table
    assert re.search(rf"Person\s*:\s*{re.escape(names['reviewer'])}", table), table
    assert "@" not in table
    unknown = upload(b, "training", "training.csv",
                     b"Reference,Course,Person,Status\r\nTRN-503,Red-teaming,someone@elsewhere.example,assigned\r\n")
    assert unknown.status_code == 422 and "someone@elsewhere.example" in text(unknown)


def test_registers_page_import_refused_when_a_row_changed_since_the_preview(
        app: Flask, browser: Callable[[str], Browser]) -> None:
    b, other = browser("aims_owner"), browser("process_owner")
    ref = add_system(b, name="Preview race")
    data = f"Reference,Name\r\n{ref},Preview race renamed\r\n".encode()
    raw = upload(b, "ai_systems", "s.csv", data).get_data(as_text=True)
    assert other.post(f"/registers/ai_systems/{ref}/edit", {**SYSTEM, "name": "Changed meanwhile",
                                                             "version": version_on(other, ref)}).status_code == 303
    response = b.post("/registers/ai_systems/import/apply", {"filename": "s.csv", "payload": hidden(raw, "payload"),
                                                             "seen": hidden(raw, "seen")})
    assert response.status_code == 409
    assert "Nothing was imported" in text(response) and "changed by Tomás Alvarez" in text(response)
    with app.app_context():
        assert system(ref).name == "Changed meanwhile"


def test_registers_page_import_problems_shown_and_nothing_applied(browser: Callable[[str], Browser]) -> None:
    b = browser("aims_owner")
    response = upload(b, "ai_systems", "bad.csv", b"Reference,Name,Learns in operation\r\nAIS-601,,perhaps\r\n")
    assert response.status_code == 422
    page = text(response)
    assert "row 2, column “Name”: is required" in page
    assert "row 2, column “Learns in operation”: must be yes or no, not &#39;perhaps&#39;" in page
    assert 'data-testid="apply"' not in page


def test_registers_downloads_and_template(browser: Callable[[str], Browser]) -> None:
    b = browser("reviewer")
    csv_text = b.get("/registers/risks/export.csv").get_data().decode("utf-8-sig")
    assert csv_text.splitlines()[0].startswith("Reference,Title,Description,Status")
    assert "owner_id" not in csv_text
    book = load_workbook(io.BytesIO(b.get("/registers/ai_systems/template.xlsx").get_data()))
    assert book.sheetnames == ["AI systems", "Columns"]
    rules = {r[0]: r[1] for r in book["Columns"].iter_rows(min_row=2, values_only=True)}
    assert rules["Personal data"].startswith("required; one of: None, Personal, Special category")
    assert zipfile.ZipFile(io.BytesIO(b.get("/registers/all.csv.zip").get_data())).namelist()[0] == "ai_systems.csv"
    assert b.get("/registers/ai_systems/import").status_code == 403


def test_registers_json_values_never_name_columns(app: Flask) -> None:
    api = _api(app, "reviewer")
    row = api("GET", "/registers/ai_systems/AIS-001")
    assert row.headers["ETag"] == f'"{row.get_json()["version"]}"'
    assert not [k for k in row.get_json()["values"] if k.endswith("_id")]
    assert json.dumps(row.get_json()).count("system_owner_id") == 0
    with app.app_context():
        assert db.session.scalar(select(User).where(User.email == PEOPLE["process_owner"])) is not None


def test_a_registers_own_address_opens_its_list(browser: Callable[[str], Browser]) -> None:
    priya = browser("aims_owner")
    response = priya.client.get("/registers/suppliers")
    assert response.status_code == 302 and response.headers["Location"].endswith("/registers?register=suppliers")
    missing = priya.client.get("/registers/unicorns")
    assert missing.status_code == 404 and "there is no register" in missing.get_data(as_text=True)
