"""The ``aimsflow`` command line (a contract scripts rely on; see README "Command line").

Exit codes: 0 ok, 3 invalid input (form or definition), 4 conflict, 5 forbidden (role or SoD),
6 not found, 7 a diagram failed at run time, 8 the database failed or could not be reached; the message
names what is wrong, never in SQL or the driver's words (``failures``). ``--json`` prints machine-readable
output.

One module per subject, each listing its commands in ``COMMANDS``; ``shared`` holds what they all use
(the unit of work that turns engine errors into exit codes, ``--as`` and ``--json``, output). ``run``
(serving the app) is a command of ``main`` only, not of ``app.cli``.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup, FlaskGroup, ScriptInfo, routes_command, shell_command

from . import failures

#: every command -> the module of this package that holds it, imported only when that command runs (or
#: ``--help`` lists them): ``aimsflow tasks`` reads no spreadsheet library, alembic or page module.
#: ``tests/web/test_cli_startup.py`` checks this against each module's ``COMMANDS``.
COMMAND_MODULES = {
    **dict.fromkeys(("deploy", "lint"), "processes"),
    **dict.fromkeys(("start", "tasks", "claim", "release", "complete", "reassign", "cancel"), "work"),
    **dict.fromkeys(("message", "signal"), "events"),
    "audit": "audit",
    **dict.fromkeys(("soa", "audit-pack"), "cert"),
    **dict.fromkeys(("delegate", "delegations", "undelegate", "notifications", "preferences", "calendar"), "people"),
    "token": "tokens",
    "worker": "worker",
    "demo": "demo",
    "init": "setup",
    **dict.fromkeys(("import", "export"), "registers"),
    "db": "migrations",
}


def load_command(name: str) -> click.Command | None:
    """The command ``name`` (guarded: every command ends with a sentence and an exit code, never a
    traceback, ``shared.guard``; for ``db``, flask-migrate's commands get the same guard), its module
    imported now; None for a name that is no command of ours."""
    module = COMMAND_MODULES.get(name)
    if module is None:
        return None
    from . import shared

    if module == "migrations":
        from .migrations import db_group

        return shared.guard(db_group())
    for command in importlib.import_module(f"{__name__}.{module}").COMMANDS:
        if command.name == name:
            return shared.guard(command)
    return None


class Commands(AppGroup):
    """``app.cli``: the application's commands, each loaded on first use (``load_command``)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMAND_MODULES})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            command = load_command(cmd_name)
            if command is not None:
                self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


def register(app: Flask) -> None:
    """Make ``app.cli`` the group of the application's commands (``create_app`` calls this)."""
    commands = Commands(name=app.cli.name)
    commands.commands.update(app.cli.commands)
    app.cli = commands


def _create_app() -> Any:
    from .. import create_app

    return create_app(command_line=True)


class _Main(FlaskGroup):
    """``aimsflow``: before a command that reads the database runs, the schema must be migrated
    (``shared.require_schema``: exit 3 naming `aimsflow db upgrade`, not a "no such table" traceback).
    While a command runs, the ``aimsflow`` loggers write to LOG_FILE (default ``instance/aimsflow.log``),
    not to the terminal; an app that cannot be set up (a database address that is no such thing, its
    driver missing) is a sentence and exit 3."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            app = ctx.ensure_object(ScriptInfo).load_app()
        except Exception as exc:  # e.g. a database address that is none, or its driver is not installed
            with failures.log_to_file(os.environ.get("AIMSFLOW_LOG_FILE")
                                      or os.path.join(Flask("web").instance_path, LOG_FILE)):
                sys.exit(failures.report(exc, failure=failures.BAD_URL if isinstance(exc, ImportError) else None))
        with failures.log_to_file(app.config.get("LOG_FILE") or os.path.join(app.instance_path, LOG_FILE)):
            return super().invoke(ctx)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMAND_MODULES, "run"})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name == "run":  # a command of ``main`` only, not of app.cli
            from . import shared, worker

            self.add_command(shared.guard(worker.run_command))
        elif cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            command = load_command(cmd_name)
            if command is not None:
                self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None,
                                                                              list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if (command is not None and name not in _NO_DATABASE and not ctx.resilient_parsing
                and not {"--help", "-h"} & set(rest)):
            from .shared import require_schema

            require_schema(ctx.ensure_object(ScriptInfo).load_app())
        if name in _VIEWS:
            from .. import add_views

            add_views(ctx.ensure_object(ScriptInfo).load_app())
        return name, command, rest


#: the log file's name in the instance folder, unless LOG_FILE says where
LOG_FILE = "aimsflow.log"
#: commands that work on a database without the schema (or on none)
_NO_DATABASE = {"db", "shell", "routes", "lint"}
#: commands that serve or list the pages (the command line's app adds them only for these)
_VIEWS = {"run", "routes", "shell"}


main = _Main(create_app=_create_app, add_version_option=False, load_dotenv=False, add_default_commands=False,
                  help="aimsflow: BPMN workflows for an ISO/IEC 42001 AI management system.")
main.add_command(shell_command)
main.add_command(routes_command)
