"""``aimsflow token create|list|revoke``: API tokens for scripts, without the web page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import click
from flask.cli import with_appcontext

from engine.app import accounts
from engine.core import isoformat

from .shared import RowId, as_option, emit, json_option, unit, user


@click.group("token")
def token_group() -> None:
    """API tokens: a script sends one as `Authorization: Bearer TOKEN` to /api/v1 and acts as its user."""


@token_group.command("create")
@as_option("e-mail of the user the token acts as")
@click.option("--name", required=True, help="what uses the token (1 to 100 characters)")
@json_option
@with_appcontext
def token_create(as_user: str, name: str, json_output: bool) -> None:
    """A new API token for USER. Its secret is printed once, on the last line (with --json: "secret");
    only its hash is stored."""
    with unit(json_output) as ctx:
        row, secret = accounts.create_token(ctx.session, ctx.clock, user(ctx, as_user), name)
        out = {**_token_dict(row), "secret": secret}
    emit(out, json_output, [f"token {out['id']} ({out['name']}) for {as_user}; the secret is shown only now:",
                            secret])


@token_group.command("list")
@as_option()
@json_option
@with_appcontext
def token_list(as_user: str, json_output: bool) -> None:
    """USER's API tokens (never their secrets): id, first characters, name, created, last used, revoked."""
    with unit(json_output) as ctx:
        out = [_token_dict(row) for row in accounts.tokens_of(ctx.session, user(ctx, as_user))]
    emit(out, json_output, _token_lines(as_user, out))


@token_group.command("revoke")
@click.argument("token_id", type=RowId("API token"))
@as_option("e-mail of the token's user (or of an admin)")
@with_appcontext
def token_revoke(token_id: int, as_user: str) -> None:
    """Revoke API token TOKEN_ID at once (USER's own, or anyone's for an admin)."""
    with unit() as ctx:
        accounts.revoke_token(ctx.session, ctx.clock, user(ctx, as_user), token_id)
    click.echo(f"token {token_id} revoked")


COMMANDS = [token_group]


def _token_dict(row: Any) -> dict[str, Any]:
    return {"id": row.id, "prefix": row.prefix, "name": row.name, "created_at": isoformat(row.created_at),
            "last_used_at": isoformat(row.last_used_at) if row.last_used_at else None,
            "revoked_at": isoformat(row.revoked_at) if row.revoked_at else None}


def _token_lines(as_user: str, out: list[dict[str, Any]]) -> Iterator[str]:
    if not out:
        yield f"no API tokens for {as_user}"
    for t in out:
        used = f"last used {t['last_used_at'][:16]}" if t["last_used_at"] else "never used"
        state = f"revoked {t['revoked_at'][:16]}" if t["revoked_at"] else "active"
        yield f"{t['id']:>5}  {t['prefix']}...  {t['name']}  created {t['created_at'][:16]}  {used}  {state}"
