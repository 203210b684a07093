"""Token authentication and the blueprint factory of /api/v1."""


from __future__ import annotations

from typing import Any

from flask import g, request
from flask_smorest import Blueprint, abort
from sqlalchemy.exc import OperationalError

from engine.app import accounts
from engine.core import User, no_wait

from .. import READS
from ..common import context

SECURITY = {"bearerAuth": {"type": "http", "scheme": "bearer",
                           "description": "an API token from the web app's 'API tokens' page"}}


def api_user() -> User:
    return g.api_user  # type: ignore[no-any-return]


def _authenticate() -> Any:
    """One indexed read checks the token. Its last use, when a minute old, is written in the request's own
    transaction: now, before the view, for a request that writes (committed with the view's work); after
    the view for one that reads (``_touch_after_read``), so that a read holds no write lock meanwhile."""
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    check = None
    ctx = context()
    if scheme.lower() == "bearer" and secret.strip():
        check = accounts.check_token(ctx.session, ctx.clock, secret.strip())
    if check is None:
        abort(401, message="send a valid API token: Authorization: Bearer <token>")
    g.api_user = check.user
    if check.touch_due:
        if request.method in READS:
            g.api_token_touch = check.token_id
        else:
            accounts.touch_token(ctx.session, ctx.clock, check.token_id)


def _touch_after_read(response: Any) -> Any:
    """After a read: write the token's last use and commit, unless another connection holds SQLite's write
    lock right now (then skip it: a later request writes it; a read never waits for a writer)."""
    token_id = g.pop("api_token_touch", None)
    if token_id is None:
        return response
    ctx = context()
    try:
        with no_wait(ctx.session):
            accounts.touch_token(ctx.session, ctx.clock, token_id)
        ctx.session.commit()
    except OperationalError:
        ctx.session.rollback()
    return response


def blueprint(name: str, description: str) -> Blueprint:
    blp = Blueprint(name, __name__, url_prefix="/api/v1", description=description)
    blp.before_request(_authenticate)
    blp.after_request(_touch_after_read)
    return blp
