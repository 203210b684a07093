"""The AIMS scope statement (4.3), versioned and approved: its text, its boundaries (units, sites, AI systems,
life-cycle stages, roles) and what it leaves out, each exclusion with its justification.

* Who writes: the AIMS owner and top management. Changing the approved statement starts a new **draft**
  version (the approved one stays in force until the draft is approved); a draft is changed in place.
* Who approves: top management or the AIMS owner, never the draft's author (segregation of duties: a refused
  attempt is audited although nothing changes). Approving supersedes the version in force and makes its text
  the organisation's scope statement (the organisation page shows the version in force).
* Every change is a compare-and-set: the caller sends the version number and ``row_version`` of the latest
  version it saw; anything saved since answers ConflictError naming who and when, and nothing is written.
  Writers queue on the organisation's row, so two people starting a draft at once get one draft.
* Every change is audited (``scope_drafted``, ``scope_changed``, ``scope_approved``) with the values before and
  after. Readers: every active user with a role. Nothing here commits: the caller does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.aims.registers import Organisation, ScopeStatement
from engine.app import access
from engine.core import audit_trail
from engine.core.clock import isoformat
from engine.core.errors import ConflictError, FieldError, Forbidden, NotFound, SodViolation, ValidationError
from engine.core.models import User
from engine.core.runtime import Context

WRITERS = frozenset({"aims_owner", "top_management"})
APPROVERS = frozenset({"aims_owner", "top_management"})
MAX_TEXT = 20000
MAX_EXCLUSIONS = 50
LABELS = {"text": "Scope statement", "boundaries": "Boundaries", "exclusions": "Exclusions"}
STATUS_WORDS = {"draft": "Draft", "approved": "Approved", "superseded": "Superseded"}


@dataclass
class ScopePage:
    """What the scope page shows: the version in force, the draft (if any), every version newest first,
    the latest one (what an edit must name) and what the reader may do."""

    approved: ScopeStatement | None
    draft: ScopeStatement | None
    versions: list[ScopeStatement]
    names: dict[int, str]
    may_edit: bool
    may_approve: bool
    #: why the reader may not approve the draft, in words (None: they may, or there is no draft)
    why_not_approve: str | None
    #: a statement kept on the organisation from before versioning: a first draft's starting text
    setup_text: str

    @property
    def latest(self) -> ScopeStatement | None:
        return self.versions[0] if self.versions else None

    def name(self, user_id: int | None) -> str:
        return self.names.get(user_id or 0, "someone no longer here") if user_id else ""


def _versions(session: Session) -> list[ScopeStatement]:
    return list(session.scalars(select(ScopeStatement).order_by(ScopeStatement.version.desc())))


def may_edit(user: User) -> bool:
    return user.active and bool(user.roles & WRITERS)


def _why_not_approve(user: User, draft: ScopeStatement | None) -> str | None:
    if draft is None:
        return None
    if not (user.active and user.roles & APPROVERS):
        return "Only top management or the AIMS owner approve the scope statement."
    if draft.author_id == user.id:
        return "You wrote this draft, so someone else (top management or the AIMS owner) approves it."
    return None


def current(session: Session) -> tuple[ScopeStatement | None, ScopeStatement | None]:
    """The version in force and the draft waiting for approval (either None), for pages that only show them."""
    versions = _versions(session)
    return (next((v for v in versions if v.status == "approved"), None),
            next((v for v in versions if v.status == "draft"), None))


def page(session: Session, user: User) -> ScopePage:
    """The scope statement's versions as the reader may see them. Raises Forbidden (no role)."""
    access.require_register_reader(user)
    versions = _versions(session)
    approved = next((v for v in versions if v.status == "approved"), None)
    draft = next((v for v in versions if v.status == "draft"), None)
    ids = {i for v in versions for i in (v.author_id, v.approver_id) if i}
    names = {u.id: u.name for u in session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    org = session.scalar(select(Organisation).limit(1))
    why = _why_not_approve(user, draft)
    return ScopePage(approved, draft, versions, names, may_edit(user), draft is not None and why is None, why,
                     str(((org.details or {}) if org else {}).get("scope_statement") or ""))


def _plain(row: ScopeStatement | None) -> dict[str, Any]:
    if row is None:
        return {"text": "", "boundaries": "", "exclusions": []}
    return {"text": row.text, "boundaries": row.boundaries or "", "exclusions": list(row.exclusions or [])}


def check(values: dict[str, Any]) -> tuple[dict[str, Any], list[FieldError]]:
    """The values cleaned (text trimmed, blank exclusion lines dropped) and every problem, in words."""
    errors: list[FieldError] = []
    text = str(values.get("text") or "").strip()
    boundaries = str(values.get("boundaries") or "").strip()
    if not text:
        errors.append(FieldError("text", "Scope statement: is required (what the AIMS covers)"))
    for key, value in (("text", text), ("boundaries", boundaries)):
        if len(value) > MAX_TEXT:
            errors.append(FieldError(key, f"{LABELS[key]}: at most {MAX_TEXT} characters"))
    exclusions: list[dict[str, str]] = []
    given = values.get("exclusions") or []
    if not isinstance(given, list):
        errors.append(FieldError("exclusions", "Exclusions: give a list of what is left out and why"))
        given = []
    for number, e in enumerate(given, start=1):
        item = str((e or {}).get("item") or "").strip() if isinstance(e, dict) else ""
        why = str((e or {}).get("justification") or "").strip() if isinstance(e, dict) else ""
        if not isinstance(e, dict):
            errors.append(FieldError(f"exclusions/{number}", f"Exclusion {number}: give what is left out and why"))
        elif item and not why:
            errors.append(FieldError(f"exclusions/{number}/justification",
                                     f"Exclusion {number} ({item[:60]}): needs a justification"))
        elif why and not item:
            errors.append(FieldError(f"exclusions/{number}/item",
                                     f"Exclusion {number}: say what is left out"))
        elif len(item) > 1000 or len(why) > 4000:
            errors.append(FieldError(f"exclusions/{number}", f"Exclusion {number}: too long"))
        if item or why:
            exclusions.append({"item": item, "justification": why})
    if len(exclusions) > MAX_EXCLUSIONS:
        errors.append(FieldError("exclusions", f"Exclusions: at most {MAX_EXCLUSIONS}"))
    return {"text": text, "boundaries": boundaries, "exclusions": exclusions}, errors


def _changed_since(session: Session, latest: ScopeStatement | None, seen_version: int | None,
                   seen_row: int | None) -> ConflictError:
    if latest is None:
        return ConflictError("the scope statement was removed meanwhile; reload the page")
    who = session.get(User, latest.author_id if latest.status == "draft" else latest.approver_id) \
        if (latest.author_id or latest.approver_id) else None
    return ConflictError(f"the scope statement was changed by {who.name if who else 'someone'} at "
                         f"{isoformat(latest.updated_at)[:16].replace('T', ' ')} UTC since you opened it "
                         f"(now version {latest.version}, {latest.status}; you had version {seen_version}); "
                         "reload it and try again")


def _seen_matches(latest: ScopeStatement | None, seen_version: int | None, seen_row: int | None) -> bool:
    if latest is None:
        return seen_version in (None, 0)
    return seen_version == latest.version and (seen_row is None or seen_row == latest.row_version)


def save(ctx: Context, user: User, values: dict[str, Any], seen_version: int | None,
         seen_row: int | None) -> ScopeStatement:
    """Save the scope statement: a new draft version when the latest is approved (or none exists), else the
    draft changed in place. ``seen_version``/``seen_row``: the latest version's number and ``row_version``
    as the caller read them (0/None when there was none). Returns the draft (unchanged when nothing
    changed). Raises Forbidden, ValidationError (every problem in words), ConflictError."""
    access.require_register_reader(user)
    if not may_edit(user):
        raise Forbidden("only the AIMS owner or top management change the scope statement")
    clean, errors = check(values)
    if errors:
        raise ValidationError("the scope statement was not saved", errors)
    session = ctx.session
    session.execute(select(Organisation.id).with_for_update())  # one writer at a time: one draft
    latest = session.scalar(select(ScopeStatement).order_by(ScopeStatement.version.desc()).limit(1))
    if not _seen_matches(latest, seen_version, seen_row):
        raise _changed_since(session, latest, seen_version, seen_row)
    before = _plain(latest)
    changes = {k: {"label": LABELS[k], "before": _shown(k, before[k]), "after": _shown(k, clean[k])}
               for k in LABELS if before[k] != clean[k]}
    now = ctx.clock.now()
    if latest is not None and latest.status == "draft":
        if not changes:
            return latest
        result = session.execute(
            update(ScopeStatement).where(ScopeStatement.id == latest.id,
                                         ScopeStatement.row_version == latest.row_version)
            .values(**clean, row_version=latest.row_version + 1, updated_at=now)
            .execution_options(synchronize_session=False))
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise _changed_since(session, latest, seen_version, seen_row)
        session.expire(latest)
        audit_trail.append(session, ctx.clock, "scope_changed", actor=user, subject=f"scope v{latest.version}",
                           data={"version": latest.version, "changes": changes})
        return latest
    if latest is not None and not changes:
        raise ConflictError(f"nothing changed: version {latest.version} in force says the same; "
                            "change something to start a new draft")
    draft = ScopeStatement(version=(latest.version if latest else 0) + 1, status="draft", author_id=user.id,
                           created_at=now, updated_at=now, row_version=1, **clean)
    session.add(draft)
    session.flush()
    audit_trail.append(session, ctx.clock, "scope_drafted", actor=user, subject=f"scope v{draft.version}",
                       data={"version": draft.version, "based_on": latest.version if latest else None,
                             "changes": changes})
    return draft


def approve(ctx: Context, user: User, seen_version: int | None, seen_row: int | None) -> ScopeStatement:
    """Approve the draft: it comes into force, the one before is superseded and the organisation's scope
    statement becomes its text. Raises Forbidden, SodViolation (the approver wrote the draft; the attempt
    is audited), NotFound (no draft), ConflictError (the draft changed since the caller read it)."""
    access.require_register_reader(user)
    if not (user.active and user.roles & APPROVERS):
        raise Forbidden("only top management or the AIMS owner approve the scope statement")
    session = ctx.session
    session.execute(select(Organisation.id).with_for_update())
    latest = session.scalar(select(ScopeStatement).order_by(ScopeStatement.version.desc()).limit(1))
    if latest is None or latest.status != "draft":
        if not _seen_matches(latest, seen_version, seen_row):
            raise _changed_since(session, latest, seen_version, seen_row)
        raise NotFound("there is no draft of the scope statement to approve")
    if latest.author_id == user.id:
        error = SodViolation(f"you wrote version {latest.version} of the scope statement, so someone else "
                             "(top management or the AIMS owner) approves it", "SOD-01")
        error.audit_after_rollback = {"action": "sod_violation_blocked", "actor": user.email,
                                      "subject": f"scope v{latest.version}",
                                      "data": {"rules": ["SOD-01"], "reasons": [error.message]}}
        raise error
    if not _seen_matches(latest, seen_version, seen_row):
        raise _changed_since(session, latest, seen_version, seen_row)
    now = ctx.clock.now()
    previous = session.scalar(select(ScopeStatement).where(ScopeStatement.status == "approved").limit(1))
    result = session.execute(
        update(ScopeStatement).where(ScopeStatement.id == latest.id, ScopeStatement.row_version == latest.row_version,
                                     ScopeStatement.status == "draft")
        .values(status="approved", approver_id=user.id, approved_at=now, updated_at=now,
                row_version=latest.row_version + 1)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise _changed_since(session, latest, seen_version, seen_row)
    if previous is not None:
        previous.status, previous.updated_at = "superseded", now
        previous.row_version += 1
    session.expire(latest)
    org = session.scalar(select(Organisation).limit(1))
    if org is not None:
        org.details = {**(org.details or {}), "scope_statement": latest.text}
    author = session.get(User, latest.author_id) if latest.author_id else None
    audit_trail.append(session, ctx.clock, "scope_approved", actor=user, subject=f"scope v{latest.version}",
                       data={"version": latest.version, "author": author.email if author else None,
                             "supersedes": previous.version if previous else None,
                             "changes": {"status": {"label": "Status", "before": "Draft", "after": "Approved"}}})
    session.flush()
    return latest


def _shown(key: str, value: Any) -> str:
    if key == "exclusions":
        return "\n".join(f"{e['item']}: {e['justification']}" for e in value or [])
    return str(value or "")


def as_dict(row: ScopeStatement, names: dict[int, str] | None = None) -> dict[str, Any]:
    """One version as the API shows it (people by name)."""
    names = names or {}
    return {"version": row.version, "status": row.status, "text": row.text, "boundaries": row.boundaries,
            "exclusions": list(row.exclusions or []), "author": names.get(row.author_id or 0),
            "approver": names.get(row.approver_id or 0), "approved_at": row.approved_at,
            "updated_at": row.updated_at, "row_version": row.row_version}
