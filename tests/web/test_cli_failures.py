"""When the database fails under an ``aimsflow`` command, the terminal gets one plain sentence naming
what was wrong and an exit code of the README's table (3 bad input, 4 conflict, 6 not found, 8 the
database failed or could not be reached), never SQL, the driver's words or a traceback; the detail goes
to the log. Each failure is a real one of the database the suite runs on (SQLite, or PostgreSQL with
``AIMSFLOW_TEST_DATABASE_URL``).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, event, text

from engine.app import queries
from engine.core.clock import FixedClock
from web import create_app
from web.cli import main, worker
from web.extensions import db

from ..people import add_people
from .test_cli import DATA, ON_POSTGRES, OWNER, START, Cli, make_cli, upgrade

#: what must never reach the terminal: SQL, the driver's or SQLAlchemy's words, a traceback
LEAKS = ("Traceback", "SELECT ", "INSERT ", "UPDATE ", "[SQL", "psycopg.", "(psycopg", "sqlite3", "sqlalchemy.",
         "OperationalError", "IntegrityError", "DataError", "constraint failed", "duplicate key", "violates",
         "Connection refused", "unable to open", "database is locked", "terminating connection", "sqlalche.me")
UNREACHABLE_PG = "postgresql+psycopg://aimsflow@127.0.0.1:1/aimsflow"


def plain(result: Result) -> str:
    """The command's output, checked for leaks."""
    out = result.output
    for leak in LEAKS:
        assert leak not in out, f"{leak!r} reached the terminal: {out}"
    return out


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """What the ``aimsflow.cli`` logger recorded, with the tracebacks."""
    return "\n".join(logging.Formatter().format(r) for r in caplog.records if r.name == "aimsflow.cli")


@pytest.fixture(scope="module")
def fcli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    """A migrated database with the people of ``tests/people.py`` and ``tiny_approval``."""
    for c in make_cli(tmp_path_factory.mktemp("failures")):
        upgrade(c)
        with c.app.app_context():
            add_people(db.session, FixedClock(START).now())
            db.session.commit()
        c.ok("deploy")
        yield c


def _task(cli: Cli) -> str:
    started = cli.json("start", "tiny_approval", "--as", OWNER, "--data", '{"topic": "laptops"}')
    return str(started["new_tasks"][0]["id"])


# --------------------------------------------------------------------------- the data is refused

@pytest.mark.parametrize("json_output", [False, True], ids=["text", "json"])
def test_cli_a_duplicate_the_database_refuses_is_a_conflict_in_words(fcli: Cli, caplog: pytest.LogCaptureFixture,
                                                                    json_output: bool) -> None:
    """A unique constraint the engine does not check first (here one the site added) answers exit 4."""
    name = f"nightly {json_output}"
    fcli.execute("CREATE UNIQUE INDEX ix_test_token_name ON api_token (name)")
    try:
        fcli.ok("token", "create", "--as", OWNER, "--name", name)
        result = fcli("token", "create", "--as", OWNER, "--name", name, *(["--json"] if json_output else []))
    finally:
        fcli.execute("DROP INDEX ix_test_token_name")
    assert result.exit_code == 4
    out = plain(result)
    message = ("the database already holds a record like this one (api token), perhaps saved by someone else at "
               "the same moment")
    if json_output:
        assert json.loads(result.stdout) == {"error": {"code": "conflict", "message": message}}
    else:
        assert out.startswith(f"error: {message}. The command stopped without saving what it was doing")
    assert "api_token" in logged(caplog) and "Traceback" in logged(caplog)


@pytest.mark.skipif(not ON_POSTGRES, reason="SQLite stores text of any length")
def test_cli_a_text_longer_than_the_database_column_is_invalid_input_in_words(fcli: Cli,
                                                                              caplog: pytest.LogCaptureFixture) -> None:
    """The engine checks lengths against its models; a column the site narrowed still answers exit 3."""
    fcli.execute("ALTER TABLE api_token ALTER COLUMN name TYPE varchar(8) USING left(name, 8)")
    try:
        result = fcli("token", "create", "--as", OWNER, "--name", "a name longer than eight")
    finally:
        fcli.execute("ALTER TABLE api_token ALTER COLUMN name TYPE varchar(100)")
    assert result.exit_code == 3
    assert plain(result).startswith("error: a text is longer than the database allows")
    assert "StringDataRightTruncation" in logged(caplog)


@pytest.mark.skipif(not ON_POSTGRES, reason="SQLite stores a NUL character")
def test_cli_a_nul_character_postgresql_cannot_store_is_invalid_input_in_words(fcli: Cli) -> None:
    """(No shell passes a NUL in an argument; a script calling the commands in-process can.)"""
    task = _task(fcli)
    result = fcli("reassign", task, "--as", "oliver.grant@lumenvale.example", "--to", OWNER, "--reason", "a\x00b")
    assert result.exit_code == 3
    assert plain(result).startswith("error: a text contains a NUL character")


def test_cli_data_with_a_nul_character_is_refused_naming_the_field(fcli: Cli) -> None:
    task = _task(fcli)
    result = fcli("complete", task, "--as", OWNER, "--data", json.dumps({"amount": 5, "note": ["ok", "a\x00b"]}))
    assert result.exit_code == 3
    assert plain(result) == ("error: --data: note/1 contains a NUL character (\\u0000), which the database cannot "
                             "store\n")
    assert task in [str(t["id"]) for t in fcli.json("tasks", "--as", OWNER)]  # not completed: it still waits


@pytest.mark.parametrize(("args", "message"), [
    (["claim", "99999999999"], "no task 99999999999"),
    (["cancel", "3000000000", "--reason", "x"], "no process instance 3000000000"),
    (["token", "revoke", "2147483648"], "no API token 2147483648"),
    (["undelegate", "99999999999999999999"], "no delegation 99999999999999999999"),
], ids=["task", "instance", "token", "delegation"])
def test_cli_an_id_no_row_can_have_is_not_found(fcli: Cli, args: list[str], message: str) -> None:
    """PostgreSQL refuses to compare an integer column with a number past its range; SQLite's driver cannot
    even pass one past 64 bits: both are simply "no such row"."""
    result = fcli(*args, "--as", OWNER)
    assert result.exit_code == 6
    assert plain(result) == f"error: {message}\n"


def test_cli_an_id_no_row_can_have_is_not_found_in_json_too(fcli: Cli) -> None:
    result = fcli("claim", "99999999999", "--as", OWNER, "--json")
    assert result.exit_code == 6
    assert json.loads(result.stdout)["error"] == {"code": "not_found", "message": "no task 99999999999"}


# --------------------------------------------------------------------------- the database is busy or gone

def test_cli_a_database_locked_by_another_process_exits_8_in_words(fcli: Cli, monkeypatch: pytest.MonkeyPatch,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    """SQLite: another process holds the write lock past the busy timeout. PostgreSQL: another session
    holds the instance's and the task's row locks past the lock timeout."""
    task = _task(fcli)
    with fcli.app.app_context():
        engine = db.engine
        url = engine.url.render_as_string(hide_password=False)
        instance_id = db.session.execute(text("SELECT instance_id FROM human_task WHERE id = :t"),
                                         {"t": int(task)}).scalar_one()
    if ON_POSTGRES:
        def short_wait(dbapi_conn: Any, _record: Any) -> None:
            with dbapi_conn.cursor() as cur:
                cur.execute("SET lock_timeout = '300ms'")
            dbapi_conn.commit()

        event.listen(engine, "connect", short_wait)
        engine.dispose()
        other = create_engine(url)
        holder = other.connect()
        holder.execute(text("SELECT id FROM process_instance WHERE id = :i FOR UPDATE"), {"i": instance_id})
        holder.execute(text("SELECT id FROM human_task WHERE id = :t FOR UPDATE"), {"t": int(task)})
    else:
        monkeypatch.setattr("engine.core.db.SQLITE_BUSY_TIMEOUT_MS", 300)
        engine.dispose()
        raw = sqlite3.connect(str(engine.url.database))
        raw.execute("BEGIN IMMEDIATE")
    try:
        result = fcli("claim", task, "--as", OWNER)
    finally:
        if ON_POSTGRES:
            holder.rollback()
            holder.close()
            other.dispose()
            event.remove(engine, "connect", short_wait)
        else:
            raw.rollback()
            raw.close()
        engine.dispose()
    assert result.exit_code == 8
    assert plain(result).startswith("error: the database is busy: another process kept it locked too long; try again")
    assert ("LockNotAvailable" if ON_POSTGRES else "database is locked") in logged(caplog)
    assert fcli.ok("claim", task, "--as", OWNER).output == f"task {task} claimed by {OWNER}\n"


@pytest.mark.skipif(not ON_POSTGRES, reason="an SQLite file has no connection to lose")
def test_cli_a_connection_the_server_ends_exits_8_in_words(fcli: Cli, monkeypatch: pytest.MonkeyPatch,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    inbox = queries.inbox

    def cut_then_read(session: Any, *args: Any, **kwargs: Any) -> Any:
        session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        return inbox(session, *args, **kwargs)

    monkeypatch.setattr(queries, "inbox", cut_then_read)
    result = fcli("tasks", "--as", OWNER)
    assert result.exit_code == 8
    assert plain(result).startswith("error: the database server ended the connection")
    assert "terminating connection" in logged(caplog)
    monkeypatch.undo()
    assert fcli("tasks", "--as", OWNER).exit_code == 0  # the next command gets a new connection


@pytest.mark.parametrize(("url", "message"), [
    (UNREACHABLE_PG, "the database could not be reached or stopped answering"),
    ("sqlite:///{tmp}/no/such/folder/aimsflow.db", "the database file cannot be opened"),
], ids=["postgresql-refused", "sqlite-no-folder"])
def test_cli_a_database_that_cannot_be_reached_exits_8_in_words(tmp_path: Path, url: str, message: str,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    app = create_app({"TESTING": True, "DATABASE_URL": url.format(tmp=tmp_path), "FORMS_DIR": str(DATA / "forms")})
    for args in (["tasks", "--as", OWNER], ["tasks", "--as", OWNER, "--json"], ["audit", "verify"]):
        result = app.test_cli_runner().invoke(args=args)
        assert result.exit_code == 8, result.output
        if "--json" in args:
            assert json.loads(result.stdout)["error"] == {"code": "database_unavailable", "message": message + (
                "; check that it runs and try again" if url == UNREACHABLE_PG else
                " (does its folder exist, and may aimsflow write there?)")}
        else:
            assert plain(result).startswith(f"error: {message}")
    assert ("Connection refused" if url == UNREACHABLE_PG else "unable to open database file") in logged(caplog)


def test_cli_an_error_the_engine_wraps_around_a_database_error_does_not_show_its_sql(
        fcli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine error raised from a database error may quote the statement in its message."""
    from engine.core import WorkflowError

    def fails(session: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            session.execute(text("SELECT no_such_column FROM human_task"))
        except Exception as exc:
            raise WorkflowError(f"the engine failed: {exc}") from exc

    monkeypatch.setattr(queries, "inbox", fails)
    result = fcli("tasks", "--as", OWNER)
    assert result.exit_code == 3
    assert plain(result).startswith("error: the database's tables do not match this aimsflow: run `aimsflow db "
                                    "upgrade`")
    assert "no_such_column" not in result.output


def test_cli_an_unforeseen_error_is_a_sentence_and_exit_1(fcli: Cli, monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise KeyError("where_the_bug_is")

    monkeypatch.setattr(queries, "inbox", broken)
    result = fcli("tasks", "--as", OWNER)
    assert result.exit_code == 1
    assert plain(result).startswith("error: aimsflow failed unexpectedly (an internal error)")
    assert "where_the_bug_is" not in result.output and "where_the_bug_is" in logged(caplog)


# --------------------------------------------------------------------------- the real entry point and the worker

@pytest.mark.parametrize(("args", "url", "code", "message"), [
    (["tasks", "--as", OWNER], UNREACHABLE_PG, 8,
     f"error: cannot read the database {UNREACHABLE_PG}: the database could not be reached"),
    (["db", "upgrade"], UNREACHABLE_PG, 8, "error: the database could not be reached"),
    (["tasks", "--as", OWNER], "nonsense", 3, "error: AIMSFLOW_DATABASE_URL is not a database address"),
    (["tasks", "--as", OWNER], "mysql://aimsflow@127.0.0.1/aimsflow", 3,
     "error: AIMSFLOW_DATABASE_URL is not a database address"),
], ids=["unreachable", "upgrade-unreachable", "not-a-url", "no-driver"])
def test_aimsflow_writes_the_detail_to_its_log_file_not_the_terminal(tmp_path: Path, args: list[str], url: str,
                                                                     code: int, message: str) -> None:
    log = tmp_path / "logs" / "aimsflow.log"
    result = CliRunner().invoke(main, args, env={"AIMSFLOW_DATABASE_URL": url, "AIMSFLOW_LOG_FILE": str(log)})
    assert result.exit_code == code
    assert plain(result).startswith(message)
    assert f"details in {log}" in result.output
    assert "Traceback" in log.read_text()


def test_worker_loop_tells_a_failed_pass_in_words_and_logs_the_detail(capsys: pytest.CaptureFixture[str],
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    app = create_app({"TESTING": True, "DATABASE_URL": UNREACHABLE_PG})
    with app.app_context():
        assert worker._pass(app.extensions["aimsflow.clock"], app.extensions["aimsflow.settings"], None) is None
    err = capsys.readouterr().err
    assert err == ("worker pass failed: the database could not be reached or stopped answering; check that it runs "
                   "and try again (the worker goes on with its next pass)\n")
    assert "Connection refused" in "\n".join(logging.Formatter().format(r) for r in caplog.records
                                             if r.name == "aimsflow.worker")
