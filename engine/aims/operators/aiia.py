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
"""

from __future__ import annotations

import hashlib
import json
from copy import deepcopy
from datetime import datetime
from typing import Any

from sqlalchemy import select

from engine.aims import roles
from engine.aims.operators.common import actor_id, ai_system, criteria, email, plus, record_approval, user_id
from engine.aims.registers import AISystem, ImpactAssessment, Risk
from engine.core.durations import add_duration
from engine.core.errors import ConflictError, FieldError, InvalidInput, NotFound, ValidationError
from engine.core.models import ProcessInstance
from engine.core.operators import OperatorContext, operator
from engine.core.refs import next_ref

#: statuses after which a version is locked
FINAL_STATUSES = frozenset({"low_tier_recorded", "approved", "approved_with_conditions", "rejected",
                            "cancelled", "superseded"})
#: statuses of a version that is the system's valid assessment (superseded by the next one)
APPROVED_STATUSES = ("low_tier_recorded", "approved", "approved_with_conditions")
#: what aiia.finalise accepts as ``status`` -> the status written
FINAL_STATUS_OF = {"approve": "approved", "approved": "approved",
                   "approve_with_conditions": "approved_with_conditions",
                   "approved_with_conditions": "approved_with_conditions",
                   "low_tier_recorded": "low_tier_recorded", "reject": "rejected", "rejected": "rejected"}
#: a human decision -> the Approval record's decision (DOMAIN.md 4.3)
APPROVAL_DECISION = {
    "approve": "approve", "approve_with_conditions": "approve_with_conditions", "reject": "reject",
    "return_for_rework": "request_changes", "confirm_low_tier": "approve",
    "require_full_assessment": "request_changes", "send_to_approver_with_dissent": "approve",
    "cancel_assessment": "reject", "no_objection": "approve", "changes_required": "request_changes",
}
#: governance status of the system while it is assessed, from its status before (DOMAIN.md 4.2)
ASSESSING_STATUS = {"proposed": "under_assessment", "rejected": "under_assessment",
                    "in_operation": "change_pending"}
#: ... and once the assessment is approved or recorded
APPROVED_SYSTEM_STATUS = {"under_assessment": "approved_for_development", "change_pending": "in_operation"}
OPERATING_STATUSES = frozenset({"in_operation", "change_pending", "suspended"})
SOCIETY_DIMENSIONS = ("environment_sustainability", "economic", "government_democratic", "health_safety_public",
                      "culture_norms_values", "information_ecosystem")
#: how long the record is kept at least (A.5.3); the retirement of the system extends it
RETENTION = "P3Y"
RISK_RESIDUAL_SCORE = 8
RISK_RESIDUAL_SEVERITY = 4


# --------------------------------------------------------------------------- helpers

def _now_iso(ctx: OperatorContext) -> str:
    return ctx.clock.now().isoformat()


def _assessment(ctx: OperatorContext) -> ImpactAssessment:
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


def _system_of(ctx: OperatorContext, row: ImpactAssessment) -> AISystem:
    system = ctx.session.get(AISystem, row.ai_system_id)
    if system is None:
        raise NotFound(f"{row.ref}: its AI system (id {row.ai_system_id}) is gone")
    return system


def _touch(ctx: OperatorContext, row: Any) -> None:
    row.updated_at = ctx.clock.now()
    row.updated_by_id = actor_id(ctx)
    row.instance_id = ctx.instance.id


def _set_content(row: ImpactAssessment, **values: Any) -> None:
    # a new dict: JSON columns are not mutation-tracked
    row.content = {**(row.content or {}), **deepcopy(values)}


def _append_log(row: ImpactAssessment, log: str, entry: dict[str, Any], key: tuple[str, ...]) -> bool:
    """Append ``entry`` to ``content[log]`` unless an entry with the same ``key`` fields is there."""
    entries = list((row.content or {}).get(log) or [])
    if any(all(e.get(k) == entry.get(k) for k in key) for e in entries):
        return False
    _set_content(row, **{log: entries + [entry]})
    return True


def _set_system_status(ctx: OperatorContext, system: AISystem, status: str, why: str) -> None:
    if system.status == status:
        return
    before = system.status
    system.status = status
    _touch(ctx, system)
    ctx.audit("ai_system_status", subject=system.ref, before=before, after=status, reason=why)


def _round(ctx: OperatorContext) -> int:
    value = ctx.data.get("rework_count") or 0
    return int(value) if isinstance(value, int | float) else 0


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _invalid(form: str, errors: list[FieldError]) -> ValidationError:
    return ValidationError(f"{form}: the submission does not fit the assessment", errors)


def _analysis_due(ctx: OperatorContext, tier: str | None) -> str:
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
                                         ProcessInstance.status == "running", ProcessInstance.subject == system.ref,
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
        _set_system_status(ctx, system, ASSESSING_STATUS[system.status], f"{row.ref} started")
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
        if owner is not None and owner.status == "running":
            continue
        old.status = "cancelled"
        _set_content(old, cancelled={"reason": f"replaced by {new.ref}; no assessment was running",
                                     "at": _now_iso(ctx)})
        _touch(ctx, old)
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


# --------------------------------------------------------------------------- A3 team

@operator("aiia.record_team")
def record_team(ctx: OperatorContext, **_: Any) -> dict[str, Any]:
    """A3: the confirmed assessor and the reviewers. Checks what the form cannot: reviewers are
    neither the assessor nor the system owner, and a privacy reviewer is named when the system
    processes personal data. Raises ValidationError naming the fields; status -> ``screening``."""
    row = _assessment(ctx)
    system = _system_of(ctx, row)
    assessor = _text(ctx.data.get("assessor_id"))
    owner = email(ctx, system.system_owner_id)
    errors: list[FieldError] = []
    if (system.personal_data or "none") != "none" and not _text(ctx.data.get("privacy_reviewer_id")):
        errors.append(FieldError("privacy_reviewer_id", f"required: {system.ref} processes "
                                                        f"{system.personal_data} data"))
    reviewers: dict[str, str] = {}
    for field in ("rai_reviewer_id", "privacy_reviewer_id", "legal_reviewer_id"):
        who = _text(ctx.data.get(field))
        if who is None:
            continue
        who = who.lower()
        reviewers[field] = who
        if assessor and who == assessor.lower():
            errors.append(FieldError(field, "must not be the assessor (SOD-05: reviewer ≠ assessor)"))
        elif owner and who == owner:
            errors.append(FieldError(field, f"must not be the owner of {system.ref} (SOD-05)"))
    if errors:
        raise _invalid("aiia_assign_team", errors)
    row.assessor_id = user_id(ctx, assessor)  # reviewer_ids: who actually reviewed (aiia.record_review)
    _set_content(row, team={"assessor_id": assessor.lower() if assessor else None, **reviewers,
                            "target_completion": ctx.data.get("target_completion"),
                            "assigned_by": ctx.actor.email if ctx.actor else None})
    if row.status == "draft":
        row.status = "screening"
    _touch(ctx, row)
    ctx.audit("aiia_team_assigned", subject=row.ref, assessor=assessor, **reviewers)
    return {"assessor_id": assessor, **reviewers}


# --------------------------------------------------------------------------- A4 screening

SCREENING_FIELDS = ("decision_effect", "decision_domain", "personal_data", "biometric_data", "vulnerable_groups",
                    "external_interaction", "generative_output", "people_affected_per_year", "safety_relevant",
                    "legal_high_risk_classification", "screening_notes")


@operator("aiia.record_screening")
def record_screening(ctx: OperatorContext, **_: Any) -> dict[str, Any]:
    """A4 + A4s: the screening answers and the computed tier on the row."""
    row = _assessment(ctx)
    row.screening_answers = {k: deepcopy(ctx.data.get(k)) for k in SCREENING_FIELDS if k in ctx.data}
    row.impact_tier = ctx.data.get("impact_tier")
    _set_content(row, screening_tier=row.impact_tier)
    _touch(ctx, row)
    ctx.audit("aiia_screened", subject=row.ref, impact_tier=row.impact_tier)
    return {"impact_tier": row.impact_tier}


# --------------------------------------------------------------------------- A5L low-tier record

LOW_TIER_FIELDS = ("rationale", "intended_use", "foreseeable_misuse", "human_oversight_description",
                   "monitoring_note")


@operator("aiia.record_low_tier")
def record_low_tier(ctx: OperatorContext, **_: Any) -> dict[str, Any]:
    """A5L: the short justification record of a low-tier system."""
    row = _assessment(ctx)
    record = {k: ctx.data.get(k) for k in LOW_TIER_FIELDS if ctx.data.get(k) is not None}
    _set_content(row, low_tier_record=record, intended_use=record.get("intended_use"),
                 foreseeable_misuse=record.get("foreseeable_misuse"),
                 human_oversight_description=record.get("human_oversight_description"))
    _touch(ctx, row)
    return {"recorded": True}


# --------------------------------------------------------------------------- A5 system context

CONTEXT_FIELDS = ("intended_use", "reasonably_foreseeable_misuse", "deployment_context", "operators_and_users",
                  "affected_groups", "jurisdictions", "data_description", "datasets", "third_party_components",
                  "human_oversight_description", "decommissioning_considerations", "attachments")


@operator("aiia.record_context")
def record_context(ctx: OperatorContext, **_: Any) -> dict[str, Any]:
    """A5: the system and its context; status -> ``in_progress``. Returns when the analysis is due."""
    row = _assessment(ctx)
    context = {k: deepcopy(ctx.data.get(k)) for k in CONTEXT_FIELDS if ctx.data.get(k) is not None}
    _set_content(row, context=context, intended_use=context.get("intended_use"),
                 foreseeable_misuse=context.get("reasonably_foreseeable_misuse"),
                 affected_groups=context.get("affected_groups", []),
                 human_oversight_description=context.get("human_oversight_description"),
                 context_author_id=ctx.actor.email if ctx.actor else None)
    row.status = "in_progress"
    _touch(ctx, row)
    return {"due_at": _analysis_due(ctx, ctx.data.get("impact_tier"))}


# --------------------------------------------------------------------------- A6 impact analysis

@operator("aiia.record_impacts")
def record_impacts(ctx: OperatorContext, **_: Any) -> dict[str, Any]:
    """A6 + A6s: impacts (with residual scores), societal checklist, failures, consultation and the
    proposed conclusion; the tier as st_score_impacts left it; status -> ``in_review``.

    Checks what the form cannot see (the tier before this analysis): a high tier needs at least
    three impacts and a consultation summary; a society dimension marked ``impact_recorded`` needs
    an impact on it. Raises ValidationError naming the fields.
    """
    row = _assessment(ctx)
    impacts = deepcopy(ctx.data.get("impacts") or [])
    checklist = ctx.data.get("societal_checklist") or {}
    tier_before = row.impact_tier
    errors: list[FieldError] = []
    if tier_before == "high":
        if len(impacts) < 3:
            errors.append(FieldError("impacts", f"a high-tier assessment lists at least 3 impacts; "
                                                f"{len(impacts)} given"))
        if not _text(ctx.data.get("consultation_summary")):
            errors.append(FieldError("consultation_summary", "required for a high-tier assessment"))
    recorded = {i.get("dimension") for i in impacts if isinstance(i, dict)}
    for dimension in SOCIETY_DIMENSIONS:
        if checklist.get(dimension) == "impact_recorded" and dimension not in recorded:
            errors.append(FieldError(f"societal_checklist/{dimension}",
                                     f"marked impact_recorded, but no impact has the dimension {dimension}"))
    if errors:
        raise _invalid("aiia_impact_analysis", errors)
    for index, item in enumerate(impacts):
        item.setdefault("id", f"IMP-{index + 1}")
    _set_content(row, impacts=impacts, societal_checklist=deepcopy(checklist),
                 predictable_failures=deepcopy(ctx.data.get("predictable_failures") or []),
                 positive_impacts=ctx.data.get("positive_impacts"),
                 consultation=ctx.data.get("consultation_summary"),
                 proposed_conditions=deepcopy(ctx.data.get("proposed_conditions") or []))
    row.overall_conclusion = ctx.data.get("proposed_conclusion")
    row.impact_tier = ctx.data.get("impact_tier") or row.impact_tier
    row.status = "in_review"
    _touch(ctx, row)
    ctx.audit("aiia_impacts_recorded", subject=row.ref, impacts=len(impacts), impact_tier=row.impact_tier,
              tier_before=tier_before, round=_round(ctx))
    return {"impact_tier": row.impact_tier, "impacts": len(impacts)}


# --------------------------------------------------------------------------- A7 raise risks

def _significant(item: Any) -> bool:
    if not isinstance(item, dict) or item.get("nature") != "negative":
        return False
    severity, likelihood = item.get("residual_severity"), item.get("residual_likelihood")
    if not isinstance(severity, int) or not isinstance(likelihood, int):
        return False
    score = item.get("residual_score")
    if not isinstance(score, int):
        score = severity * likelihood
    return score >= RISK_RESIDUAL_SCORE or severity >= RISK_RESIDUAL_SEVERITY


def _impact_key(item: dict[str, Any]) -> str:
    return f"{item.get('dimension')}|{str(item.get('affected_group') or '').strip().lower()}"


@operator("aiia.raise_risks")
def raise_risks(ctx: OperatorContext, **_: Any) -> dict[str, Any]:
    """A7: every negative impact with ``residual_score >= 8`` or ``residual_severity >= 4`` becomes a
    Risk (status ``identified``, origin ``aiia``, origin_ref the AIIA ref, owner the system owner)
    or is linked to the existing risk it names (``risk_id``). Then starts ``aims_risk_assessment``
    for the system unless one is running for it. Writes ``linked_risk_ids``.

    Idempotent: an impact already raised by this assessment (same dimension and affected group)
    links its earlier risk. Raises ValidationError for an impact naming an unknown risk.
    """
    row = _assessment(ctx)
    system = _system_of(ctx, row)
    impacts = deepcopy((row.content or {}).get("impacts") or [])
    risks: list[Risk] = []
    created: list[str] = []
    errors: list[FieldError] = []
    now = ctx.clock.now()
    crit = criteria(ctx)
    for index, item in enumerate(impacts):
        if not _significant(item):
            continue
        wanted = _text(item.get("risk_id"))
        if wanted:
            risk = ctx.session.scalar(select(Risk).where(Risk.ref == wanted))
            if risk is None:
                errors.append(FieldError(f"impacts/{index}/risk_id", f"no risk {wanted} in the register"))
                continue
        else:
            risk = _raised_risk(ctx, row.ref, _impact_key(item))
            if risk is None:
                risk = Risk(
                    ref=next_ref(ctx.session, "RSK"), status="identified", kind="risk",
                    title=_risk_title(item, system), description=str(item.get("description") or ""),
                    ai_system_ids=[system.id], origin="aiia", origin_ref=row.ref,
                    consequences=_consequences(item), owner_id=system.system_owner_id,
                    assessor_id=row.assessor_id, criteria_version=crit.get("version"),
                    details={"impact_key": _impact_key(item), "impact": deepcopy(item)},
                    created_at=now, updated_at=now, created_by_id=actor_id(ctx), updated_by_id=actor_id(ctx),
                    instance_id=ctx.instance.id, iso_refs=["6.1.2", "6.1.4"])
                ctx.session.add(risk)
                ctx.session.flush()
                created.append(risk.ref)
                ctx.audit("risk_raised", subject=risk.ref, origin="aiia", origin_ref=row.ref,
                          impact=item.get("id"), ai_system=system.ref)
        if system.id not in (risk.ai_system_ids or []):
            risk.ai_system_ids = [*(risk.ai_system_ids or []), system.id]
            _touch(ctx, risk)
        item["risk_id"] = risk.ref
        if risk not in risks:
            risks.append(risk)
    if errors:
        raise _invalid("aiia_impact_analysis", errors)
    row.linked_risk_ids = [r.id for r in risks]
    _set_content(row, impacts=impacts)
    _touch(ctx, row)
    refs = [r.ref for r in risks]
    started = _start_risk_assessment(ctx, row, system, refs)
    ctx.audit("aiia_risks_linked", subject=row.ref, risks=refs, created=created, risk_assessment=started)
    return {"risk_refs": refs, "created": created, "linked": [r for r in refs if r not in created],
            "risk_assessment": started}


def _raised_risk(ctx: OperatorContext, aiia_ref: str, key: str) -> Risk | None:
    for risk in ctx.session.scalars(select(Risk).where(Risk.origin == "aiia", Risk.origin_ref == aiia_ref)):
        if (risk.details or {}).get("impact_key") == key:
            return risk
    return None


def _risk_title(item: dict[str, Any], system: AISystem) -> str:
    dimension = str(item.get("dimension") or "impact").replace("_", " ")
    return f"{system.name}: {dimension} impact on {item.get('affected_group') or 'affected people'}"[:300]


def _consequences(item: dict[str, Any]) -> dict[str, str]:
    text = str(item.get("description") or "")
    party = item.get("affected_party_type")
    return {"organisation": "", "individuals": text if party in ("individual", "group") else "",
            "society": text if party == "society" else ""}


def _start_risk_assessment(ctx: OperatorContext, row: ImpactAssessment, system: AISystem,
                           refs: list[str]) -> str:
    """Ask for an ``aims_risk_assessment`` of the system (the start contract of FLOWS.md (f))."""
    if not refs:
        return "not_needed"
    running = ctx.session.scalar(select(ProcessInstance.id).where(
        ProcessInstance.process_id == "aims_risk_assessment", ProcessInstance.status == "running",
        ProcessInstance.subject == system.ref).limit(1))
    if running is not None:
        return "already_running"
    assessor = email(ctx, row.assessor_id) or email(ctx, system.system_owner_id)
    ctx.start_process("aims_risk_assessment", {
        "assessment_scope": "ai_system", "scope_ref": system.ref, "trigger": "aiia", "assessor_id": assessor,
        "requested_by_id": (row.content or {}).get("requested_by_id") or assessor,
        "risk_refs": list(refs), "aiia_ref": row.ref,
    }, subject=system.ref)
    return "started"


# --------------------------------------------------------------------------- A9 reviews

@operator("aiia.record_review")
def record_review(ctx: OperatorContext, kind: str = "rai", **_: Any) -> dict[str, Any]:
    """A9a/b/c: one specialist review opinion of this round, as an Approval row (step ``review``)."""
    row = _assessment(ctx)
    outcome = ctx.data.get("outcome")
    if outcome not in ("no_objection", "changes_required"):
        raise InvalidInput(f"outcome: {outcome!r} is not no_objection or changes_required")
    by = ctx.actor.email if ctx.actor is not None else None
    entry = {"kind": kind, "round": _round(ctx), "outcome": outcome, "comments": ctx.data.get("comments"),
             "items_to_change": list(ctx.data.get("items_to_change") or []), "by": by, "at": _now_iso(ctx)}
    if _append_log(row, "reviews", entry, ("kind", "round")):
        record_approval(ctx, "ImpactAssessment", row.id, row.ref, "review", APPROVAL_DECISION[outcome], by,
                        "reviewer", comment=ctx.data.get("comments"), version=row.version,
                        conditions={"kind": kind, "round": entry["round"], "items_to_change": entry["items_to_change"]})
        reviewer = actor_id(ctx)
        if reviewer is not None and reviewer not in (row.reviewer_ids or []):
            row.reviewer_ids = sorted([*(row.reviewer_ids or []), reviewer])
        _touch(ctx, row)
    return {"kind": kind, "outcome": outcome, "by": by, "round": entry["round"]}


@operator("aiia.collect_reviews")
def collect_reviews(ctx: OperatorContext, **_: Any) -> dict[str, Any]:
    """A10: the outcomes of this round's reviews (read from the row, not the merged branch data)."""
    row = _assessment(ctx)
    current = _round(ctx)
    reviews = [r for r in (row.content or {}).get("reviews") or [] if r.get("round") == current]
    outcomes = [r["outcome"] for r in reviews]
    return {"round": current, "outcomes": outcomes, "changes_required": "changes_required" in outcomes,
            "items_to_change": [i for r in reviews for i in r.get("items_to_change") or []],
            "reviewers": {r["kind"]: r.get("by") for r in reviews}}


# --------------------------------------------------------------------------- G2/G3 rework

@operator("aiia.record_rework")
def record_rework(ctx: OperatorContext, source: str = "reviews", **_: Any) -> dict[str, Any]:
    """A rework loop (G2 from the reviews, G3 from the approver): status -> ``changes_requested``,
    ``rework_count`` kept on the row. Returns when the reworked analysis is due."""
    row = _assessment(ctx)
    count = _round(ctx)
    entry = {"round": count, "source": source, "at": _now_iso(ctx),
             "by": ctx.actor.email if ctx.actor is not None else None}
    _append_log(row, "rework_log", entry, ("round",))
    row.rework_count = count
    row.status = "changes_requested"
    _touch(ctx, row)
    ctx.audit("aiia_rework", subject=row.ref, rework_count=count, source=source)
    return {"due_at": _analysis_due(ctx, row.impact_tier), "rework_count": count}


# --------------------------------------------------------------------------- A11/A12 decisions

@operator("aiia.submit_for_approval")
def submit_for_approval(ctx: OperatorContext, **_: Any) -> dict[str, Any]:
    """Before A12: status -> ``pending_approval``; says which role approves and whether a reviewer's
    objection stands (sent on by the AIMS owner with dissent)."""
    row = _assessment(ctx)
    current = _round(ctx)
    dissent = any(r.get("round") == current and r.get("outcome") == "changes_required"
                  for r in (row.content or {}).get("reviews") or [])
    row.status = "pending_approval"
    _touch(ctx, row)
    role = "top_management" if row.impact_tier == "high" else "approver"
    ctx.audit("aiia_submitted_for_approval", subject=row.ref, approver_role=role, dissent=dissent)
    return {"approver_role": role, "dissent": dissent}


@operator("aiia.record_decision")
def record_decision(ctx: OperatorContext, step: str = "approval", role: str | None = None,
                    **_: Any) -> dict[str, Any]:
    """A human decision of this round (low-tier confirmation, deadlock resolution, approval) as an
    Approval row; an approval also names the approver and the rationale on the row."""
    row = _assessment(ctx)
    decision = ctx.data.get("decision")
    if decision not in APPROVAL_DECISION:
        raise InvalidInput(f"decision: {decision!r} is not a decision of this flow")
    by = ctx.actor.email if ctx.actor is not None else None
    comment = _text(ctx.data.get("decision_rationale")) if step == "approval" else _text(ctx.data.get("comment"))
    conditions = deepcopy(ctx.data.get("conditions") or []) if decision == "approve_with_conditions" else None
    entry = {"spec": ctx.task_spec, "round": _round(ctx), "step": step, "decision": decision, "by": by,
             "role": role, "comment": comment, "at": _now_iso(ctx)}
    if _append_log(row, "decisions", entry, ("spec", "round")):
        record_approval(ctx, "ImpactAssessment", row.id, row.ref, step, APPROVAL_DECISION[decision], by, role,
                        comment=comment, conditions=conditions, version=row.version)
        if step == "approval" or decision == "confirm_low_tier":
            row.approver_id = actor_id(ctx)
            row.decision_rationale = comment
        _touch(ctx, row)
    return {"decision": decision, "by": by, "step": step}


# --------------------------------------------------------------------------- A13 finalise

@operator("aiia.finalise")
def finalise(ctx: OperatorContext, status: str = "approved", next_review: str | None = None,
             **_: Any) -> dict[str, Any]:
    """A13 / A13L / A13R: lock the version.

    ``status`` is ``low_tier_recorded``, ``approve`` / ``approved``, ``approve_with_conditions`` or
    ``reject`` / ``rejected``. Sets the approver, ``approved_at``, ``next_review_due`` (approval +
    P1Y for a high or medium tier, P2Y for low, or the approver's ``next_review_override`` up to
    P2Y), ``retention_until`` and the sha256 of the locked record; supersedes the previous approved
    version; updates the AI system (tier, last assessment, next due date, governance status). A
    rejection sets the system ``rejected`` (never operated) or ``suspended`` (operating).

    Raises InvalidInput for an unknown status, ValidationError for an override above P2Y.
    """
    final = FINAL_STATUS_OF.get(status)
    if final is None:
        raise InvalidInput(f"aiia.finalise: unknown status {status!r}; use one of {', '.join(FINAL_STATUS_OF)}")
    row = _assessment(ctx)
    system = _system_of(ctx, row)
    if row.status in FINAL_STATUSES:
        return _final_result(row, system)
    now = ctx.clock.now()
    if final == "rejected":
        row.status = "rejected"
        _lock(ctx, row, now)
        operating = system.status in OPERATING_STATUSES or \
            (row.content or {}).get("system_status_before") in OPERATING_STATUSES
        _set_system_status(ctx, system, "suspended" if operating else "rejected", f"{row.ref} rejected")
        ctx.audit("aiia_rejected", subject=row.ref, ai_system=system.ref, system_status=system.status)
        return _final_result(row, system)

    override = _text(ctx.data.get("next_review_override")) if final != "low_tier_recorded" else None
    period = override or next_review or ("P1Y" if row.impact_tier in ("high", "medium") else "P2Y")
    if override and plus(ctx, override, now) > plus(ctx, "P2Y", now):
        raise _invalid("aiia_approval", [FieldError("next_review_override", f"{override} is longer than P2Y")])
    row.status = final
    row.approved_at = now
    if row.approver_id is None:
        row.approver_id = actor_id(ctx)
    row.next_review_due = plus(ctx, period, now)
    if final == "approved_with_conditions":
        row.conditions = deepcopy(ctx.data.get("conditions") or [])
    if final == "low_tier_recorded" and not row.overall_conclusion:
        row.overall_conclusion = "proceed"
    _lock(ctx, row, now)
    for older in ctx.session.scalars(select(ImpactAssessment).where(
            ImpactAssessment.ai_system_id == system.id, ImpactAssessment.id != row.id,
            ImpactAssessment.status.in_(APPROVED_STATUSES))):
        older.status = "superseded"
        _touch(ctx, older)
        ctx.audit("aiia_superseded", subject=older.ref, by=row.ref)
    system.impact_tier = row.impact_tier
    system.last_aiia_id = row.id
    system.next_aiia_due = row.next_review_due
    _touch(ctx, system)
    if system.status in APPROVED_SYSTEM_STATUS:
        _set_system_status(ctx, system, APPROVED_SYSTEM_STATUS[system.status], f"{row.ref} {final}")
    ctx.audit("aiia_finalised", subject=row.ref, status=final, impact_tier=row.impact_tier,
              next_review_due=row.next_review_due.isoformat(), record_sha256=row.content["record_sha256"],
              conditions=len(row.conditions or []))
    return _final_result(row, system)


def _lock(ctx: OperatorContext, row: ImpactAssessment, now: datetime) -> None:
    """Retention and the sha256 of the canonical JSON of the locked record (stands in for the PDF)."""
    row.retention_until = plus(ctx, RETENTION, now)
    _set_content(row, locked_at=now.isoformat())
    _set_content(row, record_sha256=record_sha256(row))
    _touch(ctx, row)


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


def _final_result(row: ImpactAssessment, system: AISystem) -> dict[str, Any]:
    return {"aiia_ref": row.ref, "status": row.status, "impact_tier": row.impact_tier,
            "next_review_due": row.next_review_due.isoformat() if row.next_review_due else None,
            "record_sha256": (row.content or {}).get("record_sha256"), "system_status": system.status,
            "conditions": len(row.conditions or [])}


# --------------------------------------------------------------------------- E_CANCEL

@operator("aiia.cancel")
def cancel(ctx: OperatorContext, reason: str | None = None, **_: Any) -> dict[str, Any]:
    """Cancel the assessment (deadlock resolved by cancelling): status ``cancelled``; the system goes
    back to the governance status it had before the assessment started."""
    row = _assessment(ctx)
    system = _system_of(ctx, row)
    if row.status in FINAL_STATUSES:
        return {"aiia_ref": row.ref, "status": row.status, "system_status": system.status}
    why = reason or _text(ctx.data.get("comment")) or "cancelled"
    row.status = "cancelled"
    _set_content(row, cancelled={"reason": why, "at": _now_iso(ctx),
                                 "by": ctx.actor.email if ctx.actor is not None else None})
    _touch(ctx, row)
    before = (row.content or {}).get("system_status_before")
    if before and ASSESSING_STATUS.get(before) == system.status:
        _set_system_status(ctx, system, before, f"{row.ref} cancelled")
    ctx.audit("aiia_cancelled", subject=row.ref, reason=why)
    return {"aiia_ref": row.ref, "status": row.status, "system_status": system.status}


# --------------------------------------------------------------------------- A12 timer

@operator("aiia.notify_deployment_blocked")
def notify_deployment_blocked(ctx: OperatorContext, **_: Any) -> dict[str, Any]:
    """A12's non-interrupting P10D timer: when the system is not operating yet, tell the top-management
    sponsor that its deployment waits for this approval. The audit event is the notice until the
    outbox delivers messages."""
    row = _assessment(ctx)
    system = _system_of(ctx, row)
    if system.status in OPERATING_STATUSES:
        return {"notified": None, "system_status": system.status}
    org = roles.organisation(ctx.session)
    sponsor = email(ctx, org.top_management_sponsor_id) if org is not None else None
    ctx.audit("deployment_blocked_notice", subject=system.ref, to=sponsor, aiia_ref=row.ref,
              system_status=system.status)
    return {"notified": sponsor, "system_status": system.status}
