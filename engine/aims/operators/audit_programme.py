"""Operators of ``aims_audit_programme`` (FLOWS.md (b1)): the internal audit programme of a fiscal year,
its coverage of clauses 4.1-10.2 and of the applicable Annex A controls, its approval, the planned audits
it creates and the coverage it achieved.

Idempotent within an instance: the programme is found again by its ref (``IAP-<period>``), the audits
it created by the instance that created them.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from engine.aims import catalogue, roles
from engine.aims.operators.audit import CLOSED_NC_STATES, DONE_AUDIT_STATES, applicable_controls, new_audit_ref, touch
from engine.aims.operators.common import actor_id, as_date, record_approval, today
from engine.aims.registers import AISystem, Audit, AuditFinding, AuditProgramme, CertificationCycle, Nonconformity
from engine.core import directory
from engine.core.errors import ConflictError, InvalidInput, NotFound
from engine.core.operators import OperatorContext, operator

#: how long one certification cycle lasts: every required item is audited at least once in it
CYCLE_YEARS = 3


def programme(ctx: OperatorContext, ref: str) -> AuditProgramme:
    row = ctx.session.scalar(select(AuditProgramme).where(AuditProgramme.ref == ref))
    if row is None:
        raise NotFound(f"no audit programme {ref!r}")
    return row


def _fiscal_year(ctx: OperatorContext) -> tuple[date, date]:
    """The next fiscal year that starts after today (from the organisation's ``fiscal_year_start``)."""
    org = roles.organisation(ctx.session)
    anchor = as_date((org.details or {}).get("fiscal_year_start") if org else None, "fiscal_year_start")
    now = today(ctx)
    month, day = (anchor.month, anchor.day) if anchor else (1, 1)
    start = date(now.year, month, min(day, 28))
    while start <= now:
        start = date(start.year + 1, month, start.day)
    return start, date(start.year + 1, month, start.day) - timedelta(days=1)


def _scope_items(audit: Audit) -> list[str]:
    scope = audit.scope or {}
    return list(scope.get("clauses") or []) + list(scope.get("controls") or [])


@operator("audit.programme_seed")
def programme_seed(ctx: OperatorContext, period: str | None = None, fy_start: str | None = None,
                   fy_end: str | None = None, cert_target_stage1: str | None = None) -> dict[str, Any]:
    """Open the programme (status ``draft``) and propose its coverage (P1): every clause 4.1-10.2 and
    every control the SoA marks applicable are required; high-tier AI systems, areas with open NCs or a
    major finding in the last 12 months, and items not audited in the current 3-year cycle are due this
    year. Raises ConflictError when another programme of the period exists."""
    default_start, default_end = _fiscal_year(ctx)
    start = as_date(fy_start, "fy_start") or default_start
    end = as_date(fy_end, "fy_end") or (date(start.year + 1, start.month, start.day) - timedelta(days=1))
    if end <= start:
        raise InvalidInput(f"fy_end: {end} is not after fy_start {start}")
    period = period or f"FY{start.year}"
    ref = f"IAP-{period}"
    row = ctx.session.scalar(select(AuditProgramme).where(AuditProgramme.ref == ref))
    now = ctx.clock.now()
    if row is not None and row.instance_id != ctx.instance.id:
        raise ConflictError(f"the audit programme {ref} already exists (status {row.status}); "
                            "revise it instead of starting another")
    if row is None:
        row = AuditProgramme(ref=ref, period=period, status="draft", created_at=now, updated_at=now,
                             created_by_id=actor_id(ctx), instance_id=ctx.instance.id, iso_refs=["9.2.2"],
                             cycle_coverage_rule="all clauses 4.1-10.2 and all applicable Annex A controls at least "
                                                 f"once per {CYCLE_YEARS}-year certification cycle; high-risk "
                                                 "areas each year")
        ctx.session.add(row)
    required = catalogue.clause_ids() + applicable_controls(ctx.session)
    due = _due_this_year(ctx, required)
    stage1 = as_date(cert_target_stage1, "cert_target_stage1")
    if stage1 is None:
        cycle = ctx.session.scalar(select(CertificationCycle).order_by(CertificationCycle.id.desc()).limit(1))
        stage1 = cycle.target_stage1_date if cycle is not None else None
    row.details = {**(row.details or {}), "fy_start": start.isoformat(), "fy_end": end.isoformat(),
                   "required_items": required, "due_this_year": due,
                   "cert_target_stage1": stage1.isoformat() if stage1 else None}
    ctx.session.flush()
    ctx.set_subject(ref)
    ctx.audit("audit_programme_opened", subject=ref, period=period, required=len(required), due_this_year=len(due))
    org = roles.organisation(ctx.session)
    return {"programme_ref": ref, "period": period, "fy_start": start.isoformat(), "fy_end": end.isoformat(),
            "fy_end_iso": f"{end.isoformat()}T23:59:59+00:00", "required_items": required, "due_this_year": due,
            "cert_target_stage1": stage1.isoformat() if stage1 else None,
            "aims_owner_id": directory.email_of(ctx.session, org.aims_owner_id) if org else None}


def _due_this_year(ctx: OperatorContext, required: list[str]) -> list[dict[str, str]]:
    session = ctx.session
    due: list[dict[str, str]] = []
    for system in session.scalars(select(AISystem).where(AISystem.impact_tier == "high",
                                                         AISystem.in_aims_scope.is_(True)).order_by(AISystem.ref)):
        due.append({"item": system.ref, "reason": "high-tier AI system"})
    for nc in session.scalars(select(Nonconformity).where(Nonconformity.status.not_in(CLOSED_NC_STATES))
                              .order_by(Nonconformity.ref)):
        if nc.requirement_ref:
            due.append({"item": nc.requirement_ref, "reason": f"open nonconformity {nc.ref}"})
    year_ago = ctx.clock.now() - timedelta(days=365)
    for finding in session.scalars(select(AuditFinding).where(AuditFinding.type == "major_nc",
                                                              AuditFinding.created_at >= year_ago)):
        if finding.clause_or_control:
            due.append({"item": finding.clause_or_control, "reason": f"major finding {finding.ref}"})
    cycle_start = today(ctx) - timedelta(days=365 * CYCLE_YEARS)
    audited: set[str] = set()
    for audit in session.scalars(select(Audit).where(Audit.status.in_(DONE_AUDIT_STATES))):
        if audit.planned_start is None or audit.planned_start >= cycle_start:
            audited.update(_scope_items(audit))
    due.extend({"item": item, "reason": f"not audited in the current {CYCLE_YEARS}-year cycle"}
               for item in required if item not in audited)
    return due


@operator("audit.record_programme_draft")
def record_programme_draft(ctx: OperatorContext, programme_ref: str, period: str, objectives: str,
                           audits: list[dict[str, Any]], frequency_rationale: str, resources: str,
                           external_auditor_needed: bool, required_items: list[str],
                           coverage_gap_justification: str | None = None,
                           cert_target_stage1: str | None = None) -> dict[str, Any]:
    """Store the drafted programme (``pending_approval``) and check its coverage (P2s): ``uncovered``
    lists the required clauses and controls no planned audit covers; ``late_for_cert`` says an audit
    ends later than 30 days before the stage 1 target. Raises InvalidInput for an audit ending before
    it starts."""
    row = programme(ctx, programme_ref)
    covered: list[str] = []
    ends = []
    for index, item in enumerate(audits):
        start, end = as_date(item["planned_start"], "planned_start"), as_date(item["planned_end"], "planned_end")
        assert start is not None and end is not None
        if end < start:
            raise InvalidInput(f"audits/{index}/planned_end: {end} is before planned_start {start}")
        ends.append(end)
        for ref in list(item.get("scope_clauses") or []) + list(item.get("scope_controls") or []):
            if ref not in covered:
                covered.append(ref)
    uncovered = [item for item in required_items if item not in covered]
    stage1 = as_date(cert_target_stage1, "cert_target_stage1")
    late = bool(stage1 and ends and max(ends) > stage1 - timedelta(days=30))
    row.period = period
    row.objectives = objectives
    row.frequency_rationale = frequency_rationale
    row.coverage_plan = [{"clause_or_control": ref, "planned_audit_ref": f"audit {index + 1}"}
                         for index, item in enumerate(audits)
                         for ref in list(item.get("scope_clauses") or []) + list(item.get("scope_controls") or [])]
    row.details = {**(row.details or {}), "audits": audits, "resources": resources,
                   "external_auditor_needed": external_auditor_needed,
                   "coverage_gap_justification": coverage_gap_justification, "uncovered": uncovered,
                   "late_for_cert": late}
    touch(ctx, row, "pending_approval")
    ctx.audit("audit_programme_drafted", subject=programme_ref, audits=len(audits), uncovered=uncovered,
              late_for_cert=late)
    return {"uncovered": uncovered, "covered": len(covered), "late_for_cert": late}


@operator("audit.record_programme_decision")
def record_programme_decision(ctx: OperatorContext, programme_ref: str, decision: str,
                              comment: str | None = None) -> dict[str, Any]:
    """The Approval record of top management's decision (P3); approved, or back to ``draft``."""
    row = programme(ctx, programme_ref)
    approval = record_approval(ctx, "audit_programme", row.id, row.ref, "approval", decision,
                               ctx.actor.email if ctx.actor else None, "top_management", comment)
    if decision == "approve":
        row.approved_by_id, row.approved_at, row.approval_id = actor_id(ctx), ctx.clock.now(), approval.id
        touch(ctx, row, "approved")
    else:
        touch(ctx, row, "draft")
    return {"decision": decision, "approval_id": approval.id}


@operator("audit.create_audits")
def create_audits(ctx: OperatorContext, programme_ref: str) -> dict[str, Any]:
    """Create one ``planned`` Audit per programme line (P4); the programme goes ``in_execution``. Each
    audit records when ``aims_internal_audit`` should start for it (``planned_start - P30D``)."""
    row = programme(ctx, programme_ref)
    mine = list(ctx.session.scalars(select(Audit).where(Audit.programme_id == row.id,
                                                        Audit.instance_id == ctx.instance.id).order_by(Audit.id)))
    planned = (row.details or {}).get("audits") or []
    now = ctx.clock.now()
    for index, item in enumerate(planned[len(mine):], start=len(mine)):
        start, end = as_date(item["planned_start"], "planned_start"), as_date(item["planned_end"], "planned_end")
        assert start is not None
        lead = directory.find_user(ctx.session, item.get("proposed_lead_auditor"))
        audit = Audit(ref=new_audit_ref(ctx.session, start.year), programme_id=row.id, title=item["title"],
                      status="planned", scope={"clauses": list(item.get("scope_clauses") or []),
                                               "controls": list(item.get("scope_controls") or []),
                                               "ai_systems": list(item.get("scope_ai_systems") or [])},
                      criteria=["ISO/IEC 42001:2023"], planned_start=start, planned_end=end, method=item["method"],
                      lead_auditor_id=lead.id if lead else None, created_at=now, updated_at=now,
                      created_by_id=actor_id(ctx), instance_id=ctx.instance.id, iso_refs=["9.2.1", "9.2.2"],
                      details={"programme_line": index + 1,
                               "start_flow_at": (start - timedelta(days=30)).isoformat()})
        ctx.session.add(audit)
        ctx.session.flush()
        mine.append(audit)
    refs_by_line = {f"audit {a.details['programme_line']}": a.ref for a in mine}
    row.coverage_plan = [{**c, "planned_audit_ref": refs_by_line.get(c["planned_audit_ref"], c["planned_audit_ref"])}
                         for c in row.coverage_plan or []]
    touch(ctx, row, "in_execution")
    ctx.audit("audits_planned", subject=programme_ref, audits=[a.ref for a in mine])
    return {"audits": [a.ref for a in mine]}


@operator("audit.programme_close")
def programme_close(ctx: OperatorContext, programme_ref: str) -> dict[str, Any]:
    """At the year end (P6): the coverage achieved by the audits carried out, the audits not done, and
    the management-review input ``performance_audit_results``; the programme is ``completed``."""
    row = programme(ctx, programme_ref)
    audits = list(ctx.session.scalars(select(Audit).where(Audit.programme_id == row.id).order_by(Audit.ref)))
    done = [a for a in audits if a.status in DONE_AUDIT_STATES]
    achieved = sorted({item for a in done for item in _scope_items(a)})
    required = (row.details or {}).get("required_items") or []
    not_done = [a.ref for a in audits if a.status not in DONE_AUDIT_STATES]
    missing = [item for item in required if item not in achieved]
    findings = list(ctx.session.scalars(select(AuditFinding).where(AuditFinding.audit_id.in_([a.id for a in done]))))
    summary = (f"{len(done)} of {len(audits)} planned audits carried out; {len(required) - len(missing)} of "
               f"{len(required)} required items covered; findings: "
               + ", ".join(f"{t} {sum(1 for f in findings if f.type == t)}"
                           for t in ("major_nc", "minor_nc", "observation", "ofi")))
    row.details = {**(row.details or {}), "coverage_achieved": achieved, "not_covered": missing,
                   "audits_not_done": not_done,
                   "mr_input": {"category": "performance_audit_results", "summary": summary}}
    touch(ctx, row, "completed")
    ctx.audit("audit_programme_closed", subject=programme_ref, audits_not_done=not_done, not_covered=len(missing))
    return {"audits_done": [a.ref for a in done], "audits_not_done": not_done, "not_covered": missing,
            "summary": summary}
