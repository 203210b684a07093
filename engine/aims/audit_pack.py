"""The audit pack: one zip with what a certification auditor asks to see (DOMAIN.md section 7).

Contents (``README.txt`` in the zip says the same)::

    soa/statement_of_applicability.{xlsx,pdf,json}   the SoA as the registers give it now
    soa/versions.json                                  every SoA version, approved ones with their sha256
    scope/scope_statement.json                         the AIMS scope statement (4.3): every version, who approved it
    objectives/objectives.json                         AI objectives with their measurements, latest against target
    policy/ai_policy.json                              the AI policy, its versions, approvals, acknowledgement rate
    risk/impact_assessments.json                       AI system impact assessments
    risk/risk_register.csv, risk/risk_register.json    risks with treatment actions
    risk/risk_acceptances.json                         acceptances of residual risk
    audit/internal_audits.json                         audit programme, audits and their findings
    nonconformities/nonconformities.json               nonconformities with their corrective actions
    management_review/minutes.json                     management reviews: inputs, conclusions, decisions, actions
    certification/certification.json                   cycles, readiness reviews, external audits and findings
    registers/<register>.{csv,xlsx}                    every register as `aimsflow export` writes it: AI systems,
                                                       context issues, interested parties and their requirements,
                                                       suppliers, data resources, documents, objectives, competence,
                                                       training records, risks, nonconformities, evidence, ...
    evidence/evidence_index.csv                        every evidence record with its sha256 and validity
    evidence/evidence_revisions.csv                    every file each evidence item held (its revisions), which one
                                                       is current, its sha256 and where it is in the pack
    evidence/files/EVD-…/<file name>                  the current file of each item uploaded as evidence, as stored
    evidence/files/EVD-…/revision-N/<file name>       the files of its earlier revisions (sha256 as in the indexes)
    audit_trail/events.jsonl                           the audit-trail extract (all events, or those since a date)
    audit_trail/verification.json                      the hash-chain verification of the whole trail
    manifest.json                                      every file above with its size and sha256

Users appear by e-mail address. Building the pack changes nothing but one ``audit_pack_built`` audit
event (written by the caller's transaction after the extract, so the pack's chain head is verifiable).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.aims import cells, control_records, evidence_intake, exports, objectives, register_tables, roles, soa
from engine.aims.register_specs import SPECS
from engine.aims.registers import (
    Approval,
    Audit,
    AuditFinding,
    AuditProgramme,
    CertificationCycle,
    CorrectiveAction,
    Document,
    DocumentVersion,
    Evidence,
    EvidenceRevision,
    ExternalAudit,
    ExternalFinding,
    ImpactAssessment,
    ManagementReview,
    Nonconformity,
    ReadinessReview,
    Risk,
    RiskAcceptance,
    RiskTreatmentAction,
    ScopeStatement,
    SoAVersion,
)
from engine.core import audit_trail
from engine.core.audit_trail import VerifyResult
from engine.core.clock import Clock, isoformat
from engine.core.models import AuditEvent, User

EVIDENCE_COLUMNS = ("ref", "title", "evidence_type", "status", "linked_controls", "linked_clauses", "collected_by",
                    "collected_at", "reviewer", "reviewed_at", "valid_until", "valid_now", "content_ref", "sha256",
                    "file_in_pack")
RISK_COLUMNS = ("ref", "title", "status", "source_category", "owner_id", "inherent_score", "inherent_level",
                "treatment_option", "planned_controls", "existing_controls", "residual_score", "residual_level",
                "next_review_at")

#: the files every pack holds, whatever the registers hold; besides them, every register as a table
#: (``register_files``) and, with an evidence folder, the files uploaded as evidence
FIXED_FILES = (
    "soa/statement_of_applicability.xlsx", "soa/statement_of_applicability.pdf", "soa/statement_of_applicability.json",
    "soa/versions.json", "scope/scope_statement.json", "objectives/objectives.json", "policy/ai_policy.json",
    "risk/impact_assessments.json", "risk/risk_register.json", "risk/risk_register.csv",
    "risk/risk_acceptances.json", "audit/internal_audits.json", "nonconformities/nonconformities.json",
    "management_review/minutes.json", "certification/certification.json", "evidence/evidence_index.csv",
    "evidence/evidence_revisions.csv", "audit_trail/events.jsonl", "audit_trail/verification.json", "README.txt",
    "manifest.json",
)


def register_files() -> list[tuple[str, str, str]]:
    """Every register's tables in the pack: (path, register name, format), ``registers/risks.csv`` ..."""
    return [(f"registers/{name}.{fmt}", name, fmt) for name in SPECS for fmt in register_tables.FORMATS]


def files_every_pack_holds() -> list[str]:
    """The paths of the files in every pack, sorted: ``FIXED_FILES`` and ``register_files``."""
    return sorted([*FIXED_FILES, *(path for path, _, _ in register_files())])


@dataclass
class AuditPack:
    data: bytes
    manifest: list[dict[str, Any]]
    verification: VerifyResult
    generated_at: datetime
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


class _Rows:
    """Register rows as plain dicts; user foreign keys become e-mail addresses."""

    def __init__(self, session: Session):
        self.session = session
        self.emails = {u.id: u.email for u in session.scalars(select(User))}

    def plain(self, row: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for column in row.__table__.columns:
            if column.key in skip:
                continue
            value = getattr(row, column.key)
            if value is not None and any(fk.column.table.name == "user_account" for fk in column.foreign_keys):
                value = self.emails.get(value, value)
            out[column.key] = value
        return out

    def all(self, model: Any, *where: Any) -> list[Any]:
        return list(self.session.scalars(select(model).where(*where).order_by(model.id)))


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=_default) + "\n").encode()


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return isoformat(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON data")


def _cell(value: Any) -> str:
    """One CSV cell; typed text that a spreadsheet would run as a formula is neutralised (``cells``)."""
    if value is None:
        return ""
    if isinstance(value, list):
        return cells.neutralise("; ".join(str(v) for v in value))
    return _default(value) if isinstance(value, date) else str(cells.neutralise(value))


def _csv(header: tuple[str, ...], rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(row.get(h)) for h in header])
    return out.getvalue().encode()


def build(session: Session, clock: Clock, since: datetime | None = None,
          evidence_dir: Path | None = None) -> AuditPack:
    """Build the pack from the registers as they are now. ``since`` limits the audit-trail extract to
    events at or after it (the verification always covers the whole chain). With ``evidence_dir`` (where
    uploads are stored), the files of evidence items that came from uploads are in the pack too."""
    now = clock.now()
    rows = _Rows(session)
    files: dict[str, bytes] = {}
    statement = soa.compute(session, clock)
    linked = control_records.for_statement(session, statement)
    files["soa/statement_of_applicability.xlsx"] = exports.soa_xlsx(statement, linked)
    files["soa/statement_of_applicability.pdf"] = exports.soa_pdf(statement, linked)
    files["soa/statement_of_applicability.json"] = _json(statement.to_dict())
    files["soa/versions.json"] = _json([_soa_version(session, rows, v) for v in rows.all(SoAVersion)])
    files["scope/scope_statement.json"] = _json([rows.plain(v) for v in rows.all(ScopeStatement)])
    files["objectives/objectives.json"] = _json([
        rows.plain(p.objective) | {"performance": p.to_dict(now.date()), "measurements": [
            {"ref": m.ref, "measured_on": m.measured_on, "value": m.value, "note": m.note,
             "recorded_by": rows.emails.get(m.recorded_by_id or 0)} for m in p.points]}
        for p in objectives.performance(session)])
    files["policy/ai_policy.json"] = _json(_policies(session, rows))
    files["risk/impact_assessments.json"] = _json([rows.plain(a) for a in rows.all(ImpactAssessment)])
    risks = [rows.plain(r) | {"treatment_actions": [
        rows.plain(a) for a in rows.all(RiskTreatmentAction, RiskTreatmentAction.risk_id == r.id)]}
        for r in rows.all(Risk)]
    files["risk/risk_register.json"] = _json(risks)
    files["risk/risk_register.csv"] = _csv(RISK_COLUMNS, risks)
    files["risk/risk_acceptances.json"] = _json([rows.plain(a) for a in rows.all(RiskAcceptance)])
    files["audit/internal_audits.json"] = _json({
        "programmes": [rows.plain(p) for p in rows.all(AuditProgramme)],
        "audits": [rows.plain(a) | {"findings": [rows.plain(f) for f in rows.all(AuditFinding,
                                                                                  AuditFinding.audit_id == a.id)]}
                   for a in rows.all(Audit)]})
    files["nonconformities/nonconformities.json"] = _json([
        rows.plain(n) | {"corrective_actions": [  # the root cause by its words beside its index
            rows.plain(a) | {"root_cause": a.root_cause}
            for a in rows.all(CorrectiveAction, CorrectiveAction.nc_id == n.id)]}
        for n in rows.all(Nonconformity)])
    files["management_review/minutes.json"] = _json([
        rows.plain(m) | {"decisions": [{"code": d.code, "type": d.type, "description": d.description,
                                        "rationale": d.rationale} for d in m.decisions],
                         "actions": [rows.plain(a) for a in m.actions]}
        for m in rows.all(ManagementReview)])
    files["certification/certification.json"] = _json([
        rows.plain(c) | {
            "readiness_reviews": [rows.plain(r) for r in rows.all(ReadinessReview, ReadinessReview.cycle_id == c.id)],
            "external_audits": [rows.plain(a) | {"findings": [rows.plain(f) for f in rows.all(
                ExternalFinding, ExternalFinding.external_audit_id == a.id)]}
                for a in rows.all(ExternalAudit, ExternalAudit.cycle_id == c.id)]}
        for c in rows.all(CertificationCycle)])
    for path, name, fmt in register_files():
        files[path] = register_tables.as_file(session, SPECS[name], fmt)[0]
    stored = _evidence_files(session, rows, evidence_dir) if evidence_dir is not None else {}
    current = {path: (ref, content) for path, (ref, number, content) in stored.items() if number is None}
    files["evidence/evidence_index.csv"] = _csv(EVIDENCE_COLUMNS, _evidence_index(rows, now.date(), current))
    files["evidence/evidence_revisions.csv"] = _csv(REVISION_COLUMNS, _revision_index(rows, stored))
    for path, (_, _, content) in stored.items():
        files[path] = content
    files["audit_trail/events.jsonl"] = _events(session, since)
    verification = audit_trail.verify(session)
    files["audit_trail/verification.json"] = _json({
        "ok": verification.ok, "events": verification.count, "head": str(verification.head),
        "problem": verification.problem, "first_bad_event": verification.bad_seq, "verified_at": now,
        "extract_since": since})
    org = roles.organisation(session)
    files["README.txt"] = _readme(org.name if org else "", now, verification).encode()
    manifest = [{"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                for path, data in sorted(files.items())]
    files["manifest.json"] = _json({"organisation": org.name if org else "", "generated_at": now,
                                    "files": manifest})
    return AuditPack(_zip(files, now), manifest, verification, now, files)


def _zip(files: dict[str, bytes], now: datetime) -> bytes:
    out = io.BytesIO()
    stamp = (max(now.year, 1980), now.month, now.day, now.hour, now.minute, now.second)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(files):
            info = zipfile.ZipInfo(path, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, files[path])
    return out.getvalue()


def _soa_version(session: Session, rows: _Rows, version: SoAVersion) -> dict[str, Any]:
    doc = session.get(DocumentVersion, version.document_version_id) if version.document_version_id else None
    return {"ref": version.ref, "version": version.version, "status": version.status,
            "generated_at": version.generated_at, "approved_at": version.approved_at,
            "approved_by": rows.emails.get(version.approved_by_id) if version.approved_by_id else None,
            "gaps": version.gaps, "document_version": doc.version if doc else None,
            "sha256": doc.sha256 if doc else None}


def _policies(session: Session, rows: _Rows) -> list[dict[str, Any]]:
    out = []
    for document in rows.all(Document, Document.doc_type == "ai_policy"):
        versions = []
        for v in document.versions:
            approvals = rows.all(Approval, Approval.subject_type == "document_version", Approval.subject_id == v.id)
            versions.append(rows.plain(v) | {"approvals": [rows.plain(a) for a in approvals]})
        out.append(rows.plain(document) | {"versions": versions})
    return out


def _stored(session: Session, evidence_dir: Path, row: Evidence | EvidenceRevision,
            sha256: str | None) -> tuple[str, bytes] | None:
    """(file name, content) of the upload ``row`` holds, if it is on disk with the sha256 the register holds."""
    upload = evidence_intake.upload_of(session, row)
    if upload is None:
        return None
    try:
        content = (evidence_dir / str(upload.instance_id) / upload.sha256).read_bytes()
    except OSError:
        return None
    if hashlib.sha256(content).hexdigest() != (sha256 or upload.sha256):
        return None
    return re.sub(r"[^A-Za-z0-9._ -]", "_", upload.filename).strip() or "file", content


def _evidence_files(session: Session, rows: _Rows,
                    evidence_dir: Path) -> dict[str, tuple[str, int | None, bytes]]:
    """Pack path -> (evidence ref, revision number, content) of every uploaded file evidence items hold, on
    disk with the sha256 the register holds (a file missing or changed is left out; the indexes say so):
    each item's current file (revision number None) and the files of its earlier revisions."""
    out: dict[str, tuple[str, int | None, bytes]] = {}
    refs = {}
    for e in rows.all(Evidence):
        refs[e.id] = e
        found = _stored(session, evidence_dir, e, e.sha256)
        if found is not None:
            out[f"evidence/files/{e.ref}/{found[0]}"] = (e.ref, None, found[1])
    for r in rows.all(EvidenceRevision):
        item = refs.get(r.evidence_id)
        if item is None or r.number == item.revision:
            continue  # the current one is in the pack already
        found = _stored(session, evidence_dir, r, r.sha256)
        if found is not None:
            out[f"evidence/files/{item.ref}/revision-{r.number}/{found[0]}"] = (item.ref, r.number, found[1])
    return out


REVISION_COLUMNS = ("evidence_ref", "revision", "current", "filename", "sha256", "size", "media_type",
                    "submitted_by", "submitted_at", "valid_until", "note", "file_in_pack")


def _revision_index(rows: _Rows, stored: dict[str, tuple[str, int | None, bytes]]) -> list[dict[str, Any]]:
    """One line per file an evidence item held, oldest first: which is current and where it is in the pack
    ("missing" when it is not on disk as registered)."""
    items = {e.id: e for e in rows.all(Evidence)}
    where = {(ref, number): path for path, (ref, number, _) in stored.items()}
    out = []
    for r in sorted(rows.all(EvidenceRevision), key=lambda r: (items[r.evidence_id].ref, r.number)):
        item = items[r.evidence_id]
        current = r.number == item.revision
        out.append(rows.plain(r) | {
            "evidence_ref": item.ref, "revision": r.number, "current": "yes" if current else "no",
            "submitted_by": rows.emails.get(r.submitted_by_id or 0),
            "file_in_pack": where.get((item.ref, None if current else r.number)) or "missing"})
    return out


def _evidence_index(rows: _Rows, today: date, stored: dict[str, tuple[str, bytes]]) -> list[dict[str, Any]]:
    in_pack = {ref: path for path, (ref, _) in stored.items()}
    out = []
    for e in rows.all(Evidence):
        item = rows.plain(e)
        item["file_in_pack"] = in_pack.get(e.ref) or ("missing" if (e.content_ref or "").startswith(
            evidence_intake.UPLOAD_PREFIX) else "")
        item["collected_by"], item["reviewer"] = item.get("collected_by_id"), item.get("reviewer_id")
        item["valid_now"] = "yes" if e.status == "accepted" and (e.valid_until is None or e.valid_until >= today) \
            else "no"
        out.append(item)
    return out


def _events(session: Session, since: datetime | None) -> bytes:
    stmt = select(AuditEvent).order_by(AuditEvent.seq)
    if since is not None:
        stmt = stmt.where(AuditEvent.at >= since)
    lines = []
    for e in session.scalars(stmt):
        lines.append(json.dumps({"seq": e.seq, "at": isoformat(e.at), "actor": e.actor, "action": e.action,
                                 "instance_id": e.instance_id, "task_id": e.task_id, "subject": e.subject,
                                 "data": e.data, "prev_hash": e.prev_hash, "hash": e.hash},
                                ensure_ascii=False, sort_keys=True, default=_default))
    return ("\n".join(lines) + ("\n" if lines else "")).encode()


def _readme(organisation: str, now: datetime, verification: VerifyResult) -> str:
    chain = (f"verified: {verification.count} events, head {verification.head}" if verification.ok
             else f"BROKEN: {verification.problem}")
    body = (__doc__ or "").split("::", 1)[1].split("Users appear", 1)[0]
    return (f"Audit pack of {organisation}, built {isoformat(now)} by aimsflow.\n\n"
            f"Audit trail hash chain: {chain}\n\nContents:\n{body.rstrip()}\n\n"
            "Check a file against manifest.json with `sha256sum`. The audit-trail events carry prev_hash and hash:\n"
            "hash = sha256(prev_hash + canonical event), so the extract can be re-verified independently.\n")
