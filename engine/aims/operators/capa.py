"""Operators of ``aims_nc_capa`` (FLOWS.md (c)): they write the nonconformity register and its
corrective actions, start one ``aims_action`` instance per action and record the effectiveness
verification, reopenings and closure (ISO/IEC 42001 10.2).

Every operator is idempotent within its instance: the NC is the one this instance created, found
again by ``instance_id`` / ref before anything new is written.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from engine.aims import roles
from engine.aims.operators.common import actor_id, as_date, email, plus, record_approval, today, touch, user_id
from engine.aims.registers import AISystem, CorrectiveAction, Nonconformity
from engine.core import directory, refs
from engine.core.clock import UTC, isoformat, parse_datetime
from engine.core.errors import InvalidInput, NotFound
from engine.core.operators import OperatorContext, operator

#: sources whose NC answers to another instance (the audit or the certification cycle that raised it)
EXTERNAL_SOURCES = ("external_audit_stage1", "external_audit_stage2", "surveillance", "recertification")
#: FLOWS.md N4s: deadlines by severity
DEADLINES = {"major": {"containment": "P2D", "rca": "P7D", "check_after": "P30D", "approve": "P3D",
                       "comms": "P1D", "action_horizon": "P90D"},
             "minor": {"containment": "P7D", "rca": "P14D", "check_after": "P60D", "approve": "P5D",
                       "comms": "P3D", "action_horizon": "P180D"}}
#: how long before the certification body's deadline our own work must be done
EXTERNAL_MARGIN = timedelta(days=5)


def nc_of(ctx: OperatorContext, nc_ref: str | None = None) -> Nonconformity:
    """The NC of this instance (or the one named). Raises NotFound."""
    stmt = select(Nonconformity).where(Nonconformity.ref == nc_ref) if nc_ref else \
        select(Nonconformity).where(Nonconformity.instance_id == ctx.instance.id)
    row = ctx.session.scalar(stmt)
    if row is None:
        raise NotFound(f"no nonconformity {nc_ref or 'for instance ' + str(ctx.instance.id)}")
    return row


def _end_of_day(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), UTC)


def _due(ctx: OperatorContext, duration: str, external_due: date | None) -> str:
    """Now + duration, capped at the external deadline minus the margin; an ISO datetime."""
    due = plus(ctx, duration)
    if external_due is not None:
        due = min(due, external_due - EXTERNAL_MARGIN)
    return isoformat(_end_of_day(max(due, today(ctx))))


def _severity(value: str | None) -> str:
    return value if value in DEADLINES else "minor"


# --------------------------------------------------------------------------- N3 create, N4 triage

@operator("nc.create")
def create(ctx: OperatorContext, title: str, description: str, requirement_ref: str, source: str,
           source_ref: str | None, detected_at: str | None, severity: str | None, reported_by: str | None,
           ai_system_refs: list[str] | None = None, external_due_date: str | None = None,
           suggested_severity: str | None = None) -> dict[str, Any]:
    """Register the NC as ``reported`` (N3). A CB-graded severity is fixed for the rest of the flow."""
    row = ctx.session.scalar(select(Nonconformity).where(Nonconformity.instance_id == ctx.instance.id))
    systems = []
    for ref in ai_system_refs or []:
        system = ctx.session.scalar(select(AISystem).where(AISystem.ref == ref))
        if system is None:
            raise NotFound(f"ai_system_refs: no AI system {ref!r}")
        systems.append(system.id)
    if row is None:
        now = ctx.clock.now()
        row = Nonconformity(ref=refs.next_ref(ctx.session, f"NC-{now.year}"), source=source, title=title,
                            created_at=now, updated_at=now, created_by_id=actor_id(ctx), status="reported",
                            instance_id=ctx.instance.id, iso_refs=["10.2"])
        ctx.session.add(row)
    row.source, row.source_ref, row.title, row.description = source, source_ref, title, description
    row.requirement_ref, row.ai_system_ids = requirement_ref, systems
    try:
        row.detected_at = parse_datetime(detected_at) if detected_at else ctx.clock.now()
    except ValueError:
        raise InvalidInput(f"detected_at: {detected_at!r} is not an ISO date or datetime") from None
    row.reported_by_id = user_id(ctx, reported_by)
    row.external_due_date = as_date(external_due_date, "external_due_date")
    row.severity_fixed = source in EXTERNAL_SOURCES and severity in DEADLINES
    row.severity = severity if row.severity_fixed else None
    row.details = {**(row.details or {}), "suggested_severity": suggested_severity}
    ctx.session.flush()
    ctx.set_subject(row.ref)
    org = roles.organisation(ctx.session)
    ctx.audit("nc_reported", subject=row.ref, source=source, source_ref=source_ref, requirement_ref=requirement_ref,
              notify=email(ctx, org.aims_owner_id) if org else None)
    return {"nc_ref": row.ref, "severity_fixed": row.severity_fixed, "severity": row.severity,
            "aims_owner_id": email(ctx, org.aims_owner_id) if org else None}


@operator("nc.triage")
def triage(ctx: OperatorContext, is_nonconformity: str, rationale: str, severity: str | None = None,
           nc_owner_id: str | None = None, plan_approver_id: str | None = None,
           incident_communication_required: bool = False, ai_system_action: str | None = None,
           duplicate_of: str | None = None) -> dict[str, Any]:
    """Record the triage (N4, N4a, N4b) and compute the deadlines by severity (N4s)."""
    row = nc_of(ctx)
    triager = ctx.actor.email if ctx.actor is not None else None
    row.details = {**(row.details or {}), "triage": {"decision": is_nonconformity, "rationale": rationale,
                                                     "by": triager}}
    if is_nonconformity == "no_observation":
        touch(ctx, row, "rejected_not_nc")
        ctx.audit("nc_not_a_nonconformity", subject=row.ref, rationale=rationale, ofi_logged=True,
                  notify=email(ctx, row.reported_by_id))
        return {"route": "not_nc"}
    if is_nonconformity == "duplicate":
        original = ctx.session.scalar(select(Nonconformity).where(Nonconformity.ref == duplicate_of))
        if original is None or original.id == row.id:
            raise InvalidInput(f"duplicate_of: {duplicate_of!r} is not another nonconformity")
        row.duplicate_of_id = original.id
        touch(ctx, row, "duplicate")
        ctx.audit("nc_duplicate", subject=row.ref, duplicate_of=original.ref)
        return {"route": "duplicate"}
    if triager and nc_owner_id == triager:
        raise InvalidInput("nc_owner_id: the triager may not name themselves as the NC owner")
    if nc_owner_id == plan_approver_id:
        raise InvalidInput("plan_approver_id: the plan approver must not be the NC owner (SOD-01)")
    if row.severity_fixed and severity != row.severity:
        raise InvalidInput(f"severity: the certification body graded this NC {row.severity}; it cannot change")
    level = _severity(severity)
    row.severity, row.owner_id, row.plan_approver_id = level, user_id(ctx, nc_owner_id), user_id(ctx, plan_approver_id)
    row.incident_communication_required = bool(incident_communication_required)
    row.ai_system_action = ai_system_action or "none"
    touch(ctx, row, "containment")
    ext = row.external_due_date
    deadlines = {"containment_due_at": _due(ctx, DEADLINES[level]["containment"], ext),
                 "rca_due_at": _due(ctx, DEADLINES[level]["rca"], ext),
                 "comms_due_at": _due(ctx, DEADLINES[level]["comms"], ext),
                 "approve_due_at": _due(ctx, DEADLINES[level]["approve"], ext),
                 "check_after_default": DEADLINES[level]["check_after"]}
    ctx.audit("nc_triaged", subject=row.ref, severity=level, owner=nc_owner_id, plan_approver=plan_approver_id)
    return {"route": "nonconformity", **deadlines}


# --------------------------------------------------------------------------- N5 containment, N6 RCA

@operator("nc.record_containment")
def record_containment(ctx: OperatorContext, containment_actions: str, correction: str, consequences_handled: str,
                       correction_completed_at: str) -> dict[str, Any]:
    """Containment and correction done (N5): the NC moves to root-cause analysis."""
    row = nc_of(ctx)
    row.containment_actions, row.correction, row.consequences_handled = (containment_actions, correction,
                                                                         consequences_handled)
    done = as_date(correction_completed_at, "correction_completed_at")
    row.correction_completed_at = _end_of_day(done) if done else None
    touch(ctx, row, "root_cause_analysis")
    ctx.audit("nc_contained", subject=row.ref)
    return {"rca_due_at": _due(ctx, DEADLINES[_severity(row.severity)]["rca"], row.external_due_date)}


@operator("nc.record_communication")
def record_communication(ctx: OperatorContext, audiences: list[str], message: str, sent_at: str,
                         regulatory_deadline: str, follow_up_needed: bool) -> dict[str, Any]:
    """What was told to whom about the incident (N5a, A.8.4)."""
    row = nc_of(ctx)
    log = list((row.details or {}).get("communications", []))
    log.append({"audiences": audiences, "message": message, "sent_at": sent_at,
                "regulatory_deadline": regulatory_deadline, "follow_up_needed": follow_up_needed,
                "by": ctx.actor.email if ctx.actor is not None else None})
    row.details = {**(row.details or {}), "communications": log}
    touch(ctx, row)
    ctx.audit("nc_incident_communicated", subject=row.ref, audiences=audiences, sent_at=sent_at)
    return {"count": len(log)}


@operator("nc.ai_system_action")
def ai_system_action(ctx: OperatorContext, action: str) -> dict[str, Any]:
    """Suspend (or flag as restricted / rolled back) the AI systems the NC names (N5b)."""
    row = nc_of(ctx)
    changed = []
    for system in ctx.session.scalars(select(AISystem).where(AISystem.id.in_(row.ai_system_ids or [-1]))):
        if action == "suspended":
            touch(ctx, system, "suspended")
        else:
            system.details = {**(system.details or {}), "restriction": {"action": action, "nc": row.ref}}
            touch(ctx, system)
        changed.append(system.ref)
    ctx.audit("ai_system_action_on_nc", subject=row.ref, change=action, systems=changed)
    return {"systems": changed}


@operator("nc.record_root_cause")
def record_root_cause(ctx: OperatorContext, rca_method: str, analysis: str, root_causes: list[dict[str, Any]],
                      similar_ncs_exist: bool, similar_ncs_could_occur: bool, similar_refs: str | None = None,
                      other_areas_affected: str | None = None) -> dict[str, Any]:
    """The root-cause analysis (N6): method, causes by category and the similar-NC check of 10.2 b."""
    row = nc_of(ctx)
    row.rca_method, row.root_causes = rca_method, list(root_causes)
    row.similar_ncs = {"exist": similar_ncs_exist, "could_occur": similar_ncs_could_occur, "refs": similar_refs,
                       "other_areas_affected": other_areas_affected}
    row.details = {**(row.details or {}), "analysis": analysis}
    touch(ctx, row, "action_planning")
    ctx.audit("nc_root_cause", subject=row.ref, method=rca_method, causes=len(root_causes))
    return {"root_cause_count": len(root_causes)}


# --------------------------------------------------------------------------- N7 plan, N8 approval

@operator("nc.record_plan")
def record_plan(ctx: OperatorContext, ca_required: str, aims_change_required: list[str],
                actions: list[dict[str, Any]] | None = None, effectiveness_criteria: str | None = None,
                effectiveness_check_after: str | None = None, no_ca_justification: str | None = None) -> dict[str, Any]:
    """Check and store the corrective-action plan (N7). Actions of an earlier plan that were not
    carried out are cancelled; the new ones are ``planned``. Raises InvalidInput naming the field."""
    row = nc_of(ctx)
    level = _severity(row.severity)
    actions = list(actions or [])
    if ca_required == "no_correction_sufficient" and level != "minor":
        raise InvalidInput("ca_required: 'no_correction_sufficient' is allowed only for a minor nonconformity")
    if ca_required == "yes":
        causes = row.cause_words
        for index, item in enumerate(actions):
            if not 0 <= int(item["addresses_root_cause"]) < len(causes):
                raise InvalidInput(f"actions/{index}/addresses_root_cause: choose one of the root causes found "
                                   "in the analysis")
        uncovered = [causes[i] for i in range(len(causes))
                     if i not in {int(a["addresses_root_cause"]) for a in actions}]
        if len(uncovered) == 1:
            raise InvalidInput(f"actions: no action addresses the root cause “{uncovered[0]}”: add an action for it")
        if uncovered:
            named = ", ".join(f"“{c}”" for c in uncovered[:-1]) + f" and “{uncovered[-1]}”"
            raise InvalidInput(f"actions: no action addresses the root causes {named}: add an action for each")
        limit = row.external_due_date or plus(ctx, DEADLINES[level]["action_horizon"])
        for index, item in enumerate(actions):
            due = as_date(item["due_date"], f"actions/{index}/due_date")
            if due is None or due > limit or due < today(ctx):
                raise InvalidInput(f"actions/{index}/due_date: {item['due_date']} must be between today and "
                                   f"{limit.isoformat()}")
    for old in row.actions:
        if old.status in ("planned", "blocked"):
            old.blocker = old.blocker or "superseded by a new corrective-action plan"
            touch(ctx, old, "cancelled")
    created = []
    now = ctx.clock.now()
    for item in actions if ca_required == "yes" else []:
        action = CorrectiveAction(ref=refs.next_ref(ctx.session, "CA"), nc=row, description=item["description"],
                                  addresses_root_cause=int(item["addresses_root_cause"]),
                                  owner_id=user_id(ctx, item["owner_id"]),
                                  due_date=as_date(item["due_date"], "due_date"), status="planned",
                                  created_at=now, updated_at=now, created_by_id=actor_id(ctx),
                                  instance_id=ctx.instance.id, iso_refs=["10.2"])
        ctx.session.add(action)
        created.append(action)
    ctx.session.flush()
    row.ca_required, row.no_ca_justification = ca_required, no_ca_justification
    row.effectiveness_criteria = effectiveness_criteria
    row.effectiveness_check_after = effectiveness_check_after or DEADLINES[level]["check_after"]
    row.aims_change_required = list(aims_change_required)
    touch(ctx, row, "action_planning")
    owners = sorted({email(ctx, a.owner_id) or "" for a in row.actions if a.status != "cancelled"} - {""})
    ctx.audit("nc_plan", subject=row.ref, ca_required=ca_required, actions=[a.ref for a in created])
    return {"action_refs": [a.ref for a in created], "action_owner_ids": owners,
            "check_at": isoformat(_end_of_day(today(ctx))) if ca_required != "yes" else None}


@operator("nc.record_plan_decision")
def record_plan_decision(ctx: OperatorContext, decision: str, comment: str | None, step: str = "approval"
                         ) -> dict[str, Any]:
    """The plan approver's (or, after two rejections, the AIMS owner's) decision (N8, N8a, N8b)."""
    row = nc_of(ctx)
    approved = decision in ("approve", "approve_plan_as_is")
    record_approval(ctx, "nonconformity", row.id, row.ref, step, decision,
                    ctx.actor.email if ctx.actor is not None else None,
                    "approver" if step == "approval" else "aims_owner", comment=comment,
                    version=row.plan_rework_count)
    if decision in ("reject", "request_rework"):
        row.plan_rework_count += 1
        touch(ctx, row, "action_planning")
    elif approved:
        touch(ctx, row, "plan_approved")
    ctx.audit("nc_plan_decision", subject=row.ref, decision=decision, rework=row.plan_rework_count)
    return {"approved": approved, "plan_rework_count": row.plan_rework_count,
            "external": row.source in EXTERNAL_SOURCES}


@operator("nc.reassign_owner")
def reassign_owner(ctx: OperatorContext, new_owner_id: str) -> dict[str, Any]:
    """The AIMS owner gives the NC to another owner (N8a), who starts again from containment."""
    row = nc_of(ctx)
    previous = email(ctx, row.owner_id)
    if new_owner_id == previous:
        raise InvalidInput(f"new_owner_id: {new_owner_id} already owns this nonconformity")
    row.owner_id = user_id(ctx, new_owner_id)
    touch(ctx, row, "containment")
    ctx.audit("nc_owner_reassigned", subject=row.ref, previous=previous, new=new_owner_id)
    return {"nc_owner_id": new_owner_id}


# --------------------------------------------------------------------------- N9 actions, N10 await

@operator("nc.start_actions")
def start_actions(ctx: OperatorContext, requester_id: str) -> dict[str, Any]:
    """Start one ``aims_action`` instance per planned corrective action (N9); each reports back with
    ``msg_action_done`` or ``msg_action_blocked``."""
    row = nc_of(ctx)
    started = []
    for action in row.actions:
        if action.status != "planned":
            continue
        touch(ctx, action, "in_progress")
        ctx.start_process("aims_action", {
            "description": action.description, "owner_id": email(ctx, action.owner_id),
            "due_date": action.due_date.isoformat() if action.due_date else today(ctx).isoformat(),
            "requester_id": requester_id, "needs_verification": False, "source_ref": row.ref,
            "action_ref": action.ref}, subject=action.ref)
        started.append(action.ref)
    touch(ctx, row, "implementing")
    ctx.audit("nc_actions_started", subject=row.ref, actions=started)
    return {"expected": len(started), "action_refs": started}


@operator("nc.await_effectiveness")
def await_effectiveness(ctx: OperatorContext, check_after: str | None = None) -> dict[str, Any]:
    """All actions done (N10): the check date is the last completion + the check delay, capped at the
    external deadline minus the margin, and never before today."""
    row = nc_of(ctx)
    level = _severity(row.severity)
    finished = [a.completed_at for a in row.actions if a.completed_at is not None and a.status != "cancelled"]
    start = max(finished) if finished else today(ctx)
    delay = check_after or row.effectiveness_check_after or DEADLINES[level]["check_after"]
    check = plus(ctx, delay, datetime.combine(start, time(9), UTC))
    if row.external_due_date is not None:
        check = min(check, row.external_due_date - EXTERNAL_MARGIN)
    check = max(check, today(ctx))
    row.effectiveness_check_at = check
    touch(ctx, row, "effectiveness_review")
    ctx.audit("nc_awaiting_effectiveness", subject=row.ref, check_at=check.isoformat())
    return {"check_at": isoformat(datetime.combine(check, time(0), UTC))}


# --------------------------------------------------------------------------- N11 verification, N13 close

@operator("nc.record_verification")
def record_verification(ctx: OperatorContext, result: str, evidence_reviewed: list[str], criteria_assessment: str,
                        recurrence_observed: bool, lessons_learned: str | None = None) -> dict[str, Any]:
    """The independent verification (N11, SOD-03 checked on the task). Not effective: the NC is
    reopened at root-cause analysis; from the third time on it is also escalated (N11a)."""
    row = nc_of(ctx)
    verifier = ctx.actor.email if ctx.actor is not None else None
    history = list((row.details or {}).get("verifications", []))
    history.append({"result": result, "by": verifier, "at": ctx.clock.now().isoformat(),
                    "evidence_reviewed": evidence_reviewed, "criteria_assessment": criteria_assessment,
                    "recurrence_observed": recurrence_observed})
    row.details = {**(row.details or {}), "verifications": history}
    row.verifier_id, row.effectiveness_result = actor_id(ctx), result
    live = [a for a in row.actions if a.status not in ("cancelled",)]
    escalate = False
    if result == "not_effective":
        escalate = row.reopen_count >= 2
        row.reopen_count += 1
        for action in live:
            if action.status == "completed":
                touch(ctx, action, "ineffective")
        touch(ctx, row, "root_cause_analysis")
    else:
        row.lessons_learned = lessons_learned
        for action in live:
            if action.status == "completed":
                touch(ctx, action, "verified")
        touch(ctx, row)
    ctx.audit("nc_effectiveness_verified", subject=row.ref, result=result, reopen_count=row.reopen_count)
    return {"reopen": result == "not_effective", "escalate": escalate, "reopen_count": row.reopen_count}


@operator("nc.escalate")
def escalate(ctx: OperatorContext) -> dict[str, Any]:
    """Reopened more than twice (N11a): top management is told, and the NC becomes a management-review
    input (``performance_nc_ca_trends``)."""
    row = nc_of(ctx)
    recipients = [u.email for u in directory.users_with_role(ctx.session, "top_management")]
    row.details = {**(row.details or {}), "management_review_input": {
        "category": "performance_nc_ca_trends", "reopen_count": row.reopen_count,
        "at": ctx.clock.now().isoformat()}}
    touch(ctx, row)
    ctx.audit("nc_escalated", subject=row.ref, reopen_count=row.reopen_count, notify=recipients)
    return {"notify": recipients}


@operator("nc.spawn_changes")
def spawn_changes(ctx: OperatorContext, changes: list[str], owner_id: str, requester_id: str) -> dict[str, Any]:
    """One ``aims_action`` per AIMS change the NC requires (N12, 10.2 e), owned by the AIMS owner."""
    row = nc_of(ctx)
    wanted = [c for c in changes if c != "none"]
    for change in wanted:
        ctx.start_process("aims_action", {
            "description": f"Update the AIMS ({change}) after {row.ref}: {row.title}", "owner_id": owner_id,
            "due_date": plus(ctx, "P30D").isoformat(), "requester_id": requester_id, "needs_verification": True,
            "source_ref": row.ref, "notify_source": False}, subject=row.ref)
    ctx.audit("nc_aims_changes", subject=row.ref, changes=wanted)
    return {"changes": wanted}


@operator("nc.close")
def close(ctx: OperatorContext) -> dict[str, Any]:
    """Close the NC (N13): closed by the verifier, with the date."""
    row = nc_of(ctx)
    row.closed_at, row.closed_by_id = ctx.clock.now(), row.verifier_id or actor_id(ctx)
    touch(ctx, row, "closed")
    ctx.audit("nc_closed", subject=row.ref, reopen_count=row.reopen_count, source_ref=row.source_ref)
    return {"nc_ref": row.ref, "source": row.source, "source_ref": row.source_ref, "result": "effective",
            "severity": row.severity}
