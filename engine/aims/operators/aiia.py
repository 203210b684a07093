"""Operators of the AI system impact assessment flow ``aims_aiia`` (FLOWS.md (a), DOMAIN.md 4.6).

The ImpactAssessment row of the instance is the record of truth: every step's answers are written
onto it (``screening_answers``, ``content``, ``conditions``...) as the flow goes, and the locking
step (``aiia.finalise``) reads the row, not the process data. The process data is working memory:
SpiffWorkflow deep-merges branch data at joins (lists unioned, dicts merged) and a name such as
``outcome`` holds whichever review branch merged last, so review outcomes are read back from the row
for the current round.

Every operator is idempotent within its round: a review, decision or rework is keyed by the step
and ``rework_count`` (each review round, approval and deadlock resolution happens once per value),
so running the same service task again finds its entry instead of adding a second one.

Users in process data are e-mail addresses; rows store user ids.

This module holds the record (its statuses, the locked record and its sha256), the helpers of the
``aiia_*`` modules and A2, the draft; ``aiia_analysis`` the team, screening, context, impact analysis and
the risks it raises (A3-A7); ``aiia_decisions`` the reviews, rework, approval, locking, cancellation and
the deployment notice (A9-A13).
"""

from __future__ import annotations

import hashlib
import json
from copy import deepcopy
from typing import Any

from sqlalchemy import select

from engine.aims.operators.common import actor_id, ai_system, email
from engine.aims.registers import AISystem, ImpactAssessment
from engine.core.durations import add_duration
from engine.core.errors import ConflictError, FieldError, InvalidInput, NotFound, ValidationError
from engine.core.models import InstanceState, ProcessInstance
from engine.core.operators import OperatorContext, operator
from engine.core.refs import next_ref

#: statuses after which a version is locked
FINAL_STATUSES = frozenset({"low_tier_recorded", "approved", "approved_with_conditions", "rejected",
                            "cancelled", "superseded"})
#: statuses of a version that is the system's valid assessment (superseded by the next one)
APPROVED_STATUSES = ("low_tier_recorded", "approved", "approved_with_conditions")
#: governance status of the system while it is assessed, from its status before (DOMAIN.md 4.2)
ASSESSING_STATUS = {"proposed": "under_assessment", "rejected": "under_assessment",
                    "in_operation": "change_pending"}


# --------------------------------------------------------------------------- helpers

def now_iso(ctx: OperatorContext) -> str:
    return ctx.clock.now().isoformat()


def assessment(ctx: OperatorContext) -> ImpactAssessment:
    """The ImpactAssessment this instance works on (by ``aiia_ref``, else by instance)."""
    ref = ctx.data.get("aiia_ref")
    row = None
    if isinstance(ref, str) and ref:
        row = ctx.session.scalar(select(ImpactAssessment).where(ImpactAssessment.ref == ref))
    if row is None:
        row = _created_by_instance(ctx)
    if row is None:
        raise NotFound(f"instance {ctx.instance.id} has no impact assessment yet (aiia.create_draft runs first)")
    return row


def _created_by_instance(ctx: OperatorContext) -> ImpactAssessment | None:
    # the newest version the instance touched is the one it created (it may also have superseded older ones)
    return ctx.session.scalar(select(ImpactAssessment).where(ImpactAssessment.instance_id == ctx.instance.id)
                              .order_by(ImpactAssessment.version.desc()).limit(1))


def system_of(ctx: OperatorContext, row: ImpactAssessment) -> AISystem:
    system = ctx.session.get(AISystem, row.ai_system_id)
    if system is None:
        raise NotFound(f"{row.ref}: its AI system (id {row.ai_system_id}) is gone")
    return system


def touch(ctx: OperatorContext, row: Any) -> None:
    """Stamp ``row`` as changed by this instance (unlike ``common.touch``, ``row_version`` is left as it is)."""
    row.updated_at = ctx.clock.now()
    row.updated_by_id = actor_id(ctx)
    row.instance_id = ctx.instance.id


def set_content(row: ImpactAssessment, **values: Any) -> None:
    # a new dict: JSON columns are not mutation-tracked
    row.content = {**(row.content or {}), **deepcopy(values)}


def set_system_status(ctx: OperatorContext, system: AISystem, status: str, why: str) -> None:
    if system.status == status:
        return
    before = system.status
    system.status = status
    touch(ctx, system)
    ctx.audit("ai_system_status", subject=system.ref, before=before, after=status, reason=why)


def current_round(ctx: OperatorContext) -> int:
    value = ctx.data.get("rework_count") or 0
    return int(value) if isinstance(value, int | float) else 0


def clean_text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def invalid(form: str, errors: list[FieldError]) -> ValidationError:
    return ValidationError(f"{form}: the submission does not fit the assessment", errors)


def analysis_due(ctx: OperatorContext, tier: str | None) -> str:
    """When the impact analysis is due: P10D, P14D for a high tier (FLOWS.md A6)."""
    return add_duration(ctx.clock.now(), "P14D" if tier == "high" else "P10D").isoformat()


# --------------------------------------------------------------------------- A2 create_draft

@operator("aiia.create_draft")
def create_draft(ctx: OperatorContext, ai_system_id: str | None = None, trigger: str | None = None,
                 **_: Any) -> dict[str, Any]:
    """A2: a new ImpactAssessment version (previous + 1, status ``draft``) seeded with the previous
    version's content; the system goes ``proposed -> under_assessment`` or ``in_operation ->
    change_pending``; the system owner is proposed as assessor. Names the instance's subject.

    Raises NotFound (unknown system), InvalidInput (retired system, unknown previous version),
    ConflictError (another assessment of the system is running).
    """
    ref = ai_system_id or ctx.data.get("ai_system_id")
    if not isinstance(ref, str) or not ref.strip():
        raise InvalidInput("ai_system_id: name the AI system to assess by its ref (e.g. AIS-001)")
    system = ai_system(ctx, ref.strip())
    existing = _created_by_instance(ctx)
    if existing is not None and existing.ai_system_id == system.id:
        ctx.set_subject(system.ref)
        return _draft_result(ctx, existing, system)
    if system.status == "retired":
        raise InvalidInput(f"ai_system_id: {system.ref} is retired; a retired system is not re-assessed")
    running = ctx.session.scalar(
        select(ProcessInstance.id).where(ProcessInstance.process_id == ctx.instance.process_id,
                                         ProcessInstance.status == InstanceState.RUNNING,
                                         ProcessInstance.subject == system.ref,
                                         ProcessInstance.id != ctx.instance.id).limit(1))
    if running is not None:
        raise ConflictError(f"{system.ref} already has an impact assessment running (instance {running}); "
                            "finish or cancel it first")
    versions = list(ctx.session.scalars(select(ImpactAssessment).where(ImpactAssessment.ai_system_id == system.id)
                                        .order_by(ImpactAssessment.version)))
    baseline = _baseline(ctx, versions)
    version = (versions[-1].version if versions else 0) + 1
    now = ctx.clock.now()
    owner = email(ctx, system.system_owner_id)
    content = {k: v for k, v in deepcopy(baseline.content or {}).items()
               if k not in ("reviews", "decisions", "rework_log", "record_sha256", "locked_at",
                            "system_status_before", "requested_by_id", "context_author_id")} if baseline else {}
    content.update(system_status_before=system.status, baseline_ref=baseline.ref if baseline else None,
                   requested_by_id=_requested_by(ctx))
    row = ImpactAssessment(
        ref=_aiia_ref(ctx, system, version), status="draft", ai_system_id=system.id, version=version,
        trigger=str(trigger or ctx.data.get("trigger") or "new_system"),
        impact_tier=None, screening_answers=deepcopy(baseline.screening_answers) if baseline else {},
        content=content, assessor_id=system.system_owner_id, reviewer_ids=[],
        created_at=now, updated_at=now, created_by_id=actor_id(ctx), updated_by_id=actor_id(ctx),
        instance_id=ctx.instance.id, iso_refs=["6.1.4", "8.4", "A.5.2", "A.5.3", "A.5.4", "A.5.5"],
    )
    ctx.session.add(row)
    ctx.session.flush()
    _close_abandoned(ctx, versions, row)
    if system.status in ASSESSING_STATUS:
        set_system_status(ctx, system, ASSESSING_STATUS[system.status], f"{row.ref} started")
    ctx.set_subject(system.ref)
    ctx.audit("aiia_draft_created", subject=row.ref, ai_system=system.ref, version=version,
              trigger=row.trigger, baseline=content["baseline_ref"], proposed_assessor=owner)
    return _draft_result(ctx, row, system)


def _baseline(ctx: OperatorContext, versions: list[ImpactAssessment]) -> ImpactAssessment | None:
    """The version whose content seeds the new one: ``previous_aiia_id`` when given, else the latest."""
    wanted = ctx.data.get("previous_aiia_id")
    if isinstance(wanted, str) and wanted.strip():
        for v in versions:
            if v.ref == wanted.strip():
                return v
        raise InvalidInput(f"previous_aiia_id: {wanted!r} is not an impact assessment of this AI system "
                           f"(known: {', '.join(v.ref for v in versions) or 'none'})")
    approved = [v for v in versions if v.status in APPROVED_STATUSES + ("superseded",)]
    candidates = approved or versions
    return candidates[-1] if candidates else None


def _close_abandoned(ctx: OperatorContext, versions: list[ImpactAssessment], new: ImpactAssessment) -> None:
    """Earlier versions left unfinished with no running instance (imported, or their instance was
    cancelled) are closed as ``cancelled``, so a system never has two open assessments."""
    for old in versions:
        if old.status in FINAL_STATUSES:
            continue
        owner = ctx.session.get(ProcessInstance, old.instance_id) if old.instance_id else None
        if owner is not None and owner.status == InstanceState.RUNNING:
            continue
        old.status = "cancelled"
        set_content(old, cancelled={"reason": f"replaced by {new.ref}; no assessment was running",
                                    "at": now_iso(ctx)})
        touch(ctx, old)
        ctx.audit("aiia_cancelled", subject=old.ref, reason=f"replaced by {new.ref}")


def _requested_by(ctx: OperatorContext) -> str | None:
    for value in (ctx.data.get("requested_by_id"), ctx.data.get("started_by"),
                  ctx.actor.email if ctx.actor is not None else None):
        if isinstance(value, str) and value.strip():
            return value.strip().lower()
    return None


def _aiia_ref(ctx: OperatorContext, system: AISystem, version: int) -> str:
    """``AIIA-003-v2`` for version 2 of AIS-003 (DOMAIN.md 4.6: system + version)."""
    stem = system.ref[4:] if system.ref.startswith("AIS-") else system.ref
    ref = f"AIIA-{stem}-v{version}"
    if ctx.session.scalar(select(ImpactAssessment.id).where(ImpactAssessment.ref == ref)) is not None:
        ref = f"{next_ref(ctx.session, 'AIIA')}-v{version}"  # an imported row took the natural ref
    return ref


def _draft_result(ctx: OperatorContext, row: ImpactAssessment, system: AISystem) -> dict[str, Any]:
    content = row.content or {}
    previous_tier = ctx.data.get("previous_tier")
    if previous_tier not in ("low", "medium", "high"):
        previous = ctx.session.scalar(select(ImpactAssessment).where(
            ImpactAssessment.ai_system_id == system.id, ImpactAssessment.version < row.version,
            ImpactAssessment.status.in_(APPROVED_STATUSES + ("superseded",)))
            .order_by(ImpactAssessment.version.desc()).limit(1))
        previous_tier = previous.impact_tier if previous is not None else None
    return {
        "aiia_ref": row.ref, "aiia_version": row.version, "ai_system_ref": system.ref, "ai_system_name": system.name,
        "system_owner_id": email(ctx, system.system_owner_id),
        "business_sponsor_id": email(ctx, system.business_sponsor_id),
        "assessor_id": email(ctx, row.assessor_id), "personal_data": system.personal_data or "none",
        "previous_aiia_ref": content.get("baseline_ref"), "previous_tier": previous_tier,
        "requested_by_id": content.get("requested_by_id"), "system_status": system.status,
    }


# --------------------------------------------------------------------------- the locked record

def locked_record(row: ImpactAssessment) -> dict[str, Any]:
    """The assessment as it is locked: what the rendered record (PDF) would show."""
    content = {k: v for k, v in (row.content or {}).items() if k != "record_sha256"}
    return {
        "ref": row.ref, "version": row.version, "ai_system_id": row.ai_system_id, "trigger": row.trigger,
        "status": row.status, "impact_tier": row.impact_tier, "screening_answers": row.screening_answers,
        "content": content, "overall_conclusion": row.overall_conclusion, "conditions": row.conditions,
        "decision_rationale": row.decision_rationale, "assessor_id": row.assessor_id,
        "reviewer_ids": row.reviewer_ids, "approver_id": row.approver_id,
        "approved_at": row.approved_at.isoformat() if row.approved_at else None,
        "next_review_due": row.next_review_due.isoformat() if row.next_review_due else None,
        "retention_rule": row.retention_rule,
        "retention_until": row.retention_until.isoformat() if row.retention_until else None,
        "linked_risk_ids": row.linked_risk_ids, "rework_count": row.rework_count,
    }


def record_sha256(row: ImpactAssessment) -> str:
    canonical = json.dumps(locked_record(row), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                           default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
