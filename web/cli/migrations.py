"""``aimsflow db ...``: flask-migrate's commands (Alembic), bound to the app when they are asked for, so
that no other command imports Alembic."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext


def db_group() -> click.Group:
    """flask-migrate's ``db`` group; flask-migrate is bound to the app (the migrations of
    ``app.extensions["aimsflow.migrations"]``) when one of its commands runs."""
    from flask_migrate.cli import db

    callback = db.callback
    if callback is not None and not getattr(callback, "aimsflow_binds", False):

        @functools.wraps(callback)
        @with_appcontext
        def bound(*args: Any, **kwargs: Any) -> Any:
            bind(current_app)
            return callback(*args, **kwargs)

        bound.aimsflow_binds = True  # type: ignore[attr-defined]
        db.callback = bound
    return db


def bind(app: Flask) -> None:
    """Bind flask-migrate to ``app`` (once)."""
    from flask_migrate import Migrate

    from ..extensions import db as database

    if "migrate" not in app.extensions:
        Migrate(app, database, directory=app.extensions["aimsflow.migrations"])


#: ``revision = '0013'`` / ``down_revision = ('0011', '0012')`` at the start of a line of a migration
_ASSIGNMENT = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.MULTILINE)


def revisions(directory: str) -> tuple[set[str], set[str]]:
    """(every revision, the head revisions) of the migrations in ``directory``, read from the
    ``revision`` and ``down_revision`` lines of ``versions/*.py`` without importing Alembic or the
    migrations."""
    known: set[str] = set()
    parents: set[str] = set()
    for path in sorted(Path(directory, "versions").glob("*.py")):
        values = {name: ast.literal_eval(value) for name, value in _ASSIGNMENT.findall(path.read_text("utf-8"))}
        if not isinstance(values.get("revision"), str):
            continue
        known.add(values["revision"])
        down = values.get("down_revision")
        parents.update([down] if isinstance(down, str) else list(down or ()))
    return known, known - parents
