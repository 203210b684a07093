"""The ``aimsflow`` command line, through ``app.test_cli_runner()``: the exit codes and output scripts rely on.

Runs on SQLite, or on PostgreSQL (a schema of its own per app) when ``AIMSFLOW_TEST_DATABASE_URL`` is set.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import Result
from flask import Flask
from sqlalchemy import text

from engine.core.clock import FixedClock
from engine.core.models import Base
from web import create_app
from web.extensions import db

from ..databases import database_url

DATA = Path(__file__).resolve().parent.parent / "data"
START = "2026-11-02T09:00:00+00:00"
OWNER = "tomas.alvarez@lumenvale.example"  # process_owner: starts and submits
APPROVER = "ingrid.larsen@lumenvale.example"  # approver only
OTHER_OWNER = "meilin.chen@lumenvale.example"  # process_owner, not the starter


class Cli:
    """``aimsflow`` against one app; ``cli("tasks", "--as", x)`` returns click's Result."""

    def __init__(self, app: Flask):
        self.app = app

    def __call__(self, *args: str) -> Result:
        return self.app.test_cli_runner().invoke(args=list(args))

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.exit_code == 0, f"aimsflow {' '.join(args)} -> {result.exit_code}: {result.output}"
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json").stdout)

    def execute(self, sql: str, **params: object) -> None:
        with self.app.app_context():
            db.session.execute(text(sql), params)
            db.session.commit()


def upgrade(cli: Cli) -> Result:
    """``aimsflow db upgrade``."""
    return cli.ok("db", "upgrade")


def make_cli(tmp_path: Path) -> Iterator[Cli]:
    processes = tmp_path / "processes"
    processes.mkdir()
    shutil.copy(DATA / "tiny_approval.bpmn", processes)
    shutil.copy(DATA / "escalation_profiles.json", processes)
    url, drop = database_url(tmp_path)
    app = create_app({"TESTING": True, "DATABASE_URL": url, "PROCESSES_DIR": str(processes),
                      "FORMS_DIR": str(DATA / "forms"), "CLOCK": FixedClock(START)})
    try:
        yield Cli(app)
    finally:
        with app.app_context():
            db.engine.dispose()
        drop()


@pytest.fixture
def bare(tmp_path: Path) -> Iterator[Cli]:
    """An app on an empty database."""
    yield from make_cli(tmp_path)


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    """An app whose database is migrated, holds the demo organisation and tiny_approval (shared by the
    module's tests: each starts instances of its own)."""
    for c in make_cli(tmp_path_factory.mktemp("cli")):
        upgrade(c)
        c.ok("demo", "load")
        c.ok("deploy")
        yield c


@pytest.fixture
def own_cli(tmp_path: Path) -> Iterator[Cli]:
    """Like ``cli`` but private to one test (which may tamper with it)."""
    for c in make_cli(tmp_path):
        upgrade(c)
        c.ok("demo", "load")
        c.ok("deploy")
        yield c


def start(cli: Cli, topic: str = "laptops") -> dict[str, Any]:
    return cli.json("start", "tiny_approval", "--as", OWNER, "--data", json.dumps({"topic": topic}))


def submit_task(cli: Cli) -> int:
    [task] = start(cli)["new_tasks"]
    assert task["task_spec"] == "ut_submit"
    return int(task["id"])


# --------------------------------------------------------------------------- db, demo, deploy, lint

def schema_differences(cli: Cli) -> list[Any]:
    with cli.app.app_context(), db.engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))


def test_cli_db_upgrade_builds_the_schema_of_the_models(bare: Cli) -> None:
    upgrade(bare)
    differences = [d for d in schema_differences(bare) if d[0] != "add_fk" or not d[1].use_alter]
    assert differences == []
    with bare.app.app_context():
        head = db.session.execute(text("SELECT seq, hash FROM audit_head WHERE id = 1")).one()
    assert tuple(head) == (0, "0" * 64)
    assert count_rows(bare, "clause") == 32
    assert count_rows(bare, "control") == 38


ON_POSTGRES = os.environ.get("AIMSFLOW_TEST_DATABASE_URL", "").startswith("postgresql")


def audit_triggers(cli: Cli) -> int:
    """How many ``audit_head_follows`` triggers the app's database (its own schema on PostgreSQL) has."""
    sql = ("SELECT count(*) FROM information_schema.triggers WHERE trigger_name = 'audit_head_follows' "
           "AND event_object_schema = current_schema()" if ON_POSTGRES else
           "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = 'audit_head_follows'")
    with cli.app.app_context():
        return int(db.session.execute(text(sql)).scalar_one())


def test_cli_db_downgrade_and_upgrade_again_keep_the_audit_chain_moving(own_cli: Cli) -> None:
    """Migration 0027's trigger (an audit append is one insert; the head follows it) goes with a downgrade
    and comes back with the upgrade, on SQLite and PostgreSQL; the chain written before and after verifies,
    and the head is the last event."""
    submit_task(own_cli)
    assert audit_triggers(own_cli) == 1
    own_cli.ok("db", "downgrade", "0026")
    assert audit_triggers(own_cli) == 0
    upgrade(own_cli)
    assert audit_triggers(own_cli) == 1
    task_id = submit_task(own_cli)
    own_cli.ok("complete", str(task_id), "--as", OWNER, "--data", '{"amount": 5}')
    verified = own_cli.ok("audit", "verify").output
    events = count_rows(own_cli, "audit_event")
    assert verified.startswith(f"ok: {events} events"), verified
    with own_cli.app.app_context():
        head = db.session.execute(text("SELECT seq FROM audit_head WHERE id = 1")).scalar_one()
        last = db.session.execute(text("SELECT action FROM audit_event WHERE seq = :s"), {"s": events}).scalar_one()
    assert head == events and last == "complete"


def test_cli_db_upgrade_creates_the_use_alter_foreign_keys(bare: Cli) -> None:
    upgrade(bare)
    assert [d for d in schema_differences(bare) if d[0] == "add_fk"] == []


def count_rows(cli: Cli, table: str) -> int:
    with cli.app.app_context():
        return int(db.session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_cli_demo_load_twice_updates_the_same_rows(own_cli: Cli) -> None:
    tables = ("user_account", "control", "document_version", "evidence", "soa_entry", "nonconformity",
              "corrective_action", "audit_finding", "review_decision", "training_record", "objective_measurement",
              "scope_statement")
    before = {t: count_rows(own_cli, t) for t in tables}
    assert before["user_account"] == 16
    assert before["control"] == before["soa_entry"] == 38
    again = own_cli.ok("demo", "load")
    assert again.output.startswith("demo organisation loaded: ")
    assert "38 controls" in again.output and "3 nonconformities" in again.output
    assert {t: count_rows(own_cli, t) for t in tables} == before


def test_cli_db_upgrade_moves_json_measurements_into_rows(bare: Cli) -> None:
    """An install from before measurements were rows keeps its results: each becomes a row on the last day
    of its period (a month, a quarter) or its own day; one without a number is left out."""
    bare.ok("db", "upgrade", "0022")
    bare.execute("INSERT INTO ai_objective (id, ref, status, created_at, updated_at, row_version, iso_refs, title, "
                 "description, kind, theme, ai_system_ids, measurements) VALUES (1, 'OBJ-01', 'active', "
                 "'2026-01-01 00:00:00', '2026-01-01 00:00:00', 1, '[]', 'Fair', '', 'aims', 'fairness', '[]', "
                 ":m)", m=json.dumps([{"period": "2025-Q4", "value": 0.79, "status": "at_risk"},
                                      {"period": "2026-02", "value": 0.81, "comment": "late"},
                                      {"measured_on": "2026-03-15", "value": "0.84"},
                                      {"period": "2026-04", "value": "n/a"}]))
    upgrade(bare)
    with bare.app.app_context():
        rows = db.session.execute(text("SELECT ref, measured_on, value, note FROM objective_measurement "
                                       "ORDER BY ref")).all()
        counter = db.session.execute(text("SELECT last FROM ref_counter WHERE prefix = 'MEAS'")).scalar_one()
    assert [(r.ref, str(r.measured_on)[:10], r.value, r.note) for r in rows] == [
        ("MEAS-0001", "2025-12-31", 0.79, None), ("MEAS-0002", "2026-02-28", 0.81, "late"),
        ("MEAS-0003", "2026-03-15", 0.84, None)]
    assert counter == 3


def test_cli_deploy_prints_process_version_and_sha(own_cli: Cli, tmp_path: Path) -> None:
    changed = tmp_path / "tiny_approval.bpmn"
    changed.write_text((DATA / "tiny_approval.bpmn").read_text().replace('name="Tiny approval"', 'name="Tiny v2"'))

    result = own_cli.ok("deploy", str(changed))
    process_id, version, sha, state = result.stdout.strip().split("\t")
    assert "(warning): it has no name" in result.stderr
    assert (process_id, version, state) == ("tiny_approval", "v2", "new")
    assert len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)

    [again] = own_cli.json("deploy", str(changed))
    assert again == {"process_id": "tiny_approval", "version": 2, "sha256": sha, "created": False, "warnings": []}


def test_cli_deploy_refuses_a_broken_file_with_exit_3(own_cli: Cli, tmp_path: Path) -> None:
    broken = tmp_path / "tiny_approval.bpmn"
    broken.write_text((DATA / "tiny_approval.bpmn").read_text().replace('name="approver"', 'name="approvr"'))
    result = own_cli("deploy", str(broken))
    assert result.exit_code == 3
    assert 'tiny_approval.bpmn, user task "Approve the request" [ut_approve]' in result.stderr
    assert "did you mean 'approver'" in result.stderr
    [current] = own_cli.json("deploy")
    assert current["version"] == 1 and current["created"] is False


def test_cli_lint_accepts_a_good_file_and_lists_its_warnings_on_stderr(cli: Cli) -> None:
    result = cli.ok("lint", str(DATA / "tiny_approval.bpmn"))
    assert result.stdout.strip() == "tiny_approval.bpmn: ok (tiny_approval), 4 warnings"
    assert 'tiny_approval.bpmn, exclusive gateway [gw_decision] (line 57) (warning): it has no name' in result.stderr

    [as_json] = json.loads(cli.ok("lint", str(DATA / "tiny_approval.bpmn"), "--json").stdout)
    assert as_json["ok"] is True and {w["severity"] for w in as_json["warnings"]} == {"warning"}


def test_cli_lint_lists_element_problems_with_exit_3(cli: Cli, tmp_path: Path) -> None:
    broken = tmp_path / "tiny_approval.bpmn"
    broken.write_text((DATA / "tiny_approval.bpmn").read_text()
                      .replace('name="approver"', 'name="approvr"').replace('value="P3D"', 'value="3 days"'))
    result = cli("lint", str(broken))
    assert result.exit_code == 3
    lines = result.stderr.strip().splitlines()
    assert any(line.startswith('tiny_approval.bpmn, user task "Approve the request" [ut_approve] (line 45): '
                               "lane 'approvr'") for line in lines), lines
    assert any(line.startswith('tiny_approval.bpmn, user task "Submit the request" [ut_submit] (line 33): '
                               "due_in '3 days'") for line in lines), lines

    as_json = cli("lint", str(broken), "--json")
    assert as_json.exit_code == 3
    problems = json.loads(as_json.stdout)["error"]["problems"]
    assert {p["element"] for p in problems if p["severity"] == "error"} == {"ut_approve", "ut_submit"}


def test_cli_lint_missing_file_exits_6(cli: Cli, tmp_path: Path) -> None:
    result = cli("lint", str(tmp_path / "nope.bpmn"))
    assert result.exit_code == 6 and "does not exist" in result.stderr


# --------------------------------------------------------------------------- start, tasks, claim, complete

def test_cli_start_json_has_instance_and_new_tasks(cli: Cli) -> None:
    out = start(cli)
    assert isinstance(out["instance_id"], int) and out["status"] == "running"
    [task] = out["new_tasks"]
    assert task["task_spec"] == "ut_submit" and task["name"] == "Submit the request"
    assert task["due_at"] == "2026-11-05T09:00:00Z"


def test_cli_start_refuses_invalid_start_data(cli: Cli) -> None:
    result = cli("start", "tiny_approval", "--as", OWNER, "--data", '{"topic": "x"}')
    assert result.exit_code == 3 and "topic" in result.stderr


def test_cli_tasks_lists_due_dates(cli: Cli) -> None:
    task_id = submit_task(cli)
    result = cli.ok("tasks", "--as", OWNER)
    [line] = [line for line in result.output.splitlines() if line.split()[0] == str(task_id)]
    assert "2026-11-05 09:00" in line and "Submit the request" in line

    rows = {row["id"]: row for row in cli.json("tasks", "--as", OWNER)}
    assert rows[task_id]["due_at"] == "2026-11-05T09:00:00Z"
    assert rows[task_id]["overdue"] is False and rows[task_id]["process_id"] == "tiny_approval"


def test_cli_claim_then_complete_moves_the_process_on(cli: Cli) -> None:
    task_id = submit_task(cli)
    assert f"task {task_id} claimed by {OWNER}" in cli.ok("claim", str(task_id), "--as", OWNER).output

    out = cli.json("complete", str(task_id), "--as", OWNER, "--data", '{"amount": 5}')
    assert [t["task_spec"] for t in out["new_tasks"]] == ["ut_approve"]
    approve = out["new_tasks"][0]["id"]
    assert approve in {row["id"] for row in cli.json("tasks", "--as", APPROVER)}
    assert task_id not in {row["id"] for row in cli.json("tasks", "--as", OWNER)}


@pytest.mark.parametrize(("data", "field"), [
    ('{"amount": 0}', "amount"),
    ('{"amount": 5, "colour": "red"}', "colour"),
    ('{}', "amount"),
], ids=["below-minimum", "unknown-field", "missing-required"])
def test_cli_complete_form_error_exits_3_naming_the_field(cli: Cli, data: str, field: str) -> None:
    task_id = submit_task(cli)
    result = cli("complete", str(task_id), "--as", OWNER, "--data", data)
    assert result.exit_code == 3
    assert field in result.stderr
    as_json = cli("complete", str(task_id), "--as", OWNER, "--data", data, "--json")
    assert as_json.exit_code == 3
    error = json.loads(as_json.stdout)["error"]
    assert error["code"] == "validation_error" and any(field in json.dumps(e) for e in error["errors"])


@pytest.mark.parametrize("data", ['{"amount": 5', "[1, 2]", "not json"], ids=["truncated", "array", "words"])
def test_cli_complete_invalid_json_exits_3(cli: Cli, data: str) -> None:
    task_id = submit_task(cli)
    result = cli("complete", str(task_id), "--as", OWNER, "--data", data)
    assert result.exit_code == 3 and "--data" in result.stderr


@pytest.mark.parametrize(("content", "exit_code"), [
    (b'{"amount": 5}', 0), (None, 6), (b"\xff\xfe{}", 3), (b'{"amount": 5', 3),
], ids=["ok", "missing-file", "not-utf8", "not-json"])
def test_cli_complete_reads_data_from_a_file(cli: Cli, tmp_path: Path, content: bytes | None, exit_code: int) -> None:
    task_id = submit_task(cli)
    path = tmp_path / "data.json"
    if content is not None:
        path.write_bytes(content)
    result = cli("complete", str(task_id), "--as", OWNER, "--data", f"@{path}")
    assert result.exit_code == exit_code, result.output
    if exit_code:
        assert result.stderr.startswith("error: ") and "--data" in result.stderr


def test_cli_complete_already_completed_task_exits_4(cli: Cli) -> None:
    task_id = submit_task(cli)
    cli.ok("complete", str(task_id), "--as", OWNER, "--data", '{"amount": 5}')
    result = cli("complete", str(task_id), "--as", OTHER_OWNER, "--data", '{"amount": 6}')
    assert result.exit_code == 4
    assert "already completed by Tomás Alvarez" in result.stderr


def test_cli_complete_wrong_role_exits_5(cli: Cli) -> None:
    task_id = submit_task(cli)
    result = cli("complete", str(task_id), "--as", APPROVER, "--data", '{"amount": 5}')
    assert result.exit_code == 5
    assert "for the role Process owner" in result.stderr and "Ingrid Larsen does not hold" in result.stderr
    assert cli.ok("complete", str(task_id), "--as", OWNER, "--data", '{"amount": 5}')


@pytest.mark.parametrize(("task", "user", "message"), [
    ("999999", OWNER, "no task 999999"),
    (None, "nobody@lumenvale.example", "nobody@lumenvale.example"),
], ids=["unknown-task", "unknown-user"])
def test_cli_complete_unknown_task_or_user_exits_6(cli: Cli, task: str | None, user: str, message: str) -> None:
    task_id = task or str(submit_task(cli))
    result = cli("complete", task_id, "--as", user, "--data", '{"amount": 5}')
    assert result.exit_code == 6
    assert message in result.stderr


def test_cli_claim_unknown_task_exits_6_with_json_error(cli: Cli) -> None:
    result = cli("claim", "999999", "--as", OWNER, "--json")
    assert result.exit_code == 6
    assert json.loads(result.stdout)["error"]["code"] == "not_found"


# --------------------------------------------------------------------------- audit

def test_cli_audit_verify_ok_and_names_a_tampered_event(own_cli: Cli) -> None:
    submit_task(own_cli)
    verified = own_cli.ok("audit", "verify")
    count = int(verified.output.split("ok: ")[1].split(" events")[0])
    assert count > 1

    own_cli.execute("UPDATE audit_event SET data = :data WHERE seq = :seq", data='{"forged":true}', seq=count - 1)
    result = own_cli("audit", "verify")
    assert result.exit_code == 1
    assert f"event {count - 1} " in result.stderr and "altered" in result.stderr


def test_cli_audit_head_detects_a_cut_off_tail(own_cli: Cli) -> None:
    submit_task(own_cli)
    kept = own_cli.ok("audit", "head").output.strip()
    hash_, count = kept.split(":")
    assert len(hash_) == 64 and int(count) > 1
    assert own_cli.ok("audit", "verify", "--head", kept).output.startswith(f"ok: {count} events")

    last = int(count)
    with own_cli.app.app_context():
        tip = db.session.execute(text("SELECT hash FROM audit_event WHERE seq = :s"), {"s": last - 1}).scalar_one()
    own_cli.execute("DELETE FROM audit_event WHERE seq = :s", s=last)
    own_cli.execute("UPDATE audit_head SET seq = :s, hash = :h WHERE id = 1", s=last - 1, h=tip)

    assert own_cli.ok("audit", "verify").exit_code == 0
    result = own_cli("audit", "verify", "--head", kept)
    assert result.exit_code == 1
    assert "cut off" in result.stderr and str(last) in result.stderr


@pytest.mark.parametrize("head", ["abc:1", "x" * 64 + ":1", "0" * 64], ids=["short", "not-hex", "no-count"])
def test_cli_audit_verify_bad_head_exits_3(cli: Cli, head: str) -> None:
    result = cli("audit", "verify", "--head", head)
    assert result.exit_code == 3
    assert "HASH:COUNT" in result.stderr
