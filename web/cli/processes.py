"""``aimsflow deploy`` and ``aimsflow lint``: BPMN files in, process versions (or problems) out."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import click
from flask.cli import with_appcontext

from engine.core import EngineError, NotFound, definitions

from ..common import context
from .shared import as_option, dump, emit, fail, fail_on, json_option, unit, user


@click.command("deploy")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@as_option("e-mail of the deploying admin (recorded in the audit trail)", required=False)
@json_option
@with_appcontext
def deploy_command(paths: tuple[Path, ...], as_user: str | None, json_output: bool) -> None:
    """Deploy BPMN files (default: the processes folder); print process id, version, sha256."""
    with unit(json_output) as ctx:
        actor = user(ctx, as_user) if as_user else None
        results = definitions.deploy_directory(ctx.session, ctx.settings, ctx.clock, actor, list(paths) or None)
        out = [{"process_id": r.version.process_id, "version": r.version.version, "sha256": r.version.sha256,
                "created": r.created, "warnings": list(r.version.lint_warnings or []) if r.created else []}
               for r in results]
    emit(out, json_output, (f"{r['process_id']}\tv{r['version']}\t{r['sha256']}\t"
                            f"{'new' if r['created'] else 'unchanged'}" for r in out))
    if not json_output:
        _warn(definitions.Problem.from_dict(w) for r in out for w in r["warnings"])


@click.command("lint")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@json_option
@with_appcontext
def lint_command(files: tuple[Path, ...], json_output: bool) -> None:
    """Check BPMN files without storing anything; exit 3 listing every problem by element (errors first,
    then warnings). Files that pass are listed as ok; their warnings go to stderr."""
    sources = [_read(path) for path in files]
    library = definitions.folder_library(context().settings.processes_dir, {s.name for s in sources})
    try:
        parsed = definitions.parse_and_lint(sources, context().settings, library)
    except EngineError as exc:
        fail_on(exc, json_output, text="\n".join(exc.message.splitlines()))
    if json_output:
        dump([{"file": p.source.name, "process_id": p.process_id, "ok": True,
               "warnings": [w.to_dict() for w in p.warnings]} for p in parsed], indent=None)
        return
    for p in parsed:
        count = len(p.warnings)
        click.echo(f"{p.source.name}: ok ({p.process_id})"
                   + (f", {count} warning{'s' * (count != 1)}" if count else ""))
    _warn(w for p in parsed for w in p.warnings)


COMMANDS = [deploy_command, lint_command]


def _read(path: Path) -> definitions.SourceFile:
    if not path.is_file():
        fail(f"{path} does not exist", NotFound.exit_code)
    return definitions.SourceFile.read(path)


def _warn(warnings: Iterable[definitions.Problem]) -> None:
    for warning in warnings:
        click.echo(str(warning), err=True)
