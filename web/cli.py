"""The ``aimsflow`` command line (a contract scripts rely on; see README "Command line").

Exit codes: 0 ok, 3 invalid input (form or definition), 4 conflict, 5 forbidden (role or SoD),
6 not found; the message names what is wrong. ``--json`` prints machine-readable output.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext
from flask_migrate.cli import db as db_group

from engine import audit, audit_pack, definitions, demo, directory, exports, queries, services, soa
from engine.clock import isoformat, parse_datetime
from engine.errors import EngineError, InvalidInput, NotFound
from engine.runtime import Context
from engine.uow import transaction

from .extensions import db


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
        out = [dict(_task_dict(r), overdue=r.overdue) for r in rows]
    if json_output:
        click.echo(json.dumps(out, indent=2))
        return
    if not out:
        click.echo(f"no open tasks for {as_user}")
    for r in out:
        due = r["due_at"][:16].replace("T", " ") if r["due_at"] else "-"
        flag = " OVERDUE" if r["overdue"] else ""
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
            expected = audit.Head.parse(head_text)
        except ValueError as exc:
            click.echo(f"error: --head {exc}", err=True)
            sys.exit(InvalidInput.exit_code)
    result = audit.verify(db.session, expected)
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
    click.echo(str(audit.head(db.session)))
    db.session.rollback()


@click.group("demo")
def demo_group() -> None:
    """The demo organisation."""


@demo_group.command("load")
@with_appcontext
def demo_load() -> None:
    """Load the demo organisation (users, roles, AI systems, risks...), dates shifted to today.
    Running it again updates the same rows."""
    with _unit() as ctx:
        summary = demo.load(ctx.session, ctx.clock)
    click.echo("demo organisation loaded: " + ", ".join(f"{n} {k}" for k, n in summary.items()))


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
        audit.append(ctx.session, ctx.clock, "soa_exported", subject=statement.version_ref,
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
        audit.append(ctx.session, ctx.clock, "audit_pack_built",
                     data={"sha256": pack.sha256, "files": len(pack.manifest), "chain_ok": pack.verification.ok,
                           "events": pack.verification.count})
    click.echo(f"{output}: {len(pack.manifest) + 1} files, sha256 {pack.sha256}")
    if pack.verification.ok:
        click.echo(f"audit trail: ok, {pack.verification.count} events, head {pack.verification.head}")
        return
    click.echo(f"audit trail chain broken: {pack.verification.problem}", err=True)
    sys.exit(1)


COMMANDS = [deploy_command, lint_command, start_command, tasks_command, claim_command, release_command,
            complete_command, reassign_command, cancel_command, audit_group, demo_group, db_group, soa_group,
            audit_pack_command]


def register(group: click.Group) -> None:
    for command in COMMANDS:
        group.add_command(command)


def _create_app() -> Any:
    from . import create_app

    return create_app()


main = FlaskGroup(create_app=_create_app, add_version_option=False, load_dotenv=False,
                  help="aimsflow: BPMN workflows for an ISO/IEC 42001 AI management system.")
