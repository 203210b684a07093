"""The ``aimsflow`` command line (a contract scripts rely on; see README "Command line").

Exit codes: 0 ok, 3 invalid input (form or definition), 4 conflict, 5 forbidden (role or SoD),
6 not found; the message names what is wrong. ``--json`` prints machine-readable output.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import FlaskGroup, routes_command, shell_command, with_appcontext
from flask_migrate.cli import db as db_group

from engine.aims import audit_pack, demo, demo_work, exports, soa
from engine.app import accounts, calendar_feed, queries
from engine.core import (
    Context,
    EngineError,
    FixedClock,
    InvalidInput,
    NotFound,
    audit_trail,
    definitions,
    delegation,
    directory,
    isoformat,
    notifications,
    parse_datetime,
    services,
    transaction,
    worker,
)

from . import mailer
from .extensions import db

log = logging.getLogger("aimsflow.worker")


def _context() -> Context:
    return Context(db.session, current_app.extensions["aimsflow.clock"], current_app.extensions["aimsflow.settings"])


@contextmanager
def _unit(json_output: bool = False) -> Iterator[Context]:
    """One transaction; engine errors become the documented exit codes."""
    ctx = _context()
    try:
        with transaction(ctx.session, ctx.clock):
            yield ctx
    except EngineError as exc:
        if json_output:
            click.echo(json.dumps({"error": exc.to_dict()}, indent=2))
        else:
            click.echo(f"error: {exc.message}", err=True)
        sys.exit(exc.exit_code)


def _json_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "json_output", is_flag=True, help="machine-readable output")(fn)


def _parse_data(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    source = text
    if text.startswith("@"):
        try:
            source = Path(text[1:]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            click.echo(f"error: cannot read --data file {text[1:]}: {exc}", err=True)
            sys.exit(NotFound.exit_code if isinstance(exc, FileNotFoundError) else InvalidInput.exit_code)
    try:
        value = json.loads(source)
    except json.JSONDecodeError as exc:
        click.echo(f"error: --data is not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})", err=True)
        sys.exit(InvalidInput.exit_code)
    if not isinstance(value, dict):
        click.echo("error: --data must be a JSON object", err=True)
        sys.exit(InvalidInput.exit_code)
    return value


def _task_dict(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "task_spec": row.task_spec, "process_id": row.process_id,
            "instance_id": row.instance_id, "subject": row.subject, "role": row.role, "state": row.state,
            "assignee": directory.email_of(db.session, row.assignee_id) if hasattr(row, "assignee_id")
            else row.assignee, "due_at": isoformat(row.due_at) if row.due_at else None, "form": row.form}


def _echo_tasks(title: str, rows: list[Any]) -> None:
    if not rows:
        return
    click.echo(title)
    for r in rows:
        due = f" due {r['due_at'][:16].replace('T', ' ')}" if r["due_at"] else ""
        who = r["assignee"] or f"role {r['role']}"
        click.echo(f"  task {r['id']}: {r['name']} [{r['task_spec']}] for {who}{due}")


# --------------------------------------------------------------------------- commands

@click.command("deploy")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--as", "as_user", help="e-mail of the deploying admin (recorded in the audit trail)")
@_json_option
@with_appcontext
def deploy_command(paths: tuple[Path, ...], as_user: str | None, json_output: bool) -> None:
    """Deploy BPMN files (default: the processes folder); print process id, version, sha256."""
    with _unit(json_output) as ctx:
        actor = directory.user_by_email(ctx.session, as_user) if as_user else None
        results = definitions.deploy_directory(ctx.session, ctx.settings, ctx.clock, actor, list(paths) or None)
        out = [{"process_id": r.version.process_id, "version": r.version.version, "sha256": r.version.sha256,
                "created": r.created} for r in results]
    if json_output:
        click.echo(json.dumps(out, indent=2))
    else:
        for r in out:
            click.echo(f"{r['process_id']}\tv{r['version']}\t{r['sha256']}\t{'new' if r['created'] else 'unchanged'}")


@click.command("lint")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@_json_option
@with_appcontext
def lint_command(files: tuple[Path, ...], json_output: bool) -> None:
    """Check BPMN files without storing anything; exit 3 listing every problem by element."""
    settings = current_app.extensions["aimsflow.settings"]
    sources = []
    for path in files:
        if not path.is_file():
            click.echo(f"error: {path} does not exist", err=True)
            sys.exit(6)
        sources.append(definitions.SourceFile.read(path))
    names = {s.name for s in sources}
    library = {p.stem: definitions.SourceFile.read(p) for p in sorted(settings.processes_dir.glob("*.bpmn"))
               if p.name not in names}
    try:
        parsed = definitions.parse_and_lint(sources, settings, library)
    except EngineError as exc:
        if json_output:
            click.echo(json.dumps({"error": exc.to_dict()}, indent=2))
        else:
            for line in exc.message.splitlines():
                click.echo(line, err=True)
        sys.exit(exc.exit_code)
    if json_output:
        click.echo(json.dumps([{"file": p.source.name, "process_id": p.process_id, "ok": True} for p in parsed]))
    else:
        for p in parsed:
            click.echo(f"{p.source.name}: ok ({p.process_id})")


@click.command("start")
@click.argument("process_id")
@click.option("--as", "as_user", required=True, help="e-mail of the user starting it")
@click.option("--data", "data", help="start data as a JSON object (or @file.json)")
@_json_option
@with_appcontext
def start_command(process_id: str, as_user: str, data: str | None, json_output: bool) -> None:
    """Start a process instance."""
    payload = _parse_data(data)
    with _unit(json_output) as ctx:
        actor = directory.user_by_email(ctx.session, as_user)
        outcome = services.start_process(ctx, actor, process_id, payload)
        result = _outcome_dict(outcome)
    _print_outcome(result, json_output, f"started {process_id} as instance {result['instance_id']}")


@click.command("tasks")
@click.option("--as", "as_user", required=True, help="e-mail of the user")
@_json_option
@with_appcontext
def tasks_command(as_user: str, json_output: bool) -> None:
    """Tasks USER may act on (assigned, or claimable by their roles), overdue first, with due dates."""
    with _unit(json_output) as ctx:
        user = directory.user_by_email(ctx.session, as_user)
        rows = queries.inbox(ctx.session, user, ctx.clock.now())
        out = [dict(_task_dict(r), overdue=r.overdue, escalation_level=r.escalation_level) for r in rows]
    if json_output:
        click.echo(json.dumps(out, indent=2))
        return
    if not out:
        click.echo(f"no open tasks for {as_user}")
    for r in out:
        due = r["due_at"][:16].replace("T", " ") if r["due_at"] else "-"
        flag = (" OVERDUE" if r["overdue"] else "") + (f" ESCALATED(L{r['escalation_level']})"
                                                        if r["escalation_level"] else "")
        holder = r["assignee"] or f"({r['role']})"
        click.echo(f"{r['id']:>6}  {due:16}{flag}  {r['name']}  [{r['process_id']} #{r['instance_id']}"
                   f"{' ' + r['subject'] if r['subject'] else ''}]  {holder}")


@click.command("claim")
@click.argument("task_id", type=int)
@click.option("--as", "as_user", required=True)
@_json_option
@with_appcontext
def claim_command(task_id: int, as_user: str, json_output: bool) -> None:
    """Claim a task."""
    with _unit(json_output) as ctx:
        task = services.claim_task(ctx, directory.user_by_email(ctx.session, as_user), task_id)
        out = _task_dict(task)
    click.echo(json.dumps(out, indent=2) if json_output else f"task {task_id} claimed by {as_user}")


@click.command("release")
@click.argument("task_id", type=int)
@click.option("--as", "as_user", required=True)
@with_appcontext
def release_command(task_id: int, as_user: str) -> None:
    """Give a claimed task back."""
    with _unit() as ctx:
        services.release_task(ctx, directory.user_by_email(ctx.session, as_user), task_id)
    click.echo(f"task {task_id} released")


@click.command("complete")
@click.argument("task_id", type=int)
@click.option("--as", "as_user", required=True)
@click.option("--data", "data", required=True, help="form data as a JSON object (or @file.json)")
@_json_option
@with_appcontext
def complete_command(task_id: int, as_user: str, data: str, json_output: bool) -> None:
    """Complete a task with its form data."""
    payload = _parse_data(data)
    with _unit(json_output) as ctx:
        outcome = services.complete_task(ctx, directory.user_by_email(ctx.session, as_user), task_id, payload)
        result = _outcome_dict(outcome)
    _print_outcome(result, json_output, f"task {task_id} completed")


@click.command("reassign")
@click.argument("task_id", type=int)
@click.option("--as", "as_user", required=True)
@click.option("--to", "to_user", required=True, help="e-mail of the new holder")
@click.option("--reason", required=True)
@with_appcontext
def reassign_command(task_id: int, as_user: str, to_user: str, reason: str) -> None:
    """Reassign a task (managers and admins; reason required)."""
    with _unit() as ctx:
        services.reassign_task(ctx, directory.user_by_email(ctx.session, as_user), task_id, to_user, reason)
    click.echo(f"task {task_id} reassigned to {to_user}")


@click.command("cancel")
@click.argument("instance_id", type=int)
@click.option("--as", "as_user", required=True)
@click.option("--reason", required=True)
@with_appcontext
def cancel_command(instance_id: int, as_user: str, reason: str) -> None:
    """Cancel a running process instance."""
    with _unit() as ctx:
        services.cancel_instance(ctx, directory.user_by_email(ctx.session, as_user), instance_id, reason)
    click.echo(f"instance {instance_id} cancelled")


def _outcome_dict(outcome: services.Outcome) -> dict[str, Any]:
    instance = outcome.instance
    return {"instance_id": instance.id, "process_id": instance.process_id, "status": instance.status,
            "subject": instance.subject, "end_event": instance.end_event,
            "new_tasks": [_task_dict(t) for t in outcome.new_tasks],
            "started_instances": [{"instance_id": i.id, "process_id": i.process_id} for i in outcome.started]}


def _print_outcome(result: dict[str, Any], json_output: bool, headline: str) -> None:
    if json_output:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"{headline}; instance {result['instance_id']} is {result['status']}"
               + (f" ({result['end_event']})" if result["status"] == "completed" and result["end_event"] else ""))
    _echo_tasks("now waiting:", result["new_tasks"])
    for s in result["started_instances"]:
        click.echo(f"started {s['process_id']} as instance {s['instance_id']}")


@click.group("audit")
def audit_group() -> None:
    """The hash-chained audit trail."""


@audit_group.command("verify")
@click.option("--head", "head_text", help="HASH:COUNT kept elsewhere (from `aimsflow audit head`)")
@with_appcontext
def audit_verify(head_text: str | None) -> None:
    """Recompute the chain; exit 1 naming the first altered or missing event."""
    expected = None
    if head_text:
        try:
            expected = audit_trail.Head.parse(head_text)
        except ValueError as exc:
            click.echo(f"error: --head {exc}", err=True)
            sys.exit(InvalidInput.exit_code)
    result = audit_trail.verify(db.session, expected)
    db.session.rollback()
    if result.ok:
        click.echo(f"ok: {result.count} events, head {result.head}")
        return
    click.echo(f"audit chain broken: {result.problem}", err=True)
    sys.exit(1)


@audit_group.command("head")
@with_appcontext
def audit_head() -> None:
    """Print HASH:COUNT of the chain's head, to keep somewhere else."""
    click.echo(str(audit_trail.head(db.session)))
    db.session.rollback()


@click.group("demo")
def demo_group() -> None:
    """The demo organisation."""


@demo_group.command("load")
@with_appcontext
def demo_load() -> None:
    """Load the demo organisation (users, roles, AI systems, risks...), dates shifted to today, and start
    its open work (an assessment, an evidence review, an NC, an audit, the certification project) when no
    process has run yet. Running it again updates the same rows and starts nothing twice."""
    with _unit() as ctx:
        summary = demo.load(ctx.session, ctx.clock)
        accounts.set_demo_passwords(ctx.session, current_app.config["DEMO_PASSWORD"])
    click.echo("demo organisation loaded: " + ", ".join(f"{n} {k}" for k, n in summary.items()))
    click.echo("demo users log in with the password from AIMSFLOW_DEMO_PASSWORD (default: demo)")
    with _unit() as ctx:
        started = demo_work.start_open_work(ctx)
    for item in started:
        if item.error:
            click.echo(f"could not start {item.process_id} (deploy processes/ first?): {item.error}", err=True)
        else:
            click.echo(f"open work: {item.process_id} #{item.instance_id} waits for {'; '.join(item.tasks)}")


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
    if host in ("127.0.0.1", "localhost", "::1"):
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


def _background_worker(app: Any, stop: threading.Event) -> None:
    """Worker passes every WORKER_INTERVAL seconds in a thread of ``aimsflow run`` until ``stop``."""
    with app.app_context():
        clock = app.extensions["aimsflow.clock"]
        settings = app.extensions["aimsflow.settings"]
        send = mailer.sender(app)
        while not stop.is_set():
            try:
                worker.run_pass(db.session, clock, settings, send)
            except Exception:  # the database went away, ...: log it and try again next time
                db.session.rollback()
                log.exception("worker pass failed")
            finally:
                db.session.remove()
            stop.wait(float(app.config["WORKER_INTERVAL"]))


# --------------------------------------------------------------------------- worker

@click.command("worker")
@click.option("--once", is_flag=True, help="run one pass and exit")
@click.option("--now", "now_text", metavar="ISO_DATETIME",
              help="with --once: run the pass as if it were this time (simulate a date)")
@click.option("--interval", type=float, help="seconds between passes (default: WORKER_INTERVAL, 15)")
@_json_option
@with_appcontext
def worker_command(once: bool, now_text: str | None, interval: float | None, json_output: bool) -> None:
    """Make deadlines act: scheduled starts, BPMN timers, reminders and escalations, digests, e-mail.

    Runs passes until stopped (Ctrl-C or SIGTERM); --once runs one pass and prints what it did.
    """
    if now_text is not None and not once:
        click.echo("error: --now needs --once (a loop runs on the real time)", err=True)
        sys.exit(InvalidInput.exit_code)
    clock = current_app.extensions["aimsflow.clock"]
    if now_text is not None:
        try:
            clock = FixedClock(parse_datetime(now_text))
        except ValueError as exc:
            click.echo(f"error: --now {exc}", err=True)
            sys.exit(InvalidInput.exit_code)
    settings = current_app.extensions["aimsflow.settings"]
    send = mailer.sender(current_app)
    if once:
        report = worker.run_pass(db.session, clock, settings, send)
        if json_output:
            click.echo(json.dumps(_report_dict(report), indent=2))
        else:
            click.echo(report.summary())
            for failure in report.failures:
                click.echo(f"  failed: {failure}", err=True)
        return
    _loop(clock, settings, send, interval if interval is not None else float(current_app.config["WORKER_INTERVAL"]))


def _loop(clock: Any, settings: Any, send: Any, interval: float) -> None:
    stopping = []

    def stop(_signum: int, _frame: Any) -> None:
        stopping.append(True)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    mail = f"to {current_app.config['MAIL_SERVER']}" if send else "delivery off (AIMSFLOW_MAIL_SERVER unset)"
    click.echo(f"aimsflow worker: a pass every {interval:g} s; mail {mail}; Ctrl-C stops")
    try:
        while not stopping:
            try:
                report = worker.run_pass(db.session, clock, settings, send)
                if report.failures or report.ladder.notifications or report.timers_fired or report.schedules_started \
                        or report.due.started or (report.delivery and (report.delivery.sent or report.delivery.failed)):
                    click.echo(report.summary())
            except Exception:  # the database went away, ...: log it and try again next time
                db.session.rollback()
                log.exception("worker pass failed")
            deadline = time.monotonic() + interval
            while not stopping and time.monotonic() < deadline:
                time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("aimsflow worker stopped")


def _report_dict(report: worker.PassReport) -> dict[str, Any]:
    ladder = report.ladder
    delivery = report.delivery
    return {"at": isoformat(report.at), "schedules_started": report.schedules_started,
            "due_started": [{"kind": kind, "ref": ref, "due_on": due.isoformat(), "instance_id": instance}
                            for kind, ref, due, instance in report.due.started],
            "due_deferred": report.due.deferred,
            "instances_woken": report.instances_woken, "timers_fired": report.timers_fired,
            "reminders": ladder.reminders, "overdue_notices": ladder.overdue_notices,
            "escalations": ladder.escalations, "notifications": ladder.notifications, "digests": report.digests,
            "mail": None if delivery is None else {"sent": delivery.sent, "failed": delivery.failed,
                                                   "errors": delivery.errors},
            "mail_waiting": report.mail_waiting, "failures": report.failures,
            "seconds": round(report.seconds, 3)}


# --------------------------------------------------------------------------- delegation

def _period_bound(text: str, option: str, end: bool) -> Any:
    """A date means the whole day (--until is inclusive); a date-time is taken as it is."""
    try:
        value = parse_datetime(text)
    except ValueError as exc:
        click.echo(f"error: {option} {exc}", err=True)
        sys.exit(InvalidInput.exit_code)
    if end and "T" not in text and " " not in text.strip():
        value += timedelta(days=1)
    return value


@click.command("delegate")
@click.option("--as", "as_user", required=True, help="e-mail of the user who will be away (or who sets it up)")
@click.option("--for", "for_user", help="e-mail of the user who will be away, when someone else sets it up")
@click.option("--to", "deputy", required=True, help="e-mail of the deputy")
@click.option("--from", "from_text", required=True, metavar="DATE", help="first day (or ISO date-time)")
@click.option("--until", "until_text", required=True, metavar="DATE", help="last day, inclusive (or ISO date-time)")
@click.option("--reason", help="why (recorded in the audit trail)")
@_json_option
@with_appcontext
def delegate_command(as_user: str, for_user: str | None, deputy: str, from_text: str, until_text: str,
                     reason: str | None, json_output: bool) -> None:
    """Out of office: new tasks for the user go to DEPUTY in the period, and so do their notifications."""
    starts = _period_bound(from_text, "--from", end=False)
    ends = _period_bound(until_text, "--until", end=True)
    with _unit(json_output) as ctx:
        actor = directory.user_by_email(ctx.session, as_user)
        away = directory.user_by_email(ctx.session, for_user) if for_user else actor
        made = delegation.create(ctx.session, ctx.clock, ctx.settings, actor, away, deputy, starts, ends, reason)
        out = _delegation_dict(made)
    if json_output:
        click.echo(json.dumps(out, indent=2))
    else:
        click.echo(f"delegation {out['id']}: {out['user']} -> {out['deputy']} from {out['from']} until {out['until']}")


@click.command("delegations")
@click.option("--as", "as_user", required=True)
@click.option("--all", "include_past", is_flag=True, help="include past and revoked ones")
@_json_option
@with_appcontext
def delegations_command(as_user: str, include_past: bool, json_output: bool) -> None:
    """Delegations where USER is away or stands in."""
    with _unit(json_output) as ctx:
        user = directory.user_by_email(ctx.session, as_user)
        out = [_delegation_dict(d) for d in delegation.list_for(ctx.session, user, ctx.clock.now(),
                                                                include_past=include_past)]
    if json_output:
        click.echo(json.dumps(out, indent=2))
        return
    if not out:
        click.echo(f"no delegations for {as_user}")
    for d in out:
        revoked = f"  revoked {d['revoked_at']}" if d["revoked_at"] else ""
        reason = f"  ({d['reason']})" if d["reason"] else ""
        click.echo(f"{d['id']:>5}  {d['user']} -> {d['deputy']}  {d['from']} .. {d['until']}{revoked}{reason}")


@click.command("undelegate")
@click.argument("delegation_id", type=int)
@click.option("--as", "as_user", required=True)
@with_appcontext
def undelegate_command(delegation_id: int, as_user: str) -> None:
    """End (or cancel) a delegation now."""
    with _unit() as ctx:
        delegation.revoke(ctx.session, ctx.clock, directory.user_by_email(ctx.session, as_user), delegation_id)
    click.echo(f"delegation {delegation_id} revoked")


def _delegation_dict(d: Any) -> dict[str, Any]:
    return {"id": d.id, "user": directory.email_of(db.session, d.user_id),
            "deputy": directory.email_of(db.session, d.deputy_id), "from": isoformat(d.starts_at),
            "until": isoformat(d.ends_at), "reason": d.reason,
            "revoked_at": isoformat(d.revoked_at) if d.revoked_at else None}


# --------------------------------------------------------------------------- notifications, preferences, calendar

@click.command("notifications")
@click.option("--as", "as_user", required=True)
@click.option("--unread", is_flag=True, help="only unread ones")
@click.option("--mark-read", is_flag=True, help="mark them all read afterwards")
@click.option("--limit", type=int, default=50, show_default=True)
@_json_option
@with_appcontext
def notifications_command(as_user: str, unread: bool, mark_read: bool, limit: int, json_output: bool) -> None:
    """USER's notifications, newest first, with the unread count."""
    with _unit(json_output) as ctx:
        user = directory.user_by_email(ctx.session, as_user)
        count = notifications.unread_count(ctx.session, user)
        rows = notifications.list_for(ctx.session, user, unread_only=unread, limit=limit)
        out = [{"id": n.id, "kind": n.kind, "title": n.title, "body": n.body, "task_id": n.task_id,
                "created_at": isoformat(n.created_at), "read": n.read_at is not None, "delivery": n.delivery}
               for n in rows]
        if mark_read:
            notifications.mark_read(ctx.session, ctx.clock, user)
    if json_output:
        click.echo(json.dumps({"unread": count, "notifications": out}, indent=2))
        return
    click.echo(f"{count} unread")
    for n in out:
        click.echo(f"{'  ' if n['read'] else '* '}{n['created_at'][:16].replace('T', ' ')}  {n['title']}"
                   + (f"  [task {n['task_id']}]" if n["task_id"] else ""))


@click.command("preferences")
@click.option("--as", "as_user", required=True)
@click.option("--email-mode", type=click.Choice(list(notifications.EMAIL_MODES)),
              help="immediate: an e-mail per notification; digest: one a day; in_app: none")
@with_appcontext
def preferences_command(as_user: str, email_mode: str | None) -> None:
    """Show or set how USER hears about tasks."""
    with _unit() as ctx:
        user = directory.user_by_email(ctx.session, as_user)
        pref = (notifications.set_email_mode(ctx.session, ctx.clock, user, email_mode) if email_mode
                else notifications.preference(ctx.session, ctx.clock, user))
        mode = pref.email_mode
    click.echo(f"{as_user}: e-mail {mode} ({notifications.EMAIL_MODES[mode]})")


@click.command("calendar")
@click.option("--as", "as_user", required=True)
@click.option("--reset", is_flag=True, help="make a new secret address (the old one stops working)")
@with_appcontext
def calendar_command(as_user: str, reset: bool) -> None:
    """Print the address of USER's calendar feed of task deadlines (.ics)."""
    with _unit() as ctx:
        user = directory.user_by_email(ctx.session, as_user)
        token = calendar_feed.token_for(ctx.session, ctx.clock, user, reset=reset)
        url = ctx.settings.base_url.rstrip("/") + calendar_feed.feed_path(token)
    click.echo(url)


@click.group("soa")
def soa_group() -> None:
    """The Statement of Applicability, computed from the registers."""


@soa_group.command("export")
@click.option("--format", "fmt", type=click.Choice(exports.FORMATS), required=True, help="xlsx or pdf")
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="file to write")
@click.option("--version", "version_ref", help="an SoA version (SOA-002); default: the working or approved one")
@with_appcontext
def soa_export(fmt: str, output: Path, version_ref: str | None) -> None:
    """Write the SoA (38 Annex A controls, status, owner, risks, evidence, last review) as XLSX or PDF."""
    with _unit() as ctx:
        version = soa.version_by_ref(ctx.session, version_ref) if version_ref else None
        statement = soa.compute(ctx.session, ctx.clock, version)
        data = exports.export(statement, fmt)
        _write(output, data)
        audit_trail.append(ctx.session, ctx.clock, "soa_exported", subject=statement.version_ref,
                           data={"format": fmt, "controls": len(statement.rows), "file": output.name})
    counts = ", ".join(f"{k} {n}" for k, n in statement.counts().items() if n)
    click.echo(f"{output}: {len(statement.rows)} controls ({counts}); {exports.headline(statement)}")


def _write(output: Path, data: bytes) -> None:
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise InvalidInput(f"cannot write {output}: {exc.strerror or exc}") from None


@click.command("audit-pack")
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="zip file to write")
@click.option("--since", help="audit-trail extract from this ISO date or date-time (default: the whole trail)")
@with_appcontext
def audit_pack_command(output: Path, since: str | None) -> None:
    """Write the audit pack (SoA, AI policy, impact assessments, risks and acceptances, internal audits,
    nonconformities, management reviews, evidence index, audit trail with its verification) as a zip.
    Exit 1 when the audit trail's hash chain is broken (the pack is written all the same)."""
    start = None
    if since:
        try:
            start = parse_datetime(since)
        except ValueError:
            click.echo(f"error: --since {since!r} is not an ISO date or date-time", err=True)
            sys.exit(InvalidInput.exit_code)
    with _unit() as ctx:
        pack = audit_pack.build(ctx.session, ctx.clock, start)
        _write(output, pack.data)
        audit_trail.append(ctx.session, ctx.clock, "audit_pack_built",
                           data={"sha256": pack.sha256, "files": len(pack.manifest), "chain_ok": pack.verification.ok,
                                 "events": pack.verification.count})
    click.echo(f"{output}: {len(pack.manifest) + 1} files, sha256 {pack.sha256}")
    if pack.verification.ok:
        click.echo(f"audit trail: ok, {pack.verification.count} events, head {pack.verification.head}")
        return
    click.echo(f"audit trail chain broken: {pack.verification.problem}", err=True)
    sys.exit(1)


COMMANDS = [deploy_command, lint_command, start_command, tasks_command, claim_command, release_command,
            complete_command, reassign_command, cancel_command, audit_group, demo_group, db_group, worker_command,
            delegate_command, delegations_command, undelegate_command, notifications_command, preferences_command,
            calendar_command, soa_group, audit_pack_command]


def register(group: click.Group) -> None:
    for command in COMMANDS:
        group.add_command(command)


def _create_app() -> Any:
    from . import create_app

    return create_app()


main = FlaskGroup(create_app=_create_app, add_version_option=False, load_dotenv=False, add_default_commands=False,
                  help="aimsflow: BPMN workflows for an ISO/IEC 42001 AI management system.")
main.add_command(run_command)
main.add_command(shell_command)
main.add_command(routes_command)
