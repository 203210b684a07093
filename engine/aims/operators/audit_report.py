"""Operators of ``aims_internal_audit`` (FLOWS.md (b2)), second half: findings, auditee responses and
disputes, arbitration, the report (a published DocumentVersion with its sha256), the SoA effectiveness
it updates, the nonconformities it hands to ``aims_nc_capa`` and the follow-up until they are closed.

Idempotent within the instance: findings are found again by their refs (``IA-2026-04-F1``), the report
document by the audit's ref, and a finding that already raised its NC is not raised twice.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select

from engine.aims import roles
from engine.aims.operators.audit import (
    CLOSED_NC_STATES,
    NC_TYPES,
    audit_row,
    emails_of,
    finding_view,
    findings_of,
    touch,
)
from engine.aims.operators.common import actor_id, email, record_approval, today, user_id
from engine.aims.registers import Audit, AuditFinding, Document, DocumentVersion, Nonconformity, SoAEntry, SoAVersion
from engine.core import directory
from engine.core.errors import InvalidInput
from engine.core.models import InstanceState, ProcessInstance
from engine.core.operators import OperatorContext, operator

#: checklist result -> SoA effectiveness of an audited control (I14)
EFFECTIVENESS = {"conforming": "effective", "observation": "effective", "ofi": "effective",
                 "minor_nc": "partially_effective", "major_nc": "ineffective"}
_SEVERITY = ("effective", "partially_effective", "ineffective")


@operator("audit.record_findings")
def record_findings(ctx: OperatorContext, audit_ref: str, findings: list[dict[str, Any]], closing_meeting_held: bool,
                    closing_meeting_date: str) -> dict[str, Any]:
    """The findings (I9) as AuditFinding rows (``communicated``); Audit -> ``findings_review``.

    Raises InvalidInput when a checklist item rated minor_nc or major_nc has no finding, or a finding
    is addressed to someone who is not an auditee. Returns the response requests, one per auditee
    with findings other than positive ones.
    """
    audit = audit_row(ctx, audit_ref)
    rated_nc = sorted({i["item_ref"] for i in audit.checklist or [] if i.get("result") in NC_TYPES})
    with_finding = {f["clause_or_control"] for f in findings}
    orphans = [ref for ref in rated_nc if ref not in with_finding]
    if orphans:
        raise InvalidInput(f"findings: checklist items rated as a nonconformity need a finding: {', '.join(orphans)}")
    auditees = set(emails_of(ctx, audit.auditee_ids))
    for index, f in enumerate(findings):
        if f["auditee_id"] not in auditees:
            raise InvalidInput(f"findings/{index}/auditee_id: {f['auditee_id']} is not an auditee of {audit_ref} "
                               f"({', '.join(sorted(auditees))})")
    existing = {f.ref: f for f in findings_of(ctx, audit)}
    now = ctx.clock.now()
    rows = []
    for index, f in enumerate(findings, start=1):
        ref = f"{audit.ref}-F{index}"
        row = existing.get(ref)
        if row is None:
            row = AuditFinding(ref=ref, audit_id=audit.id, created_at=now, updated_at=now, created_by_id=actor_id(ctx),
                               type=f["type"], statement=f["statement"], status="communicated")
            ctx.session.add(row)
        row.type, row.clause_or_control, row.statement = f["type"], f["clause_or_control"], f["statement"]
        row.criterion, row.objective_evidence = f["criterion"], f["objective_evidence"]
        row.iso_refs = ["9.2.1", "10.2"] if f["type"] in NC_TYPES else ["9.2.1", "10.1"]
        row.auditee_id = user_id(ctx, f["auditee_id"])
        row.details = {**(row.details or {}), "auditee_id": f["auditee_id"]}
        touch(ctx, row, "communicated")
        rows.append(row)
    ctx.session.flush()
    audit.details = {**(audit.details or {}), "closing_meeting": {"held": closing_meeting_held,
                                                                  "date": closing_meeting_date}}
    touch(ctx, audit, "findings_review")
    views = [finding_view(ctx, r) for r in rows]
    requests = []
    for auditee in sorted({v["auditee_id"] for v in views if v["type"] != "positive"}):
        requests.append({"auditee_id": auditee,
                         "findings": [v for v in views if v["auditee_id"] == auditee and v["type"] != "positive"]})
    ctx.audit("audit_findings_recorded", subject=audit_ref, findings={v["finding_ref"]: v["type"] for v in views})
    return {"findings": views, "response_requests": requests}


@operator("audit.record_responses")
def record_responses(ctx: OperatorContext, audit_ref: str, answers: list[dict[str, Any]]) -> dict[str, Any]:
    """Each auditee's acceptance or dispute of their findings (I10). A finding left unanswered is
    recorded as accepted without a response. Raises InvalidInput for a response to a finding that was
    not addressed to that auditee."""
    audit = audit_row(ctx, audit_ref)
    rows = {f.ref: f for f in findings_of(ctx, audit)}
    disputes = []
    for answer in answers:
        theirs = {f["finding_ref"] for f in answer.get("findings") or []}
        given = {r["finding_ref"]: r for r in answer.get("responses") or []}
        strangers = sorted(set(given) - theirs)
        if strangers:
            raise InvalidInput(f"responses: {', '.join(strangers)} was not addressed to {answer['auditee_id']}")
        for ref in sorted(theirs):
            row = rows[ref]
            response = given.get(ref) or {"response": "accept", "no_response": True}
            row.auditee_response = response["response"]
            row.dispute_rationale = response.get("dispute_rationale")
            row.details = {**(row.details or {}), "auditee_escalates": bool(response.get("auditee_escalates")),
                           "proposed_nc_owner": response.get("proposed_nc_owner"),
                           "no_response": bool(response.get("no_response"))}
            touch(ctx, row, "disputed" if response["response"] == "dispute" else "accepted")
            if response["response"] == "dispute":
                disputes.append({**finding_view(ctx, row), "dispute_rationale": row.dispute_rationale,
                                 "auditee_escalates": bool(response.get("auditee_escalates"))})
    return {"any_dispute": bool(disputes), "disputes": disputes}


def _one_each(answers: list[dict[str, Any]], expected: dict[str, AuditFinding], field: str, what: str,
              ask: str) -> dict[str, dict[str, Any]]:
    """``answers`` by their ``finding_ref``, one for each of the ``expected`` findings. Raises
    InvalidInput naming ``field`` for an answer to a finding that is not ``what``, and (``ask``) for an
    expected finding left without one."""
    given = {a["finding_ref"]: a for a in answers}
    unknown = sorted(set(given) - set(expected))
    if unknown:
        raise InvalidInput(f"{field}: {', '.join(unknown)} is not {what}")
    missing = sorted(set(expected) - set(given))
    if missing:
        raise InvalidInput(f"{field}: {ask}; missing {', '.join(missing)}")
    return given


@operator("audit.record_resolutions")
def record_resolutions(ctx: OperatorContext, audit_ref: str, resolutions: list[dict[str, Any]]) -> dict[str, Any]:
    """The lead auditor's resolution of every disputed finding (I11). Returns the upheld major NCs the
    auditee escalated (``arbitration``) and who arbitrates them: the AIMS owner, or top management when
    the AIMS owner is one of their auditees. Raises InvalidInput when a dispute is left unresolved."""
    audit = audit_row(ctx, audit_ref)
    disputed = {f.ref: f for f in findings_of(ctx, audit) if f.status == "disputed"}
    given = _one_each(resolutions, disputed, "resolutions", f"a disputed finding of {audit_ref}",
                      "resolve every disputed finding")
    arbitration = []
    for ref, row in disputed.items():
        r = given[ref]
        row.resolution = f"{r['resolution']}: {r['rationale']}"
        if r["resolution"] == "finding_modified":
            row.type = r["new_type"]
            row.statement = r.get("new_statement") or row.statement
        touch(ctx, row, "withdrawn" if r["resolution"] == "finding_withdrawn" else "resolved")
        escalates = bool((row.details or {}).get("auditee_escalates"))
        if r["resolution"] == "finding_upheld" and row.type == "major_nc" and escalates:
            arbitration.append(finding_view(ctx, row))
    org = roles.organisation(ctx.session)
    aims_owner = email(ctx, org.aims_owner_id) if org else None
    arbiter = None
    if arbitration:
        arbiter = "top_management" if aims_owner in {a["auditee_id"] for a in arbitration} else "aims_owner"
    return {"arbitration": arbitration, "arbiter": arbiter}


@operator("audit.record_arbitration")
def record_arbitration(ctx: OperatorContext, audit_ref: str, decisions: list[dict[str, Any]],
                       role: str = "aims_owner") -> dict[str, Any]:
    """The final word on escalated findings (I11b), one Approval per finding. Raises InvalidInput when
    an escalated finding is left without a decision."""
    audit = audit_row(ctx, audit_ref)
    escalated = {f.ref: f for f in findings_of(ctx, audit)
                 if f.status == "resolved" and f.type == "major_nc" and (f.details or {}).get("auditee_escalates")
                 and (f.resolution or "").startswith("finding_upheld")}
    given = _one_each(decisions, escalated, "arbitration", f"an escalated finding of {audit_ref}",
                      "decide every escalated finding")
    for ref, row in escalated.items():
        d = given[ref]
        record_approval(ctx, "audit_finding", row.id, row.ref, "arbitration", d["final_type"],
                        ctx.actor.email if ctx.actor else None, role, d["rationale"])
        row.resolution = f"{row.resolution}; arbitrated {d['final_type']}: {d['rationale']}"
        if d["final_type"] == "withdrawn":
            touch(ctx, row, "withdrawn")
        else:
            row.type = d["final_type"]
            touch(ctx, row)
    return {"decided": sorted(given)}


# --------------------------------------------------------------------------- report

def _active(findings: list[AuditFinding]) -> list[AuditFinding]:
    return [f for f in findings if f.status != "withdrawn"]


@operator("audit.record_report")
def record_report(ctx: OperatorContext, audit_ref: str, executive_summary: str, conclusion_conformity: str,
                  conclusion_effectiveness: str, distribution: list[str], strengths: str | None = None,
                  limitations: str | None = None, report_file: str | None = None) -> dict[str, Any]:
    """The report (I12): Audit -> ``reporting``. Raises InvalidInput when the distribution misses an
    auditee or the AIMS owner, or top management while a major NC stands (9.2.2: results reported to
    the relevant managers). Returns who reviews it: top management when the AIMS owner audited."""
    audit = audit_row(ctx, audit_ref)
    org = roles.organisation(ctx.session)
    aims_owner = email(ctx, org.aims_owner_id) if org else None
    needed = set(emails_of(ctx, audit.auditee_ids)) | ({aims_owner} if aims_owner else set())
    missing = sorted(needed - set(distribution))
    if missing:
        raise InvalidInput(f"distribution: add {', '.join(missing)} (the auditees and the AIMS owner)")
    if any(f.type == "major_nc" for f in _active(findings_of(ctx, audit))):
        tops = {u.email for u in directory.users_with_role(ctx.session, "top_management")}
        if not tops.intersection(distribution):
            raise InvalidInput("distribution: a major nonconformity was found, so top management must receive the "
                               "report")
    audit.conclusion = conclusion_effectiveness
    audit.conclusion_conformity = conclusion_conformity
    audit.distribution = [i for i in (user_id(ctx, d) for d in distribution) if i is not None]
    audit.details = {**(audit.details or {}), "report": {
        "executive_summary": executive_summary, "strengths": strengths, "limitations": limitations,
        "report_file": report_file}}
    touch(ctx, audit, "reporting")
    auditors = emails_of(ctx, [audit.lead_auditor_id] + list(audit.team_ids or []))
    return {"reviewer": "top_management" if aims_owner in auditors else "aims_owner"}


@operator("audit.record_report_review")
def record_report_review(ctx: OperatorContext, audit_ref: str, decision: str, comment: str | None = None,
                         role: str = "aims_owner") -> dict[str, Any]:
    """The quality check of the report (I13) as an Approval; the reviewer never edits findings."""
    audit = audit_row(ctx, audit_ref)
    approval = record_approval(ctx, "internal_audit", audit.id, audit.ref, "report_review", decision,
                               ctx.actor.email if ctx.actor else None, role, comment)
    return {"decision": decision, "approval_id": approval.id}


def _worst(results: list[str]) -> str | None:
    rated = [EFFECTIVENESS[r] for r in results if r in EFFECTIVENESS]
    return max(rated, key=_SEVERITY.index) if rated else None


@operator("audit.issue_report")
def issue_report(ctx: OperatorContext, audit_ref: str) -> dict[str, Any]:
    """Publish the report as a DocumentVersion with its sha256 (I14); Audit -> ``report_issued``; tell
    the distribution list; set the SoA effectiveness and last test date of every audited control
    (conforming -> effective, minor NC -> partially effective, major NC -> ineffective)."""
    audit = audit_row(ctx, audit_ref)
    findings = _active(findings_of(ctx, audit))
    now = ctx.clock.now()
    content = {"audit": audit.ref, "title": audit.title, "scope": audit.scope, "criteria": audit.criteria,
               "lead_auditor": email(ctx, audit.lead_auditor_id), "checklist": audit.checklist,
               "findings": [finding_view(ctx, f) | {"criterion": f.criterion, "resolution": f.resolution}
                            for f in findings],
               "conclusion_conformity": audit.conclusion_conformity, "conclusion": audit.conclusion,
               "report": (audit.details or {}).get("report")}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()
    doc_ref = f"DOC-RPT-{audit.ref}"
    doc = ctx.session.scalar(select(Document).where(Document.ref == doc_ref))
    if doc is None:
        doc = Document(ref=doc_ref, title=f"Internal audit report {audit.ref}: {audit.title}"[:300], doc_type="report",
                       owner_id=audit.lead_auditor_id, status="active", created_at=now, updated_at=now,
                       created_by_id=actor_id(ctx), instance_id=ctx.instance.id, iso_refs=["9.2.2"])
        ctx.session.add(doc)
        ctx.session.flush()
    version = ctx.session.scalar(select(DocumentVersion).where(DocumentVersion.document_id == doc.id,
                                                               DocumentVersion.version == "1.0"))
    if version is None:
        report_file = ((audit.details or {}).get("report") or {}).get("report_file")
        version = DocumentVersion(document_id=doc.id, version="1.0", status="published", change_type="major",
                                  change_summary="Audit report issued",
                                  content_ref=report_file or f"generated:{doc_ref}",
                                  sha256=digest, author_id=audit.lead_auditor_id, approver_id=actor_id(ctx),
                                  approved_at=now, effective_from=now.date(), created_at=now, updated_at=now,
                                  instance_id=ctx.instance.id, details={"content": content})
        ctx.session.add(version)
        ctx.session.flush()
    doc.current_version_id = version.id
    audit.report_document_version_id = version.id
    audit.actual_end = audit.actual_end or today(ctx)
    touch(ctx, audit, "report_issued")
    updated = _update_soa(ctx, audit, findings)
    ctx.audit("audit_report_issued", subject=audit.ref, document=doc_ref, sha256=digest,
              distribution=emails_of(ctx, audit.distribution), soa_updated=updated)
    return {"report_version_id": version.id, "sha256": digest, "soa_updated": updated,
            "nc_findings": [finding_view(ctx, f) for f in findings if f.type in NC_TYPES],
            "ofis": [finding_view(ctx, f) for f in findings if f.type == "ofi"]}


def _update_soa(ctx: OperatorContext, audit: Audit, findings: list[AuditFinding]) -> dict[str, str]:
    soa = ctx.session.scalar(select(SoAVersion).order_by(SoAVersion.id.desc()).limit(1))
    if soa is None:
        return {}
    controls = set((audit.scope or {}).get("controls") or [])
    results: dict[str, list[str]] = {}
    for item in audit.checklist or []:
        if item["item_ref"] in controls and item.get("result"):
            results.setdefault(item["item_ref"], []).append(item["result"])
    for f in findings:
        if f.clause_or_control and f.clause_or_control in controls and f.type in NC_TYPES:
            results.setdefault(f.clause_or_control, []).append(f.type)
    updated: dict[str, str] = {}
    entries: dict[str, SoAEntry] = {e.control.control_id: e for e in soa.entries}
    for control, rated in sorted(results.items()):
        effectiveness = _worst(rated)
        entry = entries.get(control)
        if effectiveness is None or entry is None:
            continue
        entry.effectiveness, entry.last_tested_at = effectiveness, today(ctx)
        entry.updated_at, entry.updated_by_id = ctx.clock.now(), actor_id(ctx)
        entry.row_version = (entry.row_version or 0) + 1
        updated[control] = effectiveness
    return updated


# --------------------------------------------------------------------------- NCs and follow-up

@operator("audit.raise_ncs")
def raise_ncs(ctx: OperatorContext, audit_ref: str) -> dict[str, Any]:
    """Start one ``aims_nc_capa`` per nonconformity finding (I15: source ``internal_audit``, the finding
    as ``source_ref``, the auditee or their proposed owner as NC owner, the lead auditor as preferred
    verifier); OFIs are logged as improvement opportunities. Audit -> ``follow_up``."""
    audit = audit_row(ctx, audit_ref)
    lead = email(ctx, audit.lead_auditor_id)
    raised, ofis = [], []
    for f in _active(findings_of(ctx, audit)):
        details = f.details or {}
        if f.type in NC_TYPES and f.status not in ("nc_raised", "closed"):
            owner = details.get("proposed_nc_owner") or details.get("auditee_id")
            payload = {"source": "internal_audit", "source_ref": f.ref, "severity": f.type.split("_")[0],
                       "suggested_severity": f.type.split("_")[0], "verifier_hint_id": lead,
                       "title": f"{f.clause_or_control}: {f.statement}"[:200],
                       "description": f"{f.statement}\n\nCriterion: {f.criterion}\nObjective evidence: "
                                      f"{f.objective_evidence}\nAuditee: {details.get('auditee_id')}; proposed NC "
                                      f"owner: {owner}",
                       "requirement_ref": f.clause_or_control}
            ctx.start_process("aims_nc_capa", payload, subject=f.ref)
            touch(ctx, f, "nc_raised")
            raised.append(f.ref)
        elif f.type == "ofi" and f.status != "logged_as_ofi":
            touch(ctx, f, "logged_as_ofi")
            ofis.append(f.ref)
    touch(ctx, audit, "follow_up")
    ctx.audit("audit_ncs_raised", subject=audit.ref, ncs=raised, improvement_opportunities=ofis)
    return {"raised": raised, "ofis": ofis}


@operator("audit.follow_up_status")
def follow_up_status(ctx: OperatorContext, audit_ref: str) -> dict[str, Any]:
    """Which nonconformities raised by the audit are still open (I16). An NC counts as handled once its
    register row (found by the finding as ``source_ref``) is closed, found not to be an NC, a duplicate
    or withdrawn, or once its ``aims_nc_capa`` instance has ended. Links each finding to its NC."""
    audit = audit_row(ctx, audit_ref)
    open_, closed = [], []
    for f in findings_of(ctx, audit):
        if f.type not in NC_TYPES or f.status not in ("nc_raised", "closed"):
            continue
        nc = ctx.session.scalar(select(Nonconformity).where(Nonconformity.source == "internal_audit",
                                                            Nonconformity.source_ref == f.ref)
                                .order_by(Nonconformity.id.desc()).limit(1))
        if nc is not None:
            f.nc_id = nc.id
        flow = ctx.session.get(ProcessInstance, nc.instance_id) if nc is not None and nc.instance_id else None
        flow_ended = flow is not None and flow.status != InstanceState.RUNNING
        if nc is not None and (nc.status in CLOSED_NC_STATES or flow_ended):
            if f.status != "closed":
                touch(ctx, f, "closed")
            closed.append({"finding_ref": f.ref, "nc_ref": nc.ref, "nc_status": nc.status})
        else:
            open_.append({"finding_ref": f.ref, "nc_ref": nc.ref if nc else None,
                          "nc_status": nc.status if nc else None})
    return {"all_closed": not open_, "open": open_, "closed": closed}


@operator("audit.follow_up_overdue")
def follow_up_overdue(ctx: OperatorContext, audit_ref: str, level: str) -> dict[str, Any]:
    """NCs of the audit are still open after 90 (AIMS owner) or 180 days (top management): a notice
    (audit event ``audit_follow_up_overdue`` naming the recipients; mail goes out through the outbox)."""
    audit = audit_row(ctx, audit_ref)
    org = roles.organisation(ctx.session)
    if level == "top_management":
        recipients = sorted(u.email for u in directory.users_with_role(ctx.session, "top_management"))
    else:
        recipients = [e for e in [email(ctx, org.aims_owner_id) if org else None] if e]
    still_open = [f.ref for f in findings_of(ctx, audit) if f.type in NC_TYPES and f.status == "nc_raised"]
    ctx.audit("audit_follow_up_overdue", subject=audit.ref, level=level, recipients=recipients, open=still_open)
    return {"notified": recipients, "open": still_open}


@operator("audit.close")
def close(ctx: OperatorContext, audit_ref: str) -> dict[str, Any]:
    """Audit -> ``closed`` (I17); observations and positive findings close with it."""
    audit = audit_row(ctx, audit_ref)
    for f in findings_of(ctx, audit):
        if f.type in ("observation", "positive") and f.status not in ("closed", "withdrawn"):
            touch(ctx, f, "closed")
    touch(ctx, audit, "closed")
    ctx.audit("internal_audit_closed", subject=audit.ref, conformity=audit.conclusion_conformity)
    return {"status": "closed"}
