"""Looking up users and the holders of a role. Process data names users by e-mail address."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.util import identity_key

from engine.core.errors import NotFound
from engine.core.models import RoleAssignment, User


def normalise_email(email: str) -> str:
    return email.strip().lower()


def user_by_email(session: Session, email: str) -> User:
    """The user with this e-mail address. Raises NotFound naming the address."""
    user = find_user(session, email)
    if user is None:
        raise NotFound(f"no user with e-mail {email!r}")
    return user


def find_user(session: Session, email: str | None) -> User | None:
    """The user with this e-mail address, or None (also for text no address can be: PostgreSQL refuses
    to compare a NUL character)."""
    if not email or not isinstance(email, str) or "\x00" in email:
        return None
    return session.scalar(select(User).where(User.email == normalise_email(email)).options(_WITH_ROLES))


#: the user's roles joined into the read of the user: one statement instead of two (every use case loads
#: its acting user, and nearly every one asks for its roles)
_WITH_ROLES = joinedload(User.role_rows)


#: built once: every use case runs it, and ``session.get(..., options=...)`` builds a statement and its cache
#: key per call (twice the CPU of the read itself)
_USER_BY_ID = select(User).where(User.id == bindparam("user_id")).options(_WITH_ROLES)


def user_by_id(session: Session, user_id: int) -> User:
    """The user with this id and their roles, in one read (the user from the identity map when the
    session holds them already). Raises NotFound."""
    user = session.identity_map.get(identity_key(User, user_id))
    if user is None:
        user = session.execute(_USER_BY_ID, {"user_id": user_id}).unique().scalar_one_or_none()
    if user is None:
        raise NotFound(f"no user with id {user_id}")
    return user


def users_with_role(session: Session, role: str) -> list[User]:
    """Active users holding ``role``, by e-mail."""
    return list(session.scalars(
        select(User).join(RoleAssignment).where(RoleAssignment.role == role, User.active.is_(True))
        .order_by(User.email)
    ))


#: addresses asked per statement: well under the bound parameters every database accepts
_IN_BATCH = 500


def names_by_email(session: Session, emails: Iterable[Any]) -> dict[str, str]:
    """The names of the users among ``emails``, by normalised address (``normalise_email``): one query
    for those addresses only (none when there is none), so a page naming a few people never reads the
    whole directory. Users without a name, and text that is not an address, are left out."""
    wanted = sorted({normalise_email(e) for e in emails if isinstance(e, str) and "@" in e and "\x00" not in e})
    found: dict[str, str] = {}
    for start in range(0, len(wanted), _IN_BATCH):
        batch = wanted[start:start + _IN_BATCH]
        found.update({e: n for e, n in session.execute(select(User.email, User.name).where(User.email.in_(batch)))
                      if n})
    return found


def email_of(session: Session, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    user = session.get(User, user_id)
    return user.email if user else None
