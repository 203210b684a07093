"""Operators of ``aims_internal_audit`` (FLOWS.md (b2)), first half: the audit register row from
appointment to fieldwork, auditor independence and competence (SOD-02, 7.2), the plan and its
checklist, the auditees' preparation and the checklist results. ``audit_report.py`` holds the second
half (findings, responses and disputes, the report, NCs and follow-up).

Every operator is idempotent within its instance: findings are found again by their refs
(``IA-2026-04-F1``), the report document by the audit's ref, and a finding that already raised its NC
is not raised twice.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.aims import catalogue, roles
from engine.aims.operators.common import actor_id, as_date, email, record_approval, today, touch, user_id
from engine.aims.registers import (
    AISystem,
    Audit,
    AuditFinding,
    AuditProgramme,
    ImpactAssessment,
    Risk,
    SoAVersion,
    TrainingRecord,
)
from engine.core import directory, refs
from engine.core.errors import ConflictError, InvalidInput, NotFound
from engine.core.models import InstanceState, ProcessInstance, User
from engine.core.operators import OperatorContext, operator

#: audits that were carried out (their scope counts as audited)
DONE_AUDIT_STATES = ("report_issued", "follow_up", "closed")
#: nonconformity states that end its handling
CLOSED_NC_STATES = ("closed", "rejected_not_nc", "duplicate", "withdrawn")
NC_TYPES = ("major_nc", "minor_nc")
#: training requirement that makes an internal auditor competent (7.2)
AUDITOR_COMPETENCE = "iso42001_internal_auditor"
#: SOD-02 looks back this far for own work
LOOKBACK = timedelta(days=365)


# --------------------------------------------------------------------------- helpers shared with the programme



def applicable_controls(session: Session) -> list[str]:
    """Annex A controls the latest SoA marks applicable (all 38 when there is no SoA yet)."""
    soa = session.scalar(select(SoAVersion).order_by(SoAVersion.id.desc()).limit(1))
    if soa is None or not soa.entries:
        return catalogue.control_ids()
    applicable = {e.control.control_id for e in soa.entries if e.applicable}
    return [c for c in catalogue.control_ids() if c in applicable]


def new_audit_ref(session: Session, year: int) -> str:
    """The next free ``IA-<year>-nn`` (skipping refs the demo or an import already used)."""
    while True:
        ref = refs.next_ref(session, f"IA-{year}", width=2)
        if session.scalar(select(Audit.id).where(Audit.ref == ref)) is None:
            return ref


def audit_row(ctx: OperatorContext, ref: str) -> Audit:
    row = ctx.session.scalar(select(Audit).where(Audit.ref == ref))
    if row is None:
        raise NotFound(f"no internal audit {ref!r}")
    return row


def emails_of(ctx: OperatorContext, ids: list[int | None] | list[int] | None) -> list[str]:
    return [e for e in (email(ctx, i) for i in ids or []) if e]


def findings_of(ctx: OperatorContext, audit: Audit) -> list[AuditFinding]:
    return list(ctx.session.scalars(select(AuditFinding).where(AuditFinding.audit_id == audit.id)
                                    .order_by(AuditFinding.id)))


def finding_view(ctx: OperatorContext, f: AuditFinding) -> dict[str, Any]:
    return {"finding_ref": f.ref, "type": f.type, "clause_or_control": f.clause_or_control,
            "statement": f.statement, "auditee_id": (f.details or {}).get("auditee_id"), "status": f.status}


def _systems_in_scope(ctx: OperatorContext, audit: Audit) -> list[AISystem]:
    refs_ = (audit.scope or {}).get("ai_systems") or []
    return list(ctx.session.scalars(select(AISystem).where(AISystem.ref.in_(refs_)))) if refs_ else []


def _control_owners(ctx: OperatorContext, controls: list[str]) -> dict[str, int]:
    """control id -> owner id in the latest SoA, for ``controls``."""
    soa = ctx.session.scalar(select(SoAVersion).order_by(SoAVersion.id.desc()).limit(1))
    if soa is None:
        return {}
    return {e.control.control_id: e.control_owner_id for e in soa.entries
            if e.control.control_id in controls and e.control_owner_id is not None}


def _eod(value: date) -> str:
    return f"{value.isoformat()}T23:59:59+00:00"


# --------------------------------------------------------------------------- open, team, independence

@operator("audit.open")
def open_audit(ctx: OperatorContext, audit_ref: str | None = None,
               unplanned: dict[str, Any] | None = None) -> dict[str, Any]:
    """Take the planned audit ``audit_ref`` (or create an unplanned one) for this instance. Raises
    NotFound, ConflictError (the audit is closed, cancelled or carried out by another instance)."""
    now = ctx.clock.now()
    if audit_ref:
        audit = audit_row(ctx, audit_ref)
        if audit.status in ("closed", "cancelled"):
            raise ConflictError(f"audit {audit_ref} is {audit.status}")
        if audit.instance_id not in (None, ctx.instance.id):
            other = ctx.session.get(ProcessInstance, audit.instance_id)
            if other is not None and other.process_id == "aims_internal_audit" \
                    and other.status == InstanceState.RUNNING:
                raise ConflictError(f"audit {audit_ref} is already being carried out by instance {other.id}")
    elif unplanned:
        found = ctx.session.scalar(select(Audit).where(Audit.instance_id == ctx.instance.id))
        if found is not None:
            audit = found
        else:
            start = as_date(unplanned["planned_start"], "unplanned/planned_start")
            end = as_date(unplanned["planned_end"], "unplanned/planned_end")
            assert start is not None and end is not None
            if end < start:
                raise InvalidInput(f"unplanned/planned_end: {end} is before planned_start {start}")
            current = ctx.session.scalar(select(AuditProgramme).where(
                AuditProgramme.status.in_(("approved", "in_execution"))).order_by(AuditProgramme.id.desc()).limit(1))
            audit = Audit(ref=new_audit_ref(ctx.session, start.year), programme_id=current.id if current else None,
                          title=unplanned["title"], objectives=unplanned.get("objectives") or "", status="planned",
                          scope={"clauses": list(unplanned.get("scope_clauses") or []),
                                 "controls": list(unplanned.get("scope_controls") or []),
                                 "ai_systems": list(unplanned.get("scope_ai_systems") or [])},
                          criteria=["ISO/IEC 42001:2023"], planned_start=start, planned_end=end,
                          method=unplanned["method"], created_at=now, updated_at=now, created_by_id=actor_id(ctx),
                          instance_id=ctx.instance.id, iso_refs=["9.2.1", "9.2.2"],
                          details={"unplanned": True, "reason": unplanned.get("reason")})
            ctx.session.add(audit)
            ctx.session.flush()
    else:
        raise InvalidInput("name a planned audit (audit_ref) or describe an unplanned one (unplanned)")
    touch(ctx, audit)
    ctx.set_subject(audit.ref)
    org = roles.organisation(ctx.session)
    ctx.audit("internal_audit_opened", subject=audit.ref, unplanned=bool((audit.details or {}).get("unplanned")))
    return {"audit_ref": audit.ref, "title": audit.title, "scope": audit.scope,
            "planned_start": audit.planned_start.isoformat() if audit.planned_start else None,
            "planned_end": audit.planned_end.isoformat() if audit.planned_end else None, "method": audit.method,
            "proposed_lead_auditor": email(ctx, audit.lead_auditor_id),
            "aims_owner_id": email(ctx, org.aims_owner_id) if org else None}


def _own_work(ctx: OperatorContext, audit: Audit, auditor: User) -> list[dict[str, str]]:
    """What ``auditor`` owned, operated, assessed or approved in the audit's scope (SOD-02)."""
    since = ctx.clock.now() - LOOKBACK
    found: list[dict[str, str]] = []
    systems = _systems_in_scope(ctx, audit)
    for system in systems:
        if auditor.id in (system.system_owner_id, system.business_sponsor_id):
            found.append({"item": system.ref, "reason": "owns or sponsors this AI system"})
    system_ids = {s.id for s in systems}
    if system_ids:
        for risk in ctx.session.scalars(select(Risk).where(Risk.updated_at >= since)):
            if system_ids.intersection(risk.ai_system_ids or []) and auditor.id in (risk.owner_id, risk.assessor_id):
                found.append({"item": risk.ref, "reason": "owns or assessed this risk of an AI system in scope"})
        for aiia in ctx.session.scalars(select(ImpactAssessment).where(ImpactAssessment.ai_system_id.in_(system_ids),
                                                                       ImpactAssessment.updated_at >= since)):
            if auditor.id in (aiia.assessor_id, aiia.approver_id) or auditor.id in (aiia.reviewer_ids or []):
                found.append({"item": aiia.ref, "reason": "assessed, reviewed or approved this impact assessment"})
    for control, owner in _control_owners(ctx, list((audit.scope or {}).get("controls") or [])).items():
        if owner == auditor.id:
            found.append({"item": control, "reason": "owns this control"})
    if {"9.2.1", "9.2.2"}.intersection((audit.scope or {}).get("clauses") or []):
        led = ctx.session.scalars(select(Audit.ref).where(Audit.lead_auditor_id == auditor.id, Audit.id != audit.id,
                                                          Audit.updated_at >= since))
        for ref in led:
            found.append({"item": "9.2", "reason": f"led internal audit {ref}: auditing 9.2 would audit own work"})
    return found


def _reporting_line(ctx: OperatorContext, audit: Audit, auditor: User) -> list[dict[str, str]]:
    """Owners of what is in scope who report to the auditor's own manager (SOD-02, second sentence)."""
    if auditor.manager_id is None:
        return []
    owners = {s.system_owner_id for s in _systems_in_scope(ctx, audit)}
    owners.update(_control_owners(ctx, list((audit.scope or {}).get("controls") or [])).values())
    out = []
    for owner_id in sorted(o for o in owners if o is not None and o != auditor.id):
        owner = ctx.session.get(User, owner_id)
        if owner is not None and owner.manager_id == auditor.manager_id:
            out.append({"item": owner.email, "reason": "reports to the same manager as the auditor"})
    return out


def competent(ctx: OperatorContext, who: User) -> bool:
    """A completed, unexpired ``iso42001_internal_auditor`` training record (7.2)."""
    from engine.aims.registers import CompetenceRequirement

    requirement = ctx.session.scalar(select(CompetenceRequirement.id)
                                     .where(CompetenceRequirement.ref == AUDITOR_COMPETENCE))
    if requirement is None:
        return False
    now = today(ctx)
    for record in ctx.session.scalars(select(TrainingRecord).where(TrainingRecord.user_id == who.id,
                                                                   TrainingRecord.requirement_id == requirement)):
        if record.status == "completed" and (record.expires_at is None or record.expires_at >= now):
            return True
    return False


@operator("audit.check_independence")
def check_independence(ctx: OperatorContext, audit_ref: str, lead_auditor_id: str,
                       team_ids: list[str] | None = None, technical_expert: str | None = None) -> dict[str, Any]:
    """Record the appointed team (Audit -> ``team_assigned``) and check each auditor (I2): own work in
    scope over the last 12 months (SOD-02), a shared manager with the owners in scope (reporting line,
    flagged separately) and a valid internal-auditor training record (7.2)."""
    audit = audit_row(ctx, audit_ref)
    team = [t for t in dict.fromkeys(team_ids or []) if t != lead_auditor_id]
    conflicts: list[dict[str, str]] = []
    reporting: list[dict[str, str]] = []
    not_competent: list[str] = []
    for address in [lead_auditor_id] + team:
        auditor = directory.user_by_email(ctx.session, address)
        conflicts.extend({"auditor": auditor.email, **c} for c in _own_work(ctx, audit, auditor))
        reporting.extend({"auditor": auditor.email, **r} for r in _reporting_line(ctx, audit, auditor))
        if not competent(ctx, auditor):
            not_competent.append(auditor.email)
    audit.lead_auditor_id = user_id(ctx, lead_auditor_id)
    audit.team_ids = [i for i in (user_id(ctx, t) for t in team) if i is not None]
    result = {"own_work_conflicts": conflicts, "reporting_line": reporting,
              "reporting_line_only": bool(reporting) and not conflicts, "competent": not not_competent,
              "not_competent": not_competent,
              "exception_needed": bool(conflicts or reporting or not_competent)}
    audit.details = {**(audit.details or {}), "technical_expert": technical_expert, "independence_check": result}
    touch(ctx, audit, "team_assigned")
    ctx.audit("audit_team_checked", subject=audit_ref, lead=lead_auditor_id, team=team,
              conflicts=len(conflicts), reporting_line=len(reporting), not_competent=not_competent)
    return result


@operator("audit.record_independence_exception")
def record_independence_exception(ctx: OperatorContext, audit_ref: str, decision: str, independence: dict[str, Any],
                                  justification: str | None = None, external_firm: str | None = None,
                                  external_auditor_name: str | None = None,
                                  contract_ref: str | None = None) -> dict[str, Any]:
    """Top management's decision on an independence exception (I1a), kept as an Approval and on the
    audit. Raises InvalidInput for a reporting-line exception while an own-work conflict or a missing
    competence stands (those need another auditor or an external one)."""
    audit = audit_row(ctx, audit_ref)
    if decision == "accept_reporting_line_exception" and (independence.get("own_work_conflicts")
                                                          or independence.get("not_competent")):
        raise InvalidInput("decision: a reporting-line exception cannot be accepted while an auditor audits their "
                           "own work or lacks the internal-auditor competence; reassign the team or engage an "
                           "external auditor")
    approval = record_approval(ctx, "internal_audit", audit.id, audit.ref, "independence", decision,
                               ctx.actor.email if ctx.actor else None, "top_management", justification,
                               conditions={"external_firm": external_firm, "contract_ref": contract_ref,
                                           "external_auditor_name": external_auditor_name} if external_firm else None)
    audit.details = {**(audit.details or {}), "independence_exception": {
        "decision": decision, "justification": justification, "external_firm": external_firm,
        "external_auditor_name": external_auditor_name, "contract_ref": contract_ref, "approval_id": approval.id}}
    touch(ctx, audit)
    return {"decision": decision}


@operator("audit.record_declarations")
def record_declarations(ctx: OperatorContext, audit_ref: str, declarations: list[dict[str, Any]]) -> dict[str, Any]:
    """Each auditor's signed declaration of independence and confidentiality (I3)."""
    audit = audit_row(ctx, audit_ref)
    now = ctx.clock.now().isoformat()
    audit.independence_declarations = [
        {"user_id": d["auditor_id"], "no_conflict": d["no_conflict"], "conflicts": d.get("conflicts_disclosed"),
         "confidentiality_ack": d["confidentiality_ack"], "signed_at": now} for d in declarations]
    touch(ctx, audit)
    return {"count": len(declarations)}


@operator("audit.schedule")
def schedule(ctx: OperatorContext, audit_ref: str) -> dict[str, Any]:
    """Due dates of the plan (no later than 5 days before the start, at most 10 days away), the
    planned start the flow waits for, and the end of fieldwork (planned end + 1 day)."""
    audit = audit_row(ctx, audit_ref)
    now = ctx.clock.now()
    if audit.planned_start is None or audit.planned_end is None:
        raise InvalidInput(f"audit {audit_ref} has no planned dates")
    latest = datetime.combine(audit.planned_start - timedelta(days=5), datetime.min.time(), now.tzinfo)
    plan_due = max(min(now + timedelta(days=10), latest), now + timedelta(days=1))
    return {"plan_due": plan_due.isoformat(), "planned_start_iso": f"{audit.planned_start.isoformat()}T00:00:00+00:00",
            "fieldwork_due": _eod(audit.planned_end + timedelta(days=1))}


# --------------------------------------------------------------------------- plan and preparation

def _checklist(ctx: OperatorContext, audit: Audit, clauses: list[str], controls: list[str]) -> list[dict[str, Any]]:
    titles = {c.clause_id: c.title for c in catalogue.clauses()} | {c.control_id: c.title for c in catalogue.controls()}
    items: list[dict[str, Any]] = [{"item_ref": ref, "question": f"Is {ref} ({titles.get(ref, ref)}) implemented and "
                                                                "effective?"} for ref in clauses + controls]
    earlier = ctx.session.scalars(select(AuditFinding).where(
        AuditFinding.audit_id != audit.id, AuditFinding.type.in_(NC_TYPES + ("observation",)),
        AuditFinding.status.not_in(("closed", "withdrawn"))).order_by(AuditFinding.ref))
    for finding in earlier:
        if finding.clause_or_control in clauses + controls:
            items.append({"item_ref": finding.clause_or_control, "follow_up_of": finding.ref,
                          "question": f"Follow-up of {finding.ref}: {finding.statement}"})
    return items


@operator("audit.issue_plan")
def issue_plan(ctx: OperatorContext, audit_ref: str, objectives: str, scope: dict[str, Any], criteria: list[str],
               methods: list[str], schedule: list[dict[str, Any]], sampling_approach: str, auditee_ids: list[str],
               documents_requested: list[str] | None = None) -> dict[str, Any]:
    """Generate the checklist (one item per clause and control in scope, plus follow-ups of earlier
    findings still open) and issue the plan (I4, I5): Audit -> ``plan_issued``; the auditees are told.

    Raises InvalidInput when the scope grows beyond the planned one or narrows without a comment, an
    auditor is also an auditee (SOD-02), or a slot lies outside the planned dates or names no auditee.
    """
    audit = audit_row(ctx, audit_ref)
    planned = audit.scope or {}
    for key in ("clauses", "controls", "ai_systems"):
        extra = [r for r in scope.get(key) or [] if r not in (planned.get(key) or [])]
        if extra:
            raise InvalidInput(f"scope/{key}: {', '.join(extra)} is outside the planned scope of {audit_ref}; "
                               "plan another audit for it")
    narrowed = any(len(scope.get(k) or []) < len(planned.get(k) or []) for k in ("clauses", "controls", "ai_systems"))
    if narrowed and not scope.get("narrowing_comment"):
        raise InvalidInput("scope/narrowing_comment: say why the scope is narrower than planned")
    auditors = set(emails_of(ctx, [audit.lead_auditor_id] + list(audit.team_ids or [])))
    clash = sorted(auditors.intersection(auditee_ids))
    if clash:
        raise InvalidInput(f"auditee_ids: {', '.join(clash)} is on the audit team and cannot be audited by it (SOD-02)")
    assert audit.planned_start is not None and audit.planned_end is not None
    for index, slot in enumerate(schedule):
        day = as_date(slot["date"], f"schedule/{index}/date")
        assert day is not None
        if not audit.planned_start <= day <= audit.planned_end:
            raise InvalidInput(f"schedule/{index}/date: {day} is outside the audit dates "
                               f"{audit.planned_start}..{audit.planned_end}")
        if slot["auditee_id"] not in auditee_ids:
            raise InvalidInput(f"schedule/{index}/auditee_id: {slot['auditee_id']} is not among the auditees")
    clauses, controls = list(scope.get("clauses") or []), list(scope.get("controls") or [])
    audit.objectives = objectives
    audit.scope = {"clauses": clauses, "controls": controls, "ai_systems": list(scope.get("ai_systems") or []),
                   "processes": list(scope.get("processes") or []), "units": list(scope.get("units") or [])}
    audit.criteria = criteria
    audit.auditee_ids = [i for i in (user_id(ctx, a) for a in auditee_ids) if i is not None]
    audit.checklist = _checklist(ctx, audit, clauses, controls)
    audit.details = {**(audit.details or {}), "plan": {
        "methods": methods, "schedule": schedule, "sampling_approach": sampling_approach,
        "documents_requested": documents_requested or [], "narrowing_comment": scope.get("narrowing_comment")}}
    touch(ctx, audit, "plan_issued")
    now = ctx.clock.now()
    latest = datetime.combine(audit.planned_start - timedelta(days=1), datetime.min.time(), now.tzinfo)
    prep_due = max(min(now + timedelta(days=5), latest), now + timedelta(hours=12))
    ctx.audit("audit_plan_issued", subject=audit_ref, auditees=auditee_ids, checklist_items=len(audit.checklist))
    return {"checklist": audit.checklist, "schedule": schedule, "prep_due": prep_due.isoformat(),
            "auditee_requests": [{"auditee_id": a, "slots": [s for s in schedule if s["auditee_id"] == a]}
                                 for a in auditee_ids]}


@operator("audit.record_auditee_prep")
def record_auditee_prep(ctx: OperatorContext, audit_ref: str, responses: list[dict[str, Any]]) -> dict[str, Any]:
    """The auditees' confirmations, proposed slots and documents (I6)."""
    audit = audit_row(ctx, audit_ref)
    prep = [{"auditee_id": r["auditee_id"], "availability": r["availability"],
             "proposed_slot": r.get("proposed_slot"), "documents_provided": r.get("documents_provided") or [],
             "comments": r.get("comments")} for r in responses]
    rounds = list((audit.details or {}).get("auditee_prep_rounds") or [])
    rounds.append(prep)
    audit.details = {**(audit.details or {}), "auditee_prep_rounds": rounds}
    touch(ctx, audit)
    new_slots = [{"auditee_id": p["auditee_id"], "proposed_slot": p["proposed_slot"]}
                 for p in prep if p["availability"] == "propose_new_slot"]
    return {"new_slot_requested": bool(new_slots), "new_slots": new_slots}


# --------------------------------------------------------------------------- fieldwork and findings

def _key(item: dict[str, Any]) -> tuple[str, str | None]:
    return item["item_ref"], item.get("follow_up_of")


@operator("audit.record_fieldwork")
def record_fieldwork(ctx: OperatorContext, audit_ref: str, opening_meeting_held: bool,
                     checklist: list[dict[str, Any]], interviews_held: list[dict[str, Any]],
                     samples: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The checklist results (I8): Audit -> ``fieldwork``. Raises InvalidInput when a checklist item has
    no result or a result names an item that is not on the checklist."""
    audit = audit_row(ctx, audit_ref)
    planned = {_key(i): i for i in audit.checklist or []}
    given = {_key(i): i for i in checklist}
    unknown = [f"{k[0]}" + (f" (follow-up of {k[1]})" if k[1] else "") for k in given if k not in planned]
    if unknown:
        raise InvalidInput(f"checklist: {', '.join(unknown)} is not on the checklist of {audit_ref}")
    missing = [f"{k[0]}" + (f" (follow-up of {k[1]})" if k[1] else "") for k in planned if k not in given]
    if missing:
        raise InvalidInput(f"checklist: every item needs a result; missing {', '.join(missing)}")
    audit.checklist = [{**planned[k], **{f: given[k].get(f) for f in ("result", "evidence_refs", "notes",
                                                                         "not_assessed_reason")}}
                       for k in planned]
    audit.actual_start = audit.actual_start or today(ctx)
    audit.details = {**(audit.details or {}), "fieldwork": {
        "opening_meeting_held": opening_meeting_held, "interviews_held": interviews_held, "samples": samples or []}}
    touch(ctx, audit, "fieldwork")
    nc_items = sorted({i["item_ref"] for i in audit.checklist if i["result"] in NC_TYPES})
    ctx.audit("audit_fieldwork_recorded", subject=audit_ref, results={
        r: sum(1 for i in audit.checklist if i["result"] == r)
        for r in ("conforming", "minor_nc", "major_nc", "observation", "ofi", "not_assessed")})
    return {"nc_items": nc_items}
