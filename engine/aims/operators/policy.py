"""Operators of ``aims_policy_review`` (FLOWS.md (e)): the review cycle of a controlled document (the AI
policy by default), its draft DocumentVersion, the specialist reviews and the approval as Approval rows,
publication with its sha256 and the evidence it gives for A.2.2-A.2.4, the announcement, and the staff
acknowledgement campaign (7.3) with its rate.

Idempotent within an instance: the draft version is found again by the instance that drafted it, the
acknowledgement requests by (version, user), evidence by its content reference.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from engine.aims import roles
from engine.aims.operators.common import actor_id, as_date, email, record_approval, today, touch
from engine.aims.registers import (
    Acknowledgement,
    Approval,
    Document,
    DocumentVersion,
    Evidence,
    ManagementReview,
    Nonconformity,
    ReviewDecision,
)
from engine.core import directory, refs
from engine.core.durations import add_duration
from engine.core.errors import ConflictError, InvalidInput, NotFound
from engine.core.models import HumanTask, InstanceState, ProcessInstance, TaskState
from engine.core.operators import OperatorContext, operator

PROCESS = "aims_policy_review"
OPEN_VERSION_STATES = ("draft", "in_review", "pending_approval", "approved")
#: A.2.x controls the published AI policy is evidence for
POLICY_CONTROLS = ["A.2.2", "A.2.3", "A.2.4"]
ACK_TARGET = 0.95


def document(ctx: OperatorContext, ref: str) -> Document:
    row = ctx.session.scalar(select(Document).where(Document.ref == ref))
    if row is None:
        raise NotFound(f"no document {ref!r}")
    return row


def _current(doc: Document) -> DocumentVersion | None:
    return next((v for v in doc.versions if v.id == doc.current_version_id), None)


def _draft(ctx: OperatorContext, doc: Document) -> DocumentVersion | None:
    """The version this instance drafts: the one it created or adopted."""
    return next((v for v in doc.versions if v.instance_id == ctx.instance.id and v.status in OPEN_VERSION_STATES),
                None)


def _next_version(current: str | None, major: bool) -> str:
    if not current:
        return "1.0"
    head, _, tail = current.partition(".")
    return f"{int(head) + 1}.0" if major else f"{head}.{int(tail or 0) + 1}"


def _interval_ok(interval: str) -> bool:
    start = datetime(2000, 1, 1)
    return add_duration(start, interval) <= add_duration(start, "P1Y")


# --------------------------------------------------------------------------- E1 open

@operator("policy.open_review_cycle")
def open_review_cycle(ctx: OperatorContext, document_ref: str | None, trigger: str, reason: str | None = None,
                      source_ref: str | None = None) -> dict[str, Any]:
    """Open the review of ``document_ref`` (the AI policy when empty) and gather what happened since the
    last review (E1). Raises NotFound, ConflictError (a review of the document is already running)."""
    if document_ref:
        doc = document(ctx, document_ref)
    else:
        found = ctx.session.scalar(select(Document).where(Document.doc_type == "ai_policy").order_by(Document.id))
        if found is None:
            raise NotFound("there is no AI policy (a document of type ai_policy) to review")
        doc = found
    others = ctx.session.scalars(select(ProcessInstance).where(
        ProcessInstance.process_id == PROCESS, ProcessInstance.status == InstanceState.RUNNING,
        ProcessInstance.subject == doc.ref, ProcessInstance.id != ctx.instance.id))
    running = next(iter(others), None)
    if running is not None:
        raise ConflictError(f"{doc.ref} is already under review in instance {running.id}")
    ctx.set_subject(doc.ref)
    current = _current(doc)
    last_review = (doc.details or {}).get("last_reviewed_at")
    since = as_date(last_review, "last_reviewed_at") or (current.effective_from if current else None)
    decisions = [f"{d.review.ref} {d.code}: {d.description}" for d in ctx.session.scalars(
        select(ReviewDecision).join(ManagementReview).where(ReviewDecision.type == "policy_change"))
        if since is None or (d.review.held_at is not None and d.review.held_at.date() >= since)]
    ncs = [f"{n.ref}: {n.title}" for n in ctx.session.scalars(select(Nonconformity).order_by(Nonconformity.ref))
           if (n.requirement_ref or "") in ("5.2", "A.2.2", "A.2.3", "A.2.4") and n.status != "closed"]
    review = {"instance_id": ctx.instance.id, "trigger": trigger, "reason": reason, "source_ref": source_ref,
              "opened_at": ctx.clock.now().isoformat()}
    doc.details = {**(doc.details or {}), "open_review": review}
    touch(ctx, doc)
    ctx.audit("document_review_opened", subject=doc.ref, trigger=trigger, source_ref=source_ref)
    return {"document_ref": doc.ref, "title": doc.title, "doc_type": doc.doc_type,
            "current_version": current.version if current else None,
            "author_id": email(ctx, doc.owner_id),
            "approver_role": "top_management" if doc.doc_type == "ai_policy" else "approver",
            "review_interval": doc.review_interval,
            "review_inputs": {"management_review_decisions": decisions, "nonconformities": ncs,
                              "last_reviewed_at": last_review}}


# --------------------------------------------------------------------------- E2 draft

@operator("policy.record_draft")
def record_draft(ctx: OperatorContext, document_ref: str, review_inputs_considered: list[str], review_outcome: str,
                 aligned_policies: list[dict[str, Any]], requires_acknowledgement: bool, external_publication: bool,
                 review_interval: str, changed_topics: list[str] | None = None, change_summary: str | None = None,
                 draft: str | None = None, content_checklist: dict[str, bool] | None = None,
                 effective_from: str | None = None) -> dict[str, Any]:
    """Record the review and, for a revision, the draft DocumentVersion (``draft``; the next minor, or
    major, version; an unfinished draft of the document left by no running review is taken over).

    Raises InvalidInput: an effective date in the past, a review interval longer than a year for the
    AI policy, an alignment entry naming an unknown document, a conflict left on a minor revision.
    """
    doc = document(ctx, document_ref)
    if doc.doc_type == "ai_policy" and not _interval_ok(review_interval):
        raise InvalidInput(f"review_interval: the AI policy is reviewed at least yearly (P1Y at most), "
                           f"not {review_interval}")
    for index, item in enumerate(aligned_policies):
        if ctx.session.scalar(select(Document.id).where(Document.ref == item["document_ref"])) is None:
            raise InvalidInput(f"aligned_policies/{index}/document_ref: no document {item['document_ref']!r}")
        if item["result"] == "conflict" and review_outcome != "major_revision":
            raise InvalidInput(f"aligned_policies/{index}/result: a conflict with {item['document_ref']} needs a "
                               "major revision")
    review = {"inputs_considered": review_inputs_considered, "outcome": review_outcome,
              "aligned_policies": aligned_policies, "review_interval": review_interval}
    doc.details = {**(doc.details or {}), "open_review": {**(doc.details or {}).get("open_review", {}), **review}}
    doc.review_interval = review_interval
    touch(ctx, doc)
    if review_outcome == "no_change_needed":
        return {"version": None}
    start = as_date(effective_from, "effective_from")
    if start is not None and start < today(ctx):
        raise InvalidInput(f"effective_from: {start} is in the past")
    current = _current(doc)
    number = _next_version(current.version if current else None, review_outcome == "major_revision")
    version = _draft(ctx, doc) or _adopt(ctx, doc)
    now = ctx.clock.now()
    if version is None:
        version = DocumentVersion(document_id=doc.id, version=number, status="draft", created_at=now)
        ctx.session.add(version)
    elif version.version != number and not any(v.version == number for v in doc.versions if v is not version):
        version.version = number
    version.status = "draft"
    version.change_type = "major" if review_outcome == "major_revision" else "minor"
    version.change_summary = change_summary
    version.content_ref = draft
    version.author_id = actor_id(ctx)
    version.effective_from = start
    version.requires_acknowledgement = requires_acknowledgement
    version.details = {**(version.details or {}), "checklist": content_checklist, "changed_topics": changed_topics,
                       "aligned_policies": aligned_policies, "inputs_considered": review_inputs_considered,
                       "external_publication": external_publication}
    version.updated_at, version.instance_id = now, ctx.instance.id
    version.row_version = (version.row_version or 0) + 1
    ctx.session.flush()
    ctx.audit("document_drafted", subject=doc.ref, version=version.version, change_type=version.change_type)
    return {"version": version.version}


def _adopt(ctx: OperatorContext, doc: Document) -> DocumentVersion | None:
    """An unfinished draft of the document whose review is no longer running (e.g. started by hand)."""
    for version in doc.versions:
        if version.status not in OPEN_VERSION_STATES:
            continue
        owner = ctx.session.get(ProcessInstance, version.instance_id) if version.instance_id else None
        if owner is None or owner.status != InstanceState.RUNNING:
            return version
    return None


# --------------------------------------------------------------------------- E3 / E4 no change

@operator("policy.record_confirmation")
def record_confirmation(ctx: OperatorContext, document_ref: str, decision: str,
                        comment: str | None = None) -> dict[str, Any]:
    """Top management's confirmation that no change is needed (E3), as an Approval."""
    doc = document(ctx, document_ref)
    approval = record_approval(ctx, "document", doc.id, doc.ref, "review", decision,
                               ctx.actor.email if ctx.actor else None, "top_management", comment)
    return {"decision": decision, "approval_id": approval.id}


def _review_evidence(ctx: OperatorContext, doc: Document, title: str, content_ref: str, digest: str,
                     reviewer_id: int | None, controls: list[str], clauses: list[str]) -> Evidence:
    row = ctx.session.scalar(select(Evidence).where(Evidence.content_ref == content_ref))
    now = ctx.clock.now()
    if row is None:
        row = Evidence(ref=refs.next_ref(ctx.session, "EVD"), title=title[:300], created_at=now, updated_at=now,
                       evidence_type="record", status="accepted", created_by_id=actor_id(ctx),
                       instance_id=ctx.instance.id, content_ref=content_ref)
        ctx.session.add(row)
    row.sha256, row.linked_controls, row.linked_clauses = digest, controls, clauses
    row.collected_by_id, row.collected_at = actor_id(ctx), now
    row.reviewer_id, row.reviewed_at = reviewer_id, now
    row.classification = doc.classification
    row.retention_until = add_duration(now, "P3Y").date()
    row.iso_refs = clauses
    ctx.session.flush()
    return row


@operator("policy.record_review")
def record_review(ctx: OperatorContext, document_ref: str, outcome: str) -> dict[str, Any]:
    """The review is done without a change (E4): last review today, next one a review interval later;
    the review record is evidence for A.2.4."""
    doc = document(ctx, document_ref)
    now = ctx.clock.now()
    doc.next_review_at = add_duration(now, doc.review_interval or "P1Y").date()
    review = {**(doc.details or {}).get("open_review", {}), "outcome": outcome, "closed_at": now.isoformat()}
    history = list((doc.details or {}).get("reviews") or []) + [review]
    doc.details = {**{k: v for k, v in (doc.details or {}).items() if k != "open_review"},
                   "reviews": history, "last_reviewed_at": now.date().isoformat()}
    touch(ctx, doc)
    approval = ctx.session.scalar(select(Approval).where(Approval.instance_id == ctx.instance.id)
                                  .order_by(Approval.id.desc()).limit(1))
    digest = hashlib.sha256(json.dumps(review, sort_keys=True, default=str).encode()).hexdigest()
    evidence = _review_evidence(ctx, doc, f"Review of {doc.title} ({now.date()}): no change", f"review:{doc.ref}:"
                                f"{ctx.instance.id}", digest, approval.actor_id if approval else None,
                                ["A.2.4"] if doc.doc_type == "ai_policy" else [], ["7.5.2"])
    ctx.audit("document_reviewed", subject=doc.ref, outcome=outcome, next_review_at=doc.next_review_at.isoformat(),
              evidence=evidence.ref)
    return {"next_review_at": doc.next_review_at.isoformat(), "evidence_ref": evidence.ref}


# --------------------------------------------------------------------------- E6 / E7 reviews

@operator("policy.record_reviews")
def record_reviews(ctx: OperatorContext, document_ref: str, reviews: list[dict[str, Any]]) -> dict[str, Any]:
    """Each specialist's opinion as an Approval (step ``review``); the draft goes ``in_review``."""
    doc = document(ctx, document_ref)
    version = _draft(ctx, doc)
    if version is None:
        raise NotFound(f"{document_ref} has no draft in this review")
    earlier = ctx.session.scalars(select(Approval.conditions).where(Approval.instance_id == ctx.instance.id,
                                                                    Approval.step == "review"))
    round_no = max((c.get("round", 0) for c in earlier if isinstance(c, dict)), default=0) + 1
    # who gave which opinion: the task rows of this round, matched on what they submitted
    rows = list(ctx.session.scalars(select(HumanTask).where(HumanTask.instance_id == ctx.instance.id,
                                                            HumanTask.task_spec == "ut_policy_specialist_review",
                                                            HumanTask.state == TaskState.COMPLETED)
                                    .order_by(HumanTask.completed_at.desc(), HumanTask.id.desc())
                                    .limit(len(reviews))))
    submitted = [(r.submitted, email(ctx, r.completed_by_id)) for r in rows]
    outcomes = []
    for review in reviews:
        given = {k: review[k] for k in ("outcome", "comments") if k in review}
        match = next((i for i, (data, _) in enumerate(submitted) if data == given), None)
        reviewer = submitted.pop(match)[1] if match is not None else None
        record_approval(ctx, "document_version", version.id, f"{doc.ref} v{version.version}", "review",
                        review["outcome"], reviewer, "reviewer", review.get("comments"),
                        conditions={"topic": review["topic"], "round": round_no})
        outcomes.append(review["outcome"])
    version.status = "in_review"
    version.details = {**(version.details or {}), "reviews": (version.details or {}).get("reviews", []) + [
        {"round": round_no, "topic": r["topic"], "outcome": r["outcome"], "comments": r.get("comments")}
        for r in reviews]}
    version.updated_at = ctx.clock.now()
    return {"outcomes": outcomes, "round": round_no}


@operator("policy.note_dissent")
def note_dissent(ctx: OperatorContext, document_ref: str, reviews: list[dict[str, Any]]) -> dict[str, Any]:
    """Changes were still required after three redrafts (G-E7): the dissent goes to approval with the
    draft, and the AIMS owner and top management are told."""
    doc = document(ctx, document_ref)
    version = _draft(ctx, doc)
    dissent = [{"topic": r["topic"], "comments": r.get("comments")} for r in reviews
               if r["outcome"] == "changes_required"]
    if version is not None:
        version.details = {**(version.details or {}), "dissent": dissent}
    org = roles.organisation(ctx.session)
    people = {u.email for u in directory.users_with_role(ctx.session, "top_management")}
    owner = email(ctx, org.aims_owner_id) if org else None
    recipients = sorted(people | ({owner} if owner else set()))
    ctx.audit("document_review_dissent", subject=doc.ref, dissent=dissent, recipients=recipients)
    return {"dissent": dissent, "recipients": recipients}


# --------------------------------------------------------------------------- E8 approval

@operator("policy.record_approval")
def record_approval_decision(ctx: OperatorContext, document_ref: str, decision: str, role: str,
                             effective_from: str | None = None, comment: str | None = None) -> dict[str, Any]:
    """The approval decision (E8) as an Approval on the draft version: approved (``pending_approval`` ->
    ``approved``, with the effective date the flow waits for) or back to ``draft``. Raises InvalidInput
    for an effective date in the past."""
    doc = document(ctx, document_ref)
    version = _draft(ctx, doc)
    if version is None:
        raise NotFound(f"{document_ref} has no draft in this review")
    approval = record_approval(ctx, "document_version", version.id, f"{doc.ref} v{version.version}", "approval",
                               decision, ctx.actor.email if ctx.actor else None, role, comment)
    now = ctx.clock.now()
    if decision != "approve":
        version.status = "draft"
        version.updated_at = now
        return {"decision": decision, "effective_from_iso": None}
    start = as_date(effective_from, "effective_from") or version.effective_from or today(ctx)
    if start < today(ctx):
        raise InvalidInput(f"effective_from: {start} is in the past")
    version.status, version.effective_from = "approved", start
    version.approver_id, version.approved_at, version.updated_at = actor_id(ctx), now, now
    version.details = {**(version.details or {}), "approval_id": approval.id}
    ctx.audit("document_approved", subject=doc.ref, version=version.version, effective_from=start.isoformat())
    return {"decision": decision, "effective_from": start.isoformat(),
            "effective_from_iso": f"{start.isoformat()}T00:00:00+00:00"}


@operator("policy.discard_draft")
def discard_draft(ctx: OperatorContext, document_ref: str, reason: str | None = None) -> dict[str, Any]:
    """The revision is rejected (E8r): the draft is ``withdrawn``, the current version stays in force,
    and the review counts as done."""
    doc = document(ctx, document_ref)
    version = _draft(ctx, doc)
    if version is not None:
        version.status, version.updated_at = "withdrawn", ctx.clock.now()
        version.details = {**(version.details or {}), "withdrawn_reason": reason}
    result = record_review(ctx, document_ref, "revision_rejected")
    return {"withdrawn": version.version if version else None, **result}


# --------------------------------------------------------------------------- E10 - E15 publication

@operator("policy.publish_version")
def publish_version(ctx: OperatorContext, document_ref: str) -> dict[str, Any]:
    """Publish the approved version (E10): its sha256 is stored, the previous one is ``superseded``, the
    next review falls a review interval after the effective date, and the publication is evidence for
    A.2.2-A.2.4 (AI policy) and 7.5.2/7.5.3."""
    doc = document(ctx, document_ref)
    version = next((v for v in doc.versions if v.instance_id == ctx.instance.id and v.status in ("approved",
                                                                                                 "published")), None)
    if version is None:
        raise NotFound(f"{document_ref} has no approved version in this review")
    now = ctx.clock.now()
    content = {"document": doc.ref, "title": doc.title, "version": version.version, "content_ref": version.content_ref,
               "change_summary": version.change_summary, "effective_from": str(version.effective_from),
               "checklist": (version.details or {}).get("checklist")}
    version.sha256 = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    for other in doc.versions:
        if other is not version and other.status == "published":
            other.status, other.superseded_at, other.updated_at = "superseded", now, now
    version.status, version.updated_at = "published", now
    doc.current_version_id = version.id
    doc.external_publication = bool((version.details or {}).get("external_publication"))
    assert version.effective_from is not None
    start = datetime.combine(version.effective_from, datetime.min.time(), now.tzinfo)
    doc.next_review_at = add_duration(start, doc.review_interval or "P1Y").date()
    review = {**(doc.details or {}).get("open_review", {}), "outcome": "published", "version": version.version,
              "closed_at": now.isoformat()}
    doc.details = {**{k: v for k, v in (doc.details or {}).items() if k != "open_review"},
                   "reviews": list((doc.details or {}).get("reviews") or []) + [review],
                   "last_reviewed_at": now.date().isoformat()}
    touch(ctx, doc)
    evidence = _review_evidence(ctx, doc, f"{doc.title} v{version.version} published", f"document:{doc.ref}@"
                                f"{version.version}", version.sha256, version.approver_id,
                                POLICY_CONTROLS if doc.doc_type == "ai_policy" else [],
                                ["5.2", "7.5.2", "7.5.3"] if doc.doc_type == "ai_policy" else ["7.5.2", "7.5.3"])
    ctx.audit("document_published", subject=doc.ref, version=version.version, sha256=version.sha256,
              next_review_at=doc.next_review_at.isoformat(), evidence=evidence.ref)
    return {"version": version.version, "sha256": version.sha256, "evidence_ref": evidence.ref,
            "next_review_at": doc.next_review_at.isoformat()}


def _audience(ctx: OperatorContext, doc: Document) -> list[str]:
    """E-mails of everyone the document addresses: its ``audience`` roles, or every active user with a
    business role (``all_in_scope``, the default)."""
    wanted = [a for a in doc.audience or [] if a != "all_in_scope"]
    people: set[str] = set()
    audience = set(wanted) or set(roles.BUSINESS_ROLES)
    for role in sorted(audience):
        people.update(u.email for u in directory.users_with_role(ctx.session, role) if u.active)
    return sorted(people)


@operator("policy.announce")
def announce(ctx: OperatorContext, document_ref: str) -> dict[str, Any]:
    """The announcement to the audience (E11; 7.4) and, if asked for, the external publication (5.2)."""
    doc = document(ctx, document_ref)
    audience = _audience(ctx, doc)
    version = _current(doc)
    ctx.audit("document_announced", subject=doc.ref, version=version.version if version else None,
              recipients=len(audience), external_publication=doc.external_publication)
    return {"recipients": len(audience), "external_publication": doc.external_publication}


@operator("policy.create_ack_campaign")
def create_ack_campaign(ctx: OperatorContext, document_ref: str) -> dict[str, Any]:
    """One Acknowledgement (``requested``, due in 14 days) per person in the audience (E12). They are
    register rows, not BPMN tasks; staff acknowledge through ``engine.acknowledgements``."""
    doc = document(ctx, document_ref)
    version = _current(doc)
    if version is None:
        raise NotFound(f"{document_ref} has no published version")
    now = ctx.clock.now()
    existing = {a.user_id for a in ctx.session.scalars(select(Acknowledgement).where(
        Acknowledgement.document_version_id == version.id))}
    people = [directory.user_by_email(ctx.session, e) for e in _audience(ctx, doc)]
    for person in people:
        if person.id not in existing:
            ctx.session.add(Acknowledgement(document_version_id=version.id, user_id=person.id, status="requested",
                                            requested_at=now, due_at=now + timedelta(days=14),
                                            instance_id=ctx.instance.id))
    ctx.session.flush()
    ctx.audit("acknowledgements_requested", subject=doc.ref, version=version.version, people=len(people))
    return {"requested": len(people), "due": (now + timedelta(days=14)).isoformat()}


@operator("policy.close_ack_campaign")
def close_ack_campaign(ctx: OperatorContext, document_ref: str) -> dict[str, Any]:
    """The acknowledgement rate and who did not acknowledge (E14; 7.3 evidence); open requests become
    ``overdue``."""
    doc = document(ctx, document_ref)
    version = _current(doc)
    if version is None:
        raise NotFound(f"{document_ref} has no published version")
    rows = list(ctx.session.scalars(select(Acknowledgement).where(Acknowledgement.document_version_id == version.id)
                                    .order_by(Acknowledgement.id)))
    done = [a for a in rows if a.status == "acknowledged"]
    missing = []
    for row in rows:
        if row.status == "requested":
            row.status = "overdue"
        if row.status != "acknowledged":
            missing.append(email(ctx, row.user_id))
    rate = round(len(done) / len(rows), 4) if rows else 1.0
    version.details = {**(version.details or {}), "ack_rate": rate, "non_acknowledgers": missing}
    version.updated_at = ctx.clock.now()
    ctx.audit("acknowledgement_campaign_closed", subject=doc.ref, version=version.version, ack_rate=rate,
              missing=len(missing))
    return {"ack_rate": rate, "missing": missing, "target": ACK_TARGET}


@operator("policy.record_ack_followup")
def record_ack_followup(ctx: OperatorContext, document_ref: str, actions_taken: str,
                        escalated_to_managers: bool) -> dict[str, Any]:
    """What the AIMS owner did about a rate below 95 % (E15)."""
    doc = document(ctx, document_ref)
    version = _current(doc)
    if version is not None:
        version.details = {**(version.details or {}), "ack_followup": {
            "actions_taken": actions_taken, "escalated_to_managers": escalated_to_managers,
            "by": ctx.actor.email if ctx.actor else None, "at": ctx.clock.now().isoformat()}}
        version.updated_at = ctx.clock.now()
    return {"recorded": True}
