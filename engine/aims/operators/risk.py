"""Operators of ``aims_risk_assessment`` (FLOWS.md (f)): they write the risk register, the treatment
actions and the risk acceptances. Scores are computed by the diagram's script tasks (``st_score``,
``st_residual``, ``st_check_residual``) and stored here.

Every operator is idempotent within its instance: rows are found again by their ref, or by the
instance that created them, before anything new is written.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

from sqlalchemy import select

from engine.aims import risk_criteria, roles
from engine.aims.operators.common import actor_id, as_date, criteria, email, plus, record_approval, today, user_id
from engine.aims.operators.common import touch as _touch
from engine.aims.registers import AISystem, Risk, RiskAcceptance, RiskTreatmentAction
from engine.aims.sod_rules import AUTHORITY_ORDER
from engine.core import directory, refs
from engine.core.errors import InvalidInput, NotFound
from engine.core.operators import OperatorContext, operator

SCOPES = ("ai_system", "aims", "supplier", "change")
OPEN_RISK_STATES = ("identified", "analysed", "treatment_planned", "pending_acceptance", "in_treatment", "monitoring")


def authority_for(score: int, crit: dict[str, Any]) -> str:
    """Who may accept a residual score (DOMAIN.md 6.3): risk owner within appetite, then up to the
    organisation's criteria (``risk_criteria.authority_for``)."""
    return risk_criteria.authority_for(score, crit)


def _risk(ctx: OperatorContext, ref: str | None, where: str) -> Risk:
    row = ctx.session.scalar(select(Risk).where(Risk.ref == ref)) if ref else None
    if row is None:
        raise NotFound(f"{where}: no risk {ref!r} in the register")
    return row




def _summary(ctx: OperatorContext, risk: Risk) -> dict[str, Any]:
    return {"risk_id": risk.ref, "title": risk.title, "status": risk.status, "source_category": risk.source_category,
            "owner_id": email(ctx, risk.owner_id), "inherent_score": risk.inherent_score,
            "residual_score": risk.residual_score, "residual_level": risk.residual_level}


# --------------------------------------------------------------------------- R1 open

@operator("risk.open_assessment")
def open_assessment(ctx: OperatorContext, assessment_scope: str, scope_ref: str, trigger: str,
                    risk_refs: list[str] | None = None) -> dict[str, Any]:
    """Load the scope, its open risks and the published risk criteria into the instance (R1)."""
    if assessment_scope not in SCOPES:
        raise InvalidInput(f"assessment_scope must be one of {', '.join(SCOPES)}, not {assessment_scope!r}")
    system_owner = None
    existing: list[Risk] = []
    if assessment_scope == "ai_system":
        system = ctx.session.scalar(select(AISystem).where(AISystem.ref == scope_ref))
        if system is None:
            raise NotFound(f"scope_ref: no AI system {scope_ref!r}")
        system_owner = email(ctx, system.system_owner_id)
        existing = [r for r in ctx.session.scalars(select(Risk).where(Risk.status.in_(OPEN_RISK_STATES))
                                                   .order_by(Risk.ref))
                    if system.id in (r.ai_system_ids or [])]
    named = [_risk(ctx, ref, "risk_refs") for ref in risk_refs or []]
    for row in named:
        if row not in existing:
            existing.append(row)
    ctx.set_subject(scope_ref)
    crit = criteria(ctx)
    org = roles.organisation(ctx.session)
    ctx.audit("risk_assessment_opened", subject=scope_ref, scope=assessment_scope, trigger=trigger,
              criteria_version=crit["version"], existing_risks=[r.ref for r in existing])
    return {
        "criteria": crit,
        "existing_risks": [_summary(ctx, r) for r in existing],
        "system_owner_id": system_owner,
        "ceo_id": email(ctx, org.ceo_id) if org else None,
        "aims_owner_id": email(ctx, org.aims_owner_id) if org else None,
    }


# --------------------------------------------------------------------------- R2 identification

@operator("risk.record_identification")
def record_identification(ctx: OperatorContext, risks: list[dict[str, Any]], assessor: str | None,
                          scope_ref: str, trigger: str, criteria_version: str,
                          retire_risks: list[dict[str, Any]] | None = None,
                          checklist: dict[str, str] | None = None) -> dict[str, Any]:
    """Create or update the identified risks (status ``identified``) and retire the ones named (R2).

    A risk without ``risk_id`` whose title matches one this instance already created is the same risk
    (the assessor resubmitting after QA), so a rework loop never duplicates rows.
    """
    now = ctx.clock.now()
    system = ctx.session.scalar(select(AISystem).where(AISystem.ref == scope_ref))
    mine = {r.title: r for r in ctx.session.scalars(select(Risk).where(Risk.instance_id == ctx.instance.id))}
    out = []
    for index, item in enumerate(risks):
        row = _risk(ctx, item["risk_id"], f"risks/{index}/risk_id") if item.get("risk_id") else mine.get(item["title"])
        # every lookup before a new row joins the session: a query autoflushes, and a row without its
        # title yet would be inserted half-made
        systems = [_system_id(ctx, ref, f"risks/{index}/ai_system_ids") for ref in item.get("ai_system_ids") or []]
        if not systems and system is not None:
            systems = [system.id]
        owner_id, assessor_id = user_id(ctx, item["owner_id"]), user_id(ctx, assessor)
        if row is None:
            row = Risk(ref=refs.next_ref(ctx.session, "RSK"), created_at=now, updated_at=now,
                       created_by_id=actor_id(ctx), origin="aiia" if trigger == "aiia" else "risk_assessment",
                       origin_ref=ctx.instance.subject, status="identified", title=item["title"])
            ctx.session.add(row)
        row.title = item["title"]
        row.description = item["description"]
        row.source_category = item["source_category"]
        row.consequences = {"organisation": item["consequences_org"], "individuals": item["consequences_individuals"],
                            "society": item["consequences_society"]}
        row.ai_system_ids = systems
        row.existing_controls = list(item.get("existing_controls") or [])
        row.owner_id = owner_id
        row.assessor_id = assessor_id
        row.criteria_version = criteria_version
        row.details = {**(row.details or {}), "risk_sources_checklist": checklist or {}}
        _touch(ctx, row, "identified")
        ctx.session.flush()
        mine[row.title] = row
        out.append({**item, "risk_id": row.ref})
    retired = []
    for index, item in enumerate(retire_risks or []):
        row = _risk(ctx, item.get("risk_id"), f"retire_risks/{index}/risk_id")
        row.details = {**(row.details or {}), "retired_reason": item.get("reason")}
        _touch(ctx, row, "closed")
        retired.append(row.ref)
    ctx.audit("risks_identified", risks=[r["risk_id"] for r in out], retired=retired)
    return {"risks": out, "retired": retired}


def _system_id(ctx: OperatorContext, ref: str, where: str) -> int:
    found = ctx.session.scalar(select(AISystem.id).where(AISystem.ref == ref))
    if found is None:
        raise NotFound(f"{where}: no AI system {ref!r}")
    return found


# --------------------------------------------------------------------------- R3 analysis

@operator("risk.record_analysis")
def record_analysis(ctx: OperatorContext, risks: list[dict[str, Any]]) -> dict[str, Any]:
    """Store the inherent scores st_score computed; Risk -> ``analysed`` (R3)."""
    for item in risks:
        row = _risk(ctx, item.get("risk_id"), "risks")
        row.inherent_likelihood = item["inherent_likelihood"]
        row.inherent_impact = item["inherent_impact"]
        row.inherent_score = item["inherent_score"]
        row.inherent_level = item["inherent_level"]
        row.details = {**(row.details or {}), "analysis": {
            k: item.get(k) for k in ("impact_individuals", "impact_society", "impact_financial", "impact_legal",
                                     "impact_reputation", "impact_operational", "likelihood_rationale",
                                     "impact_rationale")}}
        _touch(ctx, row, "analysed")
    ctx.audit("risks_analysed", scores={r["risk_id"]: r["inherent_score"] for r in risks})
    return {"count": len(risks)}


# --------------------------------------------------------------------------- R4 treatment

@operator("risk.record_treatment")
def record_treatment(ctx: OperatorContext, risks: list[dict[str, Any]]) -> dict[str, Any]:
    """Store each risk's treatment (option, controls, target residual) and its actions (R4).

    Retained risks without a plan keep their inherent score as residual. Actions of this instance are
    matched by risk and description, so planning again updates them instead of adding copies.
    Returns every open action of the assessment, for the implementation step.
    """
    now = ctx.clock.now()
    for item in risks:
        row = _risk(ctx, item.get("risk_id"), "risks")
        row.treatment_option = item.get("treatment_option") or "retain"
        row.planned_controls = list(item.get("planned_controls") or [])
        row.annex_a_compared = bool(item.get("annex_a_compared"))
        row.target_residual_likelihood = item.get("target_residual_likelihood")
        row.target_residual_impact = item.get("target_residual_impact")
        row.residual_score = item["residual_score"]
        row.residual_level = item["residual_level"]
        if item.get("rationale") or item.get("share_with") or item.get("avoid_plan"):
            row.details = {**(row.details or {}), "treatment": {
                k: item.get(k) for k in ("rationale", "share_with", "avoid_plan")}}
        _touch(ctx, row, "treatment_planned")
        existing = {a.description: a for a in ctx.session.scalars(
            select(RiskTreatmentAction).where(RiskTreatmentAction.risk_id == row.id,
                                              RiskTreatmentAction.instance_id == ctx.instance.id))}
        for index, planned in enumerate(item.get("actions") or []):
            action = existing.get(planned["description"])
            if action is None:
                action = RiskTreatmentAction(ref=refs.next_ref(ctx.session, "RTA"), risk_id=row.id, status="planned",
                                             description=planned["description"], created_at=now, updated_at=now,
                                             created_by_id=actor_id(ctx))
                ctx.session.add(action)
            elif action.status in ("blocked", "cancelled"):
                action.status = "planned"
            action.control_ref = planned.get("control_ref")
            action.owner_id = user_id(ctx, planned["owner_id"])
            action.due_date = as_date(planned["due_date"], f"actions/{index}/due_date")
            _touch(ctx, action)
    ctx.session.flush()
    ctx.audit("risk_treatment_planned", plans={r["risk_id"]: r.get("treatment_option") or "retain" for r in risks})
    return {"actions": _open_actions(ctx)}


def _latest_acceptance(ctx: OperatorContext, risk: Risk) -> RiskAcceptance | None:
    """The last acceptance this assessment asked for the risk (an older one from an earlier assessment
    does not count: a refusal here must not hide behind it)."""
    return ctx.session.scalar(select(RiskAcceptance).where(
        RiskAcceptance.risk_id == risk.id, RiskAcceptance.instance_id == ctx.instance.id,
        RiskAcceptance.status.in_(("requested", "granted", "refused"))).order_by(RiskAcceptance.id.desc()).limit(1))


def _open_actions(ctx: OperatorContext) -> list[dict[str, Any]]:
    rows = ctx.session.execute(
        select(RiskTreatmentAction, Risk.ref).join(Risk, Risk.id == RiskTreatmentAction.risk_id)
        .where(RiskTreatmentAction.instance_id == ctx.instance.id,
               RiskTreatmentAction.status.in_(("planned", "in_progress")))
        .order_by(RiskTreatmentAction.ref))
    return [{"action_id": a.ref, "risk_id": risk_ref, "description": a.description, "control_ref": a.control_ref,
             "owner_id": email(ctx, a.owner_id), "due_date": a.due_date.isoformat() if a.due_date else None}
            for a, risk_ref in rows]


# --------------------------------------------------------------------------- R6 routing

@operator("risk.route_acceptance")
def route_acceptance(ctx: OperatorContext, risks: list[dict[str, Any]], requested_by: str | None) -> dict[str, Any]:
    """Decide who accepts each risk's residual score (R6).

    Within appetite the risk owner's acceptance is granted at once; above it a RiskAcceptance is
    ``requested`` at the level's authority and the risk waits in ``pending_acceptance``. A risk that
    already holds a granted acceptance of this instance for the same score is not asked again.
    """
    crit = criteria(ctx)
    start = today(ctx)
    requests, granted = [], []
    for item in risks:
        row = _risk(ctx, item.get("risk_id"), "risks")
        score = int(item.get("actual_residual_score") or item.get("residual_score") or item["inherent_score"])
        lvl = risk_criteria.level_of(score, crit)  # the organisation's levels, as the diagram's st_score
        authority = authority_for(score, crit)
        validity = crit["acceptance_validity"][lvl]
        current = ctx.session.get(RiskAcceptance, row.acceptance_id) if row.acceptance_id else None
        if (current is not None and current.status == "granted" and current.instance_id == ctx.instance.id
                and current.residual_score_at_acceptance == score):
            continue
        pending = ctx.session.scalar(select(RiskAcceptance).where(
            RiskAcceptance.risk_id == row.id, RiskAcceptance.instance_id == ctx.instance.id,
            RiskAcceptance.status == "requested"))
        if pending is None:
            pending = RiskAcceptance(ref=refs.next_ref(ctx.session, "RA"), risk_id=row.id,
                                     residual_score_at_acceptance=score, level=lvl, required_authority=authority,
                                     requested_by_id=user_id(ctx, requested_by), created_at=ctx.clock.now(),
                                     updated_at=ctx.clock.now(),
                                     created_by_id=actor_id(ctx), status="requested")
            ctx.session.add(pending)
        pending.residual_score_at_acceptance, pending.level, pending.required_authority = score, lvl, authority
        _touch(ctx, pending)
        ctx.session.flush()
        if authority == "risk_owner":
            owner = email(ctx, row.owner_id)
            _grant(ctx, row, pending, owner, "risk_owner", start, plus(ctx, validity),
                   "within risk appetite: accepted by the risk owner", None, [])
            granted.append(row.ref)
            continue
        _touch(ctx, row, "pending_acceptance")
        requests.append({"acceptance_id": pending.ref, "risk_id": row.ref, "title": row.title,
                         "residual_score": score, "residual_level": lvl, "authority": authority,
                         "owner_id": email(ctx, row.owner_id), "treatment_option": row.treatment_option,
                         "planned_controls": row.planned_controls,
                         "max_valid_until": plus(ctx, validity).isoformat()})
    ctx.audit("risk_acceptance_routed", requests={r["risk_id"]: r["authority"] for r in requests}, granted=granted)
    return {"acceptance_requests": requests, "granted": granted}


def _grant(ctx: OperatorContext, risk: Risk, acceptance: RiskAcceptance, acceptor: str | None, authority: str,
           valid_from: date, valid_until: date | None, rationale: str, conditions: str | None,
           compensating: list[str]) -> None:
    approval = record_approval(ctx, "risk_acceptance", acceptance.id, acceptance.ref, "accept", "accept", acceptor,
                               authority, rationale, conditions)
    previous = ctx.session.get(RiskAcceptance, risk.acceptance_id) if risk.acceptance_id else None
    if previous is not None and previous.id != acceptance.id and previous.status == "granted":
        _touch(ctx, previous, "superseded")
    acceptance.acceptor_id = user_id(ctx, acceptor)
    acceptance.acceptor_authority_level = authority
    acceptance.decision = "accept"
    acceptance.rationale = rationale
    acceptance.conditions = conditions
    acceptance.compensating_controls = compensating
    acceptance.valid_from, acceptance.valid_until = valid_from, valid_until
    acceptance.approval_id = approval.id
    _touch(ctx, acceptance, "granted")
    risk.acceptance_id = acceptance.id
    ctx.audit("risk_accepted", subject=risk.ref, acceptance=acceptance.ref, by=acceptor, authority=authority,
              residual_score=acceptance.residual_score_at_acceptance,
              valid_until=valid_until.isoformat() if valid_until else None)


# --------------------------------------------------------------------------- R7 one decision

@operator("risk.record_decision")
def record_decision(ctx: OperatorContext, request: dict[str, Any], decision: str, rationale: str,
                    conditions: str | None = None, compensating_controls: list[str] | None = None,
                    valid_until: str | None = None) -> dict[str, Any]:
    """Record one acceptance decision by the user who just made it (R7a), with its Approval row.

    ``escalate_to_higher_authority`` moves the request one level up (never down); the CEO cannot
    escalate further, so the diagram treats that as a refusal.
    """
    acceptance = ctx.session.scalar(select(RiskAcceptance).where(RiskAcceptance.ref == request["acceptance_id"]))
    if acceptance is None:
        raise NotFound(f"no risk acceptance {request['acceptance_id']!r}")
    risk = ctx.session.get(Risk, acceptance.risk_id)
    assert risk is not None
    actor = ctx.actor.email if ctx.actor else None
    authority = request["authority"]
    if decision == "accept_residual_and_approve_plan":
        _grant(ctx, risk, acceptance, actor, authority, today(ctx), as_date(valid_until, "valid_until"), rationale,
               conditions, list(compensating_controls or []))
        return {"outcome": "granted", "authority": authority}
    if decision == "escalate_to_higher_authority" and authority != "ceo":
        higher = AUTHORITY_ORDER[AUTHORITY_ORDER.index(authority) + 1]
        record_approval(ctx, "risk_acceptance", acceptance.id, acceptance.ref, "accept", "escalate", actor,
                        authority, rationale)
        acceptance.required_authority = higher
        _touch(ctx, acceptance)
        ctx.audit("risk_acceptance_escalated", subject=risk.ref, acceptance=acceptance.ref, by=actor,
                  from_authority=authority, to_authority=higher)
        return {"outcome": "escalated", "authority": higher}
    approval = record_approval(ctx, "risk_acceptance", acceptance.id, acceptance.ref, "accept", "refuse", actor,
                               authority, rationale, conditions)
    acceptance.acceptor_id = user_id(ctx, actor)
    acceptance.acceptor_authority_level = authority
    acceptance.decision = "refuse"
    acceptance.rationale = rationale
    acceptance.approval_id = approval.id
    _touch(ctx, acceptance, "refused")
    _touch(ctx, risk, "treatment_planned")
    ctx.audit("risk_acceptance_refused", subject=risk.ref, acceptance=acceptance.ref, by=actor, authority=authority)
    return {"outcome": "refused", "authority": authority}


# --------------------------------------------------------------------------- R8 after the decisions

@operator("risk.record_acceptances")
def record_acceptances(ctx: OperatorContext, risks: list[dict[str, Any]]) -> dict[str, Any]:
    """Move every accepted risk on (R8): ``in_treatment`` when it has open actions, ``monitoring`` when
    retained without any; avoided risks ask for the activity to stop. Returns the refused risks
    (``replan``) and the open actions."""
    actions = _open_actions(ctx)
    with_actions = {a["risk_id"] for a in actions}
    replan, avoided = [], []
    for item in risks:
        row = _risk(ctx, item.get("risk_id"), "risks")
        latest = _latest_acceptance(ctx, row)
        if latest is None or latest.status != "granted":
            replan.append(row.ref)
            continue
        if row.treatment_option == "avoid":
            avoided.append(row.ref)
            ctx.audit("change_requested", subject=row.ref, change="stop_or_redesign",
                      ai_systems=row.ai_system_ids)
        if row.status != "monitoring":
            _touch(ctx, row, "in_treatment" if row.ref in with_actions else "monitoring")
    return {"replan": replan, "avoided": avoided, "actions": actions}


# --------------------------------------------------------------------------- R9 actions

@operator("risk.record_actions")
def record_actions(ctx: OperatorContext, results: list[dict[str, Any]]) -> dict[str, Any]:
    """Store each action's completion (``done``) or blocker (``blocked``) (R9)."""
    blocked = []
    for result in results:
        action = ctx.session.scalar(select(RiskTreatmentAction).where(RiskTreatmentAction.ref == result["action_id"]))
        if action is None:
            raise NotFound(f"no treatment action {result['action_id']!r}")
        if result["status"] == "done":
            action.completed_at = as_date(result.get("completed_at"), "completed_at")
            action.completion_note = result.get("completion_note")
        else:
            blocked.append(result["risk_id"])
        action.evidence = list(result.get("evidence") or [])
        action.blocker = result.get("blocker")
        _touch(ctx, action, result["status"])
    ctx.audit("risk_actions_reported", done=[r["action_id"] for r in results if r["status"] == "done"],
              blocked=[r["action_id"] for r in results if r["status"] != "done"])
    return {"blocked_risks": sorted(set(blocked))}


# --------------------------------------------------------------------------- R10 / R11

@operator("risk.record_residual")
def record_residual(ctx: OperatorContext, confirmations: list[dict[str, Any]]) -> dict[str, Any]:
    """Store the actual residual ratings the risk owners confirmed after treatment (R10)."""
    for item in confirmations:
        row = _risk(ctx, item.get("risk_id"), "confirmations")
        row.actual_residual_likelihood = item["actual_residual_likelihood"]
        row.actual_residual_impact = item["actual_residual_impact"]
        row.details = {**(row.details or {}), "verification": {
            "effectiveness": item["treatment_effectiveness"], "evidence": item.get("verification_evidence") or []}}
        _touch(ctx, row)
        for action in ctx.session.scalars(select(RiskTreatmentAction).where(
                RiskTreatmentAction.risk_id == row.id, RiskTreatmentAction.instance_id == ctx.instance.id,
                RiskTreatmentAction.status == "done")):
            if item["treatment_effectiveness"] != "ineffective":
                _touch(ctx, action, "verified")
    ctx.audit("risk_residual_confirmed",
              scores={c["risk_id"]: c["actual_residual_score"] for c in confirmations})
    return {"count": len(confirmations)}


@operator("risk.set_monitoring")
def set_monitoring(ctx: OperatorContext, risks: list[dict[str, Any]], scope_ref: str) -> dict[str, Any]:
    """Close the assessment (R11): risks to ``monitoring`` with their next review date, and a dated
    snapshot with its sha256 as the 8.2/8.3 record."""
    crit = criteria(ctx)
    snapshot = []
    for item in risks:
        row = _risk(ctx, item.get("risk_id"), "risks")
        if row.status == "closed":
            continue
        latest = _latest_acceptance(ctx, row)
        if latest is not None and latest.status == "granted":
            _touch(ctx, row, "monitoring")  # a refused risk stays unaccepted, for a new assessment
        lvl = row.residual_level or row.inherent_level or "medium"
        row.next_review_at = plus(ctx, crit["review_frequency"][lvl])
        snapshot.append(_summary(ctx, row) | {"next_review_at": row.next_review_at.isoformat(),
                                              "treatment_option": row.treatment_option})
    system = ctx.session.scalar(select(AISystem).where(AISystem.ref == scope_ref))
    if system is not None:
        system.last_risk_assessment_at = today(ctx)
    canonical = json.dumps({"scope": scope_ref, "at": ctx.clock.now().isoformat(), "criteria": crit["version"],
                            "risks": snapshot}, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    for item in snapshot:
        row = _risk(ctx, item["risk_id"], "risks")
        row.details = {**(row.details or {}), "last_assessment": {"instance_id": ctx.instance.id,
                                                                   "snapshot_sha256": digest}}
    ctx.audit("risk_assessment_snapshot", subject=scope_ref, sha256=digest, risks=snapshot)
    return {"snapshot_sha256": digest, "monitored": [s["risk_id"] for s in snapshot]}


@operator("risk.note_dissent")
def note_dissent(ctx: OperatorContext, reason: str, risks: list[dict[str, Any]]) -> dict[str, Any]:
    """Record that the flow goes on despite an unresolved objection (QA returned the assessment three
    times, or acceptance was refused after two replans), for top management to see."""
    recipients = [u.email for u in directory.users_with_role(ctx.session, "top_management")]
    ctx.audit("risk_dissent_recorded", reason=reason, risks=[r.get("risk_id") for r in risks],
              notify=recipients)
    return {"reason": reason, "notify": recipients}
