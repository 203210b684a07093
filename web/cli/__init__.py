"""The ``aimsflow`` command line (a contract scripts rely on; see README "Command line").

Exit codes: 0 ok, 3 invalid input (form or definition), 4 conflict, 5 forbidden (role or SoD),
6 not found; the message names what is wrong. ``--json`` prints machine-readable output.

One module per subject, each listing its commands in ``COMMANDS``; ``shared`` holds what they all use
(the unit of work that turns engine errors into exit codes, ``--as`` and ``--json``, output). ``run``
(serving the app) is a command of ``main`` only, not of ``app.cli``.
"""

from __future__ import annotations

from typing import Any

import click
from flask.cli import FlaskGroup, ScriptInfo, routes_command, shell_command
from flask_migrate.cli import db as db_group

from . import audit, cert, demo, people, processes, registers, shared, tokens, work, worker

COMMANDS = [*processes.COMMANDS, *work.COMMANDS, *audit.COMMANDS, *cert.COMMANDS, *people.COMMANDS,
            *tokens.COMMANDS, *worker.COMMANDS, *demo.COMMANDS, *registers.COMMANDS, db_group]


def register(group: click.Group) -> None:
    """Add the application's commands to ``app.cli`` (``create_app`` calls this)."""
    for command in COMMANDS:
        group.add_command(command)


def _create_app() -> Any:
    from .. import create_app

    return create_app(command_line=True)


class _Main(FlaskGroup):
    """``aimsflow``: before a command that reads the database runs, the schema must be migrated
    (``shared.require_schema``: exit 3 naming `aimsflow db upgrade`, not a "no such table" traceback)."""

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None,
                                                                              list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if (command is not None and name not in _NO_DATABASE and not ctx.resilient_parsing
                and not {"--help", "-h"} & set(rest)):
            shared.require_schema(ctx.ensure_object(ScriptInfo).load_app())
        return name, command, rest


#: commands that work on a database without the schema (or on none)
_NO_DATABASE = {"db", "shell", "routes", "lint"}

main = _Main(create_app=_create_app, add_version_option=False, load_dotenv=False, add_default_commands=False,
                  help="aimsflow: BPMN workflows for an ISO/IEC 42001 AI management system.")
main.add_command(worker.run_command)
main.add_command(shell_command)
main.add_command(routes_command)
