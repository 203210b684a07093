"""The first visit of an empty install: while the database holds no organisation, the start page and the
login page lead to ``/setup``, which sets the organisation up (``organisation_setup.set_up``, the service
``aimsflow init`` uses) with its first admin and deploys the processes folder. Once an organisation exists
the page is gone (404).

Whoever completes the set-up becomes the first admin, so the page answers only to a browser on the server
itself (a loopback address, after ``AIMSFLOW_TRUSTED_PROXIES`` has named the real client); from anywhere
else it says to run ``aimsflow init`` on the server (403)."""

from __future__ import annotations

import ipaddress
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from engine.aims import risk_criteria
from engine.app import organisation_setup
from engine.core import ConflictError, FieldError, ValidationError

from .common import unit
from .extensions import db

bp = Blueprint("setup", __name__)


def needed() -> bool:
    """The database holds no organisation yet (the start and login pages then lead to the set-up)."""
    return organisation_setup.needs_set_up(db.session)


def _appetite(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 4 else None


def _from_this_machine() -> bool:
    try:
        return ipaddress.ip_address((request.remote_addr or "").split("%")[0]).is_loopback
    except ValueError:
        return False


@bp.route("/setup", methods=["GET", "POST"])
def setup() -> Any:
    if not needed():
        abort(404, "this aimsflow is set up already; log in")
    if not _from_this_machine():
        return render_template("setup/remote.html"), 403
    form = {k: request.form.get(k, "") for k in ("organisation", "scope", "appetite", "admin_name", "admin_email")}
    errors: list[FieldError] = []
    if request.method == "POST":
        password, again = request.form.get("password", ""), request.form.get("password_again", "")
        appetite = _appetite(form["appetite"])
        if appetite is None:
            errors.append(FieldError("appetite", f"the risk appetite {risk_criteria.appetite_problem(None)}"))
        if password != again:
            errors.append(FieldError("password_again", "the two passwords differ"))
        if not errors:
            try:
                with unit() as ctx:
                    founded = organisation_setup.set_up(ctx, organisation_setup.SetUp(
                        form["organisation"], form["admin_email"], form["admin_name"], form["scope"], appetite,
                        password), deploy=True)
                    email = founded.admin.email
                flash(f"{form['organisation'].strip()} is set up. Log in as {email}; your inbox lists what is "
                      "left to set up.", "success")
                return redirect(url_for("auth.login"), 303)
            except ValidationError as exc:
                errors = exc.errors
            except ConflictError as exc:
                flash(exc.message, "danger")
                return redirect(url_for("auth.login"), 303)
    form["appetite"] = form["appetite"] or str(risk_criteria.DEFAULT["appetite_max_score"])
    status = 422 if errors else 200
    return render_template("setup/setup.html", form=form, errors={e.path: e.message for e in errors},
                           criteria=risk_criteria.DEFAULT), status
