"""What every view and CLI command uses: the engine context, the acting user, one transaction per request
(or command; ``web.cli.shared.unit`` adds the CLI's exit codes around ``unit``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import current_app
from flask_login import current_user

from engine.core import Context, InvalidInput, User, transaction, write_ahead

from .extensions import db


def context() -> Context:
    return Context(db.session, current_app.extensions["aimsflow.clock"], current_app.extensions["aimsflow.settings"])


def actor() -> User:
    """The logged-in user (views are behind ``login_required``)."""
    return current_user.user  # type: ignore[no-any-return]


@contextmanager
def unit() -> Iterator[Context]:
    """One transaction: commit on success; on an engine error roll back (keeping audit events that must
    survive, such as a blocked SoD attempt) and re-raise. In a read request (GET) it first takes SQLite's
    write lock up front again (``engine.core.db.write_ahead``)."""
    ctx = context()
    write_ahead(ctx.session)
    with transaction(ctx.session, ctx.clock):
        yield ctx


def seen_version(value: Any) -> int | None:
    """The task version a form or an API call sent back (the one its user saw when they looked), or None
    when none was sent. A change of the task since then answers 409. Raises InvalidInput otherwise."""
    if value is None or value == "":
        return None
    text = str(value).strip().removeprefix("W/").strip('"')
    if isinstance(value, bool) or not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise InvalidInput("the task's version must be the whole number the task was shown with; "
                           "reload the task and try again")
    return int(text)


def now() -> Any:
    return current_app.extensions["aimsflow.clock"].now()
