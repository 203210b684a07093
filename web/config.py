"""Configuration, applied in one order: defaults, then ``instance/config.py``, then ``AIMSFLOW_``
environment variables, then the test config passed to ``create_app``."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from engine.core import EngineSettings

DEFAULTS: dict[str, Any] = {
    #: unset: instance/secret_key (which `aimsflow run` writes); neither: see ``secret_key``
    "SECRET_KEY": None,
    "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
    "PROCESSES_DIR": None,
    "FORMS_DIR": None,
    "EVIDENCE_DIR": None,
    #: the password `aimsflow demo load` gives every demo user
    "DEMO_PASSWORD": "demo",
    #: the first admin's password for `aimsflow init`; unset: init prints a one-time link to set it
    "ADMIN_PASSWORD": None,
    # cookies: Secure everywhere but local development (`aimsflow run` on a loopback address turns it off)
    "SESSION_COOKIE_SECURE": True,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_NAME": "aimsflow_session",
    "REMEMBER_COOKIE_SECURE": True,
    "REMEMBER_COOKIE_HTTPONLY": True,
    "SESSION_HOURS": 12,
    # login throttling (engine.app.accounts.Throttle): failed logins within LOGIN_WINDOW_MINUTES that cost
    # nothing, for one account and for one client address; past them each failure doubles the wait before
    # the next attempt, from LOGIN_FIRST_DELAY_SECONDS up to LOGIN_WINDOW_MINUTES
    "LOGIN_MAX_FAILURES": 5,
    "LOGIN_CLIENT_MAX_FAILURES": 20,
    "LOGIN_FIRST_DELAY_SECONDS": 2,
    "LOGIN_WINDOW_MINUTES": 15,
    #: days a device cookie (set at each successful login, engine.app.accounts.DeviceCookies) stays valid
    "LOGIN_DEVICE_DAYS": 365,
    #: how many reverse proxies stand in front of the app: the client address, scheme and host are taken from
    #: the X-Forwarded-For, -Proto and -Host values that many proxies appended (0: the headers are ignored)
    "TRUSTED_PROXIES": 0,
    #: request size limit (uploads included), bytes
    "MAX_CONTENT_LENGTH": 25 * 1024 * 1024,
    "MAX_FORM_MEMORY_SIZE": 2 * 1024 * 1024,
    #: a JSON body (API calls, the pages' JSON posts): at most this many bytes (413) and nesting levels (400)
    "MAX_JSON_BYTES": 2 * 1024 * 1024,
    "MAX_JSON_DEPTH": 32,
    "WTF_CSRF_TIME_LIMIT": None,
    "WTF_CSRF_SSL_STRICT": False,  # the Origin check in web/auth.py covers https and http alike
    # flask-smorest / OpenAPI
    "API_TITLE": "aimsflow",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/api/v1",
    "OPENAPI_JSON_PATH": "openapi.json",
    # where users reach the app: links in e-mails and calendar feeds
    "BASE_URL": "http://localhost:5000",
    # mail (flask-mail); no MAIL_SERVER: nothing is sent and the outbox keeps every message
    "MAIL_SERVER": None,
    "MAIL_PORT": 25,
    "MAIL_USE_TLS": False,
    "MAIL_USE_SSL": False,
    "MAIL_USERNAME": None,
    "MAIL_PASSWORD": None,
    "MAIL_DEFAULT_SENDER": "aimsflow@localhost",
    "MAIL_TIMEOUT": 30,
    #: where the `aimsflow` command writes its log (warnings and errors with their detail); unset:
    #: instance/aimsflow.log
    "LOG_FILE": None,
    # the worker: seconds between passes, and the hour (UTC) daily digests go out
    "WORKER_INTERVAL": 15,
    "DIGEST_HOUR": 7,
    # scripts, conditions and expressions: seconds each may run, and the size of what one operation may build
    "SCRIPT_TIME_LIMIT": 5.0,
    "SCRIPT_MAX_SIZE": 10_000_000,
    "SCRIPT_MAX_INT_BITS": 1_000_000,
    "SCRIPT_MAX_MEMORY": 256,
}


def database_url(app_config: dict[str, Any], instance_path: str) -> str:
    url = app_config.get("DATABASE_URL") or app_config.get("SQLALCHEMY_DATABASE_URI")
    if url:
        return str(url)
    return "sqlite:///" + os.path.join(instance_path, "aimsflow.db")


def engine_settings(app_config: dict[str, Any], instance_path: str) -> EngineSettings:
    defaults = EngineSettings()
    return EngineSettings(
        processes_dir=Path(app_config["PROCESSES_DIR"]) if app_config.get("PROCESSES_DIR") else defaults.processes_dir,
        forms_dir=Path(app_config["FORMS_DIR"]) if app_config.get("FORMS_DIR") else defaults.forms_dir,
        evidence_dir=Path(app_config["EVIDENCE_DIR"]) if app_config.get("EVIDENCE_DIR")
        else Path(instance_path) / "evidence",
        base_url=str(app_config.get("BASE_URL") or defaults.base_url),
        digest_hour=int(app_config.get("DIGEST_HOUR", defaults.digest_hour)),
        script_time_limit=float(app_config.get("SCRIPT_TIME_LIMIT", defaults.script_time_limit)),
        script_max_size=int(app_config.get("SCRIPT_MAX_SIZE", defaults.script_max_size)),
        script_max_int_bits=int(app_config.get("SCRIPT_MAX_INT_BITS", defaults.script_max_int_bits)),
        script_max_memory_mb=int(app_config.get("SCRIPT_MAX_MEMORY", defaults.script_max_memory_mb)),
        login_window=timedelta(minutes=int(app_config["LOGIN_WINDOW_MINUTES"])) if "LOGIN_WINDOW_MINUTES" in app_config
        else defaults.login_window,
        default_lane_role=str(app_config.get("DEFAULT_LANE_ROLE") or "").strip(),
    )


class InvalidSetting(RuntimeError):
    """A setting whose value the app cannot use; the message names the setting and what it takes."""


def trusted_proxies(app_config: dict[str, Any]) -> int:
    """The number of reverse proxies in front of the app (``TRUSTED_PROXIES``). Raises InvalidSetting for
    anything but a whole number of 0 or more."""
    value = app_config.get("TRUSTED_PROXIES") or 0
    count = value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(value, str) and value.strip().isdigit():
        count = int(value)
    if count is None or count < 0:
        raise InvalidSetting(f"AIMSFLOW_TRUSTED_PROXIES must be the number of reverse proxies in front of aimsflow "
                             f"(0 when clients reach it directly), not {value!r}")
    return count


#: host names of this machine: plain-http local development (no Secure cookies, no HSTS)
LOOPBACK = ("127.0.0.1", "localhost", "::1")

def is_loopback(host: str) -> bool:
    """Whether ``host`` (a Host header, with or without a port) names this machine."""
    return urlsplit("//" + host).hostname in LOOPBACK


#: the file in the instance folder that keeps the key `aimsflow run` generated for local use
SECRET_KEY_FILE = "secret_key"


class MissingSecretKey(RuntimeError):
    """The app would serve without a secret key of its own (cookies anyone could forge)."""


def secret_key(app_config: dict[str, Any], instance_path: str, read_instance: bool,
               ephemeral_ok: bool) -> tuple[str, str]:
    """The secret key and where it came from: ``"config"`` (AIMSFLOW_SECRET_KEY, instance/config.py or the
    test config), ``"instance"`` (the file `aimsflow run` wrote), or ``"ephemeral"`` (random, for this
    process only: tests, DEBUG, command-line tools that sign nothing a later process reads).

    Raises MissingSecretKey when there is none and an ephemeral one is not acceptable (a production server).
    """
    if app_config.get("SECRET_KEY"):
        return str(app_config["SECRET_KEY"]), "config"
    path = Path(instance_path) / SECRET_KEY_FILE
    if read_instance and path.is_file():
        return path.read_text(encoding="utf-8").strip(), "instance"
    if ephemeral_ok:
        return secrets.token_hex(32), "ephemeral"
    raise MissingSecretKey(
        "aimsflow will not serve without a secret key: set AIMSFLOW_SECRET_KEY to a long random value "
        "(python -c 'import secrets; print(secrets.token_hex(32))'), the same for every process of the site; "
        "for local use, `aimsflow run` keeps one in the instance folder")


def store_secret_key(instance_path: str) -> str:
    """A new random key written to instance/secret_key (readable by its owner only), or the one there."""
    path = Path(instance_path) / SECRET_KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    key = secrets.token_hex(32)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(key + "\n")
    return key
