"""The work commands: ``start``, ``tasks``, ``claim``, ``release``, ``complete``, ``reassign``, ``cancel``.

The use cases are reached through ``core.services`` (the face imports them on first use), so ``tasks``,
which only reads, does not load the workflow runtime."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import click
from flask.cli import with_appcontext
from sqlalchemy.orm import Session

from engine import core
from engine.app import queries
from engine.core import InstanceState, directory, isoformat

from .shared import RowId, as_option, emit, json_option, parse_data, unit, user


@click.command("start")
@click.argument("process_id")
@as_option("e-mail of the user starting it")
@click.option("--data", "data", help="start data as a JSON object (or @file.json)")
@json_option
@with_appcontext
def start_command(process_id: str, as_user: str, data: str | None, json_output: bool) -> None:
    """Start a process instance."""
    payload = parse_data(data)
    with unit(json_output) as ctx:
        result = _outcome_dict(ctx.session, core.services.start_process(ctx, user(ctx, as_user), process_id, payload))
    emit(result, json_output, _outcome_lines(result, f"started {process_id} as instance {result['instance_id']}"))


@click.command("tasks")
@as_option("e-mail of the user")
@json_option
@with_appcontext
def tasks_command(as_user: str, json_output: bool) -> None:
    """Tasks USER may act on (assigned, or claimable by their roles), overdue first, with due dates."""
    with unit(json_output) as ctx:
        rows = queries.inbox(ctx.session, user(ctx, as_user), ctx.clock.now())
        out = [dict(_task_dict(ctx.session, r), overdue=r.overdue, escalation_level=r.escalation_level)
               for r in rows]
    emit(out, json_output, _inbox_lines(as_user, out))


@click.command("claim")
@click.argument("task_id", type=RowId("task"))
@as_option()
@json_option
@with_appcontext
def claim_command(task_id: int, as_user: str, json_output: bool) -> None:
    """Claim a task."""
    with unit(json_output) as ctx:
        out = _task_dict(ctx.session, core.services.claim_task(ctx, user(ctx, as_user), task_id))
    emit(out, json_output, [f"task {task_id} claimed by {as_user}"])


@click.command("release")
@click.argument("task_id", type=RowId("task"))
@as_option()
@with_appcontext
def release_command(task_id: int, as_user: str) -> None:
    """Give a claimed task back."""
    with unit() as ctx:
        core.services.release_task(ctx, user(ctx, as_user), task_id)
    click.echo(f"task {task_id} released")


@click.command("complete")
@click.argument("task_id", type=RowId("task"))
@as_option()
@click.option("--data", "data", required=True, help="form data as a JSON object (or @file.json)")
@json_option
@with_appcontext
def complete_command(task_id: int, as_user: str, data: str, json_output: bool) -> None:
    """Complete a task with its form data."""
    payload = parse_data(data)
    with unit(json_output) as ctx:
        result = _outcome_dict(ctx.session, core.services.complete_task(ctx, user(ctx, as_user), task_id, payload))
    emit(result, json_output, _outcome_lines(result, f"task {task_id} completed"))


@click.command("reassign")
@click.argument("task_id", type=RowId("task"))
@as_option()
@click.option("--to", "to_user", required=True, help="e-mail of the new holder")
@click.option("--reason", required=True)
@with_appcontext
def reassign_command(task_id: int, as_user: str, to_user: str, reason: str) -> None:
    """Reassign a task (managers and admins; reason required)."""
    with unit() as ctx:
        core.services.reassign_task(ctx, user(ctx, as_user), task_id, to_user, reason)
    click.echo(f"task {task_id} reassigned to {to_user}")


@click.command("cancel")
@click.argument("instance_id", type=RowId("process instance"))
@as_option()
@click.option("--reason", required=True)
@with_appcontext
def cancel_command(instance_id: int, as_user: str, reason: str) -> None:
    """Cancel a running process instance."""
    with unit() as ctx:
        core.services.cancel_instance(ctx, user(ctx, as_user), instance_id, reason)
    click.echo(f"instance {instance_id} cancelled")


COMMANDS = [start_command, tasks_command, claim_command, release_command, complete_command, reassign_command,
            cancel_command]


# --------------------------------------------------------------------------- shapes and lines

def _task_dict(session: Session, row: Any) -> dict[str, Any]:
    """A task row (``HumanTask``) or inbox row as the JSON scripts read."""
    return {"id": row.id, "name": row.name, "task_spec": row.task_spec, "process_id": row.process_id,
            "instance_id": row.instance_id, "subject": row.subject, "role": row.role, "state": row.state,
            "assignee": directory.email_of(session, row.assignee_id) if hasattr(row, "assignee_id")
            else row.assignee, "due_at": isoformat(row.due_at) if row.due_at else None, "form": row.form}


def _outcome_dict(session: Session, outcome: core.services.Outcome) -> dict[str, Any]:
    instance = outcome.instance
    return {"instance_id": instance.id, "process_id": instance.process_id, "status": instance.status,
            "subject": instance.subject, "end_event": instance.end_event,
            "new_tasks": [_task_dict(session, t) for t in outcome.new_tasks],
            "started_instances": [{"instance_id": i.id, "process_id": i.process_id} for i in outcome.started]}


def _outcome_lines(result: dict[str, Any], headline: str) -> Iterator[str]:
    yield (f"{headline}; instance {result['instance_id']} is {result['status']}"
           + (f" ({result['end_event']})" if result["status"] == InstanceState.COMPLETED and result["end_event"]
              else ""))
    if result["new_tasks"]:
        yield "now waiting:"
    for r in result["new_tasks"]:
        due = f" due {r['due_at'][:16].replace('T', ' ')}" if r["due_at"] else ""
        who = r["assignee"] or f"role {r['role']}"
        yield f"  task {r['id']}: {r['name']} [{r['task_spec']}] for {who}{due}"
    for s in result["started_instances"]:
        yield f"started {s['process_id']} as instance {s['instance_id']}"


def _inbox_lines(as_user: str, out: list[dict[str, Any]]) -> Iterator[str]:
    if not out:
        yield f"no open tasks for {as_user}"
    for r in out:
        due = r["due_at"][:16].replace("T", " ") if r["due_at"] else "-"
        flag = (" OVERDUE" if r["overdue"] else "") + (f" ESCALATED(L{r['escalation_level']})"
                                                        if r["escalation_level"] else "")
        holder = r["assignee"] or f"({r['role']})"
        yield (f"{r['id']:>6}  {due:16}{flag}  {r['name']}  [{r['process_id']} #{r['instance_id']}"
               f"{' ' + r['subject'] if r['subject'] else ''}]  {holder}")
