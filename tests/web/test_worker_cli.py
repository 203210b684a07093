"""The deadline commands of the ``aimsflow`` CLI: ``worker --once --now`` drives BPMN timers and ladders,
delegation, notifications and preferences, and the calendar feed served at ``/calendar/<token>.ics``."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator

import pytest

from engine.core.clock import FixedClock
from engine.core.settings import PROJECT_ROOT
from web import create_app
from web.extensions import db

from .test_cli import DATA, START, Cli, database_url, upgrade

OWNER = "tomas.alvarez@lumenvale.example"
DEPUTY = "meilin.chen@lumenvale.example"
MANAGER = "ingrid.larsen@lumenvale.example"


@pytest.fixture(scope="module")
def dcli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    """Migrated, demo organisation, tiny_timeout and tiny_ladders with the shipped profiles; no mail server."""
    tmp_path = tmp_path_factory.mktemp("deadlines")
    processes = tmp_path / "processes"
    processes.mkdir()
    for name in ("tiny_timeout.bpmn", "tiny_ladders.bpmn"):
        shutil.copy(DATA / name, processes)
    shutil.copy(PROJECT_ROOT / "processes" / "escalation_profiles.json", processes)
    url, drop = database_url(tmp_path)
    app = create_app({"TESTING": True, "DATABASE_URL": url, "PROCESSES_DIR": str(processes),
                      "FORMS_DIR": str(DATA / "forms"), "CLOCK": FixedClock(START),
                      "BASE_URL": "https://aims.example"})
    cli = Cli(app)
    try:
        upgrade(cli)
        cli.ok("demo", "load")
        cli.ok("deploy")
        yield cli
    finally:
        with app.app_context():
            db.engine.dispose()
        drop()


def test_worker_once_now_fires_an_interrupting_boundary_timer(dcli: Cli) -> None:
    started = dcli.json("start", "tiny_timeout", "--as", OWNER)
    instance_id = started["instance_id"]

    before = dcli.json("worker", "--once", "--now", "2026-11-05T08:59:00Z")
    result = dcli.ok("worker", "--once", "--now", "2026-11-05T09:00:01Z")

    assert before["timers_fired"] == 0
    assert "1 instance(s) woken (1 timer(s) fired)" in result.output
    assert "mail delivery off" in result.output
    tasks = dcli.json("tasks", "--as", OWNER)
    assert all(t["instance_id"] != instance_id for t in tasks)


def test_worker_once_now_walks_a_ladder_and_the_inbox_shows_it(dcli: Cli) -> None:
    dcli.json("start", "tiny_ladders", "--as", OWNER, "--data", json.dumps({"owner": OWNER}))

    report = dcli.json("worker", "--once", "--now", "2026-11-13T09:00:00Z")  # CERT: due + 1 day

    assert report["escalations"] >= 1 and report["failures"] == []
    assert report["mail"] is None and report["mail_waiting"] > 0
    listing = dcli.ok("tasks", "--as", OWNER).output
    assert "ESCALATED(L1)" in listing


@pytest.mark.parametrize(("args", "message"), [
    (["--once", "--now", "next tuesday"], "--now not an ISO 8601 date or datetime: 'next tuesday'"),
    (["--now", "2026-11-05T09:00:00Z"], "--now needs --once"),
], ids=["bad-date", "now-without-once"])
def test_worker_bad_options_exit_3(dcli: Cli, args: list[str], message: str) -> None:
    result = dcli("worker", *args)

    assert result.exit_code == 3
    assert message in result.stderr


# --------------------------------------------------------------------------- delegation

def test_delegate_command_creates_lists_and_revokes(dcli: Cli) -> None:
    made = dcli.json("delegate", "--as", "ravi.patel@lumenvale.example", "--to", DEPUTY, "--from", "2026-12-01",
                     "--until", "2026-12-14", "--reason", "parental leave")
    assert (made["from"], made["until"]) == ("2026-12-01T00:00:00Z", "2026-12-15T00:00:00Z")

    listing = dcli.ok("delegations", "--as", DEPUTY).output
    assert f"{made['id']}" in listing and "parental leave" in listing
    dcli.ok("undelegate", str(made["id"]), "--as", "ravi.patel@lumenvale.example")
    assert dcli.json("delegations", "--as", DEPUTY) == []


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--as", OWNER, "--to", OWNER], 3, "cannot be their own deputy"),
    (["--as", OWNER, "--to", "nobody@lumenvale.example"], 6, "no user with e-mail"),
    (["--as", DEPUTY, "--for", OWNER, "--to", MANAGER], 5, "may not set up a delegation"),
    (["--as", OWNER, "--to", DEPUTY, "--from", "soon"], 3, "--from not an ISO 8601"),
], ids=["self", "unknown-deputy", "not-allowed", "bad-date"])
def test_delegate_command_refusals_have_exit_codes(dcli: Cli, args: list[str], code: int, message: str) -> None:
    defaults = {"--from": "2027-01-04", "--until": "2027-01-08"}
    extra = [x for k, v in defaults.items() if k not in args for x in (k, v)]

    result = dcli("delegate", *args, *extra)

    assert result.exit_code == code
    assert message in result.stderr


def test_delegate_command_overlap_is_a_conflict(dcli: Cli) -> None:
    base = ["--as", "kwame.mensah@lumenvale.example", "--to", DEPUTY]
    dcli.ok("delegate", *base, "--from", "2027-02-01", "--until", "2027-02-10")

    result = dcli("delegate", *base, "--from", "2027-02-05", "--until", "2027-02-20")

    assert result.exit_code == 4 and "revoke it first" in result.stderr


# --------------------------------------------------------------------------- notifications, preferences, calendar

def test_notifications_command_shows_unread_and_marks_read(dcli: Cli) -> None:
    user = "lucas.moreau@lumenvale.example"
    dcli.json("start", "tiny_ladders", "--as", OWNER, "--data", json.dumps({"owner": user}))

    shown = dcli.json("notifications", "--as", user, "--mark-read")

    assert shown["unread"] == 4 and [n["kind"] for n in shown["notifications"]] == ["new_task"] * 4
    assert dcli.json("notifications", "--as", user)["unread"] == 0


def test_preferences_command_sets_the_email_mode(dcli: Cli) -> None:
    assert "e-mail immediate" in dcli.ok("preferences", "--as", DEPUTY).output

    changed = dcli.ok("preferences", "--as", DEPUTY, "--email-mode", "digest").output

    assert "e-mail digest (one e-mail a day" in changed
    assert dcli("preferences", "--as", DEPUTY, "--email-mode", "weekly").exit_code == 2


def test_calendar_command_prints_a_feed_address_that_serves_ics(dcli: Cli) -> None:
    dcli.json("start", "tiny_ladders", "--as", OWNER, "--data", json.dumps({"owner": OWNER}))
    url = dcli.ok("calendar", "--as", OWNER).output.strip()
    assert url.startswith("https://aims.example/calendar/") and url.endswith(".ics")

    response = dcli.app.test_client().get(url.removeprefix("https://aims.example"))

    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    assert b"BEGIN:VEVENT" in response.data and b"SUMMARY:Due: Std task" in response.data
    assert dcli.app.test_client().get("/calendar/not-a-token.ics").status_code == 404
    fresh = dcli.ok("calendar", "--as", OWNER, "--reset").output.strip()
    assert fresh != url
    assert dcli.app.test_client().get(url.removeprefix("https://aims.example")).status_code == 404



def test_worker_once_starts_the_reviews_that_register_dates_make_due(tmp_path_factory: pytest.TempPathFactory) -> None:
    """On a migrated database with the shipped flows, one pass starts the policy reviews of the demo's
    documents within 30 days of their next review, and the next pass starts none again."""
    tmp_path = tmp_path_factory.mktemp("due_dates")
    url, drop = database_url(tmp_path)
    app = create_app({"TESTING": True, "DATABASE_URL": url, "PROCESSES_DIR": str(PROJECT_ROOT / "processes"),
                      "FORMS_DIR": str(PROJECT_ROOT / "forms"), "CLOCK": FixedClock(START)})
    cli = Cli(app)
    try:
        upgrade(cli)
        cli.ok("demo", "load")
        cli.ok("deploy")
        first = cli.json("worker", "--once", "--now", "2026-11-02T10:00:00Z")
        again = cli.json("worker", "--once", "--now", "2026-11-02T11:00:00Z")
        text = cli.ok("worker", "--once", "--now", "2026-11-02T12:00:00Z").output
    finally:
        with app.app_context():
            db.engine.dispose()
        drop()

    # the demo's registers are as of its history's start, ten days ago; the AI policy is under review in
    # that history already, so no second review of it starts
    assert sorted((d["kind"], d["ref"], d["due_on"]) for d in first["due_started"]) == [
        ("document", "DOC-PROC-002", "2026-11-22"), ("document", "DOC-SCOPE-001", "2026-11-01")]
    assert first["failures"] == []
    assert again["due_started"] == [] and again["failures"] == []
    assert "0 review(s) started by due dates" in text
