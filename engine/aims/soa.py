"""The Statement of Applicability (ISO/IEC 42001 6.1.3 d; DOMAIN.md 4.7), computed from the registers.

Nothing in the SoA is typed twice. A control owner's decisions (applicable, justification, exclusion
basis, owner, implementation status and description, target date) live on the control's ``SoAEntry``
of the *working* SoA version; everything else is read from the registers each time:

* linked risks: open risks naming the control in ``Risk.planned_controls`` or ``existing_controls``;
* linked evidence: ``Evidence`` rows naming the control in ``linked_controls`` (plus any the control
  owner attached to the entry), each with its status and validity; only ``accepted`` evidence whose
  ``valid_until`` has not passed counts;
* last review: the latest of the control owner's confirmation (``SoAEntry.reviewed_at``), the last
  test of the control and the approval of the last approved SoA;
* gaps G1-G7 (FLOWS.md (d) D3).

Versions: one working version (``generated`` or ``in_review``) at a time. :func:`publish` freezes it
(``approved``, with its linked risk and evidence ids and a published ``DocumentVersion`` of the
``soa`` document whose sha256 covers the canonical statement) and supersedes the previous approved
version; the next :func:`generate` opens a new working version carrying the decisions over.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.aims import catalogue, roles
from engine.aims.registers import (
    AISystem,
    Control,
    Document,
    DocumentVersion,
    Evidence,
    Risk,
    RiskAcceptance,
    SoAEntry,
    SoAVersion,
)
from engine.core import directory, refs
from engine.core.clock import Clock, isoformat
from engine.core.errors import ConflictError, InvalidInput, NotFound
from engine.core.models import User

#: risk states that still need treatment or monitoring (operators/risk.py uses the same states)
OPEN_RISK_STATES = ("identified", "analysed", "treatment_planned", "pending_acceptance", "in_treatment",
                    "monitoring")
WORKING_STATES = ("generated", "in_review")
STATUSES = ("implemented", "in_progress", "planned", "not_started", "not_applicable")
EXCLUSION_BASES = ("not_required_by_risk_assessment", "not_required_by_external_requirement",
                   "not_relevant_to_roles")
#: gaps that block approval of the SoA (G7 is a warning)
HARD_GAPS = ("G1", "G2", "G3", "G4", "G5", "G6")
GAP_TEXT = {
    "G1": "missing justification",
    "G2": "excluded without an exclusion basis",
    "G3": "applicable without a control owner",
    "G4": "implemented without accepted, unexpired evidence",
    "G5": "named in an open risk's treatment but marked not applicable",
    "G6": "open risk above Low with neither a control nor a valid acceptance",
    "G7": "planned or in progress past its target date",
}
#: evidence whose validity ends within this many days is "expiring"
EXPIRING_WITHIN_DAYS = 30


@dataclass(frozen=True)
class EvidenceLink:
    ref: str
    title: str
    status: str
    valid_until: date | None
    #: accepted and not expired: it counts for the control
    valid: bool
    expiring: bool


@dataclass(frozen=True)
class Gap:
    code: str
    control_id: str | None
    detail: str
    risk_ref: str | None = None
    #: the risk's title as its owner typed it (G6)
    risk_title: str | None = None

    @property
    def hard(self) -> bool:
        return self.code in HARD_GAPS


@dataclass
class Row:
    """One control's line of the SoA."""

    control_id: str
    title: str
    objective_group: str
    applicable: bool
    justification: str
    exclusion_basis: str | None
    system_scope: str
    systems: list[str]
    #: implemented, in_progress, planned, not_started; not_applicable when excluded
    status: str
    implementation_description: str | None
    owner: str | None
    owner_name: str | None
    target_date: date | None
    effectiveness: str
    linked_risks: list[str]
    evidence: list[EvidenceLink]
    last_reviewed: date | None
    gaps: list[str] = field(default_factory=list)

    @property
    def valid_evidence(self) -> list[EvidenceLink]:
        return [e for e in self.evidence if e.valid]


@dataclass
class Statement:
    """The SoA of one version (or of the registers alone when no version exists yet)."""

    organisation: str
    computed_at: datetime
    version_ref: str | None
    version: str | None
    version_status: str | None
    approved_at: datetime | None
    approved_by: str | None
    rows: list[Row]
    gaps: list[Gap]
    #: the approver's name, for the approval block (``approved_by`` is their e-mail address)
    approved_by_name: str | None = None

    def row(self, control_id: str) -> Row:
        for r in self.rows:
            if r.control_id == control_id:
                return r
        raise NotFound(f"{control_id!r} is not a control of the SoA")

    def counts(self) -> dict[str, int]:
        """Controls by status, every status present (0 where none)."""
        out = dict.fromkeys(STATUSES, 0)
        for r in self.rows:
            out[r.status] = out.get(r.status, 0) + 1
        return out

    @property
    def hard_gaps(self) -> list[Gap]:
        return [g for g in self.gaps if g.hard]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (dates as ISO strings), the canonical form hashed when the SoA is published."""
        return json.loads(json.dumps({
            "organisation": self.organisation, "version_ref": self.version_ref, "version": self.version,
            "version_status": self.version_status,
            "approved_at": isoformat(self.approved_at) if self.approved_at else None,
            "approved_by": self.approved_by, "computed_at": isoformat(self.computed_at),
            "counts": self.counts(), "rows": [asdict(r) for r in self.rows],
            "gaps": [asdict(g) | {"hard": g.hard} for g in self.gaps],
        }, default=_plain))


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return isoformat(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON data")


def canonical_sha256(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# --------------------------------------------------------------------------- versions

def working_version(session: Session) -> SoAVersion | None:
    """The SoA version being prepared (``generated`` or ``in_review``), the newest if several."""
    return session.scalar(select(SoAVersion).where(SoAVersion.status.in_(WORKING_STATES))
                          .order_by(SoAVersion.id.desc()).limit(1))


def approved_version(session: Session) -> SoAVersion | None:
    """The SoA in force: the newest ``approved`` version."""
    return session.scalar(select(SoAVersion).where(SoAVersion.status == "approved")
                          .order_by(SoAVersion.id.desc()).limit(1))


def versions(session: Session) -> list[SoAVersion]:
    """Every SoA version, oldest first (approved and superseded ones are kept)."""
    return list(session.scalars(select(SoAVersion).order_by(SoAVersion.id)))


def version_by_ref(session: Session, ref: str) -> SoAVersion:
    row = session.scalar(select(SoAVersion).where(SoAVersion.ref == ref))
    if row is None:
        known = [v.ref for v in versions(session)]
        raise NotFound(f"no SoA version {ref!r}; known: {', '.join(known) or 'none'}")
    return row


def current(session: Session) -> SoAVersion | None:
    """The version the SoA shows by default: the working one, else the approved one."""
    return working_version(session) or approved_version(session)


# --------------------------------------------------------------------------- computing

class _Registers:
    """The registers the SoA reads, loaded once per computation."""

    def __init__(self, session: Session, today: date):
        self.today = today
        self.controls = list(session.scalars(select(Control).order_by(Control.id)))
        order = {cid: i for i, cid in enumerate(catalogue.control_ids())}
        self.controls.sort(key=lambda c: (c.source != "annex_a", order.get(c.control_id, 999), c.control_id))
        self.risks = list(session.scalars(select(Risk).order_by(Risk.ref)))
        self.evidence = list(session.scalars(select(Evidence).order_by(Evidence.ref)))
        self.users = {u.id: u for u in session.scalars(select(User))}
        self.systems = {s.id: s.ref for s in session.scalars(select(AISystem))}
        self.acceptances = list(session.scalars(select(RiskAcceptance).where(RiskAcceptance.status == "granted")))

    def open_risks(self) -> list[Risk]:
        return [r for r in self.risks if r.status in OPEN_RISK_STATES]

    def risks_naming(self, control_id: str) -> list[Risk]:
        return [r for r in self.open_risks()
                if control_id in (r.planned_controls or []) or control_id in (r.existing_controls or [])]

    def evidence_for(self, control_id: str, attached: list[int]) -> list[Evidence]:
        return [e for e in self.evidence if control_id in (e.linked_controls or []) or e.id in attached]

    def link(self, e: Evidence) -> EvidenceLink:
        expired = e.valid_until is not None and e.valid_until < self.today
        valid = e.status == "accepted" and not expired
        expiring = valid and e.valid_until is not None and \
            e.valid_until <= self.today + timedelta(days=EXPIRING_WITHIN_DAYS)
        return EvidenceLink(e.ref, e.title, "expired" if e.status == "accepted" and expired else e.status,
                            e.valid_until, valid, expiring)

    def valid_acceptance(self, risk: Risk) -> bool:
        return any(a.risk_id == risk.id and (a.valid_until is None or a.valid_until >= self.today)
                   for a in self.acceptances)


def _risk_level(risk: Risk) -> str | None:
    return risk.residual_level or risk.inherent_level


def compute(session: Session, clock: Clock, version: SoAVersion | None = None) -> Statement:
    """The SoA of ``version`` (default: :func:`current`), one row per control of the catalogue (the 38
    Annex A controls first, in the standard's order, then organisation controls).

    A working version reads linked risks and evidence from the registers now; an approved or superseded
    version reads the risk and evidence ids frozen when it was approved (their current status shown).
    """
    version = version if version is not None else current(session)
    reg = _Registers(session, clock.now().date())
    entries = {e.control_id: e for e in version.entries} if version is not None else {}
    live = version is None or version.status in WORKING_STATES
    last_approval = _last_approval(session, version)
    rows: list[Row] = []
    gaps: list[Gap] = []
    for control in reg.controls:
        entry = entries.get(control.id)
        row = _row(reg, control, entry, live, last_approval)
        row_gaps = _entry_gaps(reg, row)
        row.gaps = [g.code for g in row_gaps]
        rows.append(row)
        gaps.extend(row_gaps)
    if live:
        gaps.extend(_risk_gaps(reg))
    org = roles.organisation(session)
    approver = reg.users.get(version.approved_by_id) if version is not None and version.approved_by_id else None
    return Statement(
        organisation=org.name if org else "", computed_at=clock.now(),
        version_ref=version.ref if version is not None else None,
        version=version.version if version is not None else None,
        version_status=version.status if version is not None else None,
        approved_at=version.approved_at if version is not None else None,
        approved_by=approver.email if approver else None, rows=rows, gaps=gaps,
        approved_by_name=approver.name if approver else None)


def _last_approval(session: Session, version: SoAVersion | None) -> date | None:
    if version is not None and version.approved_at is not None:
        return version.approved_at.date()
    approved = session.scalar(select(SoAVersion.approved_at).where(SoAVersion.approved_at.is_not(None))
                              .order_by(SoAVersion.approved_at.desc()).limit(1))
    return approved.date() if approved else None


def _row(reg: _Registers, control: Control, entry: SoAEntry | None, live: bool,
         last_approval: date | None) -> Row:
    if entry is None:
        applicable, justification, basis, scope, system_ids = True, "", None, "all_systems", []
        declared, description, owner_id, target, effectiveness = "not_started", None, None, None, "not_assessed"
        tested, reviewed = None, None
        risk_rows = reg.risks_naming(control.control_id)
        evidence_rows = reg.evidence_for(control.control_id, [])
    else:
        applicable, justification, basis = entry.applicable, entry.justification or "", entry.exclusion_basis
        scope, system_ids = entry.system_scope, list(entry.system_ids or [])
        declared, description = entry.implementation_status, entry.implementation_description
        owner_id, target, effectiveness = entry.control_owner_id, entry.target_date, entry.effectiveness
        tested, reviewed = entry.last_tested_at, entry.reviewed_at.date() if entry.reviewed_at else None
        if live:
            risk_rows = reg.risks_naming(control.control_id)
            evidence_rows = reg.evidence_for(control.control_id, list(entry.evidence_ids or []))
        else:
            frozen_risks, frozen_evidence = set(entry.linked_risk_ids or []), set(entry.evidence_ids or [])
            risk_rows = [r for r in reg.risks if r.id in frozen_risks]
            evidence_rows = [e for e in reg.evidence if e.id in frozen_evidence]
    owner = reg.users.get(owner_id) if owner_id else None
    reviewed_dates = [d for d in (reviewed, tested, last_approval) if d is not None]
    return Row(
        control_id=control.control_id, title=control.title, objective_group=control.objective_group,
        applicable=applicable, justification=justification, exclusion_basis=basis if not applicable else None,
        system_scope=scope, systems=[reg.systems[s] for s in system_ids if s in reg.systems],
        status=declared if applicable else "not_applicable", implementation_description=description,
        owner=owner.email if owner else None, owner_name=owner.name if owner else None, target_date=target,
        effectiveness=effectiveness or "not_assessed", linked_risks=[r.ref for r in risk_rows],
        evidence=[reg.link(e) for e in evidence_rows], last_reviewed=max(reviewed_dates, default=None))


def _entry_gaps(reg: _Registers, row: Row) -> list[Gap]:
    cid = row.control_id
    out = []
    if not row.justification.strip():
        out.append(Gap("G1", cid, f"{cid}: {GAP_TEXT['G1']} (needed for inclusion and exclusion)"))
    if not row.applicable and not row.exclusion_basis:
        out.append(Gap("G2", cid, f"{cid}: {GAP_TEXT['G2']}"))
    if row.applicable and not row.owner:
        out.append(Gap("G3", cid, f"{cid}: {GAP_TEXT['G3']}"))
    if row.status == "implemented" and not row.valid_evidence:
        named = ", ".join(f"{e.ref} {e.status}" for e in row.evidence)
        out.append(Gap("G4", cid, f"{cid}: {GAP_TEXT['G4']}" + (f" ({named})" if named else " (none linked)")))
    if not row.applicable:
        treating = [r.ref for r in reg.open_risks() if cid in (r.planned_controls or [])]
        if treating:
            out.append(Gap("G5", cid, f"{cid}: {GAP_TEXT['G5']} ({', '.join(treating)})"))
    if row.status in ("planned", "in_progress") and row.target_date is not None and row.target_date < reg.today:
        out.append(Gap("G7", cid, f"{cid}: {GAP_TEXT['G7']} ({row.target_date.isoformat()})"))
    return out


def _risk_gaps(reg: _Registers) -> list[Gap]:
    out = []
    for risk in reg.open_risks():
        if _risk_level(risk) in (None, "low"):
            continue
        if risk.planned_controls or risk.existing_controls or reg.valid_acceptance(risk):
            continue
        out.append(Gap("G6", None, f"{risk.ref} ({_risk_level(risk)}): {GAP_TEXT['G6']}", risk.ref,
                       risk.title))
    return out


# --------------------------------------------------------------------------- writing

def _next_ref(session: Session) -> str:
    return refs.next_ref(session, "SOA")


def _approved_count(session: Session) -> int:
    return len(list(session.scalars(select(SoAVersion.id).where(SoAVersion.status.in_(("approved", "superseded"))))))


def generate(session: Session, clock: Clock, actor_id: int | None = None,
             instance_id: int | None = None) -> tuple[SoAVersion, Statement]:
    """Refresh the working SoA version from the registers (creating it, with the last version's
    decisions, when there is none): one entry per control, linked risk and evidence ids recomputed,
    gaps stored. Returns the version and its statement. Idempotent."""
    now = clock.now()
    version = working_version(session)
    if version is None:
        previous = approved_version(session) or session.scalar(select(SoAVersion).order_by(SoAVersion.id.desc())
                                                               .limit(1))
        version = SoAVersion(ref=_next_ref(session), version=f"{_approved_count(session)}.1", status="generated",
                             generated_at=now, created_at=now, updated_at=now, created_by_id=actor_id,
                             instance_id=instance_id, iso_refs=["6.1.3"])
        session.add(version)
        session.flush()
        for old in previous.entries if previous is not None else []:
            session.add(SoAEntry(
                soa_version_id=version.id, control_id=old.control_id, status="draft", applicable=old.applicable,
                justification=old.justification, exclusion_basis=old.exclusion_basis,
                system_scope=old.system_scope, system_ids=list(old.system_ids or []),
                implementation_status=old.implementation_status,
                implementation_description=old.implementation_description, control_owner_id=old.control_owner_id,
                evidence_ids=list(old.evidence_ids or []), effectiveness=old.effectiveness,
                last_tested_at=old.last_tested_at, target_date=old.target_date, reviewed_at=old.reviewed_at,
                updated_at=now, updated_by_id=actor_id))
        session.flush()
        session.refresh(version)
    reg = _Registers(session, now.date())
    have = {e.control_id for e in version.entries}
    for control in reg.controls:
        if control.id not in have:
            session.add(SoAEntry(soa_version_id=version.id, control_id=control.id, status="draft", updated_at=now,
                                 updated_by_id=actor_id, applicable=True, justification="",
                                 implementation_status="not_started"))
    session.flush()
    session.refresh(version)
    for entry in version.entries:
        control = next(c for c in reg.controls if c.id == entry.control_id)
        entry.linked_risk_ids = [r.id for r in reg.risks_naming(control.control_id)]
    statement = compute(session, clock, version)
    version.gaps = [asdict(g) | {"hard": g.hard} for g in statement.gaps]
    version.generated_at = now
    version.updated_at = now
    version.updated_by_id = actor_id
    if instance_id is not None:
        version.instance_id = instance_id
    session.flush()
    return version, statement


def update_entry(session: Session, clock: Clock, version: SoAVersion, control_id: str, values: dict[str, Any],
                 actor_id: int | None = None) -> SoAEntry:
    """Record a control owner's decisions on ``control_id``'s entry of the working ``version``.

    ``values`` uses the D4 form's names: users are e-mail addresses, systems and evidence are refs.
    Raises ConflictError (the version is frozen), NotFound (unknown control, user, system, evidence),
    InvalidInput (an exclusion without a basis, an unknown status).
    """
    if version.status not in WORKING_STATES:
        raise ConflictError(f"SoA {version.ref} is {version.status}; only a working version can change")
    control = session.scalar(select(Control).where(Control.control_id == control_id))
    if control is None:
        raise NotFound(f"no control {control_id!r}")
    entry = next((e for e in version.entries if e.control_id == control.id), None)
    if entry is None:
        raise NotFound(f"SoA {version.ref} has no entry for {control_id}; generate it first")
    applicable = bool(values.get("applicable", entry.applicable))
    basis = values.get("exclusion_basis")
    if not applicable and basis not in EXCLUSION_BASES:
        raise InvalidInput(f"{control_id}: an exclusion needs exclusion_basis, one of {', '.join(EXCLUSION_BASES)}")
    status = values.get("implementation_status") if applicable else "not_started"
    if applicable and status not in STATUSES[:4]:
        raise InvalidInput(f"{control_id}: implementation_status must be one of {', '.join(STATUSES[:4])}, "
                           f"not {status!r}")
    entry.applicable = applicable
    entry.justification = str(values.get("justification") or "").strip()
    entry.exclusion_basis = basis if not applicable else None
    entry.system_scope = values.get("system_scope") or "all_systems"
    entry.system_ids = [_system_id(session, ref) for ref in values.get("system_ids") or []] \
        if entry.system_scope == "selected_systems" else []
    entry.implementation_status = str(status)
    entry.implementation_description = values.get("implementation_description") or None
    entry.target_date = _date(values.get("target_date"), f"{control_id}: target_date")
    owner = values.get("control_owner_id")
    entry.control_owner_id = directory.user_by_email(session, owner).id if owner else None
    attached = [_evidence_id(session, ref) for ref in values.get("evidence") or []]
    entry.evidence_ids = sorted(set(entry.evidence_ids or []) | set(attached))
    now = clock.now()
    entry.status = "proposed"
    entry.reviewed_at = now
    entry.updated_at = now
    entry.updated_by_id = actor_id
    entry.row_version = (entry.row_version or 0) + 1
    session.flush()
    return entry


def _system_id(session: Session, ref: str) -> int:
    system = session.scalar(select(AISystem).where(AISystem.ref == ref))
    if system is None:
        raise NotFound(f"system_ids: no AI system {ref!r}")
    return system.id


def _evidence_id(session: Session, ref: str) -> int:
    row = session.scalar(select(Evidence).where(Evidence.ref == ref))
    if row is None:
        raise NotFound(f"evidence: no evidence record {ref!r}")
    return row.id


def _date(value: Any, where: str) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise InvalidInput(f"{where}: {value!r} is not an ISO date") from None


def publish(session: Session, clock: Clock, version: SoAVersion, approver_id: int | None,
            instance_id: int | None = None) -> DocumentVersion:
    """Approve the working ``version``: entries frozen (``approved``, with the linked risk and evidence
    ids of now), a published ``DocumentVersion`` of the ``soa`` document holding the canonical statement
    and its sha256, the previous approved version and document version ``superseded``.

    Raises ConflictError when ``version`` is not a working version. Returns the document version.
    """
    if version.status not in WORKING_STATES:
        raise ConflictError(f"SoA {version.ref} is {version.status}; only a working version can be approved")
    now = clock.now()
    reg = _Registers(session, now.date())
    controls = {c.id: c.control_id for c in reg.controls}
    for entry in version.entries:
        cid = controls[entry.control_id]
        entry.linked_risk_ids = [r.id for r in reg.risks_naming(cid)]
        entry.evidence_ids = sorted({e.id for e in reg.evidence_for(cid, list(entry.evidence_ids or []))})
        entry.status = "approved"
    for old in session.scalars(select(SoAVersion).where(SoAVersion.status == "approved", SoAVersion.id != version.id)):
        old.status, old.updated_at = "superseded", now
    number = f"{_approved_count(session) + 1}.0"
    version.version = number
    version.status = "approved"
    version.approved_at = now
    version.approved_by_id = approver_id
    version.updated_at = now
    if instance_id is not None:
        version.instance_id = instance_id
    session.flush()
    statement = compute(session, clock, version)
    snapshot = statement.to_dict()
    sha = canonical_sha256(snapshot)
    document = _soa_document(session, clock)
    for published in session.scalars(select(DocumentVersion).where(DocumentVersion.document_id == document.id,
                                                                   DocumentVersion.status == "published")):
        published.status, published.superseded_at, published.updated_at = "superseded", now, now
    doc_version = session.get(DocumentVersion, version.document_version_id) if version.document_version_id else None
    if doc_version is None or doc_version.status not in ("draft", "in_review", "pending_approval"):
        doc_version = DocumentVersion(document_id=document.id, version=number, status="published", created_at=now,
                                      updated_at=now)
        session.add(doc_version)
    doc_version.version, doc_version.status = number, "published"
    doc_version.change_summary = doc_version.change_summary or f"SoA {version.ref} approved"
    doc_version.sha256 = sha
    doc_version.approver_id, doc_version.approved_at = approver_id, now
    doc_version.effective_from = now.date()
    doc_version.updated_at = now
    doc_version.instance_id = instance_id
    doc_version.details = {"soa_version_ref": version.ref, "snapshot": snapshot}
    session.flush()
    document.current_version_id = doc_version.id
    version.document_version_id = doc_version.id
    session.flush()
    return doc_version


def _soa_document(session: Session, clock: Clock) -> Document:
    document = session.scalar(select(Document).where(Document.doc_type == "soa").order_by(Document.id).limit(1))
    if document is None:
        now = clock.now()
        org = roles.organisation(session)
        document = Document(ref="DOC-SOA-001", title="Statement of Applicability", doc_type="soa", status="active",
                            owner_id=org.aims_owner_id if org else None, created_at=now, updated_at=now,
                            iso_refs=["6.1.3"])
        session.add(document)
        session.flush()
    return document
