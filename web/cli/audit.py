"""``aimsflow audit verify`` and ``aimsflow audit head``: the hash-chained audit trail, read only."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from engine.core import audit_trail

from ..extensions import db
from .shared import abort, parsed

CHAIN_BROKEN = 1  # exit code of `audit verify` (and `audit-pack`) when the chain does not verify


@click.group("audit")
def audit_group() -> None:
    """The hash-chained audit trail."""


@audit_group.command("verify")
@click.option("--head", "head_text", help="HASH:COUNT kept elsewhere (from `aimsflow audit head`)")
@with_appcontext
def audit_verify(head_text: str | None) -> None:
    """Recompute the chain; exit 1 naming the first altered or missing event."""
    expected = parsed(audit_trail.Head.parse, head_text, "--head") if head_text else None
    result = audit_trail.verify(db.session, expected)
    db.session.rollback()
    if not result.ok:
        abort(f"audit chain broken: {result.problem}", CHAIN_BROKEN)
    click.echo(f"ok: {result.count} events, head {result.head}")


@audit_group.command("head")
@with_appcontext
def audit_head() -> None:
    """Print HASH:COUNT of the chain's head, to keep somewhere else."""
    click.echo(str(audit_trail.head(db.session)))
    db.session.rollback()


COMMANDS = [audit_group]
