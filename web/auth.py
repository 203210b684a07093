"""Logging in and out, the server-side session behind the cookie, the device cookie, the Origin check, API
tokens.

The cookie (signed, HttpOnly, SameSite=Lax, Secure outside local development) carries only a random
session secret; the ``user_session`` row behind it is what makes it valid, so logout and deactivation
end a session at once. A successful login also leaves a device cookie (``accounts.DeviceCookies``: signed,
bound to the account, HttpOnly, SameSite=Strict; Secure with the ``__Host-`` prefix whenever the session
cookie is Secure and always when the site is reached by a name) that lets the owner's browser past the
throttle others' failed guesses put on the account; logout keeps it. Every form carries a CSRF token
(Flask-WTF), and every state-changing browser request must come from our own origin.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import UserMixin, current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from engine.app import accounts
from engine.core import Forbidden, InvalidInput, User

from .common import actor, context, unit
from .config import is_loopback
from .extensions import db, login_manager

bp = Blueprint("auth", __name__)


class Principal(UserMixin):
    """The logged-in user as Flask-Login sees it: its id is the session secret, not the user id."""

    def __init__(self, token: str, user: User):
        self.token = token
        self.user = user

    def get_id(self) -> str:
        return self.token

    @property
    def is_active(self) -> bool:
        return bool(self.user.active)


@login_manager.user_loader
def _load(token: str) -> Principal | None:
    ctx = context()
    user = accounts.session_user(ctx.session, ctx.clock, token)
    return Principal(token, user) if user is not None else None


def _safe_next(target: str | None) -> str:
    """``target`` when it is a path on this site, else the inbox. Browsers drop tabs and newlines from a
    URL and read ``\\`` as ``/``, so ``/%09/evil.example`` (a tab) or ``/\\evil`` would leave the site: any such
    character, a second leading slash, a scheme or a host sends the user to the inbox instead."""
    if (not target or not target.startswith("/") or target.startswith("//") or "\\" in target
            or any(ord(c) < 0x21 or ord(c) == 0x7F for c in target)):
        return url_for("tasks.inbox")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return url_for("tasks.inbox")
    return target


def _throttle() -> accounts.Throttle:
    config = current_app.config
    return accounts.Throttle(free_failures=int(config["LOGIN_MAX_FAILURES"]),
                             free_failures_per_client=int(config["LOGIN_CLIENT_MAX_FAILURES"]),
                             first_delay=timedelta(seconds=float(config["LOGIN_FIRST_DELAY_SECONDS"])),
                             window=timedelta(minutes=int(config["LOGIN_WINDOW_MINUTES"])))


def _devices() -> accounts.DeviceCookies:
    return accounts.DeviceCookies(str(current_app.config["SECRET_KEY"]),
                                  timedelta(days=int(current_app.config["LOGIN_DEVICE_DAYS"])))


def _device_cookie() -> tuple[str, bool]:
    """The device cookie's name and whether it is Secure: Secure, with the ``__Host-`` prefix (no other
    site or subdomain may set it), whenever the session cookie is or the site is not reached on a loopback
    address; plain over http on this machine (a Secure cookie would never come back)."""
    secure = bool(current_app.config["SESSION_COOKIE_SECURE"]) or not is_loopback(request.host)
    return ("__Host-aimsflow_device" if secure else "aimsflow_device"), secure


def _remember_device(response: Response, user: User) -> Response:
    """``response`` with a fresh device cookie for ``user``'s account (it replaces one for another account)."""
    devices = _devices()
    name, secure = _device_cookie()
    response.set_cookie(name, devices.issue(context().clock, user.email), max_age=int(devices.lifetime.total_seconds()),
                        path="/", secure=secure, httponly=True, samesite="Strict")
    return response


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("tasks.inbox"))
    from . import setup

    if request.method == "GET" and setup.needed():
        return redirect(url_for("setup.setup"))
    email = ""
    if request.method == "POST":
        email = request.form.get("email", "").strip()
        password = request.form.get("password", "")
        ctx = context()
        try:
            user = accounts.authenticate(ctx.session, ctx.clock, email, password, request.remote_addr, _throttle(),
                                         devices=_devices(), device_cookie=request.cookies.get(_device_cookie()[0]))
            token = accounts.open_session(ctx.session, ctx.clock, user,
                                          timedelta(hours=int(current_app.config["SESSION_HOURS"])),
                                          request.remote_addr, request.user_agent.string)
            ctx.session.commit()
        except accounts.TooManyAttempts as exc:
            ctx.session.rollback()
            flash(exc.message, "danger")
            page = render_template("auth/login.html", email=email)
            return page, 429, {"Retry-After": str(exc.retry_after)}
        except Forbidden as exc:
            ctx.session.commit()  # the failed attempt counts towards the throttle
            flash(exc.message, "danger")
            return render_template("auth/login.html", email=email), 401
        session.clear()  # a new session id: no fixation
        login_user(Principal(token, user))
        flash(f"Welcome, {user.name}.", "success")
        return _remember_device(redirect(_safe_next(request.args.get("next"))), user)
    return render_template("auth/login.html", email=email)


@bp.route("/set-password/<secret>", methods=["GET", "POST"])
def set_password(secret: str) -> Any:
    """The page a one-time link (``aimsflow init``) opens: set the password, then log in. An unknown, used
    or expired link is a 404 page saying so."""
    ctx = context()
    user = accounts.password_link_user(ctx.session, ctx.clock, secret)
    if request.method == "POST":
        password = request.form.get("password", "")
        if password != request.form.get("password_again", ""):
            flash("The two passwords differ.", "danger")
            return render_template("auth/set_password.html", user=user), 422
        try:
            with unit() as ctx:
                user = accounts.set_password_by_link(ctx.session, ctx.clock, secret, password)
                email = user.email
        except InvalidInput as exc:
            flash(exc.message, "danger")
            return render_template("auth/set_password.html", user=user), 422
        flash(f"Your password is set. Log in as {email}.", "success")
        return redirect(url_for("auth.login"), 303)
    return render_template("auth/set_password.html", user=user)


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Any:
    with unit() as ctx:
        accounts.close_session(ctx.session, ctx.clock, current_user.token)
    logout_user()
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/tokens", methods=["GET", "POST"])
@login_required
def tokens() -> Any:
    """API tokens for scripts: create (the secret is shown once) and revoke."""
    secret = None
    if request.method == "POST":
        with unit() as ctx:
            revoke = request.form.get("revoke", "").strip()
            if revoke:
                if not revoke.isdigit():
                    abort(400, f"the token to revoke must be a whole number, not {revoke[:40]!r}")
                accounts.revoke_token(ctx.session, ctx.clock, actor(), int(revoke))
                flash("Token revoked.", "info")
            else:
                _, secret = accounts.create_token(ctx.session, ctx.clock, actor(), request.form.get("name", ""))
    return render_template("auth/tokens.html", tokens=accounts.tokens_of(db.session, actor()), secret=secret)


def check_origin() -> None:
    """Refuse a state-changing browser request whose Origin (or Referer) is another site."""
    if request.method in ("GET", "HEAD", "OPTIONS", "TRACE") or request.path.startswith("/api/"):
        return
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source or source == "null":
        if request.headers.get("Origin") == "null":
            abort(403, "requests from an opaque origin are refused")
        return  # no header: not a cross-site browser request (the CSRF token still applies)
    parts = urlsplit(source)
    own = urlsplit(request.host_url)
    if (parts.scheme, parts.netloc) != (own.scheme, own.netloc):
        abort(403, f"cross-site request refused: origin {parts.scheme}://{parts.netloc} is not this site")


def init_app(app: Any) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to see this page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = None  # the server-side session row is the protection
    app.before_request(check_origin)
