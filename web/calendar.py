"""The calendar feed: ``GET /calendar/<token>.ics``, the user's open task deadlines (no login: the
secret token is the key; ``aimsflow calendar --as USER`` prints the address)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from engine.app import calendar_feed

from .extensions import db

bp = Blueprint("calendar", __name__)


@bp.get("/calendar/<token>.ics")
def feed(token: str) -> Response:
    clock = current_app.extensions["aimsflow.clock"]
    text = calendar_feed.feed(db.session, current_app.extensions["aimsflow.settings"], token, clock.now())
    return Response(text, mimetype="text/calendar", headers={"Cache-Control": "private, max-age=300"})
