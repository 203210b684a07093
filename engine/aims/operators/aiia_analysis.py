"""Operators of ``aims_aiia`` (FLOWS.md (a)) from the team to the risks: the assessor and reviewers (A3),
the screening and its tier (A4), the low-tier record (A5L), the system and its context (A5), the impact
analysis (A6) and the risks its significant impacts raise, with the risk assessment they call for (A7).
Each writes its answers onto the ImpactAssessment row (``aiia.py``)."""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from sqlalchemy import select

from engine.aims.operators.aiia import (
    analysis_due,
    assessment,
    clean_text,
    current_round,
    invalid,
    set_content,
    system_of,
    touch,
)
from engine.aims.operators.common import actor_id, criteria, email, user_id
from engine.aims.registers import AISystem, ImpactAssessment, Risk
from engine.core.errors import FieldError
from engine.core.models import InstanceState, ProcessInstance
from engine.core.operators import OperatorContext, operator
from engine.core.refs import next_ref

SOCIETY_DIMENSIONS = ("environment_sustainability", "economic", "government_democratic", "health_safety_public",
                      "culture_norms_values", "information_ecosystem")
RISK_RESIDUAL_SCORE = 8
RISK_RESIDUAL_SEVERITY = 4


# --------------------------------------------------------------------------- A3 team

@operator("aiia.record_team")
def record_team(ctx: OperatorContext, **_: Any) -> dict[str, Any]:
    """A3: the confirmed assessor and the reviewers. Checks what the form cannot: reviewers are
    neither the assessor nor the system owner, and a privacy reviewer is named when the system
    processes personal data. Raises ValidationError naming the fields; status -> ``screening``."""
    row = assessment(ctx)
    system = system_of(ctx, row)
    assessor = clean_text(ctx.data.get("assessor_id"))
    owner = email(ctx, system.system_owner_id)
    errors: list[FieldError] = []
    if (system.personal_data or "none") != "none" and not clean_text(ctx.data.get("privacy_reviewer_id")):
        errors.append(FieldError("privacy_reviewer_id", f"required: {system.ref} processes "
                                                        f"{system.personal_data} data"))
    reviewers: dict[str, str] = {}
    for field in ("rai_reviewer_id", "privacy_reviewer_id", "legal_reviewer_id"):
        who = clean_text(ctx.data.get(field))
        if who is None:
            continue
        who = who.lower()
        reviewers[field] = who
        if assessor and who == assessor.lower():
            errors.append(FieldError(field, "must not be the assessor (SOD-05: reviewer ≠ assessor)"))
        elif owner and who == owner:
            errors.append(FieldError(field, f"must not be the owner of {system.ref} (SOD-05)"))
    if errors:
        raise invalid("aiia_assign_team", errors)
    row.assessor_id = user_id(ctx, assessor)  # reviewer_ids: who actually reviewed (aiia.record_review)
    set_content(row, team={"assessor_id": assessor.lower() if assessor else None, **reviewers,
                           "target_completion": ctx.data.get("target_completion"),
                           "assigned_by": ctx.actor.email if ctx.actor else None})
    if row.status == "draft":
        row.status = "screening"
    touch(ctx, row)
    ctx.audit("aiia_team_assigned", subject=row.ref, assessor=assessor, **reviewers)
    return {"assessor_id": assessor, **reviewers}


# --------------------------------------------------------------------------- A4 screening

SCREENING_FIELDS = ("decision_effect", "decision_domain", "personal_data", "biometric_data", "vulnerable_groups",
                    "external_interaction", "generative_output", "people_affected_per_year", "safety_relevant",
                    "legal_high_risk_classification", "screening_notes")


@operator("aiia.record_screening")
def record_screening(ctx: OperatorContext, **_: Any) -> dict[str, Any]:
    """A4 + A4s: the screening answers and the computed tier on the row."""
    row = assessment(ctx)
    row.screening_answers = {k: deepcopy(ctx.data.get(k)) for k in SCREENING_FIELDS if k in ctx.data}
    row.impact_tier = ctx.data.get("impact_tier")
    set_content(row, screening_tier=row.impact_tier)
    touch(ctx, row)
    ctx.audit("aiia_screened", subject=row.ref, impact_tier=row.impact_tier)
    return {"impact_tier": row.impact_tier}


# --------------------------------------------------------------------------- A5L low-tier record

LOW_TIER_FIELDS = ("rationale", "intended_use", "foreseeable_misuse", "human_oversight_description",
                   "monitoring_note")


@operator("aiia.record_low_tier")
def record_low_tier(ctx: OperatorContext, **_: Any) -> dict[str, Any]:
    """A5L: the short justification record of a low-tier system."""
    row = assessment(ctx)
    record = {k: ctx.data.get(k) for k in LOW_TIER_FIELDS if ctx.data.get(k) is not None}
    set_content(row, low_tier_record=record, intended_use=record.get("intended_use"),
                foreseeable_misuse=record.get("foreseeable_misuse"),
                human_oversight_description=record.get("human_oversight_description"))
    touch(ctx, row)
    return {"recorded": True}


# --------------------------------------------------------------------------- A5 system context

CONTEXT_FIELDS = ("intended_use", "reasonably_foreseeable_misuse", "deployment_context", "operators_and_users",
                  "affected_groups", "jurisdictions", "data_description", "datasets", "third_party_components",
                  "human_oversight_description", "decommissioning_considerations", "attachments")


@operator("aiia.record_context")
def record_context(ctx: OperatorContext, **_: Any) -> dict[str, Any]:
    """A5: the system and its context; status -> ``in_progress``. Returns when the analysis is due."""
    row = assessment(ctx)
    context = {k: deepcopy(ctx.data.get(k)) for k in CONTEXT_FIELDS if ctx.data.get(k) is not None}
    set_content(row, context=context, intended_use=context.get("intended_use"),
                foreseeable_misuse=context.get("reasonably_foreseeable_misuse"),
                affected_groups=context.get("affected_groups", []),
                human_oversight_description=context.get("human_oversight_description"),
                context_author_id=ctx.actor.email if ctx.actor else None)
    row.status = "in_progress"
    touch(ctx, row)
    return {"due_at": analysis_due(ctx, ctx.data.get("impact_tier"))}


# --------------------------------------------------------------------------- A6 impact analysis

@operator("aiia.record_impacts")
def record_impacts(ctx: OperatorContext, **_: Any) -> dict[str, Any]:
    """A6 + A6s: impacts (with residual scores), societal checklist, failures, consultation and the
    proposed conclusion; the tier as st_score_impacts left it; status -> ``in_review``.

    Checks what the form cannot see (the tier before this analysis): a high tier needs at least
    three impacts and a consultation summary; a society dimension marked ``impact_recorded`` needs
    an impact on it. Raises ValidationError naming the fields.
    """
    row = assessment(ctx)
    impacts = deepcopy(ctx.data.get("impacts") or [])
    checklist = ctx.data.get("societal_checklist") or {}
    tier_before = row.impact_tier
    errors: list[FieldError] = []
    if tier_before == "high":
        if len(impacts) < 3:
            errors.append(FieldError("impacts", f"a high-tier assessment lists at least 3 impacts; "
                                                f"{len(impacts)} given"))
        if not clean_text(ctx.data.get("consultation_summary")):
            errors.append(FieldError("consultation_summary", "required for a high-tier assessment"))
    recorded = {i.get("dimension") for i in impacts if isinstance(i, dict)}
    for dimension in SOCIETY_DIMENSIONS:
        if checklist.get(dimension) == "impact_recorded" and dimension not in recorded:
            errors.append(FieldError(f"societal_checklist/{dimension}",
                                     f"marked impact_recorded, but no impact has the dimension {dimension}"))
    if errors:
        raise invalid("aiia_impact_analysis", errors)
    for index, item in enumerate(impacts):
        item.setdefault("id", f"IMP-{index + 1}")
    set_content(row, impacts=impacts, societal_checklist=deepcopy(checklist),
                predictable_failures=deepcopy(ctx.data.get("predictable_failures") or []),
                positive_impacts=ctx.data.get("positive_impacts"),
                consultation=ctx.data.get("consultation_summary"),
                proposed_conditions=deepcopy(ctx.data.get("proposed_conditions") or []))
    row.overall_conclusion = ctx.data.get("proposed_conclusion")
    row.impact_tier = ctx.data.get("impact_tier") or row.impact_tier
    row.status = "in_review"
    touch(ctx, row)
    ctx.audit("aiia_impacts_recorded", subject=row.ref, impacts=len(impacts), impact_tier=row.impact_tier,
              tier_before=tier_before, round=current_round(ctx))
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
    row = assessment(ctx)
    system = system_of(ctx, row)
    impacts = deepcopy((row.content or {}).get("impacts") or [])
    risks: list[Risk] = []
    created: list[str] = []
    errors: list[FieldError] = []
    now = ctx.clock.now()
    crit = criteria(ctx)
    for index, item in enumerate(impacts):
        if not _significant(item):
            continue
        wanted = clean_text(item.get("risk_id"))
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
            touch(ctx, risk)
        item["risk_id"] = risk.ref
        if risk not in risks:
            risks.append(risk)
    if errors:
        raise invalid("aiia_impact_analysis", errors)
    row.linked_risk_ids = [r.id for r in risks]
    set_content(row, impacts=impacts)
    touch(ctx, row)
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
        ProcessInstance.process_id == "aims_risk_assessment", ProcessInstance.status == InstanceState.RUNNING,
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
