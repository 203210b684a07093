"""BPMN messages and signals from outside: ``message`` (to the process waiting for it with a correlation
key, or to one process by its number) and ``signal`` (to every process waiting for it)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from engine.core import messaging

from .shared import as_option, emit, fail, json_option, parse_data, unit, user
from .work import _outcome_dict, _outcome_lines


@click.command("message")
@click.argument("name")
@as_option("e-mail of the sender (a manager role)")
@click.option("--key", "key", help="the correlation key as a JSON object, e.g. '{\"cycle_ref\": \"CERT-2026\"}'")
@click.option("--instance", "instance_id", type=int, help="send to this process instead (it waits there if early)")
@click.option("--data", "data", help="the payload as a JSON object (or @file.json)")
@json_option
@with_appcontext
def message_command(name: str, as_user: str, key: str | None, instance_id: int | None, data: str | None,
                    json_output: bool) -> None:
    """Send the BPMN message NAME to the one process waiting for it with --key (exit 6 when none waits,
    4 when several do), or to the process --instance."""
    if key is not None and instance_id is not None:
        fail("give --key or --instance, not both")
    payload = parse_data(data)
    correlation = parse_data(key, "--key") if key is not None else None
    with unit(json_output) as ctx:
        sender = user(ctx, as_user)
        outcome = (messaging.send_message(ctx, sender, instance_id, name, payload) if instance_id is not None
                   else messaging.correlate_message(ctx, sender, name, correlation, payload))
        result = dict(_outcome_dict(ctx.session, outcome), delivered=outcome.messages_delivered > 0)
    headline = (f"message {name} delivered to instance {result['instance_id']}" if result["delivered"] else
                f"message {name} waits in instance {result['instance_id']} until it reaches a catch for it")
    emit(result, json_output, _outcome_lines(result, headline))


@click.command("signal")
@click.argument("name")
@as_option("e-mail of the sender (a manager role)")
@click.option("--data", "data", help="the payload as a JSON object (or @file.json)")
@json_option
@with_appcontext
def signal_command(name: str, as_user: str, data: str | None, json_output: bool) -> None:
    """Throw the BPMN signal NAME to every process waiting for it (none waiting is no error)."""
    payload = parse_data(data)
    with unit(json_output) as ctx:
        result = messaging.broadcast_signal(ctx, user(ctx, as_user), name, payload)
        out = {"signal": result.name, "receivers": result.receivers,
               "new_tasks": [{"id": t.id, "instance_id": t.instance_id, "task_spec": t.task_spec, "name": t.name}
                             for t in result.new_tasks]}
    lines = ([f"signal {name} reached {len(out['receivers'])} process(es): "
              + ", ".join(f"instance {i}" for i in out["receivers"])] if out["receivers"] else
             [f"signal {name}: no process waits for it (recorded in the audit trail)"])
    emit(out, json_output, lines)


COMMANDS = [message_command, signal_command]
