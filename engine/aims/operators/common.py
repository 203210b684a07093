"""Small helpers the operators share (no operator is registered here)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import select

from engine.aims import risk_criteria, roles
from engine.aims.registers import AISystem, Approval, RegisterMixin
from engine.core import directory
from engine.core.clock import parse_datetime
from engine.core.durations import add_duration
from engine.core.errors import InvalidInput, NotFound
from engine.core.models import User
from engine.core.operators import OperatorContext

R = TypeVar("R", bound=RegisterMixin)

#: DOMAIN.md 6.3 defaults; the organisation's published risk criteria override them
DEFAULT_CRITERIA: dict[str, Any] = {
    "version": "RC-v1.0",
    "appetite_max_score": 6,
    "levels": risk_criteria.DEFAULT["levels"],
    "acceptance_validity": {"low": "P12M", "medium": "P12M", "high": "P6M", "critical": "P3M"},
    "review_frequency": {"low": "P12M", "medium": "P12M", "high": "P6M", "critical": "P3M"},
}


def criteria(ctx: OperatorContext) -> dict[str, Any]:
    """The organisation's risk criteria merged over the defaults."""
    org = roles.organisation(ctx.session)
    merged = dict(DEFAULT_CRITERIA)
    if org and org.risk_criteria:
        merged.update({k: v for k, v in org.risk_criteria.items() if v is not None})
    return merged


def user_id(ctx: OperatorContext, email: str | None) -> int | None:
    """The id of the user with this e-mail (None for None). Raises NotFound for an unknown address."""
    if not email:
        return None
    return directory.user_by_email(ctx.session, email).id


def email(ctx: OperatorContext, uid: int | None) -> str | None:
    return directory.email_of(ctx.session, uid)


def actor_id(ctx: OperatorContext) -> int | None:
    return ctx.actor.id if isinstance(ctx.actor, User) else None


def by_ref(ctx: OperatorContext, model: type[R], ref: str, missing: str) -> R:
    """The ``model`` row with this ``ref``. Raises NotFound ``"<missing> '<ref>'"`` when there is none."""
    row = ctx.session.scalar(select(model).where(model.ref == ref))
    if row is None:
        raise NotFound(f"{missing} {ref!r}")
    return row


def ai_system(ctx: OperatorContext, ref: str) -> AISystem:
    return by_ref(ctx, AISystem, ref, "no AI system")


def today(ctx: OperatorContext) -> date:
    return ctx.clock.now().date()


def plus(ctx: OperatorContext, duration: str, start: datetime | None = None) -> date:
    """Today (or ``start``) plus an ISO 8601 duration, as a date."""
    return add_duration(start or ctx.clock.now(), duration).date()


def as_date(value: Any, field: str) -> date | None:
    """An ISO date (or datetime) from process data; InvalidInput naming ``field`` otherwise."""
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value if not isinstance(value, datetime) else value.date()
    try:
        return parse_datetime(str(value)).date()
    except ValueError:
        raise InvalidInput(f"{field}: {value!r} is not an ISO date") from None


def record_approval(ctx: OperatorContext, subject_type: str, subject_id: int, subject_ref: str, step: str,
                    decision: str, actor_email: str | None, role: str | None, comment: str | None = None,
                    conditions: Any = None, version: int | None = None) -> Approval:
    """Write the immutable Approval record of a human decision (DOMAIN.md 4.3)."""
    approval = Approval(subject_type=subject_type, subject_id=subject_id, subject_ref=subject_ref,
                        subject_version=version, step=step, actor_id=user_id(ctx, actor_email), actor_role=role,
                        decision=decision, comment=comment, conditions=conditions, decided_at=ctx.clock.now(),
                        instance_id=ctx.instance.id, task_spec=ctx.task_spec)
    ctx.session.add(approval)
    ctx.session.flush()
    return approval


def touch(ctx: OperatorContext, row: Any, status: str | None = None) -> None:
    """Stamp a register row as changed by this instance (and move it to ``status`` if given)."""
    if status is not None:
        row.status = status
    row.updated_at = ctx.clock.now()
    if hasattr(row, "updated_by_id"):
        row.updated_by_id = actor_id(ctx)
    row.instance_id = ctx.instance.id
    row.row_version = (row.row_version or 0) + 1
