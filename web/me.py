"""The user's own pages: notifications (the bell) with the e-mail preference, the time zone dates are
shown in and the calendar feed address, and out of office (deputies for a period)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required
from sqlalchemy import select

from engine.app import accounts, calendar_feed
from engine.core import ConflictError, Forbidden, InvalidInput, NotFound, User, delegation, notifications, zone

from .common import actor, now, unit
from .extensions import db

bp = Blueprint("me", __name__)


@bp.before_request
@login_required
def _login() -> None:
    """Every page here needs a logged-in user."""


def _notifications_page(zone_typed: str | None = None, zone_error: str | None = None, status: int = 200) -> Any:
    unread_only = request.args.get("unread") == "1"
    with unit() as ctx:  # the preference row and the feed token are made on first use
        me = actor()
        rows = notifications.list_for(ctx.session, me, unread_only=unread_only, limit=100)
        mode = notifications.preference(ctx.session, ctx.clock, me).email_mode
        token = calendar_feed.token_for(ctx.session, ctx.clock, me)
    return render_template("me/notifications.html", rows=rows, mode=mode, modes=notifications.EMAIL_MODES,
                           unread_only=unread_only, feed_url=url_for("calendar.feed", token=token, _external=True),
                           zones=_zone_names(), zone_typed=me.time_zone if zone_typed is None else zone_typed,
                           zone_error=zone_error), status


@lru_cache(maxsize=1)
def _zone_names() -> list[str]:
    return sorted(n for n in available_timezones() if "/" in n and not n.startswith(("Etc/", "SystemV/"))) + ["UTC"]


@bp.route("/notifications")
def notifications_page() -> Any:
    return _notifications_page()


@bp.route("/time-zone", methods=["POST"])
def time_zone() -> Any:
    """Save the user's time zone. ``from_browser=1`` (app.js on a first visit) sets it only while the
    user has none and answers 204 without a page."""
    typed = request.form.get("time_zone", "")
    guessed = request.form.get("from_browser") == "1"
    try:
        with unit() as ctx:
            accounts.set_time_zone(ctx.session, actor(), typed, only_if_unset=guessed)
    except InvalidInput as exc:
        if guessed:
            return "", 204  # a browser whose zone we do not know keeps UTC until the user chooses one
        return _notifications_page(typed, exc.message, 422)
    if guessed:
        return "", 204
    flash(f"Dates and deadlines are now shown in the time zone {typed.strip()}.", "success")
    return redirect(url_for(".notifications_page"), 303)


@bp.route("/notifications/read", methods=["POST"])
def mark_read() -> Any:
    """Mark one notification (``id``) or all of them read."""
    raw = request.form.get("id")
    if raw is not None and not raw.isdigit():
        flash(f"'{raw}' is not a notification id.", "danger")
        return redirect(url_for(".notifications_page"), 303)
    with unit() as ctx:
        changed = notifications.mark_read(ctx.session, ctx.clock, actor(), None if raw is None else [int(raw)])
    flash(f"{changed} notification{'s' if changed != 1 else ''} marked read.", "info")
    return redirect(url_for(".notifications_page"), 303)


@bp.route("/notifications/preferences", methods=["POST"])
def preferences() -> Any:
    try:
        with unit() as ctx:
            notifications.set_email_mode(ctx.session, ctx.clock, actor(), request.form.get("email_mode", ""))
    except InvalidInput as exc:
        flash(exc.message, "danger")
        return redirect(url_for(".notifications_page"), 303)
    flash("Your e-mail preference is saved.", "success")
    return redirect(url_for(".notifications_page"), 303)


@bp.route("/notifications/calendar", methods=["POST"])
def reset_calendar() -> Any:
    """A new calendar feed address; the old one stops working."""
    with unit() as ctx:
        calendar_feed.token_for(ctx.session, ctx.clock, actor(), reset=True)
    flash("Your calendar feed has a new address; the old one no longer works.", "info")
    return redirect(url_for(".notifications_page"), 303)


def _deputies() -> list[User]:
    return list(db.session.scalars(select(User).where(User.active.is_(True), User.id != actor().id)
                                   .order_by(User.name)))


def _away_page(values: dict[str, str] | None = None, status: int = 200) -> Any:
    me = actor()
    rows = delegation.list_for(db.session, me, now(), include_past=request.args.get("past") == "1")
    names = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(
        {r.user_id for r in rows} | {r.deputy_id for r in rows})))}
    return render_template("me/away.html", rows=rows, names=names, deputies=_deputies(), values=values or {},
                           now=now(), past=request.args.get("past") == "1"), status


@bp.route("/away")
def away() -> Any:
    return _away_page()


def _day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} '{value}' is not a date (YYYY-MM-DD)") from None


@bp.route("/away", methods=["POST"])
def away_create() -> Any:
    """Away from the start of ``starts`` until the end of ``ends`` (days in the user's time zone),
    ``deputy`` stands in."""
    form = {k: request.form.get(k, "").strip() for k in ("deputy", "starts", "ends", "reason")}
    try:
        first, last = _day(form["starts"], "the first day"), _day(form["ends"], "the last day")
        local = zone(actor().time_zone)
        starts_at = datetime.combine(first, time(), local).astimezone(UTC)
        ends_at = datetime.combine(last + timedelta(days=1), time(), local).astimezone(UTC)
        with unit() as ctx:
            me = actor()
            delegation.create(ctx.session, ctx.clock, ctx.settings, me, me, form["deputy"], starts_at, ends_at,
                              form["reason"] or None)
    except (InvalidInput, NotFound, ConflictError, Forbidden) as exc:
        flash(exc.message, "danger")
        return _away_page(form, 422 if isinstance(exc, (InvalidInput, NotFound)) else 409)
    flash(f"{form['deputy']} stands in for you from {first} to {last}.", "success")
    return redirect(url_for(".away"), 303)


@bp.route("/away/<int:delegation_id>/revoke", methods=["POST"])
def away_revoke(delegation_id: int) -> Any:
    """Revoke a delegation; one the user may not manage answers 404 like a missing one (ids cannot be probed)."""
    try:
        with unit() as ctx:
            delegation.revoke(ctx.session, ctx.clock, actor(), delegation_id)
    except Forbidden:
        raise NotFound(f"no delegation {delegation_id}") from None
    except ConflictError as exc:
        flash(exc.message, "warning")
        return redirect(url_for(".away"), 303)
    flash(f"Delegation {delegation_id} revoked.", "info")
    return redirect(url_for(".away"), 303)
