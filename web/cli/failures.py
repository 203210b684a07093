"""What a command says when the database fails under it (or anything else it did not expect): one plain
sentence naming what was wrong and an exit code of the README's table, never SQL, the driver's words or
a traceback. The detail (statement, driver message, traceback) goes to the ``aimsflow.cli`` logger; the
``aimsflow`` command writes the ``aimsflow`` loggers to ``LOG_FILE`` (default ``instance/aimsflow.log``)
while it runs (:func:`log_to_file`).

What was wrong is looked up, most precise first: PostgreSQL's SQLSTATE (exact, then its class), SQLite's
error name (exact, then its primary code), then SQLAlchemy's class of error.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import click
from sqlalchemy import exc as sa
from sqlalchemy.orm import exc as orm

from engine.core import ConflictError, InvalidInput

from ..errors import database_error

log = logging.getLogger("aimsflow.cli")

#: exit code: the database failed or could not be reached (busy, connection refused or lost, disk full)
DATABASE_FAILED = 8
#: exit code of an error nobody foresaw (a bug): Python's own
INTERNAL = 1

CONFLICT, INVALID = ConflictError.exit_code, InvalidInput.exit_code


@dataclass(frozen=True)
class Failure:
    exit_code: int
    #: the ``code`` of ``--json`` errors
    code: str
    #: what was wrong, in words; ``{table}`` is filled in with the kind of record when it is known
    what: str


DUPLICATE = Failure(CONFLICT, "conflict", "the database already holds a record like this one{table}, perhaps "
                                          "saved by someone else at the same moment")
DANGLING = Failure(CONFLICT, "conflict", "a record it refers to no longer exists, or other records still refer "
                                         "to it{table}")
CLASH = Failure(CONFLICT, "conflict", "the change clashes with what the database holds{table}")
RACE = Failure(CONFLICT, "conflict", "someone else changed the same records at the same moment")
MISSING = Failure(INVALID, "invalid_input", "a required value is missing{table}")
TOO_LONG = Failure(INVALID, "invalid_input", "a text is longer than the database allows{table}")
TOO_BIG = Failure(INVALID, "invalid_input", "a number is larger than the database can store")
NUL = Failure(INVALID, "invalid_input", "a text contains a NUL character (\\0), which the database cannot store")
BAD_VALUE = Failure(INVALID, "invalid_input", "a value cannot be stored in the database{table}")
SCHEMA = Failure(INVALID, "invalid_input", "the database's tables do not match this aimsflow: run `aimsflow db "
                                           "upgrade`")
BAD_URL = Failure(INVALID, "invalid_input", "AIMSFLOW_DATABASE_URL is not a database address aimsflow can use "
                                            "(e.g. postgresql+psycopg://user@host/name or sqlite:///path/aimsflow.db)")
BUSY = Failure(DATABASE_FAILED, "database_unavailable", "the database is busy: another process kept it locked "
                                                        "too long; try again")
UNREACHABLE = Failure(DATABASE_FAILED, "database_unavailable", "the database could not be reached or stopped "
                                                               "answering; check that it runs and try again")
LOST = Failure(DATABASE_FAILED, "database_unavailable", "the connection to the database server failed or was "
                                                        "lost; try again")
DOWN = Failure(DATABASE_FAILED, "database_unavailable", "the database server ended the connection (it is "
                                                        "shutting down or restarting, or an administrator ended "
                                                        "it); try again")
CANCELLED = Failure(DATABASE_FAILED, "database_unavailable", "the database cancelled the command (it took too long)")
EXHAUSTED = Failure(DATABASE_FAILED, "database_unavailable", "the database server is out of disk, memory or "
                                                             "connections")
LOGIN = Failure(DATABASE_FAILED, "database_unavailable", "the database server refused the login; check the user "
                                                         "and password in AIMSFLOW_DATABASE_URL")
NO_DATABASE = Failure(DATABASE_FAILED, "database_unavailable", "the database named in AIMSFLOW_DATABASE_URL does "
                                                               "not exist")
DISK_FULL = Failure(DATABASE_FAILED, "database_unavailable", "the disk that holds the database is full")
READ_ONLY = Failure(DATABASE_FAILED, "database_unavailable", "the database file may not be written (a read-only "
                                                             "file or folder)")
CANNOT_OPEN = Failure(DATABASE_FAILED, "database_unavailable", "the database file cannot be opened (does its "
                                                               "folder exist, and may aimsflow write there?)")
DAMAGED = Failure(DATABASE_FAILED, "database_unavailable", "the database file is damaged or is not an SQLite "
                                                           "database")
IO = Failure(DATABASE_FAILED, "database_unavailable", "reading or writing the database file failed")
DATABASE = Failure(DATABASE_FAILED, "database_unavailable", "the database failed to carry out the command")
UNEXPECTED = Failure(INTERNAL, "internal_error", "aimsflow failed unexpectedly (an internal error)")

#: PostgreSQL's SQLSTATE, exactly or by its class (the first two characters)
SQLSTATES: dict[str, Failure] = {
    "23505": DUPLICATE, "23503": DANGLING, "23502": MISSING, "23": CLASH,
    "22001": TOO_LONG, "22003": TOO_BIG, "22": BAD_VALUE,
    "40001": RACE, "40P01": RACE, "40": RACE,
    "55P03": BUSY, "57014": CANCELLED, "57": DOWN,
    "08": LOST, "53": EXHAUSTED, "28": LOGIN, "3D": NO_DATABASE,
    "42": SCHEMA,
}
#: SQLite's error name (``sqlite3.Error.sqlite_errorname``), exactly or by its primary code
SQLITE: dict[str, Failure] = {
    "SQLITE_CONSTRAINT_UNIQUE": DUPLICATE, "SQLITE_CONSTRAINT_PRIMARYKEY": DUPLICATE,
    "SQLITE_CONSTRAINT_FOREIGNKEY": DANGLING, "SQLITE_CONSTRAINT_NOTNULL": MISSING, "SQLITE_CONSTRAINT": CLASH,
    "SQLITE_BUSY": BUSY, "SQLITE_LOCKED": BUSY, "SQLITE_FULL": DISK_FULL, "SQLITE_READONLY": READ_ONLY,
    "SQLITE_CANTOPEN": CANNOT_OPEN, "SQLITE_CORRUPT": DAMAGED, "SQLITE_NOTADB": DAMAGED, "SQLITE_IOERR": IO,
    "SQLITE_TOOBIG": BAD_VALUE, "SQLITE_ERROR": SCHEMA,  # SQLite's error for a missing table or column
}
#: SQLAlchemy's classes of error, for what the driver does not tell more precisely (most specific first)
CLASSES: list[tuple[type[BaseException], Failure]] = [
    (sa.IntegrityError, CLASH), (sa.DataError, BAD_VALUE), (sa.DisconnectionError, LOST),
    (sa.TimeoutError, BUSY), (sa.OperationalError, UNREACHABLE), (sa.InterfaceError, UNREACHABLE),
    (orm.StaleDataError, RACE), (sa.NoSuchModuleError, BAD_URL), (sa.ArgumentError, BAD_URL),
    (sa.SQLAlchemyError, DATABASE),
]


def _table(driver: BaseException) -> str:
    """ `` (api token)``: the kind of record the driver names, if it does."""
    diag = getattr(driver, "diag", None)
    table = getattr(diag, "table_name", None) if diag is not None else None
    if not table:  # SQLite: "UNIQUE constraint failed: api_token.name"
        match = re.search(r"constraint failed: (\w+)\.", str(driver))
        table = match.group(1) if match else None
    return f" ({table.replace('_', ' ')})" if table else ""


def classify(error: BaseException) -> tuple[Failure, str]:
    """What was wrong with a failed command: the failure and its words (``{table}`` filled in)."""
    found = database_error(error)
    if found is None:
        return UNEXPECTED, UNEXPECTED.what
    driver = getattr(found, "orig", None) or found
    failure: Failure | None = None
    state = getattr(driver, "sqlstate", None)
    name = getattr(driver, "sqlite_errorname", None)
    if "NUL (0x00)" in str(driver):  # psycopg refuses it before it reaches the server: no SQLSTATE
        failure = NUL
    elif state:
        failure = SQLSTATES.get(state) or SQLSTATES.get(state[:2])
    elif name:
        failure = SQLITE.get(name) or SQLITE.get("_".join(name.split("_")[:2]))
    if failure is None:
        failure = next(f for cls, f in CLASSES if isinstance(found, cls)) if isinstance(found, sa.SQLAlchemyError) \
            else DATABASE
    return failure, failure.what.format(table=_table(driver))


# --------------------------------------------------------------------------- reporting

def report(error: BaseException, json_output: bool = False, failure: Failure | None = None) -> int:
    """Log ``error`` with its detail, print what was wrong in words (``{"error": ...}`` on stdout with
    ``--json``) and return the exit code to end with. ``failure`` says what was wrong when the caller
    knows better than :func:`classify`."""
    failure, what = (failure, failure.what.format(table="")) if failure is not None else classify(error)
    command = click.get_current_context(silent=True)
    log.error("%s failed: %s", command.command_path if command else "a command", what, exc_info=error)
    if json_output:
        click.echo(json.dumps({"error": {"code": failure.code, "message": what}}, indent=2))
    else:
        where = log_file()
        click.echo(f"error: {what}. The command stopped without saving what it was doing "
                   f"({f'details in {where}' if where else 'the details are in the log'}).", err=True)
    return failure.exit_code


# --------------------------------------------------------------------------- the log file

_handler: logging.FileHandler | None = None


class _LogFile(logging.FileHandler):
    """A log file that never turns a failure to write into a traceback on the terminal."""

    def handleError(self, record: logging.LogRecord) -> None:
        pass


def log_file() -> Path | None:
    """Where the ``aimsflow`` loggers write while a command runs (None: to the process's own logging)."""
    return Path(_handler.baseFilename) if _handler is not None else None


@contextmanager
def log_to_file(path: str | Path) -> Iterator[None]:
    """Send the ``aimsflow`` loggers (warnings and errors, with tracebacks) to ``path`` instead of the
    terminal while the block runs; the file is created only when something is logged."""
    global _handler
    logger = logging.getLogger("aimsflow")
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass  # then nothing can be written there; the terminal stays free of the detail all the same
    handler = _LogFile(path, delay=True, encoding="utf-8")
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(name)s] %(message)s"))
    previous, propagate = _handler, logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    _handler = handler
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
        _handler = previous
        handler.close()


def describe(error: BaseException) -> str:
    """What was wrong with ``error``, in words (for a line of the worker's loop)."""
    return classify(error)[1]
