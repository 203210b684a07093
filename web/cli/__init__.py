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

import os
import sys
from typing import Any

import click
from flask import Flask
from flask.cli import FlaskGroup, ScriptInfo, routes_command, shell_command
from flask_migrate.cli import db as db_group

from . import audit, cert, demo, events, failures, people, processes, registers, shared, tokens, work, worker

#: every command ends with a sentence and an exit code, never a traceback (``shared.guard``; for
#: ``db``, flask-migrate's commands get the same guard)
COMMANDS = [shared.guard(c) for c in (*processes.COMMANDS, *work.COMMANDS, *events.COMMANDS, *audit.COMMANDS,
                                      *cert.COMMANDS, *people.COMMANDS, *tokens.COMMANDS, *worker.COMMANDS,
                                      *demo.COMMANDS, *registers.COMMANDS, db_group)]


def register(group: click.Group) -> None:
    """Add the application's commands to ``app.cli`` (``create_app`` calls this)."""
    for command in COMMANDS:
        group.add_command(command)


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

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None,
                                                                              list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if (command is not None and name not in _NO_DATABASE and not ctx.resilient_parsing
                and not {"--help", "-h"} & set(rest)):
            shared.require_schema(ctx.ensure_object(ScriptInfo).load_app())
        return name, command, rest


#: the log file's name in the instance folder, unless LOG_FILE says where
LOG_FILE = "aimsflow.log"
#: commands that work on a database without the schema (or on none)
_NO_DATABASE = {"db", "shell", "routes", "lint"}

main = _Main(create_app=_create_app, add_version_option=False, load_dotenv=False, add_default_commands=False,
                  help="aimsflow: BPMN workflows for an ISO/IEC 42001 AI management system.")
main.add_command(shared.guard(worker.run_command))
main.add_command(shell_command)
main.add_command(routes_command)
