"""aimsflow's Flask app factory."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask

from engine.clock import SystemClock
from engine.db import configure_sqlite

from . import config


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(config.DEFAULTS)
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env("AIMSFLOW")
    else:
        app.config.from_mapping(test_config)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config["SQLALCHEMY_DATABASE_URI"] = config.database_url(app.config, app.instance_path)
    app.extensions["aimsflow.settings"] = config.engine_settings(app.config)
    app.extensions["aimsflow.clock"] = app.config.get("CLOCK") or SystemClock()

    from .extensions import db, mail, migrate

    db.init_app(app)
    mail.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations"))
    with app.app_context():
        configure_sqlite(db.engine)

    from . import calendar, cli, errors

    errors.init_app(app)
    app.register_blueprint(calendar.bp)
    cli.register(app.cli)
    return app
