"""Template helpers shared by every page (filters, globals) and the home page."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import Flask, redirect, url_for
from flask_login import current_user

from engine.aims import ROLES
from engine.app import access, humanize
from engine.core import as_utc, notifications

from .extensions import db


def _when(value: datetime | None, with_time: bool = True) -> str:
    if value is None:
        return "-"
    value = as_utc(value)
    return value.strftime("%Y-%m-%d %H:%M UTC" if with_time else "%Y-%m-%d")


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def init_app(app: Flask) -> None:
    app.add_template_filter(_when, "when")
    app.add_template_filter(_pretty, "pretty")
    app.add_template_filter(humanize, "humanize")
    app.add_template_global(ROLES, "ROLES")

    @app.context_processor
    def _nav() -> dict[str, Any]:
        user = current_user.user if current_user.is_authenticated else None
        return {"me": user,
                "is_admin": bool(user and "admin" in user.roles),
                "is_manager": bool(user and user.roles & access.TEAM_ROLES),
                "is_cert": bool(user and user.roles & access.CERT_ROLES),
                "unread": notifications.unread_count(db.session, user) if user else 0}

    @app.route("/")
    def index() -> Any:
        from . import setup

        return redirect(url_for("setup.setup") if setup.needed() else url_for("tasks.inbox"))

    @app.route("/healthz")
    def healthz() -> Any:
        return {"status": "ok"}
