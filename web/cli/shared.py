"""What every ``aimsflow`` command uses: the unit of work whose engine errors become exit codes, the
guard that turns a database failure (or any unforeseen one) into a sentence and an exit code instead of a
traceback, the ``--as`` and ``--json`` options, failing with an exit code, JSON output, and reading
``--data``, row ids and other option values.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from flask import Flask
from sqlalchemy import inspect, text
from sqlalchemy.exc import SQLAlchemyError

from engine.core import Context, EngineError, InvalidInput, NotFound, User, directory

from .. import common
from ..errors import from_database
from ..extensions import db
from . import failures
from .migrations import revisions

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def unit(json_output: bool = False) -> Iterator[Context]:
    """``web.common.unit()`` (one transaction, committed on success); an engine error is reported
    (as JSON with ``--json``) and ends the command with the error's exit code."""
    try:
        with common.unit() as ctx:
            yield ctx
    except EngineError as exc:
        fail_on(exc, json_output)


def user(ctx: Context, email: str) -> User:
    """The user ``--as`` (or ``--for``, ``--to``) names; raises NotFound."""
    return directory.user_by_email(ctx.session, email)


# --------------------------------------------------------------------------- options

def json_option(fn: F) -> F:
    return click.option("--json", "json_output", is_flag=True, help="machine-readable output")(fn)


def as_option(help: str | None = None, required: bool = True) -> Callable[[F], F]:
    """``--as USER``: the e-mail of the acting user, passed to the command as ``as_user``."""
    return click.option("--as", "as_user", required=required, help=help)


# --------------------------------------------------------------------------- output and exits

def dump(value: Any, indent: int | None = 2) -> None:
    click.echo(json.dumps(value, indent=indent))


def emit(value: Any, json_output: bool, lines: Iterable[str]) -> None:
    """``value`` as JSON with ``--json``, else ``lines`` (a generator is consumed only then)."""
    if json_output:
        dump(value)
        return
    for line in lines:
        click.echo(line)


def abort(text: str, exit_code: int) -> NoReturn:
    """Print ``text`` on stderr and exit with ``exit_code``."""
    click.echo(text, err=True)
    sys.exit(exit_code)


def fail(message: str, exit_code: int = InvalidInput.exit_code) -> NoReturn:
    """``error: MESSAGE`` on stderr; exit 3 (invalid input) unless told otherwise."""
    abort(f"error: {message}", exit_code)


def fail_on(exc: EngineError, json_output: bool, text: str | None = None) -> NoReturn:
    """Report an engine error (``{"error": ...}`` on stdout with ``--json``, else ``text`` or
    ``error: MESSAGE`` on stderr) and exit with its exit code. One the database raised underneath (its
    message may quote the statement) is reported by ``failures.report`` instead."""
    if from_database(exc):
        sys.exit(failures.report(exc, json_output))
    if json_output:
        dump({"error": exc.to_dict()})
        sys.exit(exc.exit_code)
    abort(f"error: {exc.message}" if text is None else text, exc.exit_code)


#: the exit code when the output's reader went away, as Unix tools end on SIGPIPE (128 + 13)
PIPE_CLOSED = 141


def guard(command: click.Command) -> click.Command:
    """Make ``command`` (and a group's subcommands) end with a sentence and an exit code, never a
    traceback: an engine error as ``fail_on`` reports it, a database failure or anything unforeseen as
    ``failures.report`` does (the detail goes to the log). Idempotent; returns ``command``."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            guard(sub)
    callback = command.callback
    if callback is None or getattr(callback, "aimsflow_guarded", False):
        return command

    @functools.wraps(callback)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        json_output = bool(kwargs.get("json_output"))
        try:
            _check_row_ids(command, kwargs)
            return callback(*args, **kwargs)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:  # whoever read the output stopped (`aimsflow tasks | head`): stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush at exit
            sys.exit(PIPE_CLOSED)
        except EngineError as exc:
            fail_on(exc, json_output)
        except Exception as exc:
            sys.exit(failures.report(exc, json_output))

    guarded.aimsflow_guarded = True  # type: ignore[attr-defined]
    command.callback = guarded
    return command


# --------------------------------------------------------------------------- option values

def parsed(parse: Callable[[str], T], text: str, option: str, message: str | None = None) -> T:
    """``parse(text)``, or exit 3 with ``error: OPTION <why>`` (or ``error: MESSAGE``) when it raises
    ValueError."""
    try:
        return parse(text)
    except ValueError as exc:
        fail(message or f"{option} {exc}")


def parse_data(text: str | None, option: str = "--data") -> dict[str, Any]:
    """``--data`` (or ``option``): a JSON object, inline or ``@file.json``; exit 6 for a missing file, 3
    otherwise."""
    if not text:
        return {}
    source = text
    if text.startswith("@"):
        try:
            source = Path(text[1:]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read {option} file {text[1:]}: {exc}",
                 NotFound.exit_code if isinstance(exc, FileNotFoundError) else InvalidInput.exit_code)
    try:
        value = json.loads(source)
    except json.JSONDecodeError as exc:
        fail(f"{option} is not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})")
    if not isinstance(value, dict):
        fail(f"{option} must be a JSON object")
    where = _nul_at(value, ())
    if where is not None:
        fail(f"{option}: {where} contains a NUL character (\\u0000), which the database cannot store")
    return value


def _nul_at(value: Any, path: tuple[str, ...]) -> str | None:
    """The path (``risks/0/title``) of the first key or string of ``value`` holding a NUL character."""
    if isinstance(value, str):
        return "/".join(path) if "\x00" in value else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(key, str) and "\x00" in key:
            return "/".join((*path, key.replace("\x00", "?")))
        found = _nul_at(item, (*path, str(key)))
        if found is not None:
            return found
    return None


#: the largest row id (a 32-bit integer column): a larger one cannot exist, and PostgreSQL refuses to compare
ROW_ID_MAX = 2**31 - 1


class RowId(click.ParamType):
    """A TASK_ID, INSTANCE_ID, ... argument: a whole number. One no row can have is reported by ``guard``
    as "no task N" (exit 6), as an unknown one is, not as a database error."""

    name = "integer"

    def __init__(self, kind: str):
        self.kind = kind

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        return int(click.INT.convert(value, param, ctx))


def _check_row_ids(command: click.Command, kwargs: dict[str, Any]) -> None:
    """Raise NotFound for a row id argument no row can have."""
    for param in command.params:
        value = kwargs.get(param.name or "")
        if isinstance(param.type, RowId) and isinstance(value, int) and not 0 <= value <= ROW_ID_MAX:
            raise NotFound(f"no {param.type.kind} {value}")


# --------------------------------------------------------------------------- the database schema

def require_schema(app: Flask) -> None:
    """Exit 3, saying which command to run, unless the database is at the migrations' head revision(s)
    (an unmigrated database would otherwise end a command in a "no such table" traceback)."""
    known, heads = revisions(app.extensions["aimsflow.migrations"])
    with app.app_context():
        url = db.engine.url.render_as_string(hide_password=True)
        try:
            with db.engine.connect() as connection:
                current = set()
                if inspect(connection).has_table("alembic_version"):
                    current = set(connection.scalars(text("SELECT version_num FROM alembic_version")))
        except SQLAlchemyError as exc:
            failures.log.error("cannot read the database %s", url, exc_info=exc)
            failure, what = failures.classify(exc)
            where = failures.log_file()
            abort(f"error: cannot read the database {url}: {what}" + (f" (details in {where})" if where else ""),
                  failure.exit_code)
    if not current:
        fail(f"the database {url} has no aimsflow tables yet: run `aimsflow db upgrade`")
    if current - known:
        fail(f"the database {url} is at revision {', '.join(sorted(current))}, newer than this aimsflow "
             f"({', '.join(sorted(heads))}): upgrade aimsflow")
    if current != heads:
        fail(f"the database {url} is at revision {', '.join(sorted(current))}, this aimsflow needs "
             f"{', '.join(sorted(heads))}: run `aimsflow db upgrade`")
