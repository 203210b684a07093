"""Certification outputs: ``aimsflow soa export`` and ``aimsflow audit-pack``."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from engine.aims import audit_pack, control_records, exports, soa
from engine.core import InvalidInput, audit_trail, parse_datetime

from .audit import CHAIN_BROKEN
from .shared import abort, parsed, unit


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
    with unit() as ctx:
        version = soa.version_by_ref(ctx.session, version_ref) if version_ref else None
        statement = soa.compute(ctx.session, ctx.clock, version)
        _write(output, exports.export(statement, fmt, control_records.for_statement(ctx.session, statement)))
        audit_trail.append(ctx.session, ctx.clock, "soa_exported", subject=statement.version_ref,
                           data={"format": fmt, "controls": len(statement.rows), "file": output.name})
    counts = ", ".join(f"{k} {n}" for k, n in statement.counts().items() if n)
    click.echo(f"{output}: {len(statement.rows)} controls ({counts}); {exports.headline(statement)}")


@click.command("audit-pack")
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="zip file to write")
@click.option("--since", help="audit-trail extract from this ISO date or date-time (default: the whole trail)")
@with_appcontext
def audit_pack_command(output: Path, since: str | None) -> None:
    """Write the audit pack (SoA, AI policy, impact assessments, risks and acceptances, internal audits,
    nonconformities, management reviews, evidence index, audit trail with its verification) as a zip.
    Exit 1 when the audit trail's hash chain is broken (the pack is written all the same)."""
    start = (parsed(parse_datetime, since, "--since", f"--since {since!r} is not an ISO date or date-time")
             if since else None)
    with unit() as ctx:
        pack = audit_pack.build(ctx.session, ctx.clock, start, evidence_dir=ctx.settings.evidence_dir)
        _write(output, pack.data)
        audit_trail.append(ctx.session, ctx.clock, "audit_pack_built",
                           data={"sha256": pack.sha256, "files": len(pack.manifest), "chain_ok": pack.verification.ok,
                                 "events": pack.verification.count})
    click.echo(f"{output}: {len(pack.manifest) + 1} files, sha256 {pack.sha256}")
    if not pack.verification.ok:
        abort(f"audit trail chain broken: {pack.verification.problem}", CHAIN_BROKEN)
    click.echo(f"audit trail: ok, {pack.verification.count} events, head {pack.verification.head}")


def _write(output: Path, data: bytes) -> None:
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise InvalidInput(f"cannot write {output}: {exc.strerror or exc}") from None


COMMANDS = [soa_group, audit_pack_command]
