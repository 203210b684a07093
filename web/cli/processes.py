"""``aimsflow deploy`` and ``aimsflow lint``: BPMN files in, process versions (or problems) out."""

from __future__ import annotations

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
                "created": r.created} for r in results]
    emit(out, json_output, (f"{r['process_id']}\tv{r['version']}\t{r['sha256']}\t"
                            f"{'new' if r['created'] else 'unchanged'}" for r in out))


@click.command("lint")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@json_option
@with_appcontext
def lint_command(files: tuple[Path, ...], json_output: bool) -> None:
    """Check BPMN files without storing anything; exit 3 listing every problem by element."""
    sources = [_read(path) for path in files]
    try:
        parsed = definitions.parse_and_lint(sources, context().settings, _library({s.name for s in sources}))
    except EngineError as exc:
        fail_on(exc, json_output, text="\n".join(exc.message.splitlines()))
    if json_output:
        dump([{"file": p.source.name, "process_id": p.process_id, "ok": True} for p in parsed], indent=None)
    else:
        for p in parsed:
            click.echo(f"{p.source.name}: ok ({p.process_id})")


COMMANDS = [deploy_command, lint_command]


def _read(path: Path) -> definitions.SourceFile:
    if not path.is_file():
        fail(f"{path} does not exist", NotFound.exit_code)
    return definitions.SourceFile.read(path)


def _library(names: set[str]) -> dict[str, definitions.SourceFile]:
    """The processes folder's BPMN files other than the ones being linted (what those may call)."""
    folder = context().settings.processes_dir
    return {p.stem: definitions.SourceFile.read(p) for p in sorted(folder.glob("*.bpmn")) if p.name not in names}
