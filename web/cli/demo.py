"""``aimsflow demo load``: the demo organisation and its open work."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from engine.aims import demo, demo_work
from engine.app import accounts

from .shared import unit


@click.group("demo")
def demo_group() -> None:
    """The demo organisation."""


@demo_group.command("load")
@with_appcontext
def demo_load() -> None:
    """Load the demo organisation (users, roles, AI systems, risks...), dates shifted to today, and start
    its open work (an assessment, an evidence review, an NC, an audit, the certification project) when no
    process has run yet. Running it again updates the same rows and starts nothing twice."""
    with unit() as ctx:
        summary = demo.load(ctx.session, ctx.clock)
        accounts.set_demo_passwords(ctx.session, current_app.config["DEMO_PASSWORD"])
    click.echo("demo organisation loaded: " + ", ".join(f"{n} {k}" for k, n in summary.items()))
    click.echo("demo users log in with the password from AIMSFLOW_DEMO_PASSWORD (default: demo)")
    with unit() as ctx:
        started = demo_work.start_open_work(ctx)
    for item in started:
        if item.error:
            click.echo(f"could not start {item.process_id} (deploy processes/ first?): {item.error}", err=True)
        else:
            click.echo(f"open work: {item.process_id} #{item.instance_id} waits for {'; '.join(item.tasks)}")


COMMANDS = [demo_group]
