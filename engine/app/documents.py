"""The certification documents as a user downloads them: the Statement of Applicability (XLSX, PDF)
and the audit pack (zip). Each checks the user's role (``access.CERT_ROLES``) and audits the download
like the CLI does (``soa_exported``, ``audit_pack_built``). Nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from engine.aims import audit_pack, control_records, exports, readiness, soa
from engine.app import access
from engine.core import audit_trail
from engine.core.clock import Clock
from engine.core.errors import InvalidInput
from engine.core.models import User

MIME = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "pdf": "application/pdf",
        "zip": "application/zip"}


@dataclass(frozen=True)
class Download:
    filename: str
    mimetype: str
    data: bytes


def soa_statement(session: Session, clock: Clock, actor: User) -> soa.Statement:
    """The SoA as the page shows it (working or approved version, else the registers alone).
    Raises Forbidden for a role that may not see it."""
    access.require_cert_role(actor)
    return soa.compute(session, clock)


def soa_export(session: Session, clock: Clock, actor: User, fmt: str) -> Download:
    """The SoA as ``fmt`` (xlsx or pdf), audited. Raises Forbidden, InvalidInput (format)."""
    access.require_cert_role(actor)
    if fmt not in exports.FORMATS:
        raise InvalidInput(f"unknown format {fmt!r}; use one of {', '.join(exports.FORMATS)}")
    statement = soa.compute(session, clock)
    data = exports.export(statement, fmt, control_records.for_statement(session, statement))
    name = f"statement_of_applicability_{statement.computed_at:%Y%m%d}.{fmt}"
    audit_trail.append(session, clock, "soa_exported", actor=actor, subject=statement.version_ref,
                       data={"format": fmt, "controls": len(statement.rows), "file": name})
    return Download(name, MIME[fmt], data)


def audit_pack_download(session: Session, clock: Clock, actor: User, evidence_dir: Path | None = None) -> Download:
    """The audit pack zip (whole trail, and the evidence files under ``evidence_dir``), audited. Raises
    Forbidden."""
    access.require_cert_role(actor)
    pack = audit_pack.build(session, clock, evidence_dir=evidence_dir)
    audit_trail.append(session, clock, "audit_pack_built", actor=actor,
                       data={"sha256": pack.sha256, "files": len(pack.manifest), "chain_ok": pack.verification.ok,
                             "events": pack.verification.count})
    return Download(f"audit_pack_{pack.generated_at:%Y%m%d}.zip", MIME["zip"], pack.data)


def readiness_dashboard(session: Session, clock: Clock, actor: User) -> readiness.Dashboard:
    """The readiness dashboard's figures. Raises Forbidden for a role that may not see them."""
    access.require_cert_role(actor)
    return readiness.dashboard(session, clock)


def readiness_report(session: Session, clock: Clock, actor: User) -> readiness.Report:
    """The full set of readiness checks as they stand now (nothing is recorded). Raises Forbidden for a
    role that may not see them."""
    access.require_cert_role(actor)
    return readiness.run_checks(session, clock)
