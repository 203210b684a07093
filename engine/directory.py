"""Looking up users and roles. Process data names users by e-mail address."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import NotFound
from .models import Organisation, RoleAssignment, User

#: every role a lane may name (DOMAIN.md section 2) -> label shown to people
ROLES: dict[str, str] = {
    "top_management": "Top management",
    "aims_owner": "AIMS owner",
    "process_owner": "Process owner",
    "assessor": "Assessor",
    "reviewer": "Specialist reviewer",
    "approver": "Manager / approver",
    "internal_auditor": "Internal auditor",
    "control_owner": "Control owner",
    "action_owner": "Action owner",
    "employee": "Staff",
    "admin": "Admin",
    "external_auditor": "External auditor (read only)",
}

#: roles that may act on business tasks; ``admin`` configures and reassigns only (SOD-08)
BUSINESS_ROLES = frozenset(ROLES) - {"admin", "external_auditor"}


def normalise_email(email: str) -> str:
    return email.strip().lower()


def user_by_email(session: Session, email: str) -> User:
    """The user with this e-mail address. Raises NotFound naming the address."""
    user = find_user(session, email)
    if user is None:
        raise NotFound(f"no user with e-mail {email!r}")
    return user


def find_user(session: Session, email: str | None) -> User | None:
    if not email or not isinstance(email, str):
        return None
    return session.scalar(select(User).where(User.email == normalise_email(email)))


def user_by_id(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user with id {user_id}")
    return user


def users_with_role(session: Session, role: str) -> list[User]:
    """Active users holding ``role``, by e-mail."""
    return list(session.scalars(
        select(User).join(RoleAssignment).where(RoleAssignment.role == role, User.active.is_(True))
        .order_by(User.email)
    ))


def organisation(session: Session) -> Organisation | None:
    return session.scalar(select(Organisation).order_by(Organisation.id).limit(1))


def email_of(session: Session, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    user = session.get(User, user_id)
    return user.email if user else None
