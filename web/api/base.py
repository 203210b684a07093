"""Token authentication and the blueprint factory of /api/v1."""


from __future__ import annotations

from typing import Any

from flask import g, request
from flask_smorest import Blueprint, abort

from engine.app import accounts
from engine.core import User

from ..common import context

SECURITY = {"bearerAuth": {"type": "http", "scheme": "bearer",
                           "description": "an API token from the web app's 'API tokens' page"}}


def api_user() -> User:
    return g.api_user  # type: ignore[no-any-return]


def _authenticate() -> Any:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    user = None
    if scheme.lower() == "bearer" and secret.strip():
        ctx = context()
        user = accounts.token_user(ctx.session, ctx.clock, secret.strip())
        if user is not None:
            ctx.session.commit()  # last_used_at
    if user is None:
        abort(401, message="send a valid API token: Authorization: Bearer <token>")
    g.api_user = user


def blueprint(name: str, description: str) -> Blueprint:
    blp = Blueprint(name, __name__, url_prefix="/api/v1", description=description)
    blp.before_request(_authenticate)
    return blp
