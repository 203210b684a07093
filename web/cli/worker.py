"""The worker that makes deadlines act: ``aimsflow worker`` on its own, ``aimsflow run`` beside the app."""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from engine.core import Clock, EngineSettings, FixedClock, Send, isoformat, parse_datetime, worker

from .. import mailer
from ..common import context
from ..config import LOOPBACK, store_secret_key
from ..extensions import db
from . import failures
from .shared import emit, fail, json_option, parsed

log = logging.getLogger("aimsflow.worker")


@click.command("run")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535), help="port to listen on")
@click.option("--no-worker", is_flag=True, help="do not run the worker beside the app (run `aimsflow worker` apart)")
@with_appcontext
def run_command(host: str, port: int, no_worker: bool) -> None:
    """Serve the web app with the worker beside it (production: gunicorn 'web:create_app()' and
    `aimsflow worker` as separate processes)."""
    from werkzeug.serving import run_simple

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.extensions.get("aimsflow.secret_key_source") == "ephemeral":
        # no key configured: keep one in the instance folder, so logins survive a restart
        app.config["SECRET_KEY"] = store_secret_key(app.instance_path)
        app.extensions["aimsflow.secret_key_source"] = "instance"
    if host in LOOPBACK:
        # local development over plain http: a Secure cookie would never come back
        app.config["SESSION_COOKIE_SECURE"] = app.config["REMEMBER_COOKIE_SECURE"] = False
    stop = threading.Event()
    if not no_worker:
        thread = threading.Thread(target=_background_worker, args=(app, stop), name="aimsflow-worker", daemon=True)
        thread.start()
    click.echo(f"aimsflow is serving on http://{host}:{port}{'' if no_worker else ' with the worker'} "
               "(Ctrl+C stops it)")
    try:
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        stop.set()


@click.command("worker")
@click.option("--once", is_flag=True, help="run one pass and exit")
@click.option("--now", "now_text", metavar="ISO_DATETIME",
              help="with --once: run the pass as if it were this time (simulate a date)")
@click.option("--interval", type=float, help="seconds between passes (default: WORKER_INTERVAL, 15)")
@json_option
@with_appcontext
def worker_command(once: bool, now_text: str | None, interval: float | None, json_output: bool) -> None:
    """Make deadlines act: scheduled starts, BPMN timers, reminders and escalations, digests, e-mail.

    Runs passes until stopped (Ctrl-C or SIGTERM); --once runs one pass and prints what it did.
    """
    if now_text is not None and not once:
        fail("--now needs --once (a loop runs on the real time)")
    ctx = context()
    clock = ctx.clock if now_text is None else FixedClock(parsed(parse_datetime, now_text, "--now"))
    send = mailer.sender(current_app)
    if not once:
        _loop(clock, ctx.settings, send, float(current_app.config["WORKER_INTERVAL"]) if interval is None else interval)
        return
    report = worker.run_pass(ctx.session, clock, ctx.settings, send)
    emit(_report_dict(report), json_output, [report.summary()])
    if not json_output:
        for failure in report.failures:
            click.echo(f"  failed: {failure}", err=True)


def _background_worker(app: Flask, stop: threading.Event) -> None:
    """Worker passes every WORKER_INTERVAL seconds in a thread of ``aimsflow run`` until ``stop``."""
    with app.app_context():
        ctx = context()
        send = mailer.sender(app)
        while not stop.is_set():
            try:
                _pass(ctx.clock, ctx.settings, send)
            finally:
                db.session.remove()
            stop.wait(float(app.config["WORKER_INTERVAL"]))


def _loop(clock: Clock, settings: EngineSettings, send: Send | None, interval: float) -> None:
    """Passes every ``interval`` seconds, printing the ones that did something, until SIGINT or SIGTERM."""
    stopping = []

    def stop(_signum: int, _frame: Any) -> None:
        stopping.append(True)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    mail = f"to {current_app.config['MAIL_SERVER']}" if send else "delivery off (AIMSFLOW_MAIL_SERVER unset)"
    click.echo(f"aimsflow worker: a pass every {interval:g} s; mail {mail}; Ctrl-C stops")
    try:
        while not stopping:
            report = _pass(clock, settings, send)
            if report is not None and _eventful(report):
                click.echo(report.summary())
            deadline = time.monotonic() + interval
            while not stopping and time.monotonic() < deadline:
                time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("aimsflow worker stopped")


def _pass(clock: Clock, settings: EngineSettings, send: Send | None) -> worker.PassReport | None:
    """One pass of a long-running worker; a failed one (the database went away, ...) is rolled back,
    logged with its detail and told on the terminal in words, and the next pass tries again."""
    try:
        return worker.run_pass(db.session, clock, settings, send)
    except Exception as exc:
        log.error("worker pass failed", exc_info=exc)
        click.echo(f"worker pass failed: {failures.describe(exc)} (the worker goes on with its next pass)", err=True)
        try:
            db.session.rollback()
        except Exception:  # the connection is gone: the next pass gets a new one
            log.warning("rolling back the failed worker pass failed", exc_info=True)
        return None


def _eventful(report: worker.PassReport) -> bool:
    delivery = report.delivery
    return bool(report.failures or report.ladder.notifications or report.timers_fired or report.schedules_started
                or report.messages_delivered or report.due.started or (delivery and (delivery.sent or delivery.failed)))


def _report_dict(report: worker.PassReport) -> dict[str, Any]:
    ladder = report.ladder
    delivery = report.delivery
    return {"at": isoformat(report.at), "schedules_started": report.schedules_started,
            "due_started": [{"kind": kind, "ref": ref, "due_on": due.isoformat(), "instance_id": instance}
                            for kind, ref, due, instance in report.due.started],
            "due_deferred": report.due.deferred,
            "instances_woken": report.instances_woken, "timers_fired": report.timers_fired,
            "messages_delivered": report.messages_delivered,
            "reminders": ladder.reminders, "overdue_notices": ladder.overdue_notices,
            "escalations": ladder.escalations, "notifications": ladder.notifications, "digests": report.digests,
            "mail": None if delivery is None else {"sent": delivery.sent, "failed": delivery.failed,
                                                   "errors": delivery.errors},
            "mail_waiting": report.mail_waiting, "sessions_purged": report.sessions_purged,
            "login_failures_purged": report.login_failures_purged, "failures": report.failures,
            "seconds": round(report.seconds, 3)}


COMMANDS = [worker_command]  # run_command is added to `main` only (web/cli/__init__.py)
