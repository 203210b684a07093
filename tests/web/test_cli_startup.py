"""``aimsflow`` imports only what the command needs: each command's module when it runs, no page, API,
Alembic, spreadsheet or PDF library for ``aimsflow tasks``, and the schema check without Alembic.
(How fast it starts is measured by hand with ``python -X importtime``, never by a timed test.)"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import click

from web.cli import COMMAND_MODULES
from web.cli.migrations import revisions
from web.cli.worker import run_command

ROOT = Path(__file__).resolve().parents[2]

#: modules ``aimsflow tasks`` has no use for
HEAVY = ("alembic", "flask_migrate", "flask_smorest", "marshmallow", "openpyxl", "fpdf", "SpiffWorkflow",
         "engine.core.runtime", "engine.aims.registers", "engine.aims.operators", "web.tasks", "web.admin", "web.api")


def test_cli_command_modules_name_every_command_of_each_module() -> None:
    named: dict[str, str] = {}
    for module in sorted(set(COMMAND_MODULES.values()) - {"migrations"}):
        for command in importlib.import_module(f"web.cli.{module}").COMMANDS:
            assert isinstance(command, click.Command) and command.name
            named[command.name] = module
    assert {name: m for name, m in COMMAND_MODULES.items() if m != "migrations"} == named
    assert COMMAND_MODULES["db"] == "migrations" and run_command.name == "run"


def test_cli_schema_check_reads_the_head_revision_without_alembic() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(ROOT / "migrations"))
    known, heads = revisions(str(ROOT / "migrations"))
    assert heads == set(script.get_heads())
    assert known == {r.revision for r in script.walk_revisions()}


def test_cli_tasks_imports_no_page_api_migration_or_export_module(tmp_path: Path) -> None:
    database = tmp_path / "cli.db"
    env = {**os.environ, "AIMSFLOW_DATABASE_URL": f"sqlite:///{database}", "AIMSFLOW_LOG_FILE": str(tmp_path / "log")}
    env.pop("AIMSFLOW_TEST_DATABASE_URL", None)
    aimsflow = [sys.executable, "-c", "import sys; from web.cli import main; sys.argv[0] = 'aimsflow'; main()"]
    subprocess.run([*aimsflow, "db", "upgrade"], env=env, cwd=tmp_path, check=True, capture_output=True)
    probe = ("import atexit, json, sys\n"
             "atexit.register(lambda: print(json.dumps(sorted(sys.modules))))\n"
             "from web.cli import main\n"
             "sys.argv = ['aimsflow', 'tasks', '--as', 'nobody@example.com', '--json']\n"
             "main()\n")
    done = subprocess.run([sys.executable, "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 6, done.stderr  # no such user: the command ran to its end
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert [m for m in loaded if m.split(".")[0] in HEAVY or m.startswith(HEAVY)] == []
    assert "engine.app.queries" in loaded


def test_cli_output_cut_off_by_its_reader_ends_quietly_with_141(tmp_path: Path) -> None:
    """`aimsflow deploy | head -0`: the reader is gone before the command writes; the deploy it committed
    stays, and the command ends with the SIGPIPE code instead of "failed unexpectedly" and a traceback."""
    database = tmp_path / "cli.db"
    env = {**os.environ, "AIMSFLOW_DATABASE_URL": f"sqlite:///{database}", "AIMSFLOW_LOG_FILE": str(tmp_path / "log"),
           "AIMSFLOW_PROCESSES_DIR": str(ROOT / "processes"), "AIMSFLOW_FORMS_DIR": str(ROOT / "forms")}
    env.pop("AIMSFLOW_TEST_DATABASE_URL", None)
    aimsflow = [sys.executable, "-c", "import sys; from web.cli import main; sys.argv[0] = 'aimsflow'; main()"]
    subprocess.run([*aimsflow, "db", "upgrade"], env=env, cwd=tmp_path, check=True, capture_output=True)
    read, write = os.pipe()
    os.close(read)  # the reader has gone before the command starts
    try:
        done = subprocess.run([*aimsflow, "deploy"], env=env, cwd=tmp_path, stdout=write, stderr=subprocess.PIPE,
                              text=True, timeout=300)
    finally:
        os.close(write)
    assert done.returncode == 141, done.stderr
    assert "unexpectedly" not in done.stderr and "Traceback" not in done.stderr
    again = subprocess.run([*aimsflow, "deploy"], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert "aims_policy_review\tv1" in again.stdout and "unchanged" in again.stdout, again.stderr  # it was saved
