"""``aimsflow import`` and ``aimsflow export``: the registers in and out of CSV and XLSX files."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from engine.app import register_io
from engine.core import EngineError, InvalidInput, NotFound, ValidationError, audit_trail

from .. import common
from .shared import as_option, dump, fail, fail_on, json_option, unit, user


@click.command("import")
@click.argument("register")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="say what would change; change nothing")
@as_option("the e-mail of the user who imports (a writer of the register)")
@json_option
@with_appcontext
def import_command(register: str, file: Path, dry_run: bool, as_user: str, json_output: bool) -> None:
    """Import REGISTER rows from a CSV or XLSX FILE, all or nothing: rows are matched by reference.
    Exit 3 (nothing changed) when any row has a problem; every problem is named by row and column."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}",
             NotFound.exit_code if isinstance(exc, FileNotFoundError) else InvalidInput.exit_code)
    try:
        with common.unit() as ctx:
            who = user(ctx, as_user)
            if dry_run:
                plan = register_io.plan(ctx.session, who, register, file.name, data, clock=ctx.clock)
                if plan.problems:
                    raise ValidationError(f"{file.name} cannot be imported", plan.problems)
            else:
                plan = register_io.apply(ctx, who, register, file.name, data, source="command line")
    except ValidationError as exc:
        if json_output:
            fail_on(exc, True)
        click.echo(f"error: nothing {'would be' if dry_run else 'was'} imported: {len(exc.errors)} problem"
                   f"{'s' if len(exc.errors) != 1 else ''} in {file.name}", err=True)
        for problem in exc.errors:
            click.echo(f"  {problem.message}", err=True)
        sys.exit(exc.exit_code)
    except EngineError as exc:
        fail_on(exc, json_output)
    result = {"register": register, "dry_run": dry_run, "added": plan.count("added"),
              "changed": plan.count("changed"), "unchanged": plan.count("unchanged"),
              "rows": [{"row": r.number, "ref": r.ref, "action": r.action,
                        "changes": {k: {"before": b, "after": a} for k, (b, a) in r.changes.items()}}
                       for r in plan.rows if r.action != "unchanged"]}
    if json_output:
        dump(result)
        return
    for r in plan.rows:
        if r.action == "unchanged":
            continue
        detail = "; ".join(f"{k}: {b!r} -> {a!r}" if r.action == "changed" else f"{k}: {a!r}"
                           for k, (b, a) in r.changes.items())
        click.echo(f"row {r.number} {r.ref or '(new)'} {r.action}: {detail}")
    click.echo(("would be: " if dry_run else "") + plan.summary())


@click.command("export")
@click.argument("register")
@click.option("--format", "fmt", type=click.Choice(register_io.FORMATS), default="csv", show_default=True)
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="the file to write (a .zip for `export all`)")
@as_option("the e-mail of the user who exports (anyone with a role)")
@with_appcontext
def export_command(register: str, fmt: str, output: Path, as_user: str) -> None:
    """Write REGISTER (or `all`: every register in a zip) as CSV or XLSX, retired rows included."""
    with unit() as ctx:
        who = user(ctx, as_user)
        if register == "all":
            data, counts = register_io.export_all(ctx.session, who, fmt)
            summary = ", ".join(f"{name} {n}" for name, n in counts.items())
        else:
            data = register_io.export(ctx.session, who, register, fmt)
            summary = f"{register}"
        try:
            output.write_bytes(data)
        except OSError as exc:
            raise InvalidInput(f"cannot write {output}: {exc.strerror or exc}") from None
        audit_trail.append(ctx.session, ctx.clock, "register_exported", actor=who, subject=register,
                           data={"format": fmt, "file": output.name})
    click.echo(f"{output}: {summary}")


COMMANDS = [import_command, export_command]
