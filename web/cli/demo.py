"""``aimsflow demo load``: the demo organisation, its history and the open work it leaves."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from engine.aims import ROLES, demo_work
from engine.app import accounts, demo_guide
from engine.core import EngineError, directory

from .shared import unit


@click.group("demo")
def demo_group() -> None:
    """The demo organisation."""


@demo_group.command("load")
@with_appcontext
def demo_load() -> None:
    """Load the demo organisation (users, roles, AI systems, risks...), dates shifted to today. On a
    database where no process has run yet, play its last ten days through the processes folder (deployed
    as of then): assessments, nonconformities, an audit, reviews and approvals, some overdue and escalated,
    so every demo login finds work; and leave the admin a draft process version. Running it again updates
    the same rows and starts nothing twice."""
    with unit() as ctx:
        prepared = demo_work.prepare(ctx)
        accounts.set_demo_passwords(ctx.session, current_app.config["DEMO_PASSWORD"])
    click.echo("demo organisation loaded: " + ", ".join(f"{n} {k}" for k, n in prepared.registers.items()))
    click.echo("demo users log in with the password from AIMSFLOW_DEMO_PASSWORD (default: demo)")
    if not prepared.history:
        click.echo(f"no demo history played: {prepared.reason}")
        return
    new = [r.version for r in prepared.deployed if r.created]
    if new:
        click.echo(f"deployed as of the history's start: {', '.join(f'{v.process_id} v{v.version}' for v in new)}")
    with unit() as ctx:
        played = demo_work.start_open_work(ctx)
        for item in played:
            if item.error:
                click.echo(f"could not play '{item.title}' ({item.process_id}): {item.error}", err=True)
                continue
            waits = "; ".join(f"{t.name} ({directory.email_of(ctx.session, t.assignee_id) or _claim(t.role)})"
                              for t in item.tasks) or "nothing"
            click.echo(f"open work: {item.title}: {item.process_id} #{item.instance_id} waits for {waits}")
    with unit() as ctx:
        try:
            draft = demo_guide.save_admin_draft(ctx)
        except EngineError as exc:
            click.echo(f"could not save the admin's draft: {exc.message}", err=True)
        else:
            click.echo(f"admin's work: {draft.process_id} v{draft.version} saved as a draft to publish")


def _claim(role: str) -> str:
    return f"{ROLES.get(role, role)} may claim it"


COMMANDS = [demo_group]
