"""Operators of ``aims_management_review`` (FLOWS.md (g)): the management review register row from
scheduling to closure, the inputs of 9.3.2 (compiled from the registers or provided by their owners) and
their coverage, the input pack and the minutes as published DocumentVersions, the quorum, and the
decisions and actions of 9.3.3 handed to ``aims_action`` and ``aims_policy_review``.

Idempotent within an instance: the review is found by its ref, system inputs are replaced rather than
added twice, decisions by their code (``D1``) and actions by the instance that created them.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from engine.aims import roles
from engine.aims.operators.common import actor_id, as_date, email, record_approval, touch, user_id
from engine.aims.registers import (
    AISystem,
    Audit,
    AuditFinding,
    CertificationCycle,
    ContextIssue,
    Document,
    DocumentVersion,
    ImpactAssessment,
    InterestedParty,
    ManagementReview,
    Nonconformity,
    PartyRequirement,
    ReviewAction,
    ReviewDecision,
    Risk,
    Supplier,
)
from engine.core import directory, refs
from engine.core.clock import parse_datetime
from engine.core.errors import ConflictError, InvalidInput, NotFound
from engine.core.models import HumanTask, InstanceState, ProcessInstance, TaskState, User
from engine.core.operators import OperatorContext, operator

#: 9.3.2 categories every review must cover (FLOWS.md M4s)
REQUIRED = ("prev_actions_status", "context_changes", "interested_party_changes", "performance_nc_ca_trends",
            "performance_monitoring_results", "performance_audit_results", "improvement_opportunities")
#: categories compiled from the registers (M3)
SYSTEM = ("prev_actions_status", "performance_nc_ca_trends", "performance_monitoring_results",
          "performance_audit_results", "risk_status", "aiia_status", "certification_status")
#: categories a person provides, to which the registers add what changed in the period (context issues,
#: interested parties and their requirements, suppliers); they still need the person's input
REGISTER_FACTS = ("context_changes", "interested_party_changes", "supplier_performance")
#: decision types that need an owner: at least one action (M10 starts aims_action for them)
NEED_ACTION = ("objective_change", "resource_need")


def review(ctx: OperatorContext, ref: str) -> ManagementReview:
    row = ctx.session.scalar(select(ManagementReview).where(ManagementReview.ref == ref))
    if row is None:
        raise NotFound(f"no management review {ref!r}")
    return row


def _last_closed(ctx: OperatorContext, exclude: int | None = None) -> ManagementReview | None:
    stmt = select(ManagementReview).where(ManagementReview.status == "closed")
    if exclude is not None:
        stmt = stmt.where(ManagementReview.id != exclude)
    return ctx.session.scalar(stmt.order_by(ManagementReview.held_at.desc()).limit(1))


# --------------------------------------------------------------------------- M1, M2

@operator("review.create")
def create(ctx: OperatorContext, review_ref: str | None = None, ad_hoc: bool = False,
           reason: str | None = None) -> dict[str, Any]:
    """Open the planned review ``review_ref`` or a new one (M1); the period covered starts at the last
    closed review. Raises NotFound, ConflictError (closed, or run by another instance)."""
    now = ctx.clock.now()
    if review_ref:
        row = review(ctx, review_ref)
        if row.status == "closed":
            raise ConflictError(f"management review {review_ref} is closed")
        other = ctx.session.get(ProcessInstance, row.instance_id) if row.instance_id else None
        if other is not None and other.id != ctx.instance.id and other.status == InstanceState.RUNNING and \
                other.process_id == "aims_management_review":
            raise ConflictError(f"management review {review_ref} is already run by instance {other.id}")
    else:
        found = ctx.session.scalar(select(ManagementReview).where(ManagementReview.instance_id == ctx.instance.id))
        if found is None:
            year = now.year
            while True:
                ref = refs.next_ref(ctx.session, f"MR-{year}", width=1)
                if ctx.session.scalar(select(ManagementReview.id).where(ManagementReview.ref == ref)) is None:
                    break
            found = ManagementReview(ref=ref, status="planned", created_at=now, updated_at=now,
                                     created_by_id=actor_id(ctx), instance_id=ctx.instance.id,
                                     iso_refs=["9.3.1", "9.3.2", "9.3.3"])
            ctx.session.add(found)
        row = found
    last = _last_closed(ctx, row.id)
    row.period_start = last.held_at.date() if last is not None and last.held_at else (now - timedelta(days=365)).date()
    row.details = {**(row.details or {}), "ad_hoc": bool(ad_hoc), "reason": reason}
    touch(ctx, row, "planned")
    ctx.session.flush()
    ctx.set_subject(row.ref)
    org = roles.organisation(ctx.session)
    ctx.audit("management_review_opened", subject=row.ref, ad_hoc=bool(ad_hoc))
    return {"review_ref": row.ref, "period_start": row.period_start.isoformat(),
            "aims_owner_id": email(ctx, org.aims_owner_id) if org else None,
            "chair_id": email(ctx, row.chair_id), "system_categories": list(SYSTEM),
            "planned_at": row.planned_at.isoformat() if row.planned_at else None}


def _iso(value: datetime) -> str:
    return value.isoformat()


@operator("review.record_schedule")
def record_schedule(ctx: OperatorContext, review_ref: str, planned_at: str, chair_id: str, attendees: list[str],
                    agenda: str, input_requests: list[dict[str, Any]], ad_hoc: bool = False) -> dict[str, Any]:
    """The meeting, chair, attendees and input requests (M2); MR -> ``collecting_inputs``.

    Raises InvalidInput: a meeting less than 30 days ahead (7 for an ad hoc review), an input due later
    than 10 days before the meeting, or a required category that the system does not compile and nobody
    is asked for. Returns the dates the flow waits for.
    """
    row = review(ctx, review_ref)
    meeting = parse_datetime(planned_at)
    lead = timedelta(days=7 if ad_hoc else 30)
    if meeting < ctx.clock.now() + lead:
        raise InvalidInput(f"planned_at: the meeting must be at least {lead.days} days ahead "
                           f"(on or after {(ctx.clock.now() + lead).date()})")
    people = {chair_id, *attendees}  # the chair (top management, by the form) attends: 9.3.1
    latest = (meeting - timedelta(days=10)).date()
    for index, request in enumerate(input_requests):
        due = as_date(request["due"], f"input_requests/{index}/due")
        assert due is not None
        if due > latest:
            raise InvalidInput(f"input_requests/{index}/due: {due} is later than 10 days before the meeting "
                               f"({latest})")
    asked = {r["category"] for r in input_requests}
    missing = [c for c in REQUIRED if c not in SYSTEM and c not in asked]
    if missing:
        raise InvalidInput(f"input_requests: nobody is asked for {', '.join(missing)}")
    row.planned_at = meeting
    row.chair_id = user_id(ctx, chair_id)
    row.attendees = [{"user_id": a, "present": None} for a in sorted(people)]
    row.details = {**(row.details or {}), "agenda": agenda, "input_requests": input_requests}
    touch(ctx, row, "collecting_inputs")
    ctx.audit("management_review_scheduled", subject=row.ref, planned_at=_iso(meeting), chair=chair_id,
              attendees=sorted(people))
    return {"planned_at_iso": _iso(meeting), "inputs_deadline_iso": _iso(meeting - timedelta(days=7)),
            "pack_due": _iso(meeting - timedelta(days=5)), "minutes_due": _iso(meeting + timedelta(days=5)),
            "requests": input_requests}


# --------------------------------------------------------------------------- M3 system inputs

def _count(ctx: OperatorContext, rows: list[Any], key: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for row in rows:
        value = str(getattr(row, key) or "unknown")
        out[value] = out.get(value, 0) + 1
    return out


def _changes(rows: list[Any], since: datetime, words: Any) -> dict[str, list[str]]:
    """The rows added, changed and retired since ``since``, each as ``words(row)``."""
    out: dict[str, list[str]] = {"added": [], "changed": [], "retired": []}
    for row in rows:
        if row.retired_at is not None and row.retired_at >= since:
            out["retired"].append(words(row))
        elif row.retired_at is None and row.created_at >= since:
            out["added"].append(words(row))
        elif row.retired_at is None and row.updated_at >= since:
            out["changed"].append(words(row))
    return out


def _register_facts(ctx: OperatorContext, since: datetime) -> dict[str, dict[str, Any]]:
    """9.3.2 b, c and the suppliers' performance from the registers: what changed in the period in the
    context issues, the interested parties and their requirements, and the suppliers' assessments. A
    register with no rows gives nothing."""
    session, today = ctx.session, ctx.clock.now().date()
    facts: dict[str, dict[str, Any]] = {}
    issues = list(session.scalars(select(ContextIssue).order_by(ContextIssue.ref)))
    if issues:
        live = [i for i in issues if i.retired_at is None and i.status != "closed"]
        facts["context_changes"] = {
            "register": "context_issues", "open": len(live),
            "by_kind": {k: sum(i.kind == k for i in live) for k in ("external", "internal")},
            **_changes(issues, since, lambda i: f"{i.ref} ({i.kind}, {i.status}): {i.description}"),
            "review_overdue": [f"{i.ref} was due for review on {i.next_review_at}" for i in live
                               if i.next_review_at is not None and i.next_review_at < today]}
    parties = list(session.scalars(select(InterestedParty).order_by(InterestedParty.ref)))
    if parties:
        names = {p.id: p.name for p in parties}
        requirements = list(session.scalars(select(PartyRequirement).order_by(PartyRequirement.ref)))
        facts["interested_party_changes"] = {
            "register": "interested_parties",
            "parties": sum(p.retired_at is None and p.status == "active" for p in parties),
            "parties_changed": _changes(parties, since, lambda p: f"{p.ref} {p.name} ({p.party_type})"),
            "requirements_changed": _changes(requirements, since, lambda r: (
                f"{r.ref} of {names.get(r.party_id, '?')}: {r.requirement}")),
            "not_addressed": [f"{r.ref} of {names.get(r.party_id, '?')}: {r.requirement} "
                              f"({r.how_addressed or 'no reason given'})"
                              for r in requirements if r.retired_at is None and r.status != "withdrawn"
                              and not r.addressed_by_aims]}
    suppliers = [s for s in session.scalars(select(Supplier).order_by(Supplier.ref)) if s.retired_at is None]
    if suppliers:
        facts["supplier_performance"] = {
            "register": "suppliers", "by_status": _count(ctx, suppliers, "status"),
            "assessed": [f"{s.ref} {s.name}: {(s.last_assessment_result or '').replace('_', ' ')} on "
                         f"{s.last_assessed_at}" for s in suppliers
                         if s.last_assessed_at is not None and s.last_assessed_at >= since.date()],
            "not_assessed": [f"{s.ref} {s.name}" for s in suppliers if s.last_assessed_at is None
                             and s.status != "ended"],
            "assessment_overdue": [f"{s.ref} {s.name}: due {s.assessment_due}" for s in suppliers
                                   if s.assessment_due is not None and s.assessment_due < today
                                   and s.status != "ended"],
            "conditions": {s.ref: s.conditions for s in suppliers if s.conditions and s.status != "ended"},
            "suspended_or_ended": [f"{s.ref} {s.name} ({s.status})" for s in suppliers
                                   if s.status in ("suspended", "ended") and s.updated_at >= since]}
    return facts


@operator("review.compile_system_inputs")
def compile_system_inputs(ctx: OperatorContext, review_ref: str) -> dict[str, Any]:
    """The inputs built from the registers (M3): earlier review actions, NC trends, objectives, audit
    results, risks, impact assessments, certification status, and the register facts behind the changes
    in context issues and interested parties and the suppliers' performance (``REGISTER_FACTS``); a
    register with nothing for the period gives no input. Replaces the system inputs of an earlier run."""
    row = review(ctx, review_ref)
    since = datetime.combine(row.period_start or date(2000, 1, 1), datetime.min.time(), ctx.clock.now().tzinfo)
    session = ctx.session
    previous = [a for a in session.scalars(select(ReviewAction).where(ReviewAction.review_id != row.id)
                                           .order_by(ReviewAction.ref))]
    ncs = list(session.scalars(select(Nonconformity).where(Nonconformity.created_at >= since)))
    open_ncs = [n for n in session.scalars(select(Nonconformity).where(Nonconformity.status != "closed"))]
    audits = list(session.scalars(select(Audit).where(Audit.updated_at >= since)))
    findings = list(session.scalars(select(AuditFinding).where(AuditFinding.created_at >= since)))
    risks = list(session.scalars(select(Risk).where(Risk.status != "closed")))
    from engine.aims.objectives import performance
    from engine.aims.registers import AIObjective

    today = ctx.clock.now().date()
    objectives = list(session.scalars(select(AIObjective).where(AIObjective.retired_at.is_(None))
                                      .order_by(AIObjective.ref)))
    aiias = list(session.scalars(select(ImpactAssessment)))
    cycle = session.scalar(select(CertificationCycle).order_by(CertificationCycle.id.desc()).limit(1))
    compiled: dict[str, Any] = {
        "prev_actions_status": {"by_status": _count(ctx, previous, "status"),
                                "open": [f"{a.ref}: {a.description}" for a in previous if a.status == "open"]},
        "performance_nc_ca_trends": {"raised": len(ncs), "by_source": _count(ctx, ncs, "source"),
                                     "by_severity": _count(ctx, ncs, "severity"), "open": len(open_ncs),
                                     "reopened": sum(1 for n in ncs if n.reopen_count)},
        "performance_monitoring_results": {"objectives": [
            p.to_dict(today) | {"summary": p.words(today)} for p in performance(session, objectives)]},
        "performance_audit_results": {"audits": {a.ref: a.status for a in audits},
                                      "findings": _count(ctx, findings, "type")},
        "risk_status": {"open": len(risks), "by_level": _count(ctx, risks, "residual_level")},
        "aiia_status": {"by_status": _count(ctx, aiias, "status"),
                        "systems": session.scalar(select(func.count(AISystem.id))) or 0},
        "certification_status": {"cycle": cycle.ref, "status": cycle.status} if cycle else {"cycle": None},
    }
    # a register with nothing for the period gives no input: the category is then asked of a person
    if not previous:
        compiled.pop("prev_actions_status")
    if not audits and not findings:
        compiled.pop("performance_audit_results")
    if not objectives:
        compiled.pop("performance_monitoring_results")
    compiled |= _register_facts(ctx, since)
    inputs = [i for i in row.inputs or [] if i.get("provider_id") != "system"]
    now = ctx.clock.now().isoformat()
    for category, content in compiled.items():
        inputs.append({"category": category, "provider_id": "system", "summary": json.dumps(content, sort_keys=True),
                       "nothing_to_report": False, "provided_at": now})
    row.inputs = inputs
    touch(ctx, row)
    return {"categories": list(compiled),
            "register_facts": {c: _in_words(c, compiled[c], since.date()) for c in REGISTER_FACTS if c in compiled}}


def _in_words(category: str, facts: dict[str, Any], since: date) -> str:
    """One sentence of a category's register facts, for the person asked to provide that input."""
    if category == "context_changes":
        changed = {k: len(facts[k]) for k in ("added", "changed", "retired")}
        return (f"{facts['open']} open context issues ({facts['by_kind']['external']} external, "
                f"{facts['by_kind']['internal']} internal); since {since}: {changed['added']} added, "
                f"{changed['changed']} changed, {changed['retired']} retired; "
                f"{len(facts['review_overdue'])} past their review date.")
    if category == "interested_party_changes":
        parties = sum(len(v) for v in facts["parties_changed"].values())
        requirements = sum(len(v) for v in facts["requirements_changed"].values())
        return (f"{facts['parties']} interested parties; since {since}: {parties} parties and {requirements} "
                f"requirements added, changed or retired; {len(facts['not_addressed'])} requirements not "
                "addressed by the AIMS.")
    return (f"{sum(facts['by_status'].values())} suppliers; since {since}: {len(facts['assessed'])} assessed; "
            f"{len(facts['not_assessed'])} never assessed; {len(facts['assessment_overdue'])} assessments overdue.")


# --------------------------------------------------------------------------- M4 inputs

def _missing(row: ManagementReview) -> list[str]:
    """Required categories nobody covered; the register facts of a category a person provides do not
    cover it."""
    covered = {i["category"] for i in row.inputs or [] if (i.get("summary") or i.get("nothing_to_report"))
               and not (i.get("provider_id") == "system" and i["category"] in REGISTER_FACTS)}
    return sorted(set(REQUIRED) - covered)


def _input(item: dict[str, Any], provider: str | None, at: str | None) -> dict[str, Any]:
    return {"category": item.get("category"), "provider_id": provider, "summary": item.get("summary"),
            "nothing_to_report": bool(item.get("nothing_to_report")), "key_messages": item.get("key_messages") or [],
            "proposed_decisions": item.get("proposed_decisions") or [], "attachments": item.get("attachments") or [],
            "provided_at": at}


def _input_tasks(ctx: OperatorContext) -> list[HumanTask]:
    return list(ctx.session.scalars(select(HumanTask).where(HumanTask.instance_id == ctx.instance.id,
                                                            HumanTask.task_spec == "ut_mr_provide_input")
                                    .order_by(HumanTask.id)))


@operator("review.record_inputs")
def record_inputs(ctx: OperatorContext, review_ref: str, inputs: list[dict[str, Any]]) -> dict[str, Any]:
    """The inputs of one round as their owners provided them (M4) and the 9.3.2 coverage check (M4s):
    ``missing`` required categories, whether there is ``time_left`` to ask again (more than 7 days
    before the meeting) and the due date of such a request."""
    row = review(ctx, review_ref)
    now = ctx.clock.now()
    row.inputs = list(row.inputs or []) + [_input(i, i.get("provider_id"), now.isoformat()) for i in inputs]
    row.details = {**(row.details or {}), "input_task_ids": [t.id for t in _input_tasks(ctx)]}
    touch(ctx, row)
    missing = _missing(row)
    assert row.planned_at is not None
    deadline = row.planned_at - timedelta(days=7)
    due = min(now + timedelta(days=3), deadline)
    return {"missing": missing, "time_left": now < deadline, "rerequest_due": due.date().isoformat()}


@operator("review.record_input_gap")
def record_input_gap(ctx: OperatorContext, review_ref: str) -> dict[str, Any]:
    """Collection stopped 7 days before the meeting (M4t): the inputs already given in the interrupted
    round are kept (from the task rows: what was submitted, by whom) and the missing categories recorded."""
    row = review(ctx, review_ref)
    recorded = set((row.details or {}).get("input_task_ids") or [])
    late = [t for t in _input_tasks(ctx) if t.state == TaskState.COMPLETED and t.id not in recorded]
    row.inputs = list(row.inputs or []) + [
        _input(t.submitted or {}, email(ctx, t.completed_by_id), t.completed_at.isoformat() if t.completed_at else None)
        for t in late]
    missing = _missing(row)
    row.details = {**(row.details or {}), "missing_inputs": missing,
                   "input_task_ids": sorted(recorded | {t.id for t in late})}
    touch(ctx, row)
    ctx.audit("management_review_inputs_missing", subject=row.ref, missing=missing)
    return {"missing": missing}


# --------------------------------------------------------------------------- M5, M6 pack

def _publish(ctx: OperatorContext, row: ManagementReview, kind: str, title: str, content: dict[str, Any],
             author: int | None) -> DocumentVersion:
    """Publish ``content`` as version 1.0 (or the next) of the review's ``kind`` document, with its sha256."""
    now = ctx.clock.now()
    doc_ref = f"DOC-{kind}-{row.ref}"
    doc = ctx.session.scalar(select(Document).where(Document.ref == doc_ref))
    if doc is None:
        doc = Document(ref=doc_ref, title=title, doc_type="minutes" if kind == "MRM" else "report", owner_id=author,
                       status="active", created_at=now, updated_at=now, created_by_id=actor_id(ctx),
                       instance_id=ctx.instance.id, iso_refs=["9.3.2"] if kind == "MRP" else ["9.3.3"])
        ctx.session.add(doc)
        ctx.session.flush()
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()
    current = next((v for v in doc.versions if v.id == doc.current_version_id), None)
    if current is not None and current.sha256 == digest:
        return current
    number = f"1.{len(doc.versions)}" if doc.versions else "1.0"
    for other in doc.versions:
        if other.status == "published":
            other.status, other.superseded_at, other.updated_at = "superseded", now, now
    version = DocumentVersion(document_id=doc.id, version=number, status="published", change_type="major",
                              content_ref=f"generated:{doc_ref}", sha256=digest, author_id=author,
                              approver_id=actor_id(ctx), approved_at=now, effective_from=now.date(), created_at=now,
                              updated_at=now, instance_id=ctx.instance.id, details={"content": content})
    ctx.session.add(version)
    ctx.session.flush()
    doc.current_version_id = version.id
    return version


@operator("review.issue_pack")
def issue_pack(ctx: OperatorContext, review_ref: str, pack_summary: str, key_issues: list[str],
               proposed_decisions: list[str] | None = None, gaps_explanation: str | None = None) -> dict[str, Any]:
    """Publish the input pack (M6) and send it to the attendees; MR -> ``pack_issued``. Raises
    InvalidInput when a required category is missing and the gap is not explained."""
    row = review(ctx, review_ref)
    missing = _missing(row)
    if missing and not gaps_explanation:
        raise InvalidInput(f"gaps_explanation: explain why {', '.join(missing)} is missing from the pack")
    content = {"review": row.ref, "planned_at": str(row.planned_at), "summary": pack_summary,
               "key_issues": key_issues, "proposed_decisions": proposed_decisions or [], "inputs": row.inputs,
               "missing": missing, "gaps_explanation": gaps_explanation}
    version = _publish(ctx, row, "MRP", f"Management review input pack {row.ref}", content, actor_id(ctx))
    row.input_pack_document_version_id = version.id
    row.details = {**(row.details or {}), "missing_inputs": missing}
    touch(ctx, row, "pack_issued")
    ctx.audit("management_review_pack_issued", subject=row.ref, sha256=version.sha256,
              recipients=[a["user_id"] for a in row.attendees or []])
    return {"version_id": version.id, "sha256": version.sha256, "missing": missing}


# --------------------------------------------------------------------------- M8 minutes

@operator("review.record_minutes")
def record_minutes(ctx: OperatorContext, review_ref: str, held_at: str, attendance: list[dict[str, Any]],
                   discussion: list[dict[str, Any]], conclusion_suitability: dict[str, str],
                   conclusion_adequacy: dict[str, str], conclusion_effectiveness: dict[str, str],
                   decisions: list[dict[str, Any]], actions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The minutes (M8): MR -> ``meeting_held``. Returns the quorum (a top-management member present,
    9.3.1), the minute taker and who approves the minutes: the chair, or another top-management member
    present when the chair took them (SOD-07).

    Raises InvalidInput: a required category not discussed, an action pointing at no decision, or a
    resource or objective decision without an action (its owner)."""
    row = review(ctx, review_ref)
    discussed = {d["category"] for d in discussion}
    skipped = [c for c in REQUIRED if c not in discussed]
    if skipped:
        raise InvalidInput(f"discussion: every 9.3.2 input is discussed; missing {', '.join(skipped)}")
    for index, action in enumerate(actions or []):
        if action["decision_index"] >= len(decisions):
            raise InvalidInput(f"actions/{index}/decision_index: there are only {len(decisions)} decisions")
    for index, decision in enumerate(decisions):
        if decision["type"] in NEED_ACTION and not any(a["decision_index"] == index for a in actions or []):
            raise InvalidInput(f"decisions/{index}: a {decision['type']} decision needs an action with an owner")
    for person in attendance:
        directory.user_by_email(ctx.session, person["user_id"])
    taker = ctx.actor.email if isinstance(ctx.actor, User) else None
    tops = {u.email for u in directory.users_with_role(ctx.session, "top_management")}
    present_tops = [a["user_id"] for a in attendance if a["present"] and a["user_id"] in tops]
    chair = email(ctx, row.chair_id)
    approver = chair if chair in present_tops and chair != taker else \
        next((p for p in present_tops if p != taker), None)
    row.held_at = parse_datetime(held_at)
    row.attendees = [{"user_id": a["user_id"], "present": a["present"]} for a in attendance]
    row.conclusions = {"suitability": conclusion_suitability, "adequacy": conclusion_adequacy,
                       "effectiveness": conclusion_effectiveness}
    row.minutes_author_id = actor_id(ctx)
    row.details = {**(row.details or {}), "minutes": {"discussion": discussion, "decisions": decisions,
                                                      "actions": actions or []}}
    touch(ctx, row, "meeting_held")
    return {"quorum": bool(present_tops), "minute_taker_id": taker, "minutes_approver_id": approver}


@operator("review.reschedule")
def reschedule(ctx: OperatorContext, review_ref: str) -> dict[str, Any]:
    """No top-management member was present (M8r): MR -> ``rescheduled``; the second time the CEO is told."""
    row = review(ctx, review_ref)
    count = int((row.details or {}).get("reschedule_count", 0)) + 1
    row.details = {**(row.details or {}), "reschedule_count": count}
    touch(ctx, row, "rescheduled")
    org = roles.organisation(ctx.session)
    ceo = email(ctx, org.ceo_id) if org else None
    ctx.audit("management_review_rescheduled", subject=row.ref, count=count,
              notified=[ceo] if count >= 2 and ceo else [])
    return {"reschedule_count": count}


@operator("review.record_minutes_decision")
def record_minutes_decision(ctx: OperatorContext, review_ref: str, decision: str,
                            comment: str | None = None) -> dict[str, Any]:
    """The chair's (or a top-management attendee's) decision on the minutes (M9) as an Approval."""
    row = review(ctx, review_ref)
    approval = record_approval(ctx, "management_review", row.id, row.ref, "sign_off", decision,
                               ctx.actor.email if ctx.actor else None, "top_management", comment)
    touch(ctx, row, "minutes_in_approval" if decision == "approve" else "meeting_held")
    return {"decision": decision, "approval_id": approval.id}


# --------------------------------------------------------------------------- M10 publish and follow through

def _document_review(ctx: OperatorContext, row: ManagementReview, decision: ReviewDecision,
                     doc: Document | None) -> str | None:
    """Start ``aims_policy_review`` of ``doc`` for a decision, unless one is running already."""
    if doc is None:
        return None
    running = ctx.session.scalar(select(ProcessInstance.id).where(
        ProcessInstance.process_id == "aims_policy_review", ProcessInstance.status == InstanceState.RUNNING,
        ProcessInstance.subject == doc.ref))
    if running is not None:
        ctx.audit("management_review_decision_joined_review", subject=row.ref, decision=decision.code,
                  document=doc.ref, instance_id=running)
        return None
    ctx.start_process("aims_policy_review", {"document_ref": doc.ref, "trigger": "management_review",
                                             "source_ref": f"{row.ref} {decision.code}",
                                             "reason": decision.description})
    return doc.ref


@operator("review.publish_minutes")
def publish_minutes(ctx: OperatorContext, review_ref: str) -> dict[str, Any]:
    """Publish the approved minutes (M10; 9.3.3 evidence), write the ReviewDecision and ReviewAction rows,
    start one ``aims_action`` per action (verified by the chair when its priority is high) and an
    ``aims_policy_review`` for a policy, risk-criteria or scope change; MR -> ``closed``. Earlier
    reviews' actions are marked as reviewed."""
    row = review(ctx, review_ref)
    minutes = (row.details or {}).get("minutes") or {}
    now = ctx.clock.now()
    content = {"review": row.ref, "held_at": str(row.held_at), "attendees": row.attendees,
               "conclusions": row.conclusions, **minutes}
    version = _publish(ctx, row, "MRM", f"Management review minutes {row.ref}", content, row.minutes_author_id)
    row.minutes_document_version_id = version.id
    row.minutes_approved_by_id, row.minutes_approved_at = actor_id(ctx), now
    existing = {d.code: d for d in row.decisions}
    decisions = []
    for index, item in enumerate(minutes.get("decisions") or [], start=1):
        code = f"D{index}"
        decision = existing.get(code) or ReviewDecision(review_id=row.id, code=code, type=item["type"],
                                                        description=item["description"])
        decision.type, decision.description, decision.rationale = item["type"], item["description"], item["rationale"]
        ctx.session.add(decision)
        decisions.append(decision)
    ctx.session.flush()
    chair = email(ctx, row.chair_id)
    started: list[str] = []
    mine = list(ctx.session.scalars(select(ReviewAction).where(ReviewAction.review_id == row.id)
                                    .order_by(ReviewAction.id)))
    for index, item in enumerate((minutes.get("actions") or [])[len(mine):], start=len(mine)):
        decision = decisions[item["decision_index"]]
        action = ReviewAction(ref=refs.next_ref(ctx.session, "MRA"), review_id=row.id, decision_id=decision.id,
                              description=item["description"], owner_id=user_id(ctx, item["owner_id"]),
                              due_date=as_date(item["due_date"], f"actions/{index}/due_date"), status="open",
                              created_at=now, updated_at=now, created_by_id=actor_id(ctx),
                              instance_id=ctx.instance.id, iso_refs=["9.3.3", "10.1"])
        ctx.session.add(action)
        ctx.session.flush()
        ctx.start_process("aims_action", {
            "description": item["description"], "owner_id": item["owner_id"], "due_date": item["due_date"],
            "requester_id": chair or item["owner_id"], "needs_verification": item["priority"] == "high",
            "source_ref": row.ref, "action_ref": action.ref}, subject=action.ref)
        started.append(action.ref)
    reviews = []
    for decision in decisions:
        if decision.type == "policy_change":
            doc = ctx.session.scalar(select(Document).where(Document.doc_type == "ai_policy").limit(1))
        elif decision.type == "risk_criteria_change":
            doc = ctx.session.scalar(select(Document).where(Document.doc_type == "risk_methodology").limit(1))
        elif decision.type == "scope_change":
            doc = ctx.session.scalar(select(Document).where(Document.doc_type == "scope").limit(1))
        else:
            if decision.type in ("improvement_opportunity", "aims_change"):
                ctx.audit("management_review_improvement", subject=row.ref, decision=decision.code,
                          type=decision.type, description=decision.description)
            continue
        reviews.append(_document_review(ctx, row, decision, doc))
    earlier = [a.ref for a in ctx.session.scalars(select(ReviewAction).where(ReviewAction.review_id != row.id))]
    row.details = {**(row.details or {}), "previous_actions_reviewed": earlier}
    touch(ctx, row, "closed")
    ctx.audit("management_review_closed", subject=row.ref, minutes_sha256=version.sha256,
              decisions=[d.code for d in decisions], actions=started, document_reviews=[r for r in reviews if r])
    return {"minutes_version_id": version.id, "actions": started, "document_reviews": [r for r in reviews if r]}
