"""Operators of certification preparation and maintenance (FLOWS.md (d): ``aims_cert_prep``,
``aims_external_audit``, ``aims_cert_maintenance``): the Statement of Applicability (``soa.*``, through
``engine/soa.py``), the certification cycle, readiness reviews, external audits and their findings
(``cert.*``).

Idempotency: a row an operator creates is found again before a second one is written, by its ref or
by the instance and round that created it (``details["instance_id"]`` / ``details["round"]``), so a
service task that runs again after a crash changes nothing twice.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from engine.aims import audit_pack, catalogue, readiness, roles, soa
from engine.aims.operators.common import actor_id, as_date, email, record_approval, today, user_id
from engine.aims.operators.common import touch as _touch
from engine.aims.registers import (
    ActionItem,
    CertificationCycle,
    ExternalAudit,
    ExternalFinding,
    ReadinessReview,
    SoAVersion,
)
from engine.core import directory, refs
from engine.core.clock import isoformat
from engine.core.errors import ConflictError, InvalidInput, NotFound
from engine.core.operators import OperatorContext, operator

AUDIT_TYPES = ("stage1", "stage2", "surveillance", "recertification", "special")
OUTCOMES = {
    "stage1": ("ready_for_stage2", "ready_with_concerns", "not_ready"),
    "stage2": ("recommend", "recommend_after_ca", "not_recommend"),
    "surveillance": ("recommend", "recommend_after_ca", "not_recommend", "suspend"),
    "recertification": ("recommend", "recommend_after_ca", "not_recommend"),
    "special": ("recommend", "recommend_after_ca", "not_recommend", "suspend"),
}
FINDING_TYPES = ("stage1_concern", "major_nc", "minor_nc", "ofi", "observation")
NC_FINDINGS = ("stage1_concern", "major_nc", "minor_nc")
#: cycle status while an audit of this type is scheduled, and once it is closed
SCHEDULED_STATUS = {"stage1": "stage1_scheduled", "stage2": "stage2_scheduled",
                    "recertification": "recertification_in_progress"}


def _new(ctx: OperatorContext, model: Any, ref: str, **values: Any) -> Any:
    now = ctx.clock.now()
    row = model(ref=ref, created_at=now, updated_at=now, created_by_id=actor_id(ctx), instance_id=ctx.instance.id,
                **values)
    ctx.session.add(row)
    ctx.session.flush()
    return row


def _cycle(ctx: OperatorContext, ref: str) -> CertificationCycle:
    row = ctx.session.scalar(select(CertificationCycle).where(CertificationCycle.ref == ref))
    if row is None:
        raise NotFound(f"cycle_ref: no certification cycle {ref!r}")
    return row


def _external(ctx: OperatorContext, ref: str) -> ExternalAudit:
    row = ctx.session.scalar(select(ExternalAudit).where(ExternalAudit.ref == ref))
    if row is None:
        raise NotFound(f"no external audit {ref!r}")
    return row


def _finding(ctx: OperatorContext, ref: str) -> ExternalFinding:
    row = ctx.session.scalar(select(ExternalFinding).where(ExternalFinding.ref == ref))
    if row is None:
        raise NotFound(f"no external finding {ref!r}")
    return row


def _iso_day(day: date, clock_time: time = time(0, 0)) -> str:
    """A date as the ISO date-time a ``timeDate`` timer takes (UTC)."""
    return datetime.combine(day, clock_time, UTC).isoformat()


_DAY_DURATION = re.compile(r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?")


def _plus(day: date, duration: str) -> date:
    """``day`` moved by a duration of years, months and days (``P3Y``, ``-P9M``, ``-P30D``); months
    by the calendar, the day of the month clamped (31 March minus 1 month is 28/29 February)."""
    sign = -1 if duration.startswith("-") else 1
    match = _DAY_DURATION.fullmatch(duration.lstrip("-"))
    if match is None or duration.lstrip("-") == "P":
        raise InvalidInput(f"{duration!r} is not a duration of years, months and days")
    years, months, days = (int(g or 0) for g in match.groups())
    year, month = divmod(day.month - 1 + sign * (12 * years + months), 12)
    year += day.year
    moved = date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))
    return moved + timedelta(days=sign * days)


def _actor_email(ctx: OperatorContext, given: str | None = None) -> str | None:
    """``given``, else the user whose task completion is running this service task."""
    return given or (ctx.actor.email if ctx.actor is not None else None)


def _aims_owner(ctx: OperatorContext) -> str | None:
    org = roles.organisation(ctx.session)
    return email(ctx, org.aims_owner_id) if org else None


# =========================================================================== Statement of Applicability


def _working(ctx: OperatorContext) -> SoAVersion:
    version = soa.working_version(ctx.session)
    if version is None:
        raise ConflictError("there is no SoA being prepared; generate it first (soa.generate)")
    return version


def _gap_item(ctx: OperatorContext, row: soa.Row, codes: list[str], details: list[str]) -> dict[str, Any]:
    """What a control owner's task shows and its form starts from (the entry as it stands)."""
    return {"control_id": row.control_id, "title": row.title, "codes": codes, "details": details,
            "owner_id": row.owner or _aims_owner(ctx), "applicable": row.applicable,
            "justification": row.justification, "exclusion_basis": row.exclusion_basis,
            "system_scope": row.system_scope, "system_ids": row.systems,
            "implementation_status": row.status if row.applicable else "not_started",
            "implementation_description": row.implementation_description,
            "target_date": row.target_date.isoformat() if row.target_date else None,
            "control_owner_id": row.owner, "evidence": [e.ref for e in row.evidence]}


@operator("soa.generate")
def soa_generate(ctx: OperatorContext, cycle_ref: str | None = None) -> dict[str, Any]:
    """D3: refresh the working SoA from the registers; ``gap_items`` has one item per control with a
    blocking gap (G1-G5), for its owner (the AIMS owner where the control has none)."""
    version, statement = soa.generate(ctx.session, ctx.clock, actor_id(ctx), ctx.instance.id)
    items = []
    for row in statement.rows:
        gaps = [g for g in statement.gaps if g.control_id == row.control_id and g.hard]
        if gaps:
            items.append(_gap_item(ctx, row, [g.code for g in gaps], [g.detail for g in gaps]))
    ctx.audit("soa_generated", subject=version.ref, version=version.version,
              gaps=[f"{g.code} {g.control_id or g.risk_ref}" for g in statement.gaps])
    return {"version_ref": version.ref, "version": version.version, "counts": statement.counts(),
            "gaps": [g.detail for g in statement.gaps], "hard_gap_count": len(statement.hard_gaps),
            "gap_items": items}


@operator("soa.update_entries")
def soa_update_entries(ctx: OperatorContext, items: list[dict[str, Any]]) -> dict[str, Any]:
    """D4: write the control owners' entries into the working SoA (each item as its form left it)."""
    version = _working(ctx)
    updated = []
    for item in items:
        reviewer = user_id(ctx, item.get("owner_id"))
        entry = soa.update_entry(ctx.session, ctx.clock, version, item["control_id"], item, reviewer)
        entry.reviewed_by_id = reviewer
        updated.append(item["control_id"])
    ctx.audit("soa_entries_updated", subject=version.ref, controls=updated)
    return {"updated": updated}


@operator("soa.reopen")
def soa_reopen(ctx: OperatorContext, controls: list[str], comment: str | None = None) -> dict[str, Any]:
    """D5: the AIMS owner sends entries back to their owners (one task per control)."""
    version = _working(ctx)
    statement = soa.compute(ctx.session, ctx.clock, version)
    known = set(r.control_id for r in statement.rows)
    unknown = [c for c in controls if c not in known]
    if unknown:
        raise InvalidInput(f"reopen_controls: {', '.join(unknown)} is not a control of the SoA")
    items = [_gap_item(ctx, statement.row(c), ["reopened"], [comment or "reopened by the AIMS owner"])
             for c in controls]
    ctx.audit("soa_entries_reopened", subject=version.ref, controls=list(controls), comment=comment)
    return {"gap_items": items}


@operator("soa.mark_in_review")
def soa_mark_in_review(ctx: OperatorContext, confirmed: bool, comment: str | None = None,
                       notes: str | None = None) -> dict[str, Any]:
    """D5: the AIMS owner's review; the working SoA goes ``in_review``."""
    version = _working(ctx)
    version.status = "in_review"
    _touch(ctx, version)
    statement = soa.compute(ctx.session, ctx.clock, version)
    ctx.audit("soa_reviewed", subject=version.ref, entries_confirmed=confirmed, remaining_gaps_comment=comment,
              notes=notes, open_gaps=[g.detail for g in statement.gaps])
    return {"version_ref": version.ref, "open_gaps": [g.detail for g in statement.gaps]}


@operator("soa.record_decision")
def soa_record_decision(ctx: OperatorContext, decision: str, approver: str | None,
                        comment: str | None = None) -> dict[str, Any]:
    """D6: top management's decision on the SoA, kept as an Approval record."""
    version = _working(ctx)
    if decision not in ("approve", "request_changes"):
        raise InvalidInput(f"decision must be approve or request_changes, not {decision!r}")
    record_approval(ctx, "soa_version", version.id, version.ref, "approval", decision, _actor_email(ctx, approver),
                    "top_management", comment)
    if decision == "request_changes":
        version.status = "generated"
        _touch(ctx, version)
    return {"decision": decision}


@operator("soa.publish")
def soa_publish(ctx: OperatorContext, approver: str | None, cycle_ref: str | None = None) -> dict[str, Any]:
    """D7: the approved SoA becomes the version in force (previous one superseded); the cycle points to it."""
    version = soa.working_version(ctx.session)
    if version is None:  # already published by an earlier run of this task
        done = soa.approved_version(ctx.session)
        if done is None or done.instance_id != ctx.instance.id:
            raise ConflictError("there is no SoA waiting for publication")
        version = done
    else:
        soa.publish(ctx.session, ctx.clock, version, user_id(ctx, _actor_email(ctx, approver)), ctx.instance.id)
    if cycle_ref:
        cycle = _cycle(ctx, cycle_ref)
        cycle.soa_version_id = version.id
        _touch(ctx, cycle)
    ctx.audit("soa_published", subject=version.ref, version=version.version)
    return {"version_ref": version.ref, "version": version.version}


# =========================================================================== the certification cycle

PROJECT_FIELDS = ("certification_body", "cb_accredited_for_42001", "accreditation_body", "cb_contact")


@operator("cert.open_cycle")
def open_cycle(ctx: OperatorContext, cycle_ref: str | None = None) -> dict[str, Any]:
    """D1: take the named certification cycle (or open a new one, ``planning``) for this instance."""
    row = None
    if cycle_ref:
        row = _cycle(ctx, cycle_ref)
    else:
        row = ctx.session.scalar(select(CertificationCycle).where(CertificationCycle.instance_id == ctx.instance.id))
    if row is None:
        ref = f"CERT-{today(ctx).year}"
        if ctx.session.scalar(select(CertificationCycle).where(CertificationCycle.ref == ref)) is not None:
            ref = refs.next_ref(ctx.session, "CERT")
        row = _new(ctx, CertificationCycle, ref, status="planning", certification_body="(to be named)",
                   iso_refs=["9.2.2", "9.3", "10.2"])
    elif row.status in ("certified", "refused", "withdrawn"):
        raise ConflictError(f"cycle {row.ref} is {row.status}; start a new cycle for a new certification")
    row.details = {**(row.details or {}), "prep_instance_id": ctx.instance.id}
    _touch(ctx, row)
    ctx.set_subject(row.ref)
    owner = _aims_owner(ctx)
    return {"cycle_ref": row.ref, "aims_owner_id": owner, "prepared_by_id": owner,
            "certification_body": None if row.certification_body == "(to be named)" else row.certification_body,
            "target_stage1_date": row.target_stage1_date.isoformat() if row.target_stage1_date else None,
            "target_stage2_date": row.target_stage2_date.isoformat() if row.target_stage2_date else None}


def _deadlines(cycle: CertificationCycle) -> dict[str, Any]:
    stage1, stage2 = cycle.target_stage1_date, cycle.target_stage2_date
    assert stage1 is not None and stage2 is not None
    return {"target_stage1_date": stage1.isoformat(), "target_stage2_date": stage2.isoformat(),
            "latest_action_due": _plus(stage1, "-P14D").isoformat(),
            "stage1_checkpoint_iso": _iso_day(_plus(stage1, "-P30D")),
            "stage2_go_deadline_iso": _iso_day(_plus(stage2, "-P14D"))}


@operator("cert.record_project")
def record_project(ctx: OperatorContext, cycle_ref: str, project: dict[str, Any]) -> dict[str, Any]:
    """D2: the certification project. Stage 2 must come at least 14 days after stage 1; a stage 1 less
    than 60 days away and a CB not accredited for ISO/IEC 42001 are recorded as warnings."""
    cycle = _cycle(ctx, cycle_ref)
    stage1 = as_date(project.get("target_stage1_date"), "target_stage1_date")
    stage2 = as_date(project.get("target_stage2_date"), "target_stage2_date")
    if stage1 is None or stage2 is None:
        raise InvalidInput("target_stage1_date and target_stage2_date are required")
    if stage2 <= _plus(stage1, "P14D"):
        raise InvalidInput(f"target_stage2_date {stage2} must be more than 14 days after target_stage1_date {stage1}")
    warnings = []
    if stage1 < _plus(today(ctx), "P60D"):
        warnings.append(f"stage 1 on {stage1} is less than 60 days away")
    if not project.get("cb_accredited_for_42001"):
        warnings.append("the certification body is not accredited for ISO/IEC 42001: a blocker for certification")
    for name in PROJECT_FIELDS:
        setattr(cycle, name, project.get(name))
    cycle.internal_point_of_contact_id = user_id(ctx, project.get("internal_point_of_contact_id"))
    cycle.aims_operating_since = as_date(project.get("aims_operating_since"), "aims_operating_since")
    cycle.target_stage1_date, cycle.target_stage2_date = stage1, stage2
    cycle.details = {**(cycle.details or {}), "project": project, "project_warnings": warnings}
    _touch(ctx, cycle, "planning" if cycle.status == "planning" else None)
    ctx.audit("cert_project_defined", subject=cycle.ref, certification_body=cycle.certification_body,
              target_stage1_date=stage1.isoformat(), target_stage2_date=stage2.isoformat(), warnings=warnings)
    return _deadlines(cycle) | {"warnings": warnings}


@operator("cert.readiness_checks")
def readiness_checks(ctx: OperatorContext, cycle_ref: str, round: int, subset: str = "full") -> dict[str, Any]:
    """D8 / (d3) 1: run the readiness checks into a ReadinessReview (one per round of this instance)."""
    cycle = _cycle(ctx, cycle_ref)
    checks = readiness.FULL + ("RC-21",) if subset == "full" else readiness.SURVEILLANCE_CHECKS
    report = readiness.run_checks(ctx.session, ctx.clock, checks)
    key = f"round {round} ({subset} checks)"
    review = next((r for r in ctx.session.scalars(select(ReadinessReview).where(
        ReadinessReview.cycle_id == cycle.id, ReadinessReview.instance_id == ctx.instance.id))
        if (r.rationale or "").startswith(key)), None)
    if review is None:
        review = _new(ctx, ReadinessReview, refs.next_ref(ctx.session, "RR"), cycle_id=cycle.id,
                      run_at=ctx.clock.now(), status="running", iso_refs=["4.4", "9.1"])
    review.run_at = ctx.clock.now()
    review.checks = [c.to_dict() for c in report.checks]
    review.blockers_count, review.warnings_count = len(report.blockers), len(report.warnings)
    review.score_pct = report.score_pct
    review.rationale = key
    _touch(ctx, review, "remediation" if report.blockers else "results_ready")
    if cycle.status in ("planning", "readiness_review"):
        _touch(ctx, cycle, "readiness_review")
    ctx.audit("readiness_checked", subject=review.ref, cycle=cycle.ref, blockers=[c.id for c in report.blockers],
              warnings=[c.id for c in report.warnings], score_pct=report.score_pct)
    return {"review_ref": review.ref, "blockers_count": len(report.blockers), "warnings_count": len(report.warnings),
            "score_pct": report.score_pct, "blockers": [f"{c.id}: {c.detail}" for c in report.blockers],
            "warnings": [f"{c.id}: {c.detail}" for c in report.warnings]}


@operator("cert.plan_remediation")
def plan_remediation(ctx: OperatorContext, review_ref: str, actions: list[dict[str, Any]] | None,
                     known_gaps: list[dict[str, Any]] | None, requester: str | None,
                     latest_due: str | None = None) -> dict[str, Any]:
    """D9: one ActionItem per remediation action, each carried out by an ``aims_action`` instance;
    soft checks may be accepted as known gaps instead. Due dates may not pass ``latest_due``."""
    review = ctx.session.scalar(select(ReadinessReview).where(ReadinessReview.ref == review_ref))
    if review is None:
        raise NotFound(f"no readiness review {review_ref!r}")
    limit = as_date(latest_due, "latest_due")
    created = []
    existing = {a.description: a for a in ctx.session.scalars(select(ActionItem).where(
        ActionItem.source_ref == review.ref, ActionItem.instance_id == ctx.instance.id))}
    for index, item in enumerate(actions or []):
        due = as_date(item.get("due_date"), f"actions/{index}/due_date")
        if due is not None and limit is not None and due > limit:
            raise InvalidInput(f"actions/{index}/due_date {due} is after {limit}, the latest a remediation action "
                               "may be due before the audit")
        if item["description"] in existing:
            continue
        row = _new(ctx, ActionItem, refs.next_ref(ctx.session, "ACT"), status="open", description=item["description"],
                   source_ref=review.ref, owner_id=user_id(ctx, item["owner_id"]), requester_id=user_id(ctx, requester),
                   due_date=due, needs_verification=True, iso_refs=["10.1"])
        ctx.start_process("aims_action", {"description": row.description, "owner_id": item["owner_id"],
                                          "due_date": due.isoformat() if due else None, "requester_id": requester,
                                          "needs_verification": True, "source_ref": review.ref,
                                          "action_ref": row.ref}, subject=row.ref)
        created.append(row.ref)
    if known_gaps:
        review.rationale = (review.rationale or "") + "; known gaps: " + "; ".join(
            f"{g.get('check')}: {g.get('rationale')}" for g in known_gaps)
    _touch(ctx, review, "remediation")
    ctx.audit("readiness_remediation_planned", subject=review.ref, actions=created, known_gaps=known_gaps or [])
    return {"actions": created}


@operator("cert.record_readiness_decision")
def record_readiness_decision(ctx: OperatorContext, review_ref: str, decision: str, rationale: str,
                              decided_by: str | None, known_risks: str | None = None) -> dict[str, Any]:
    """D10: the go/no-go by top management (SOD-10 is checked on the task), on the readiness review."""
    review = ctx.session.scalar(select(ReadinessReview).where(ReadinessReview.ref == review_ref))
    if review is None:
        raise NotFound(f"no readiness review {review_ref!r}")
    if decision not in ("go", "go_with_known_risks", "no_go"):
        raise InvalidInput(f"decision must be go, go_with_known_risks or no_go, not {decision!r}")
    decided_by = _actor_email(ctx, decided_by)
    review.decision, review.decided_by_id = decision, user_id(ctx, decided_by)
    review.decided_at = ctx.clock.now()
    review.rationale = f"{review.rationale or ''}; decision: {rationale}" + (
        f" Known risks: {known_risks}" if known_risks else "")
    _touch(ctx, review, "decided")
    record_approval(ctx, "readiness_review", review.id, review.ref, "approval", decision, decided_by,
                    "top_management", rationale, conditions=known_risks)
    return {"decision": decision}


@operator("cert.postpone_or_proceed")
def postpone_or_proceed(ctx: OperatorContext, cycle_ref: str, decision: str, rationale: str, decided_by: str | None,
                        new_target_stage1_date: str | None = None,
                        new_target_stage2_date: str | None = None) -> dict[str, Any]:
    """D9c: stage 1 is 30 days away with blockers left: postpone (new dates) or proceed with them."""
    cycle = _cycle(ctx, cycle_ref)
    record_approval(ctx, "certification_cycle", cycle.id, cycle.ref, "approval", decision,
                    _actor_email(ctx, decided_by), "top_management", rationale)
    if decision == "postpone_stage1":
        stage1 = as_date(new_target_stage1_date, "new_target_stage1_date")
        if stage1 is None or stage1 <= (cycle.target_stage1_date or today(ctx)):
            raise InvalidInput("new_target_stage1_date must be later than the current target stage 1 date")
        stage2 = as_date(new_target_stage2_date, "new_target_stage2_date") or \
            _plus(stage1, f"P{((cycle.target_stage2_date or stage1) - (cycle.target_stage1_date or stage1)).days}D")
        if stage2 <= _plus(stage1, "P14D"):
            raise InvalidInput(f"new_target_stage2_date {stage2} must be more than 14 days after stage 1 {stage1}")
        cycle.target_stage1_date, cycle.target_stage2_date = stage1, stage2
        _touch(ctx, cycle)
        ctx.audit("stage1_postponed", subject=cycle.ref, target_stage1_date=stage1.isoformat(), rationale=rationale)
    else:
        ctx.audit("stage1_proceed_with_blockers", subject=cycle.ref, rationale=rationale)
    return _deadlines(cycle) | {"decision": decision}


@operator("cert.build_evidence_pack")
def build_evidence_pack(ctx: OperatorContext, cycle_ref: str, audit_type: str, round: int) -> dict[str, Any]:
    """D11: freeze the evidence pack for the certification body: the audit pack's manifest (each file's
    sha256) and the zip's sha256 are kept on the cycle."""
    cycle = _cycle(ctx, cycle_ref)
    packs = list((cycle.details or {}).get("evidence_packs", []))
    key = {"instance_id": ctx.instance.id, "audit_type": audit_type, "round": round}
    found = next((p for p in packs if all(p.get(k) == v for k, v in key.items())), None)
    if found is None:
        pack = audit_pack.build(ctx.session, ctx.clock)
        found = key | {"generated_at": isoformat(pack.generated_at), "sha256": pack.sha256, "status": "frozen",
                       "manifest": pack.manifest, "audit_trail_ok": pack.verification.ok,
                       "expires_at": _plus(today(ctx), "P6M").isoformat()}
        packs.append(found)
        cycle.details = {**(cycle.details or {}), "evidence_packs": packs}
        _touch(ctx, cycle)
        ctx.audit("evidence_pack_frozen", subject=cycle.ref, audit_type=audit_type, sha256=pack.sha256,
                  files=len(pack.manifest))
    manifest = found["manifest"]
    return {"sha256": found["sha256"], "files": len(manifest) if isinstance(manifest, list) else 0}


@operator("cert.stage2_go")
def stage2_go(ctx: OperatorContext, cycle_ref: str, decision: str, rationale: str,
              new_stage2_date: str | None = None) -> dict[str, Any]:
    """D13a: stage 1 concerns are still open 14 days before stage 2: proceed, or ask the CB to postpone."""
    cycle = _cycle(ctx, cycle_ref)
    record_approval(ctx, "certification_cycle", cycle.id, cycle.ref, "approval", decision, _actor_email(ctx),
                    "top_management", rationale)
    if decision == "ask_cb_to_postpone":
        stage2 = as_date(new_stage2_date, "new_stage2_date")
        if stage2 is None or stage2 <= (cycle.target_stage2_date or today(ctx)):
            raise InvalidInput("new_stage2_date must be later than the current target stage 2 date")
        cycle.target_stage2_date = stage2
        _touch(ctx, cycle)
    ctx.audit("stage2_go_decision", subject=cycle.ref, decision=decision, rationale=rationale)
    return _deadlines(cycle) | {"decision": decision}


# =========================================================================== external audits


@operator("cert.open_external_audit")
def open_external_audit(ctx: OperatorContext, cycle_ref: str, audit_type: str, call_no: int) -> dict[str, Any]:
    """X0: the ExternalAudit row of this call (``scheduled``); the cycle moves to the stage's state."""
    if audit_type not in AUDIT_TYPES:
        raise InvalidInput(f"audit_type must be one of {', '.join(AUDIT_TYPES)}, not {audit_type!r}")
    cycle = _cycle(ctx, cycle_ref)
    row = next((a for a in ctx.session.scalars(select(ExternalAudit).where(
        ExternalAudit.cycle_id == cycle.id, ExternalAudit.instance_id == ctx.instance.id))
        if (a.details or {}).get("call_no") == call_no), None)
    if row is None:
        row = _new(ctx, ExternalAudit, refs.next_ref(ctx.session, "EXA"), cycle_id=cycle.id, type=audit_type,
                   status="scheduled", details={"call_no": call_no}, iso_refs=["9.2", "10.2"])
    if audit_type in SCHEDULED_STATUS:
        _touch(ctx, cycle, SCHEDULED_STATUS[audit_type])
    ctx.audit("external_audit_opened", subject=row.ref, cycle=cycle.ref, type=audit_type)
    return {"audit_ref": row.ref, "audit_type": audit_type}


@operator("cert.record_schedule")
def record_schedule(ctx: OperatorContext, audit_ref: str, schedule: dict[str, Any]) -> dict[str, Any]:
    """X1-X2: the CB's audit plan; interviewees and control owners are notified (audit event until the
    outbox sends mail). Returns the dates the diagram's timers and task deadlines use."""
    row = _external(ctx, audit_ref)
    start = as_date(schedule.get("planned_start"), "planned_start")
    end = as_date(schedule.get("planned_end"), "planned_end")
    if start is None or end is None or end < start:
        raise InvalidInput(f"planned_end {end} must not be before planned_start {start}")
    interviewees = [e for e in schedule.get("interviewee_ids") or []]
    if row.type != "stage1" and not interviewees:
        raise InvalidInput(f"interviewee_ids: a {row.type} audit needs its interviewees")
    for e in interviewees:
        directory.user_by_email(ctx.session, e)
    row.planned_start, row.planned_end = start, end
    row.cb_lead_auditor, row.mode = schedule.get("cb_lead_auditor"), schedule.get("mode")
    row.details = {**(row.details or {}), "schedule": schedule}
    _touch(ctx, row, "plan_received")
    ctx.audit("external_audit_participants_notified", subject=row.ref, interviewees=interviewees,
              planned_start=start.isoformat(), reminders=[_plus(start, "-P7D").isoformat(),
                                                          _plus(start, "-P1D").isoformat()])
    return {"planned_start_iso": _iso_day(start), "confirm_due_iso": _iso_day(_plus(start, "-P3D")),
            "log_due_iso": _iso_day(_plus(end, "P1D")), "outcome_due_iso": _iso_day(_plus(end, "P14D")),
            "interviewees": [{"user_id": e} for e in interviewees]}


@operator("cert.record_participation")
def record_participation(ctx: OperatorContext, audit_ref: str, confirmations: list[dict[str, Any]]) -> dict[str, Any]:
    """X3: interviewees' availability (a deputy named on a conflict)."""
    row = _external(ctx, audit_ref)
    for i, c in enumerate(confirmations):
        if c.get("availability") == "conflict" and not c.get("deputy_id"):
            raise InvalidInput(f"confirmations/{i}: a conflict needs a deputy")
    row.details = {**(row.details or {}), "participation": confirmations}
    _touch(ctx, row)
    return {"conflicts": sum(c.get("availability") == "conflict" for c in confirmations)}


@operator("cert.audit_started")
def audit_started(ctx: OperatorContext, audit_ref: str) -> dict[str, Any]:
    """X4: the planned start has come: the audit is ``in_progress``."""
    row = _external(ctx, audit_ref)
    _touch(ctx, row, "in_progress")
    return {"status": row.status}


@operator("cert.record_audit_log")
def record_audit_log(ctx: OperatorContext, audit_ref: str, log: dict[str, Any]) -> dict[str, Any]:
    """X5: the audit days: actual dates and the log of the CB's information requests."""
    row = _external(ctx, audit_ref)
    start = as_date(log.get("actual_start"), "actual_start")
    end = as_date(log.get("actual_end"), "actual_end")
    if start is None or end is None or end < start:
        raise InvalidInput(f"actual_end {end} must not be before actual_start {start}")
    row.actual_start, row.actual_end = start, end
    row.details = {**(row.details or {}), "information_requests": log.get("requests") or [],
                   "issues_during_audit": log.get("issues_during_audit")}
    _touch(ctx, row)
    return {"actual_end": end.isoformat()}


#: the ``source`` an NC raised by a CB finding carries (``aims_nc_capa``'s start form)
NC_SOURCES = {"stage1": "external_audit_stage1", "stage2": "external_audit_stage2", "surveillance": "surveillance",
              "recertification": "recertification", "special": "surveillance"}


def _nc_request(audit: ExternalAudit, finding: ExternalFinding) -> dict[str, Any]:
    """The start data of ``aims_nc_capa`` for a CB finding (its ``nc_report`` form): the CB's grade is
    fixed, its deadline kept; the NC flow appoints owner and verifier in triage."""
    severity = "major" if finding.type == "major_nc" else "minor"
    data: dict[str, Any] = {
        "source": NC_SOURCES[audit.type], "source_ref": finding.ref, "severity": severity,
        "suggested_severity": severity, "title": f"{finding.cb_ref}: {finding.statement}"[:200],
        "description": finding.statement[:5000], "requirement_ref": finding.clause_or_control or "internal_procedure",
        "external_due_date": finding.cb_due_date.isoformat() if finding.cb_due_date else None}
    if data["requirement_ref"] == "internal_procedure":
        data["internal_procedure_ref"] = f"certification body finding {finding.cb_ref}"
    return {k: v for k, v in data.items() if v is not None}


@operator("cert.register_findings")
def register_findings(ctx: OperatorContext, audit_ref: str, outcome: str, findings: list[dict[str, Any]] | None,
                      report_ref: str, next_audit_date: str | None = None) -> dict[str, Any]:
    """X6-X7: the CB's report: ExternalFinding rows; each stage 1 concern, major or minor NC starts an
    ``aims_nc_capa`` instance; OFIs and observations are kept for improvement. Stage 2 majors set the
    six-month repeat deadline."""
    row = _external(ctx, audit_ref)
    allowed = OUTCOMES[row.type]
    if outcome not in allowed:
        raise InvalidInput(f"outcome {outcome!r} does not fit a {row.type} audit; use {', '.join(allowed)}")
    if row.type == "stage1" and not next_audit_date:
        raise InvalidInput("next_audit_date (the stage 2 date) is required after stage 1")
    for i, f in enumerate(findings or []):
        if f.get("type") not in FINDING_TYPES:
            raise InvalidInput(f"findings/{i}/type must be one of {', '.join(FINDING_TYPES)}")
        if f["type"] in NC_FINDINGS and not f.get("cb_due_date"):
            raise InvalidInput(f"findings/{i}/cb_due_date is required for a {f['type']}")
        ref = f.get("clause_or_control")
        if ref and not catalogue.is_known_ref(ref) and ref != "internal_procedure":
            raise InvalidInput(f"findings/{i}/clause_or_control {ref!r} is neither a clause nor an Annex A control")
    existing = {x.cb_ref: x for x in ctx.session.scalars(select(ExternalFinding).where(
        ExternalFinding.external_audit_id == row.id))}
    nc_findings, improvements = [], []
    for f in findings or []:
        finding = existing.get(f["cb_ref"])
        new = finding is None
        if finding is None:
            finding = _new(ctx, ExternalFinding, refs.next_ref(ctx.session, "EXF"), external_audit_id=row.id,
                           cb_ref=f["cb_ref"], type=f["type"], statement=f["statement"], status="open",
                           cb_status="open", iso_refs=["10.2"])
        finding.clause_or_control = f.get("clause_or_control")
        finding.cb_due_date = as_date(f.get("cb_due_date"), "cb_due_date")
        if f["type"] not in NC_FINDINGS:
            finding.cb_status = finding.status = "closed"
            improvements.append(finding.ref)
            continue
        cb_due = as_date(f["cb_due_date"], "cb_due_date") or today(ctx)
        nc_findings.append({"finding_ref": finding.ref, "cb_ref": finding.cb_ref, "type": finding.type,
                            "statement": finding.statement, "cb_due_date": cb_due.isoformat(),
                            "submit_due_iso": _iso_day(max(_plus(cb_due, "-P3D"), today(ctx)))})
        if new:
            ctx.start_process("aims_nc_capa", _nc_request(row, finding), subject=finding.ref)
    row.outcome = outcome
    row.details = {**(row.details or {}), "report_ref": report_ref, "next_audit_date": next_audit_date,
                   "improvement_findings": improvements}
    _touch(ctx, row, "findings_open" if nc_findings else "report_received")
    repeat = None
    if row.type == "stage2" and any(f["type"] == "major_nc" for f in nc_findings):
        repeat = _iso_day(_plus(row.actual_end or today(ctx), "P6M"))
    ctx.audit("external_findings_registered", subject=row.ref, outcome=outcome,
              findings=[f["finding_ref"] for f in nc_findings], improvements=improvements, repeat_deadline=repeat)
    return {"outcome": outcome, "nc_findings": nc_findings, "repeat_deadline_iso": repeat,
            "concerns_count": sum(f["type"] == "stage1_concern" for f in nc_findings)}


@operator("cert.record_submission")
def record_submission(ctx: OperatorContext, finding_ref: str, submission: dict[str, Any]) -> dict[str, Any]:
    """X8: what was sent to the CB for a finding (CA plan, correction or CA evidence)."""
    finding = _finding(ctx, finding_ref)
    kind = submission.get("submission_type")
    finding.cb_status = "plan_submitted" if kind == "ca_plan" else "evidence_submitted"
    _touch(ctx, finding, "open")
    ctx.audit("cb_submission", subject=finding.ref, submission=submission)
    return {"cb_status": finding.cb_status}


@operator("cert.record_cb_response")
def record_cb_response(ctx: OperatorContext, finding_ref: str, response: dict[str, Any],
                       submission_type: str) -> dict[str, Any]:
    """X9: the CB's answer. Only the CB's response file makes a finding verified: ``accepted`` without
    one is refused."""
    finding = _finding(ctx, finding_ref)
    answer = response.get("cb_response")
    if answer == "accepted" and not response.get("cb_response_file"):
        raise InvalidInput("cb_response_file: the CB's response file is required to mark a finding accepted")
    if answer == "accepted":
        finding.cb_status = "plan_accepted" if submission_type == "ca_plan" else "verified"
    else:
        finding.cb_status = "open"
    _touch(ctx, finding, "closed" if finding.cb_status == "verified" else "open")
    ctx.audit("cb_response", subject=finding.ref, response=response, cb_status=finding.cb_status)
    return {"cb_status": finding.cb_status}


@operator("cert.flag_stage2_repeat")
def flag_stage2_repeat(ctx: OperatorContext, audit_ref: str) -> dict[str, Any]:
    """X9r: majors not verified within 6 months of the last stage 2 day: stage 2 is repeated."""
    row = _external(ctx, audit_ref)
    row.details = {**(row.details or {}), "stage2_repeat_required": True}
    _touch(ctx, row)
    ctx.audit("stage2_repeat_required", subject=row.ref)
    return {"stage2_repeat_required": True}


@operator("cert.close_external_audit")
def close_external_audit(ctx: OperatorContext, audit_ref: str) -> dict[str, Any]:
    """X10: the audit is ``closed``; the cycle records the stage as completed (``corrective_actions_pending``
    after stage 2 while NCs await the CB's verification). Returns what the caller branches on."""
    row = _external(ctx, audit_ref)
    cycle = ctx.session.get(CertificationCycle, row.cycle_id)
    assert cycle is not None
    findings = list(ctx.session.scalars(select(ExternalFinding).where(ExternalFinding.external_audit_id == row.id)))
    open_ncs = [f for f in findings if f.type in NC_FINDINGS and f.cb_status != "verified"]
    repeat = bool((row.details or {}).get("stage2_repeat_required"))
    _touch(ctx, row, "closed")
    if row.type == "stage1":
        _touch(ctx, cycle, "stage1_completed")
    elif row.type == "stage2":
        _touch(ctx, cycle, "corrective_actions_pending" if open_ncs and not repeat else "stage2_completed")
    ctx.audit("external_audit_closed", subject=row.ref, outcome=row.outcome, open_findings=[f.ref for f in open_ncs],
              stage2_repeat_required=repeat)
    return {"audit_ref": row.ref, "audit_type": row.type, "outcome": row.outcome,
            "concerns_open": sum(f.type == "stage1_concern" for f in findings),
            "nc_findings_count": sum(f.type in NC_FINDINGS for f in findings), "stage2_repeat_required": repeat}


# =========================================================================== decision and maintenance


@operator("cert.record_decision")
def record_decision(ctx: OperatorContext, cycle_ref: str, decision: dict[str, Any],
                    recorded_by: str | None) -> dict[str, Any]:
    """D15: the CB's certification decision as the AIMS owner records it."""
    cycle = _cycle(ctx, cycle_ref)
    verdict = decision.get("decision")
    decided = as_date(decision.get("decision_date"), "decision_date")
    if decided is None:
        raise InvalidInput("decision_date is required")
    cycle.details = {**(cycle.details or {}), "decision": decision}
    record_approval(ctx, "certification_cycle", cycle.id, cycle.ref, "sign_off", str(verdict),
                    _actor_email(ctx, recorded_by), "aims_owner", decision.get("certificate_scope_text"))
    if verdict == "refused":
        _touch(ctx, cycle, "refused")
        ctx.audit("certification_refused", subject=cycle.ref, management_review_input=True,
                  decision_date=decided.isoformat())
    else:
        if not decision.get("certificate_number"):
            raise InvalidInput("certificate_number is required when the certificate is granted")
        cycle.certificate_number = decision["certificate_number"]
        cycle.issued_at = as_date(decision.get("issued_at"), "issued_at") or decided
        cycle.expires_at = as_date(decision.get("expires_at"), "expires_at") or _plus(decided, "P3Y")
        _touch(ctx, cycle, "awaiting_decision")
    return {"decision": verdict}


def _maintenance_due(cycle: CertificationCycle, audit_type: str, audit_no: int) -> date:
    if audit_type == "recertification":
        assert cycle.recertification_due is not None
        return cycle.recertification_due
    due = cycle.surveillance_1_due if audit_no == 1 else cycle.surveillance_2_due
    assert due is not None
    return due


@operator("cert.activate_cycle")
def activate_cycle(ctx: OperatorContext, cycle_ref: str) -> dict[str, Any]:
    """D16: certified. Surveillance 1 within 12 months of the decision, surveillance 2 a year later,
    recertification started 9 months before expiry; the first ``aims_cert_maintenance`` is started
    (it waits until 90 days before its audit is due)."""
    cycle = _cycle(ctx, cycle_ref)
    decision = (cycle.details or {}).get("decision") or {}
    decided = as_date(decision.get("decision_date"), "decision_date") or today(ctx)
    cycle.surveillance_1_due = _plus(decided, "P12M")
    cycle.surveillance_2_due = _plus(decided, "P24M")
    assert cycle.expires_at is not None
    cycle.recertification_due = _plus(cycle.expires_at, "-P9M")
    already = (cycle.details or {}).get("maintenance_started", [])
    if "surveillance-1" not in already:
        ctx.start_process("aims_cert_maintenance", {"cycle_ref": cycle.ref, "audit_type": "surveillance",
                                                    "audit_no": 1}, subject=cycle.ref)
        cycle.details = {**(cycle.details or {}), "maintenance_started": [*already, "surveillance-1"]}
    _touch(ctx, cycle, "certified")
    ctx.audit("certificate_active", subject=cycle.ref, certificate_number=cycle.certificate_number,
              expires_at=cycle.expires_at.isoformat(), surveillance_1_due=cycle.surveillance_1_due.isoformat())
    return {"surveillance_1_due": cycle.surveillance_1_due.isoformat(), "expires_at": cycle.expires_at.isoformat()}


@operator("cert.open_maintenance")
def open_maintenance(ctx: OperatorContext, cycle_ref: str, audit_type: str, audit_no: int) -> dict[str, Any]:
    """(d3): when this surveillance or recertification starts: 90 days before a surveillance is due,
    9 months before the certificate expires for recertification."""
    if audit_type not in ("surveillance", "recertification"):
        raise InvalidInput(f"audit_type must be surveillance or recertification, not {audit_type!r}")
    cycle = _cycle(ctx, cycle_ref)
    if cycle.status not in ("certified", "surveillance_1_completed", "surveillance_2_completed"):
        raise ConflictError(f"cycle {cycle.ref} is {cycle.status}; only a certified cycle is maintained")
    due = _maintenance_due(cycle, audit_type, audit_no)
    start_at = due if audit_type == "recertification" else _plus(due, "-P90D")
    ctx.set_subject(f"{cycle.ref} {audit_type}{'' if audit_type == 'recertification' else f' {audit_no}'}")
    owner = _aims_owner(ctx)
    latest = _plus(cycle.expires_at, "-P3M") if audit_type == "recertification" and cycle.expires_at else \
        _plus(due, "-P14D")
    return {"start_at_iso": _iso_day(start_at), "due_date": due.isoformat(), "latest_action_due": latest.isoformat(),
            "aims_owner_id": owner,
            "prepared_by_id": owner, "subset": "full" if audit_type == "recertification" else "surveillance"}


@operator("cert.set_status")
def set_status(ctx: OperatorContext, cycle_ref: str, status: str, reason: str | None = None) -> dict[str, Any]:
    """Suspension, reinstatement and withdrawal of the certificate."""
    if status not in ("suspended", "certified", "withdrawn"):
        raise InvalidInput(f"status must be suspended, certified or withdrawn, not {status!r}")
    cycle = _cycle(ctx, cycle_ref)
    previous = cycle.status
    _touch(ctx, cycle, status)
    ctx.audit("certificate_status", subject=cycle.ref, previous=previous, status=status, reason=reason)
    return {"status": status}


@operator("cert.record_reinstatement_plan")
def record_reinstatement_plan(ctx: OperatorContext, cycle_ref: str, plan: dict[str, Any]) -> dict[str, Any]:
    cycle = _cycle(ctx, cycle_ref)
    cycle.details = {**(cycle.details or {}), "reinstatement_plan": plan}
    _touch(ctx, cycle)
    ctx.audit("reinstatement_plan", subject=cycle.ref, plan=plan)
    return {"recorded": True}


@operator("cert.advance_cycle")
def advance_cycle(ctx: OperatorContext, cycle_ref: str, audit_type: str, audit_no: int,
                  outcome: str | None) -> dict[str, Any]:
    """(d3) 4: after a surveillance, the next one (a year later) or recertification is started; after
    recertification, the certificate runs three more years and the next cycle's surveillance starts.
    A recertification the CB does not recommend ends the chain (the certificate expires)."""
    cycle = _cycle(ctx, cycle_ref)
    started = list((cycle.details or {}).get("maintenance_started", []))
    following: tuple[str, int] | None
    if audit_type == "surveillance":
        _touch(ctx, cycle, f"surveillance_{audit_no}_completed")
        following = ("surveillance", 2) if audit_no == 1 else ("recertification", 1)
    elif outcome == "not_recommend":
        cycle.details = {**(cycle.details or {}), "recertification_outcome": outcome}
        _touch(ctx, cycle, "certified")
        following = None
    else:
        assert cycle.expires_at is not None
        decided = cycle.expires_at
        cycle.issued_at, cycle.expires_at = decided, _plus(decided, "P3Y")
        cycle.surveillance_1_due, cycle.surveillance_2_due = _plus(decided, "P12M"), _plus(decided, "P24M")
        cycle.recertification_due = _plus(cycle.expires_at, "-P9M")
        _touch(ctx, cycle, "certified")
        following = ("surveillance", 1)
        started = [s for s in started if not s.startswith("surveillance")] + ["recertified"]
    key = f"{following[0]}-{following[1]}" if following else None
    if following is not None and key not in started:
        ctx.start_process("aims_cert_maintenance", {"cycle_ref": cycle.ref, "audit_type": following[0],
                                                    "audit_no": following[1]}, subject=cycle.ref)
        started.append(str(key))
    cycle.details = {**(cycle.details or {}), "maintenance_started": started}
    ctx.audit("certification_cycle_advanced", subject=cycle.ref, after=f"{audit_type} {audit_no}", outcome=outcome,
              next=key)
    return {"next": key, "status": cycle.status}

