"""aimsflow's Flask app factory."""

from __future__ import annotations

import os
from contextlib import ExitStack
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from engine import aims
from engine.core import SystemClock, configure_sqlite, deferred_begin

from . import config

#: request methods that only read: their SQLite transactions begin deferred (``_begin_reads_deferred``)
READS = frozenset({"GET", "HEAD", "OPTIONS"})


def create_app(test_config: dict[str, Any] | None = None, *, command_line: bool = False) -> Flask:
    """The app. Without a secret key (AIMSFLOW_SECRET_KEY, instance/config.py, instance/secret_key) it
    refuses to start (``config.MissingSecretKey``) unless it is for testing, DEBUG or the command line
    (``command_line``), which get a random key of their own. A TRUSTED_PROXIES that is not a whole number
    of 0 or more stops it too (``config.InvalidSetting``)."""
    aims.install()
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(config.DEFAULTS)
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env("AIMSFLOW")
    else:
        app.config.from_mapping(test_config)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config["SECRET_KEY"], source = config.secret_key(
        app.config, app.instance_path, read_instance=test_config is None,
        ephemeral_ok=command_line or bool(app.config.get("TESTING")) or bool(app.config.get("DEBUG")))
    app.extensions["aimsflow.secret_key_source"] = source
    app.url_map.converters["int"] = RowId
    app.config["SQLALCHEMY_DATABASE_URI"] = config.database_url(app.config, app.instance_path)
    app.config["DEMO_PASSWORD"] = str(app.config["DEMO_PASSWORD"])  # AIMSFLOW_DEMO_PASSWORD=1234 reads as a number
    app.extensions["aimsflow.settings"] = config.engine_settings(app.config, app.instance_path)
    app.extensions["aimsflow.clock"] = app.config.get("CLOCK") or SystemClock()
    proxies = config.trusted_proxies(app.config)
    if proxies:
        # behind reverse proxies: the client's address (the login throttle counts by it), scheme and host are
        # what the proxies appended to X-Forwarded-*; without trusted proxies those headers are ignored
        behind = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
        app.wsgi_app = behind  # type: ignore[method-assign]

    from . import cli
    from .extensions import csrf, db, mail

    db.init_app(app)
    mail.init_app(app)
    # flask-migrate is bound when `aimsflow db` runs (web/cli/migrations.py); the schema check reads this
    app.extensions["aimsflow.migrations"] = MIGRATIONS
    with app.app_context():
        configure_sqlite(db.engine)
    csrf.init_app(app)
    cli.register(app)
    if not command_line:
        add_views(app)
    return app


#: the Alembic migrations
MIGRATIONS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations")


def add_views(app: Flask) -> None:
    """The pages, the REST API, login, error pages and security headers. ``create_app`` adds them, except
    for the command line, whose commands add them when they serve or list pages (``run``, ``routes``,
    ``shell``): a command such as ``aimsflow tasks`` imports none of it. Adding them twice does nothing."""
    if app.extensions.get("aimsflow.views"):
        return
    app.extensions["aimsflow.views"] = True
    app.before_request(_begin_reads_deferred)  # first: before anything reads the database
    app.teardown_request(_end_reads_deferred)
    from . import admin, auth, calendar, cert, errors, instances, limits, me, pages, registers, setup, tasks
    from .api import init_api
    from .extensions import csrf

    auth.init_app(app)
    limits.init_app(app)
    pages.init_app(app)
    for blueprint in (auth.bp, tasks.bp, instances.bp, registers.bp, admin.bp, me.bp, cert.bp, setup.bp):
        app.register_blueprint(blueprint)
    init_api(app, csrf)
    errors.init_app(app)
    app.register_blueprint(calendar.bp)
    app.after_request(_security_headers)


def _begin_reads_deferred() -> None:
    """A GET or HEAD request's SQLite transactions begin deferred: reading takes no write lock, so reads
    never queue behind writers (``engine.core.db.deferred_begin``; ``common.unit`` takes the lock when such
    a request writes after all)."""
    if request.method in READS:
        stack = ExitStack()
        stack.enter_context(deferred_begin())
        g.aimsflow_deferred = stack


def _end_reads_deferred(_exc: BaseException | None) -> None:
    stack = g.pop("aimsflow_deferred", None)
    if stack is not None:
        stack.close()


class RowId(IntegerConverter):
    """``<int:...>`` in URLs: a row id, at most the largest 32-bit integer (a larger one is a plain 404,
    not a database error on PostgreSQL)."""

    MAX = 2**31 - 1

    def __init__(self, url_map, fixed_digits=0, min=None, max=None, signed=False):  # type: ignore[no-untyped-def]
        super().__init__(url_map, fixed_digits, min, self.MAX if max is None else max, signed)


CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
       "font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if not config.is_loopback(request.host):
        # reached by a name: browsers must come back over https only (sent over http, browsers ignore it)
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response
