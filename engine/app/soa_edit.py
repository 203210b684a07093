"""A control's line of the Statement of Applicability, edited on its own page by the people who answer for
it: the control owner named on the entry, or the AIMS owner. Only the working SoA version changes (an
approved one is frozen; the AIMS owner opens a new working version, carrying every decision over, and
its approval goes through the certification preparation as before).

Each save is a compare-and-set on the entry's ``row_version`` under a row lock: a change made since the
page was read answers 409 in words and the page keeps what was typed. Every change is audited
(``soa_entry_edited``) with the fields before and after.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.aims import control_records, soa
from engine.aims.registers import AISystem, Control, Evidence, Organisation, SoAEntry, SoAVersion
from engine.app import access
from engine.core import audit_trail
from engine.core.clock import Clock, isoformat
from engine.core.errors import ConflictError, Forbidden, InvalidInput, NotFound
from engine.core.models import User

#: what the page edits: field -> its words
FIELDS = {"applicable": "Applicable", "justification": "Justification", "exclusion_basis": "Exclusion basis",
          "implementation_status": "Implementation status",
          "implementation_description": "How the control is implemented", "target_date": "Target date"}
EDITORS = frozenset({"aims_owner"})
_STATUS_WORDS = {"implemented": "Implemented", "in_progress": "In progress", "planned": "Planned",
                 "not_started": "Not started"}
_BASIS_WORDS = {"not_required_by_risk_assessment": "Not required by the risk assessment",
                "not_required_by_external_requirement": "Not required by an external requirement",
                "not_relevant_to_roles": "Not relevant to the organisation's AI roles"}
#: the page's form, drawn and read by the same form builder as a task's
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "applicable": {"type": "boolean", "title": FIELDS["applicable"]},
        "justification": {"type": "string", "x-widget": "textarea", "title": FIELDS["justification"],
                          "description": "Why the control is included (the risk or requirement it answers) or "
                                         "excluded."},
        "exclusion_basis": {"oneOf": [{"const": k, "title": v} for k, v in _BASIS_WORDS.items()],
                            "x-widget": "select", "title": f"{FIELDS['exclusion_basis']} (when excluded)"},
        "implementation_status": {"oneOf": [{"const": k, "title": v} for k, v in _STATUS_WORDS.items()],
                                  "x-widget": "select", "title": FIELDS["implementation_status"]},
        "implementation_description": {"type": "string", "x-widget": "textarea",
                                       "title": FIELDS["implementation_description"],
                                       "description": "The procedure, tool or practice that puts the control "
                                                      "in place, and where it is documented."},
        "target_date": {"type": "string", "format": "date", "title": FIELDS["target_date"]},
    },
}


@dataclass
class EntryPage:
    row: soa.Row
    #: the version the page shows: the working one, else the one in force
    version: SoAVersion | None
    entry: SoAEntry | None
    may_edit: bool
    #: why the user cannot edit, in words (None when they can)
    why_not: str | None
    may_open_version: bool
    approved_by: str | None
    approved_at: datetime | None
    #: the register records that implement or evidence the control
    records: list[control_records.Linked]


def _control(session: Session, control_id: str) -> Control:
    control = session.scalar(select(Control).where(Control.control_id == control_id))
    if control is None:
        raise NotFound(f"there is no control {control_id} in the catalogue")
    return control


def _entry(session: Session, version: SoAVersion | None, control: Control, lock: bool = False) -> SoAEntry | None:
    if version is None:
        return None
    stmt = select(SoAEntry).where(SoAEntry.soa_version_id == version.id, SoAEntry.control_id == control.id)
    return session.scalar(stmt.with_for_update() if lock else stmt)


def _may_edit(user: User, entry: SoAEntry | None) -> bool:
    return user.active and (bool(user.roles & EDITORS) or (entry is not None and entry.control_owner_id == user.id))


def require_reader(user: User, entry: SoAEntry | None) -> None:
    """The SoA readers (``access.CERT_ROLES``) and the control's owner may open its page."""
    if _may_edit(user, entry):
        return
    access.require_cert_role(user)


def page(session: Session, clock: Clock, user: User, control_id: str) -> EntryPage:
    """The control's SoA line as the user may see it. Raises NotFound, Forbidden."""
    control = _control(session, control_id)
    version = soa.current(session)
    entry = _entry(session, version, control)
    require_reader(user, entry)
    row = soa.compute(session, clock, version).row(control.control_id)
    working = version is not None and version.status in soa.WORKING_STATES
    may = working and _may_edit(user, entry)
    why = None
    if not may:
        if version is None or entry is None:
            why = "There is no SoA version with this control yet; the AIMS owner opens one."
        elif not working:
            why = (f"The SoA in force is version {version.version}, approved; it does not change. The AIMS owner "
                   "opens a new working version, which keeps every decision, to change it.")
        else:
            why = "Only the control's owner and the AIMS owner change this line."
    approver = session.get(User, version.approved_by_id) if version is not None and version.approved_by_id else None
    return EntryPage(row, version, entry, may, why, may_open_version=not working and bool(user.roles & EDITORS),
                     approved_by=approver.name if approver else None,
                     approved_at=version.approved_at if version is not None else None,
                     records=control_records.for_control(session, control.control_id))


def _plain(entry: SoAEntry) -> dict[str, Any]:
    return {"applicable": entry.applicable, "justification": entry.justification or "",
            "exclusion_basis": entry.exclusion_basis, "implementation_status": entry.implementation_status,
            "implementation_description": entry.implementation_description or "",
            "target_date": entry.target_date.isoformat() if entry.target_date else None}


def save(session: Session, clock: Clock, user: User, control_id: str, values: dict[str, Any],
         expected_version: int | None) -> SoAEntry:
    """Save the user's answers on the control's line of the working version. Raises NotFound, Forbidden,
    ConflictError (frozen version, or changed since ``expected_version``), InvalidInput (in words)."""
    control = _control(session, control_id)
    version = soa.working_version(session)
    entry = _entry(session, version, control, lock=True)
    if version is None or entry is None:
        raise ConflictError("the SoA has no working version to change; the AIMS owner opens one")
    if not _may_edit(user, entry):
        raise Forbidden(f"only the owner of {control_id} and the AIMS owner change its line of the SoA")
    if expected_version is not None and entry.row_version != expected_version:
        who = session.get(User, entry.updated_by_id) if entry.updated_by_id else None
        raise ConflictError(f"{control_id} was changed by {who.name if who else 'someone'} at "
                            f"{isoformat(entry.updated_at)} meanwhile; reload it and try again")
    applicable = bool(values.get("applicable"))
    justification = str(values.get("justification") or "").strip()
    if not justification:
        raise InvalidInput("justification: say why the control is included or excluded")
    if not applicable and values.get("exclusion_basis") not in soa.EXCLUSION_BASES:
        raise InvalidInput("exclusion_basis: an excluded control needs the basis of its exclusion")
    if applicable and values.get("implementation_status") not in soa.STATUSES[:4]:
        raise InvalidInput("implementation_status: choose how far the control is implemented")
    before = _plain(entry)
    systems = {s.id: s.ref for s in session.scalars(select(AISystem).where(AISystem.id.in_(entry.system_ids or [])))}
    owner = session.get(User, entry.control_owner_id) if entry.control_owner_id else None
    evidence = [e.ref for e in session.scalars(select(Evidence).where(Evidence.id.in_(entry.evidence_ids or [])))]
    merged = {"applicable": applicable, "justification": justification,
              "exclusion_basis": values.get("exclusion_basis") if not applicable else None,
              "implementation_status": values.get("implementation_status"),
              "implementation_description": str(values.get("implementation_description") or "").strip() or None,
              "target_date": values.get("target_date") or None, "system_scope": entry.system_scope,
              "system_ids": [systems[i] for i in entry.system_ids or [] if i in systems],
              "control_owner_id": owner.email if owner else None, "evidence": evidence}
    soa.update_entry(session, clock, version, control_id, merged, actor_id=user.id)
    after = _plain(entry)
    changed = {k: {"before": before[k], "after": after[k]} for k in FIELDS if before[k] != after[k]}
    audit_trail.append(session, clock, "soa_entry_edited", actor=user, subject=f"{version.ref}/{control_id}",
                       data={"version": version.version, "changes": changed})
    return entry


def open_working_version(session: Session, clock: Clock, user: User) -> SoAVersion:
    """The AIMS owner opens a new working version (every decision carried over). Raises Forbidden."""
    if not (user.active and user.roles & EDITORS):
        raise Forbidden("only the AIMS owner opens a new working version of the SoA")
    # one working version at a time: two AIMS owners opening one at once queue on the organisation's row
    session.execute(select(Organisation.id).with_for_update())
    existing = soa.working_version(session)
    version, _ = soa.generate(session, clock, actor_id=user.id)
    if existing is None:
        audit_trail.append(session, clock, "soa_version_opened", actor=user, subject=version.ref,
                           data={"version": version.version})
    return version
