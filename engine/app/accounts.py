"""Accounts: passwords (argon2id), one-time links to set a password, server-side login sessions, API
tokens, login throttling with device cookies, and the admin's use cases on users (create, deactivate,
assign roles).

Random secrets go to the client; only their sha256 is stored. Deactivating a user deletes their
sessions and revokes their tokens in the same transaction, so they are out at once.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, delete, func, or_, select, text, update
from sqlalchemy.orm import Session, joinedload

from engine.aims.roles import ROLES
from engine.core import audit_trail, directory
from engine.core.clock import Clock, is_zone
from engine.core.errors import Forbidden, InvalidInput, NotFound
from engine.core.models import ApiToken, LoginFailure, PasswordLink, RoleAssignment, User, UserSession
from engine.core.settings import EngineSettings

#: argon2id with the library's defaults (RFC 9106 low-memory profile)
_HASHER = PasswordHasher()
#: a hash to verify against when the user does not exist, so both cases cost the same time
_DUMMY_HASH = _HASHER.hash("not a password")

MIN_PASSWORD_LENGTH = 4


@dataclass(frozen=True)
class Throttle:
    """Growing delays after failed logins, counted per account and per client address, or per device for an
    attempt that presents the account's device cookie (``DeviceCookies``).

    The first ``free_failures`` failures for an account or a device (``free_failures_per_client`` for a
    client address) within ``window`` cost nothing; from then on each failure doubles the wait before the
    next attempt is heard, starting at ``first_delay`` and never longer than ``window``. Failures older than
    ``window`` are forgotten, and a successful login forgets those it was throttled by. Nothing locks an
    account outright: without a device cookie its owner waits at most ``window`` however many attempts
    others make, and with one not at all.
    """

    free_failures: int = 5
    free_failures_per_client: int = 20
    first_delay: timedelta = timedelta(seconds=2)
    window: timedelta = EngineSettings.login_window  # the worker forgets failures older than this

    def delay(self, failures: int, free: int) -> timedelta:
        """How long after the last of ``failures`` recent failures the next attempt must wait."""
        if failures < free:
            return timedelta(0)
        return min(self.window, self.first_delay * 2 ** min(failures - free, 30))


@dataclass(frozen=True)
class DeviceCookies:
    """Device cookies (OWASP's defence against locking an owner out by password spraying): after a
    successful login the browser gets a cookie, signed with the site's secret, naming a random device and
    bound to that account. A login attempt for that account that presents it is throttled only by that
    device's own failures, so others' failed guesses at the account do not slow its owner down; everyone
    else is still throttled by account and by client address.

    A cookie is ``NONCE.ISSUED.MAC``: a random nonce, when it was issued (Unix seconds) and an HMAC-SHA256
    over the account's address, the nonce and the time, under a key derived from ``secret``. The address is
    not in the cookie. A cookie older than ``lifetime``, for another account or altered is ignored.
    """

    secret: str
    lifetime: timedelta = timedelta(days=365)

    def issue(self, clock: Clock, email: str) -> str:
        """A new device cookie value for the account ``email``."""
        nonce = secrets.token_urlsafe(16)
        issued = str(int(clock.now().timestamp()))
        return f"{nonce}.{issued}.{self._mac(directory.normalise_email(email), nonce, issued)}"

    def device(self, clock: Clock, cookie: str | None, email: str) -> str | None:
        """The device id (sha256 of the nonce) when ``cookie`` is a valid, unexpired device cookie for the
        account ``email``; None for anything else."""
        parts = (cookie or "")[:200].split(".")
        if len(parts) != 3:
            return None
        nonce, issued, mac = parts
        if not (_NONCE.fullmatch(nonce) and _ISSUED.fullmatch(issued) and _MAC.fullmatch(mac)):
            return None  # ASCII only: compare_digest refuses other text
        expected = self._mac(directory.normalise_email(email), nonce, issued)
        if not hmac.compare_digest(mac, expected):
            return None
        age = clock.now().timestamp() - int(issued)
        if not -60 <= age <= self.lifetime.total_seconds():  # a minute of clock skew between servers
            return None
        return _sha(nonce)

    def _mac(self, address: str, nonce: str, issued: str) -> str:
        key = hmac.new(self.secret.encode(), b"aimsflow device cookie", hashlib.sha256).digest()
        return hmac.new(key, f"{address}|{nonce}|{issued}".encode(), hashlib.sha256).hexdigest()


_NONCE = re.compile(r"[A-Za-z0-9_-]{22}")
_ISSUED = re.compile(r"[0-9]{1,12}")
_MAC = re.compile(r"[0-9a-f]{64}")


class TooManyAttempts(Forbidden):
    """Login attempts are arriving faster than the throttle allows; ``retry_after`` is in seconds."""

    code = "too_many_attempts"

    def __init__(self, retry_after: int):
        super().__init__(f"Too many attempts; try again in {retry_after} seconds")
        self.retry_after = retry_after


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def _sha(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def set_password(user: User, password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    user.password_hash = hash_password(password)


def set_demo_passwords(session: Session, password: str) -> int:
    """Give every user of the imported demo organisation (those with an ``external_key``) ``password``."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"the demo password needs at least {MIN_PASSWORD_LENGTH} characters")
    stmt = update(User).where(User.external_key.is_not(None)).values(password_hash=hash_password(password))
    return int(session.execute(stmt).rowcount)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- one-time password links

#: how long a set-password link works
PASSWORD_LINK_LIFETIME = timedelta(hours=72)


def create_password_link(session: Session, clock: Clock, user: User,
                         lifetime: timedelta = PASSWORD_LINK_LIFETIME) -> str:
    """A new one-time secret that lets its holder set ``user``'s password (``set_password_by_link``) until
    ``lifetime`` has passed; only its sha256 is stored, so it is shown once. Earlier unused links of the
    user stop working."""
    now = clock.now()
    session.execute(update(PasswordLink).where(PasswordLink.user_id == user.id, PasswordLink.used_at.is_(None))
                    .values(used_at=now))
    secret = secrets.token_urlsafe(32)
    session.add(PasswordLink(token_hash=_sha(secret), user_id=user.id, created_at=now, expires_at=now + lifetime))
    session.flush()
    audit_trail.append(session, clock, "password_link_create", subject=user.email,
                       data={"expires_at": (now + lifetime).isoformat()})
    return secret


def password_link_user(session: Session, clock: Clock, secret: str | None) -> User:
    """The active user a one-time link ``secret`` sets the password of. Raises NotFound when the link is
    unknown, was used already or has expired (the same answer for all three)."""
    row = session.scalar(select(PasswordLink).where(PasswordLink.token_hash == _sha(secret or "")))
    user = session.get(User, row.user_id) if row is not None else None
    if row is None or row.used_at is not None or row.expires_at <= clock.now() or user is None or not user.active:
        raise NotFound("this link to set a password is unknown, was used already or has expired; ask an admin "
                       "for a new one")
    return user


def set_password_by_link(session: Session, clock: Clock, secret: str | None, password: str) -> User:
    """Set the password of the user of the one-time link ``secret`` and use the link up. Raises NotFound
    (see ``password_link_user``), InvalidInput (a password that is too short)."""
    user = password_link_user(session, clock, secret)
    set_password(user, password)
    now = clock.now()
    done = session.execute(update(PasswordLink).where(PasswordLink.token_hash == _sha(secret or ""),
                                                      PasswordLink.used_at.is_(None)).values(used_at=now))
    if not done.rowcount:  # type: ignore[attr-defined]  # another request used it at the same moment
        raise NotFound("this link to set a password was used already; ask an admin for a new one")
    session.flush()
    audit_trail.append(session, clock, "password_set_by_link", actor=user, subject=user.email)
    return user


# --------------------------------------------------------------------------- login

def authenticate(session: Session, clock: Clock, email: str, password: str, ip: str | None = None,
                 throttle: Throttle = Throttle(), *, devices: DeviceCookies | None = None,
                 device_cookie: str | None = None) -> User:
    """The active user with this e-mail and password.

    Raises TooManyAttempts while the attempt must wait (see ``Throttle``), and Forbidden("wrong e-mail or
    password") otherwise; a failure is recorded (the caller commits it even though login failed). An attempt
    that presents ``device_cookie``, a valid device cookie of ``devices`` for this account, waits only for that
    device's own failures; any other attempt waits for the account's and the client address's. A success
    forgets the failures it was throttled by (the device's, or the account's). An unknown address costs the
    same password verification as a known one, so the answer's timing does not tell which addresses have
    accounts.
    """
    address = directory.normalise_email(email or "")[:254]
    ip = client_key(ip)
    now = clock.now()
    device = devices.device(clock, device_cookie, address) if devices is not None and device_cookie else None
    _one_at_a_time(session, address, ip, device)
    _check_throttle(session, now, throttle, address, ip, device)
    user = directory.find_user(session, address)
    valid = verify_password(user.password_hash if user is not None else None, password or "")
    if user is None or not valid or not user.active:
        session.add(LoginFailure(email=address, ip=ip, device=device, at=now))
        session.flush()
        raise Forbidden("wrong e-mail or password (or the account is deactivated)")
    forget = LoginFailure.device == device if device is not None else LoginFailure.email == address
    session.execute(delete(LoginFailure).where(forget))
    if _HASHER.check_needs_rehash(user.password_hash or ""):
        user.password_hash = hash_password(password)
    return user


def client_key(ip: str | None) -> str | None:
    """What the throttle counts a client address by: an IPv4 address itself (also when written as IPv6,
    ``::ffff:192.0.2.1``), an IPv6 address by its /64 network (one subscriber usually holds a whole /64 and
    could otherwise try from a new address each time), anything else as given (at most 64 characters)."""
    if not ip:
        return None
    try:
        parsed = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def _one_at_a_time(session: Session, address: str, ip: str | None, device: str | None) -> None:
    """Make attempts at one account, from one client address or one device, queue until the attempt
    before them has committed its outcome: without this, a burst of parallel guesses would all pass the
    throttle's check before any of their failures is counted. On PostgreSQL a transaction-scoped advisory
    lock per key, taken in one order (two attempts never wait for each other); on SQLite every write
    transaction already queues behind the one before (``BEGIN IMMEDIATE``)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    keys = sorted({f"login:{kind}:{value}" for kind, value in (("account", address), ("client", ip),
                                                              ("device", device)) if value})
    for key in keys:
        session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})


def _check_throttle(session: Session, now: datetime, throttle: Throttle, address: str, ip: str | None,
                    device: str | None) -> None:
    """Raise TooManyAttempts when the device, or else the account or the client address, must still wait."""
    since = now - throttle.window
    if device is not None:
        # the owner's own browser: failures elsewhere (a spray at the account from anywhere) do not count
        keys = [(LoginFailure.device == device, throttle.free_failures)]
    else:
        keys = [(LoginFailure.email == address, throttle.free_failures)]
        if ip is not None:
            keys.append((LoginFailure.ip == ip, throttle.free_failures_per_client))
    wait = timedelta(0)
    for condition, free in keys:
        count, last = session.execute(select(func.count(), func.max(LoginFailure.at))
                                      .where(condition, LoginFailure.at >= since)).one()
        if last is not None:
            wait = max(wait, last + throttle.delay(int(count), free) - now)
    if wait > timedelta(0):
        raise TooManyAttempts(math.ceil(wait.total_seconds()))


def open_session(session: Session, clock: Clock, user: User, lifetime: timedelta, ip: str | None = None,
                 user_agent: str | None = None) -> str:
    """Start a browser session for ``user``; returns the secret the cookie carries."""
    token = secrets.token_urlsafe(32)
    now = clock.now()
    session.add(UserSession(token_hash=_sha(token), user_id=user.id, created_at=now, last_seen_at=now,
                            expires_at=now + lifetime, ip=ip, user_agent=(user_agent or "")[:300] or None))
    audit_trail.append(session, clock, "login", actor=user)
    session.flush()
    return token


def session_user(session: Session, clock: Clock, token: str | None) -> User | None:
    """The active user whose unexpired session ``token`` is, or None (logged out, expired, deactivated)."""
    if not token:
        return None
    # one read: the session joined to its user and the user's roles
    row = session.execute(
        select(User, UserSession.expires_at).join(UserSession, UserSession.user_id == User.id)
        .where(UserSession.token_hash == _sha(token)).options(joinedload(User.role_rows))).unique().first()
    if row is None or row[1] <= clock.now():
        return None
    user = row[0]
    return user if user.active else None


def close_session(session: Session, clock: Clock, token: str | None) -> None:
    if not token:
        return
    row = session.scalar(select(UserSession).where(UserSession.token_hash == _sha(token)))
    if row is not None:
        user = session.get(User, row.user_id)
        session.delete(row)
        audit_trail.append(session, clock, "logout", actor=user)
        session.flush()


# --------------------------------------------------------------------------- API tokens

def create_token(session: Session, clock: Clock, user: User, name: str) -> tuple[ApiToken, str]:
    """A new API token for ``user``; returns the row and the secret (shown once, never stored).

    Raises InvalidInput (no name or a long one), Forbidden (a deactivated user)."""
    if not user.active:
        raise Forbidden(f"{user.email} is deactivated and cannot have API tokens")
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidInput("give the token a name (1 to 100 characters) saying which script uses it")
    secret = "af_" + secrets.token_urlsafe(32)
    row = ApiToken(token_hash=_sha(secret), prefix=secret[:10], name=name, user_id=user.id, created_at=clock.now())
    session.add(row)
    session.flush()
    audit_trail.append(session, clock, "token_create", actor=user, data={"token_id": row.id, "name": name})
    return row, secret


#: a token's ``last_used_at`` is written again only once it is older than this (not on every request)
TOKEN_TOUCH_INTERVAL = timedelta(seconds=60)


#: built once: every API request runs it (building the statement and its cache key per call cost as much
#: as the read)
_TOKEN_USER = (select(User, ApiToken.id, ApiToken.last_used_at)
               .join(ApiToken, ApiToken.user_id == User.id)
               .where(ApiToken.token_hash == bindparam("token_hash"), ApiToken.revoked_at.is_(None),
                      User.active.is_(True))
               .options(joinedload(User.role_rows)))


@dataclass(frozen=True)
class TokenCheck:
    """A valid token: its user (roles loaded), its id, and whether its last use is due to be written."""

    user: User
    token_id: int
    touch_due: bool


def check_token(session: Session, clock: Clock, secret: str | None) -> TokenCheck | None:
    """The active user an unrevoked API token belongs to, or None: one indexed read (the token's hash
    joined to its user and the user's roles). Writes nothing; ``touch_token`` writes the last use when
    ``touch_due`` says so."""
    if not secret:
        return None
    row = session.execute(_TOKEN_USER, {"token_hash": _sha(secret)}).unique().first()
    if row is None:
        return None
    user, token_id, last_used = row
    return TokenCheck(user, token_id, last_used is None or last_used < clock.now() - TOKEN_TOUCH_INTERVAL)


def touch_token(session: Session, clock: Clock, token_id: int) -> None:
    """Set the token's ``last_used_at`` to now unless it was written in the last ``TOKEN_TOUCH_INTERVAL``,
    in the caller's transaction (one UPDATE). A token row another transaction is writing is left alone
    (``SKIP LOCKED`` on PostgreSQL): that one writes it."""
    now = clock.now()
    due = (select(ApiToken.id).where(ApiToken.id == token_id, or_(ApiToken.last_used_at.is_(None),
                                                                  ApiToken.last_used_at < now - TOKEN_TOUCH_INTERVAL))
           .with_for_update(skip_locked=True))
    session.execute(update(ApiToken).where(ApiToken.id.in_(due.scalar_subquery())).values(last_used_at=now)
                    .execution_options(synchronize_session=False))


def token_user(session: Session, clock: Clock, secret: str | None) -> User | None:
    """The active user an unrevoked API token belongs to, or None; its last use is written (at most once
    a minute) in the caller's transaction."""
    check = check_token(session, clock, secret)
    if check is None:
        return None
    if check.touch_due:
        touch_token(session, clock, check.token_id)
    return check.user


def tokens_of(session: Session, user: User) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)))


def revoke_token(session: Session, clock: Clock, actor: User, token_id: int) -> ApiToken:
    """Revoke ``actor``'s token ``token_id`` (an admin: anyone's). Raises NotFound (no such token of
    theirs), Forbidden (a deactivated actor)."""
    if not actor.active:
        raise Forbidden(f"{actor.email} is deactivated")
    row = session.get(ApiToken, token_id)
    if row is None or (row.user_id != actor.id and not actor.has_role("admin")):
        raise NotFound(f"no API token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = clock.now()
        audit_trail.append(session, clock, "token_revoke", actor=actor, data={"token_id": row.id, "name": row.name})
    session.flush()
    return row


# --------------------------------------------------------------------------- users (admin)

#: what passes for an e-mail address (the set-up and the users page check it)
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _require_admin(actor: User) -> None:
    if not actor.active or not actor.has_role("admin"):
        raise Forbidden(f"{actor.email} is not an admin")


def _check_roles(roles: list[str]) -> list[str]:
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise InvalidInput(f"unknown role(s) {', '.join(unknown)}; known: {', '.join(sorted(ROLES))}")
    return sorted(set(roles))


def create_user(session: Session, clock: Clock, actor: User, email: str, name: str, roles: list[str],
                password: str, manager_email: str | None = None) -> User:
    """A new active user. A blank ``password`` leaves them without one: give them a one-time link
    (``create_password_link``). Raises Forbidden (not an admin), InvalidInput (bad or taken e-mail,
    roles, a password too short)."""
    _require_admin(actor)
    address = directory.normalise_email(email or "")
    if not EMAIL.match(address):
        raise InvalidInput(f"{email!r} is not an e-mail address")
    if directory.find_user(session, address) is not None:
        raise InvalidInput(f"a user with e-mail {address} already exists")
    if not (name or "").strip():
        raise InvalidInput("the user needs a name")
    manager = directory.user_by_email(session, manager_email) if manager_email else None
    user = User(email=address, name=name.strip(), created_at=clock.now(), active=True,
                manager_id=manager.id if manager else None)
    if password:
        set_password(user, password)
    user.role_rows = [RoleAssignment(role=r) for r in _check_roles(roles)]
    session.add(user)
    session.flush()
    audit_trail.append(session, clock, "user_create", actor=actor, subject=address, data={"roles": sorted(user.roles)})
    return user


def set_roles(session: Session, clock: Clock, actor: User, user_id: int, roles: list[str]) -> User:
    """Replace a user's roles. An admin cannot take their own admin role away (someone must stay admin)."""
    _require_admin(actor)
    user = directory.user_by_id(session, user_id)
    wanted = _check_roles(roles)
    if user.id == actor.id and "admin" not in wanted:
        raise InvalidInput("you cannot remove your own admin role; ask another admin")
    before = sorted(user.roles)
    keep = [r for r in user.role_rows if r.role in wanted]
    user.role_rows = keep + [RoleAssignment(role=r) for r in wanted if r not in {k.role for k in keep}]
    session.flush()
    audit_trail.append(session, clock, "user_roles", actor=actor, subject=user.email, data={"before": before,
                                                                                             "after": wanted})
    return user


def set_active(session: Session, clock: Clock, actor: User, user_id: int, active: bool) -> User:
    """Deactivate (sessions ended, tokens revoked, at once) or reactivate a user."""
    _require_admin(actor)
    user = directory.user_by_id(session, user_id)
    if user.id == actor.id and not active:
        raise InvalidInput("you cannot deactivate yourself")
    user.active = active
    if not active:
        session.execute(delete(UserSession).where(UserSession.user_id == user.id))
        session.execute(update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
                        .values(revoked_at=clock.now()))
    session.flush()
    audit_trail.append(session, clock, "user_activate" if active else "user_deactivate", actor=actor,
                       subject=user.email)
    return user


def set_time_zone(session: Session, user: User, name: str, *, only_if_unset: bool = False) -> bool:
    """``user`` reads dates in the IANA time zone ``name`` ("Asia/Tokyo"). With ``only_if_unset`` (the
    browser's guess on a first visit) a zone the user chose stays. Returns whether it changed.
    Raises InvalidInput naming the text when it is not a time zone."""
    name = name.strip()
    if not is_zone(name):
        shown = name[:60] or "nothing"
        raise InvalidInput(f"'{shown}' is not a time zone we know: choose one from the list, "
                           "such as Europe/Paris or Asia/Tokyo")
    if (only_if_unset and user.time_zone) or user.time_zone == name:
        return False
    user.time_zone = name
    session.flush()
    return True


def all_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.active.desc(), User.name)))
