"""An organisation of its own on an empty install: ``set_up`` turns a migrated database without an
organisation into a working one (the organisation, its risk criteria, the first admin and, when given, the
first draft of its scope statement) for ``aimsflow init`` and the web's set-up page alike; ``checklist`` is
what the first admin still has to do afterwards; ``update`` is the admin's organisation page (name, who is
the AIMS owner, the top-management sponsor and the CEO; the scope statement in force is shown there but
changed and approved on its own page, ``engine.app.scope``); ``update_criteria`` its risk criteria
(scales, levels, appetite), which the AIMS owner edits too. Both change the organisation row by
compare-and-set on its ``row_version``.

No demo data is written: the clauses and Annex A controls the migrations hold are the only registers.
Nothing here commits: the caller does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from engine.aims import risk_criteria, roles
from engine.aims.registers import Organisation
from engine.app import access, accounts, scope
from engine.core import audit_trail, definitions, directory
from engine.core.clock import isoformat
from engine.core.errors import ConflictError, FieldError, ValidationError
from engine.core.models import AuditEvent, ProcessVersion, RoleAssignment, User
from engine.core.runtime import Context

#: the roles of the first admin: ``admin`` to manage users and processes, ``aims_owner`` so that someone can
#: start the AIMS processes before there are other users (hand it on from the users page)
FIRST_ADMIN_ROLES = ("admin", "aims_owner")
MAX_NAME = 200
MAX_SCOPE = 5000


@dataclass(frozen=True)
class SetUp:
    """What an empty install is set up with. ``password`` None: the admin gets a one-time link instead."""

    organisation: str
    admin_email: str
    admin_name: str = ""
    scope: str = ""
    appetite: int | None = None
    password: str | None = None


@dataclass(frozen=True)
class Founded:
    organisation: Organisation
    admin: User
    #: the secret of the admin's one-time set-password link (None when a password was given)
    link_secret: str | None
    #: the process versions deployed with it (``deploy``)
    deployed: tuple[definitions.DeployResult, ...] = ()


def needs_set_up(session: Session) -> bool:
    """The database holds no organisation yet (a fresh install)."""
    return roles.organisation(session) is None


def _name_from(email: str) -> str:
    """``oliver.grant@x.example`` -> ``Oliver Grant``."""
    local = email.split("@", 1)[0]
    return " ".join(w.capitalize() for w in local.replace("_", ".").replace("-", ".").split(".") if w) or email


def _check(session: Session, s: SetUp) -> list[FieldError]:
    problems: list[FieldError] = []
    name = s.organisation.strip()
    if not name or len(name) > MAX_NAME:
        problems.append(FieldError("organisation", f"the organisation needs a name of 1 to {MAX_NAME} characters"))
    if len(s.scope) > MAX_SCOPE:
        problems.append(FieldError("scope", f"the scope statement may have at most {MAX_SCOPE} characters"))
    if s.appetite is not None and risk_criteria.appetite_problem(s.appetite):
        problems.append(FieldError("appetite", f"the risk appetite {risk_criteria.appetite_problem(s.appetite)}"))
    address = directory.normalise_email(s.admin_email or "")
    if not accounts.EMAIL.match(address):
        problems.append(FieldError("admin_email", f"{s.admin_email!r} is not an e-mail address"))
    if len(s.admin_name.strip()) > MAX_NAME:
        problems.append(FieldError("admin_name", f"the admin's name may have at most {MAX_NAME} characters"))
    if s.password is not None and len(s.password) < accounts.MIN_PASSWORD_LENGTH:
        problems.append(FieldError("password", f"a password needs at least {accounts.MIN_PASSWORD_LENGTH} "
                                               "characters"))
    return problems


def set_up(ctx: Context, s: SetUp, *, deploy: bool = False) -> Founded:
    """Set up the organisation of an empty install: the organisation row (the default risk criteria with
    ``s.appetite`` as a draft to confirm), the first admin with ``FIRST_ADMIN_ROLES`` as its AIMS owner, a
    password (``s.password``) or a one-time link to set one; ``s.scope``, when given, becomes version 1 of
    the scope statement, a draft by the admin that someone else approves; with ``deploy``, the processes
    folder deployed by the admin. Audited as ``organisation_set_up`` (and ``scope_drafted``).

    Raises ConflictError (the database holds an organisation or users already), ValidationError (every
    field that is wrong, named by its form field)."""
    session = ctx.session
    existing = roles.organisation(session)
    if existing is not None:
        raise ConflictError(f"this database is set up already: it holds the organisation “{existing.name}”. "
                            "Setting up starts an empty database only (a new one: `aimsflow db upgrade` "
                            "with another AIMSFLOW_DATABASE_URL)")
    users = session.scalar(select(func.count()).select_from(User)) or 0
    if users:
        raise ConflictError(f"this database holds {users} user{'s' * (users != 1)} but no organisation; setting "
                            "up starts an empty database only")
    problems = _check(session, s)
    if problems:
        raise ValidationError("the organisation cannot be set up", problems)
    now = ctx.clock.now()
    address = directory.normalise_email(s.admin_email)
    admin = User(email=address, name=s.admin_name.strip() or _name_from(address), created_at=now, active=True,
                 role_rows=[RoleAssignment(role=r) for r in FIRST_ADMIN_ROLES])
    if s.password is not None:
        accounts.set_password(admin, s.password)
    session.add(admin)
    session.flush()
    org = Organisation(name=s.organisation.strip(), aims_owner_id=admin.id,
                       risk_criteria=risk_criteria.starting(s.appetite),
                       details={"started_empty": True, "set_up_at": now.isoformat()})
    session.add(org)
    session.flush()
    audit_trail.append(session, ctx.clock, "organisation_set_up", actor=admin, subject=org.name,
                       data={"admin": address, "roles": list(FIRST_ADMIN_ROLES),
                             "appetite_max_score": org.risk_criteria["appetite_max_score"]})
    if s.scope.strip():  # the first draft of the versioned statement, for someone else to approve
        scope.save(ctx, admin, {"text": s.scope}, 0, None)
    secret = accounts.create_password_link(session, ctx.clock, admin) if s.password is None else None
    deployed = tuple(definitions.deploy_directory(session, ctx.settings, ctx.clock, admin)) if deploy else ()
    return Founded(org, admin, secret, deployed)


# --------------------------------------------------------------------------- the first admin's checklist

@dataclass(frozen=True)
class Step:
    """One thing to do on a new install: ``page`` names where it is done (``organisation``, ``users``,
    ``processes``)."""

    label: str
    done: bool
    page: str
    hint: str


def checklist(session: Session) -> list[Step]:
    """What a new install still needs, for an organisation that started empty (``aimsflow init`` or the
    set-up page); empty for one that did not (the demo) or when there is no organisation."""
    org = roles.organisation(session)
    if org is None or not (org.details or {}).get("started_empty"):
        return []
    criteria = org.risk_criteria or {}
    approved, draft = scope.current(session)
    users = session.scalar(select(func.count()).select_from(User).where(User.active.is_(True))) or 0
    deployed = session.scalar(select(func.count()).select_from(ProcessVersion)) or 0
    return [
        Step("Write the AIMS scope statement (4.3) and have it approved", approved is not None, "scope",
             f"version {draft.version} is a draft: top management or an AIMS owner other than its author "
             "approves it" if draft is not None else
             "what the AI management system covers: units, sites, AI systems, exclusions"),
        Step("Confirm the risk criteria and appetite (6.1.1)", criteria.get("status") == "published",
             "organisation", f"the appetite is a score of {criteria.get('appetite_max_score', '?')}; "
                             "risks above it need a formal acceptance"),
        Step("Name top management: the sponsor and the CEO (5.1)",
             org.top_management_sponsor_id is not None and org.ceo_id is not None, "organisation",
             "escalations and critical-risk acceptances go to them"),
        Step("Add the first users and give them their roles", users > 1, "users",
             "AIMS owner, process owners, assessors, approvers, top management, internal auditors"),
        Step("Deploy the AIMS processes", deployed > 0, "processes",
             "`aimsflow deploy` publishes the processes folder"),
    ]


# --------------------------------------------------------------------------- the organisation page

@dataclass(frozen=True)
class Settings:
    """The organisation as its admin page shows and changes it; ``version`` is the row's, to send back."""

    name: str
    aims_owner: str | None
    sponsor: str | None
    ceo: str | None
    version: int | None = None


def settings(session: Session) -> Settings | None:
    org = roles.organisation(session)
    if org is None:
        return None
    return Settings(org.name, directory.email_of(session, org.aims_owner_id),
                    directory.email_of(session, org.top_management_sponsor_id),
                    directory.email_of(session, org.ceo_id), org.row_version)


def _person(session: Session, field: str, label: str, email: str | None, problems: list[FieldError]) -> int | None:
    if not email:
        return None
    user = directory.find_user(session, email)
    if user is None or not user.active:
        problems.append(FieldError(field, f"{label}: no active user has the e-mail address {email}"))
        return None
    return user.id


def update(ctx: Context, actor: User, new: Settings) -> Organisation:
    """Change the organisation's name and people (an admin), if the organisation is still
    at ``new.version`` (None: as just read). Audited with the values before and after. Raises Forbidden,
    ConflictError (no organisation; changed since ``new.version``), ValidationError."""
    access.require_admin(actor)
    session = ctx.session
    org = roles.organisation(session)
    if org is None:
        raise ConflictError("there is no organisation yet: set it up first")
    before = settings(session)
    problems: list[FieldError] = []
    if not new.name.strip() or len(new.name.strip()) > MAX_NAME:
        problems.append(FieldError("name", f"the organisation needs a name of 1 to {MAX_NAME} characters"))
    people = {key: _person(session, key, label, email, problems) for key, label, email in (
        ("aims_owner", "AIMS owner", new.aims_owner), ("sponsor", "Top-management sponsor", new.sponsor),
        ("ceo", "CEO", new.ceo))}
    if problems:
        raise ValidationError("the organisation was not changed", problems)
    _claim(ctx, org, new.version, "the organisation")
    org.name = new.name.strip()
    org.aims_owner_id, org.top_management_sponsor_id, org.ceo_id = (people["aims_owner"], people["sponsor"],
                                                                    people["ceo"])
    session.flush()
    after = settings(session)
    audit_trail.append(session, ctx.clock, "organisation_update", actor=actor, subject=org.name,
                       data={"before": _plain(before), "after": _plain(after)})
    return org


#: audit actions that change the organisation row (who changed it last, for a stale edit)
CHANGES = ("organisation_update", "risk_criteria_changed")


def _claim(ctx: Context, org: Organisation, seen: int | None, what: str) -> None:
    """Raise the organisation's ``row_version`` from ``seen`` (None: the version just read), which holds
    the row for this transaction; raise ConflictError, naming who changed it and when, if it moved on."""
    expected = org.row_version if seen is None else seen
    claim = (sql_update(Organisation).where(Organisation.id == org.id, Organisation.row_version == expected)
             .values(row_version=expected + 1).execution_options(synchronize_session=False))
    result = ctx.session.execute(claim)
    if result.rowcount == 1:  # type: ignore[attr-defined]
        set_committed_value(org, "row_version", expected + 1)
        return
    last = ctx.session.scalar(select(AuditEvent).where(AuditEvent.action.in_(CHANGES))
                              .order_by(AuditEvent.seq.desc()).limit(1))
    who = (directory.find_user(ctx.session, last.actor) if last and last.actor else None)
    by = f" by {who.name if who else last.actor}" if last and last.actor else ""
    when = f" at {isoformat(last.at)[:16].replace('T', ' ')} UTC" if last else ""
    raise ConflictError(f"{what} {'were' if what.endswith('criteria') else 'was'} changed{by}{when} since you "
                        "opened this page; nothing was saved. Your entries are still in the form; reload the "
                        "page to see the current values")


# --------------------------------------------------------------------------- the risk criteria

def criteria_form(session: Session) -> tuple[dict[str, str], int] | None:
    """The organisation's editable risk criteria as form fields (``risk_criteria.form_values``) and the
    row's version to send back; None without an organisation."""
    org = roles.organisation(session)
    if org is None:
        return None
    return risk_criteria.form_values(org.risk_criteria or risk_criteria.starting()), org.row_version


def update_criteria(ctx: Context, actor: User, values: dict[str, str], seen: int | None) -> dict[str, list[str]]:
    """Change the risk criteria (the AIMS owner or an admin): the scales' names and descriptions, the levels'
    highest scores, the appetite, and whether top management approved them (``confirmed`` "1"). A change
    to published criteria makes them a new version, a draft until confirmed again; confirming records who
    and when. Only if the organisation is still at version ``seen`` (None: as just read). Audited as
    ``risk_criteria_changed`` with each changed field before and after. Returns those changes.
    Raises Forbidden, ConflictError (no organisation; changed since ``seen``), ValidationError (by field)."""
    access.require_criteria_editor(actor)
    session = ctx.session
    org = roles.organisation(session)
    if org is None:
        raise ConflictError("there is no organisation yet: set it up first")
    current = org.risk_criteria or risk_criteria.starting()
    new, problems = risk_criteria.apply_form(current, values)
    if problems:
        raise ValidationError("the risk criteria were not changed", problems)
    changed = risk_criteria.changes(current, new)
    confirmed = values.get("confirmed") == "1"
    was_published = current.get("status") == "published"
    if changed and was_published:
        new["version"] = _next_version(str(current.get("version") or "RC-v1.0"))
        new["status"] = "draft"
    if confirmed and new.get("status") != "published":
        new.update(status="published", approved_by=actor.email, approved_at=ctx.clock.now().isoformat())
    elif not confirmed:
        new["status"] = "draft"
    if not changed and new.get("status") == current.get("status"):
        return {}
    _claim(ctx, org, seen, "the risk criteria")
    org.risk_criteria = new
    session.flush()
    audit_trail.append(session, ctx.clock, "risk_criteria_changed", actor=actor, subject=org.name,
                       data={"changes": changed, "version": [current.get("version"), new.get("version")],
                             "status": [current.get("status"), new.get("status")]})
    return changed


def _next_version(version: str) -> str:
    """``RC-v1.0`` -> ``RC-v1.1``."""
    head, _, minor = version.rpartition(".")
    return f"{head}.{int(minor) + 1}" if head and minor.isdigit() else f"{version}.1"


def _plain(s: Settings | None) -> dict[str, Any]:
    return {k: v for k, v in s.__dict__.items() if k != "version"} if s is not None else {}
