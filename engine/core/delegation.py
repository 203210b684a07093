"""Out-of-office delegation: a user names a deputy for a period.

While a delegation runs (``starts_at <= now < ends_at``, not revoked):

* a new task meant for the user (``assignee_var``) goes to the deputy if the deputy holds the task's
  lane role and segregation of duties allows it: the task's own rules, and for tasks that carry rules
  (approvals and checks) the domain's delegation rule, which keeps an approval away from the delegator's
  own report and from the record's author. A blocked routing leaves the task with the user, with a note,
  is audited, and the user's manager is told (a ``delegation`` notice) so they can reassign it;
* a chain (the deputy is away too) is followed once, to the first present deputy, when the task is
  created; a delegation that would close a circle (A -> B while B -> A) is refused when it is set up;
* notifications for the user (reminders, escalations, ...) go to the deputy instead: an escalation
  skips to the deputy.

Creating, routing and revoking are audited. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.core import assignment, audit_trail, directory, domain
from engine.core.clock import Clock, isoformat
from engine.core.errors import ConflictError, Forbidden, InvalidInput, NotFound
from engine.core.models import Delegation, HumanTask, User
from engine.core.notifications import Message, Notifier, Recipient
from engine.core.settings import EngineSettings
from engine.core.sod import DoneTask

#: how many deputies of deputies are followed (a deputy who is away too hands on to theirs)
MAX_HOPS = 3


def active_query(now: datetime) -> Any:
    return select(Delegation).where(Delegation.starts_at <= now, Delegation.ends_at > now,
                                    Delegation.revoked_at.is_(None))


class Deputies:
    """Who stands in for whom at one moment, read once (a batch of the worker, one use case)."""

    def __init__(self, session: Session, now: datetime):
        self.session = session
        self.now = now
        self._map: dict[int, int] | None = None

    def _deputies(self) -> dict[int, int]:
        if self._map is None:
            rows = self.session.scalars(active_query(self.now).order_by(Delegation.created_at, Delegation.id))
            self._map = {d.user_id: d.deputy_id for d in rows}  # the latest delegation wins
        return self._map

    def deputy_of(self, user: Recipient) -> User | None:
        """``user``'s deputy right now (following a deputy who is away too), or None if present."""
        deputies = self._deputies()
        if user.id not in deputies:
            return None
        found: User | None = None
        current_id = user.id
        seen = {user.id}
        for _ in range(MAX_HOPS):
            nxt = deputies.get(current_id)
            if nxt is None or nxt in seen:
                break
            candidate = self.session.get(User, nxt)
            if candidate is None or not candidate.active:
                break
            found, current_id = candidate, nxt
            seen.add(nxt)
        return found

    def present(self, user: Recipient) -> Recipient:
        """The person to tell instead of ``user``: their deputy while they are away, else themselves."""
        return self.deputy_of(user) or user


def _may_manage(session: Session, actor: User, user: User) -> bool:
    return (actor.id == user.id or actor.has_role(*domain.current().delegation_admin_roles)
            or user.manager_id == actor.id)


def create(session: Session, clock: Clock, settings: EngineSettings, actor: User, user: User, deputy_email: str,
           starts_at: datetime, ends_at: datetime, reason: str | None = None) -> Delegation:
    """``user`` is away from ``starts_at`` until ``ends_at`` (exclusive) and ``deputy`` stands in.

    The user themselves, their line manager or a holder of the domain's delegation-admin roles may set it
    up. Raises
    Forbidden, NotFound (deputy), InvalidInput (dates, deputy is the user or deactivated),
    ConflictError (the user already has a delegation overlapping the period, or the deputy's own
    delegations in the period lead back to the user: a circle, named person by person).
    """
    if not _may_manage(session, actor, user):
        admins = domain.roles_in_words(domain.current().delegation_admin_roles)
        raise Forbidden(f"{actor.email} may not set up a delegation for {user.email}: the user, their line "
                        f"manager or someone with the role {admins} may")
    deputy = directory.user_by_email(session, deputy_email)
    if deputy.id == user.id:
        raise InvalidInput(f"{user.email} cannot be their own deputy")
    if not deputy.active:
        raise InvalidInput(f"the deputy {deputy.email} is deactivated")
    if ends_at <= starts_at:
        raise InvalidInput(f"the delegation must end after it starts ({isoformat(starts_at)} -> {isoformat(ends_at)})")
    now = clock.now()
    if ends_at <= now:
        raise InvalidInput(f"the period ends in the past ({isoformat(ends_at)})")
    overlapping = session.scalar(select(Delegation).where(
        Delegation.user_id == user.id, Delegation.revoked_at.is_(None),
        Delegation.starts_at < ends_at, Delegation.ends_at > starts_at))
    if overlapping is not None:
        raise ConflictError(f"{user.email} already has delegation {overlapping.id} to "
                            f"{directory.email_of(session, overlapping.deputy_id)} from "
                            f"{isoformat(overlapping.starts_at)} until {isoformat(overlapping.ends_at)}; "
                            "revoke it first")
    _refuse_a_circle(session, user, deputy, starts_at, ends_at)
    clean_reason = reason.strip() if reason and reason.strip() else None
    delegation = Delegation(user_id=user.id, deputy_id=deputy.id, starts_at=starts_at, ends_at=ends_at,
                            reason=clean_reason, created_at=now, created_by_id=actor.id)
    session.add(delegation)
    session.flush()
    audit_trail.append(session, clock, "delegation_created", actor=actor, subject=user.email,
                       data={"delegation_id": delegation.id, "user": user.email, "deputy": deputy.email,
                             "from": isoformat(starts_at), "until": isoformat(ends_at), "reason": clean_reason})
    notifier = Notifier(session, clock, settings)
    notifier.send([deputy], Message(
        "delegation", f"You stand in for {user.name} ({user.email}) from {starts_at:%Y-%m-%d %H:%M} until "
                      f"{ends_at:%Y-%m-%d %H:%M} UTC",
        body=f"New tasks meant for {user.name} come to you in that time, and so do their reminders and "
             "escalations." + (f" Reason: {clean_reason}" if clean_reason else ""),
        context={"user_name": user.name, "user_email": user.email, "from": isoformat(starts_at),
                 "until": isoformat(ends_at), "reason": clean_reason}))
    notifier.write()
    return delegation


def _refuse_a_circle(session: Session, user: User, deputy: User, starts_at: datetime, ends_at: datetime) -> None:
    """Raise ConflictError if, during any part of the period, the deputy hands on (directly or through
    their deputies) back to ``user``."""
    path = [user, deputy]
    current = deputy
    while True:
        onward = session.scalar(select(Delegation).where(
            Delegation.user_id == current.id, Delegation.revoked_at.is_(None),
            Delegation.starts_at < ends_at, Delegation.ends_at > starts_at).order_by(Delegation.id))
        if onward is None:
            return
        nxt = directory.user_by_id(session, onward.deputy_id)
        if nxt.id == user.id:
            circle = " -> ".join(p.name for p in [*path, user])
            raise ConflictError(f"{user.name} cannot hand over to {deputy.name}: {current.name} already hands over "
                                f"to {user.name} in that period, which would make a circle ({circle}); "
                                "revoke or change one of them first")
        if any(p.id == nxt.id for p in path):
            return  # a circle among others, refused when it was made
        path.append(nxt)
        current = nxt


def revoke(session: Session, clock: Clock, actor: User, delegation_id: int) -> Delegation:
    """End a delegation now (or cancel one that has not started). Raises NotFound, Forbidden,
    ConflictError (already revoked or over)."""
    delegation = session.get(Delegation, delegation_id)
    if delegation is None:
        raise NotFound(f"no delegation {delegation_id}")
    user = directory.user_by_id(session, delegation.user_id)
    if not _may_manage(session, actor, user):
        raise Forbidden(f"{actor.email} may not revoke delegation {delegation_id} of {user.email}")
    now = clock.now()
    if delegation.revoked_at is not None or delegation.ends_at <= now:
        raise ConflictError(f"delegation {delegation_id} is already over")
    delegation.revoked_at = now
    session.flush()
    audit_trail.append(session, clock, "delegation_revoked", actor=actor, subject=user.email,
                       data={"delegation_id": delegation.id, "user": user.email,
                             "deputy": directory.email_of(session, delegation.deputy_id)})
    return delegation


def list_for(session: Session, user: User, now: datetime, *, include_past: bool = False) -> list[Delegation]:
    """Delegations where ``user`` is away or stands in; current and future ones unless ``include_past``."""
    stmt = select(Delegation).where((Delegation.user_id == user.id) | (Delegation.deputy_id == user.id))
    if not include_past:
        stmt = stmt.where(Delegation.revoked_at.is_(None), Delegation.ends_at > now)
    return list(session.scalars(stmt.order_by(Delegation.starts_at, Delegation.id)))


def route_new_task(session: Session, clock: Clock, row: HumanTask, data: dict[str, Any], deputies: Deputies,
                   history: Callable[[], list[DoneTask]], *, notifier: Notifier | None = None,
                   manager_of: Callable[[HumanTask], Recipient | None] | None = None) -> User | None:
    """Send a new task meant for an absent user to their deputy (the end of a chain, resolved once) if
    the deputy holds the task's lane role and SoD allows. Returns the deputy the task went to, or None
    (nobody designated, the user is present, or the task stays with them: then the row carries a note,
    the block is audited and ``manager_of(row)``, the user's manager, is told through ``notifier``)."""
    if row.assignee_id is None:
        return None
    user = session.get(User, row.assignee_id)
    if user is None:
        return None
    deputy = deputies.deputy_of(user)
    if deputy is None:
        return None
    if row.role not in deputy.roles:
        reasons = [f"{deputy.email} does not hold the role {row.role!r} of the task's lane"]
        rules: list[str] = []
    else:
        violations = assignment.sod_violations(session, deputy, row, data,
                                               history() if assignment.rules_of(row) else [],
                                               delegator=user if assignment.rules_of(row) else None)
        reasons, rules = [v.message for v in violations], [v.rule for v in violations]
    session.flush()  # the row needs its id for the audit trail
    if reasons:
        _keep_with(session, clock, row, user, deputy, reasons, rules, deputies, notifier, manager_of)
        return None
    row.delegated_from_id = user.id
    row.assignee_id = row.designated_id = deputy.id
    row.note = f"for {user.email}, who is away; {deputy.email} is their deputy"
    audit_trail.append(session, clock, "delegation_routed", actor=None, instance_id=row.instance_id,
                       task_id=row.id, subject=row.subject,
                       data={"task_spec": row.task_spec, "user": user.email, "deputy": deputy.email})
    return deputy


def _keep_with(session: Session, clock: Clock, row: HumanTask, user: User, deputy: User, reasons: list[str],
               rules: list[str], deputies: Deputies, notifier: Notifier | None,
               manager_of: Callable[[HumanTask], Recipient | None] | None) -> None:
    """The task stays with the absent ``user``: note it, audit it, tell their manager."""
    row.note = (f"{user.email} is away; their deputy {deputy.email} may not take this task "
                f"({reasons[0]}); it stays with {user.email} until a manager reassigns it")
    audit_trail.append(session, clock, "delegation_blocked", actor=None, instance_id=row.instance_id,
                       task_id=row.id, subject=row.subject,
                       data={"task_spec": row.task_spec, "user": user.email, "deputy": deputy.email,
                             "rules": rules, "reasons": reasons})
    manager = manager_of(row) if manager_of is not None else None
    if manager is None or notifier is None:
        return
    notifier.send([deputies.present(manager)], Message(
        "delegation", f"{user.name} is away and task '{row.name}' waits for them",
        body=f"{deputy.name} stands in for {user.name} but may not take it ({reasons[0]}). "
             f"Reassign it to someone who may: {row.process_id} #{row.instance_id}, role {row.role}.",
        task=row, context={"user_name": user.name, "user_email": user.email, "deputy_name": deputy.name,
                           "deputy_email": deputy.email, "reason": reasons[0]}))
