"""Template helpers shared by every page (filters, globals) and the home page."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from flask import Flask, current_app, redirect, url_for
from flask_login import current_user
from markupsafe import Markup, escape

from engine.aims import ROLES
from engine.app import access, register_edit
from engine.core import as_utc, humanize, local_text, notifications, zone

from .extensions import db


def my_zone() -> str | None:
    """The signed-in user's time zone (None: not chosen yet, dates are said in UTC)."""
    return current_user.user.time_zone if current_user and current_user.is_authenticated else None


def _when(value: datetime | None, with_time: bool = True) -> str:
    if value is None:
        return "-"
    return local_text(value, my_zone(), with_time)


def _span(seconds: float) -> str:
    """A length of time in the largest unit that fits: "5 minutes", "3 days", "2 months"."""
    for size, unit in ((365 * 86400, "year"), (30 * 86400, "month"), (86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return "less than a minute"


def relative(value: datetime | date, now: datetime, mode: str = "ago", zone_name: str | None = None) -> str:
    """``value`` seen from ``now`` in words: "in 3 days" / "3 days ago"; for a deadline (``mode``
    "due") "due in 3 days" / "3 days overdue"; a date without a time counts whole days from today
    in ``zone_name`` (UTC when None)."""
    if not isinstance(value, datetime):
        days = (value - as_utc(now).astimezone(zone(zone_name)).date()).days
        if days == 0:
            return "due today" if mode == "due" else "today"
        span = f"{abs(days)} day{'s' if abs(days) != 1 else ''}"
    else:
        seconds = (as_utc(value) - as_utc(now)).total_seconds()
        if abs(seconds) < 60:
            return "due now" if mode == "due" else "just now"
        span = _span(abs(seconds))
        days = 1 if seconds >= 0 else -1
    if mode == "due":
        return f"due in {span}" if days > 0 else f"{span} overdue"
    return f"in {span}" if days > 0 else f"{span} ago"


def moment(value: datetime | date | None, mode: str = "at") -> Markup:
    """A ``<time>`` element in the user's time zone (UTC until they choose one; app.js then says it in
    the browser's). ``mode``: "at" (the date and time), "ago" (relative: "3 days ago", "in 2 hours"),
    "due" (a deadline: "due in 3 days", "2 days overdue"), "date" (a day). Relative ones carry the
    absolute date and time in their tooltip."""
    if value is None:
        return Markup('<span class="text-muted">-</span>')
    now, zone_name = current_app.extensions["aimsflow.clock"].now(), my_zone()
    if not isinstance(value, datetime):
        text = value.strftime("%-d %b %Y")
        return Markup(f'<time datetime="{value.isoformat()}" data-when="date" '
                      f'title="{escape(relative(value, now, zone_name=zone_name))}">{escape(text)}</time>')
    absolute = local_text(value, zone_name)
    text = absolute if mode == "at" else relative(value, now, mode, zone_name)
    return Markup(f'<time datetime="{as_utc(value).isoformat()}" data-when="{escape(mode)}" '
                  f'title="{escape(absolute)}">{escape(text)}</time>')


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def init_app(app: Flask) -> None:
    app.add_template_filter(_when, "when")
    app.add_template_filter(_pretty, "pretty")
    app.add_template_filter(humanize, "humanize")
    app.add_template_filter(register_edit.person_label, "person")  # "Priya Raman — AIMS owner"
    app.add_template_global(ROLES, "ROLES")
    app.add_template_global(moment, "moment")
    app.add_template_global(my_zone, "my_zone")

    @app.context_processor
    def _nav() -> dict[str, Any]:
        user = current_user.user if current_user.is_authenticated else None
        return {"me": user,
                "is_admin": bool(user and "admin" in user.roles),
                "is_manager": bool(user and user.roles & access.TEAM_ROLES),
                "is_cert": bool(user and user.roles & access.CERT_ROLES),
                "edits_criteria": bool(user and user.roles & access.CRITERIA_ROLES),
                "unread": notifications.unread_count(db.session, user) if user else 0}

    @app.route("/")
    def index() -> Any:
        from . import setup

        return redirect(url_for("setup.setup") if setup.needed() else url_for("tasks.inbox"))

    @app.route("/healthz")
    def healthz() -> Any:
        return {"status": "ok"}
