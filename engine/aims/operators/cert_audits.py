"""Operators of an external audit by the certification body (FLOWS.md (d): ``aims_external_audit``): the
audit and its schedule, participation, the audit days, the CB's report and findings (each nonconformity
handed to ``aims_nc_capa``), what is submitted to the CB and its answers, and closing the audit (``cert.*``).

Idempotency: a row an operator creates is found again before a second one is written, by its ref or
by the instance and round that created it (``details["instance_id"]`` / ``details["round"]``), so a
service task that runs again after a crash changes nothing twice.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from engine.aims import catalogue
from engine.aims.operators.cert import cycle_row, iso_day, new_row, shift_date
from engine.aims.operators.common import as_date, by_ref, today, touch
from engine.aims.registers import CertificationCycle, ExternalAudit, ExternalFinding
from engine.core import directory, refs
from engine.core.errors import InvalidInput
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


def _external(ctx: OperatorContext, ref: str) -> ExternalAudit:
    return by_ref(ctx, ExternalAudit, ref, "no external audit")


def _finding(ctx: OperatorContext, ref: str) -> ExternalFinding:
    return by_ref(ctx, ExternalFinding, ref, "no external finding")


def _date_range(values: dict[str, Any], start_field: str, end_field: str) -> tuple[date, date]:
    """The dates ``values[start_field]`` and ``values[end_field]``. Raises InvalidInput unless both are
    given and the end is not before the start."""
    start = as_date(values.get(start_field), start_field)
    end = as_date(values.get(end_field), end_field)
    if start is None or end is None or end < start:
        raise InvalidInput(f"{end_field} {end} must not be before {start_field} {start}")
    return start, end


@operator("cert.open_external_audit")
def open_external_audit(ctx: OperatorContext, cycle_ref: str, audit_type: str, call_no: int) -> dict[str, Any]:
    """X0: the ExternalAudit row of this call (``scheduled``); the cycle moves to the stage's state."""
    if audit_type not in AUDIT_TYPES:
        raise InvalidInput(f"audit_type must be one of {', '.join(AUDIT_TYPES)}, not {audit_type!r}")
    cycle = cycle_row(ctx, cycle_ref)
    row = next((a for a in ctx.session.scalars(select(ExternalAudit).where(
        ExternalAudit.cycle_id == cycle.id, ExternalAudit.instance_id == ctx.instance.id))
        if (a.details or {}).get("call_no") == call_no), None)
    if row is None:
        row = new_row(ctx, ExternalAudit, refs.next_ref(ctx.session, "EXA"), cycle_id=cycle.id, type=audit_type,
                      status="scheduled", details={"call_no": call_no}, iso_refs=["9.2", "10.2"])
    if audit_type in SCHEDULED_STATUS:
        touch(ctx, cycle, SCHEDULED_STATUS[audit_type])
    ctx.audit("external_audit_opened", subject=row.ref, cycle=cycle.ref, type=audit_type)
    return {"audit_ref": row.ref, "audit_type": audit_type}


@operator("cert.record_schedule")
def record_schedule(ctx: OperatorContext, audit_ref: str, schedule: dict[str, Any]) -> dict[str, Any]:
    """X1-X2: the CB's audit plan; interviewees and control owners are notified (audit event until the
    outbox sends mail). Returns the dates the diagram's timers and task deadlines use."""
    row = _external(ctx, audit_ref)
    start, end = _date_range(schedule, "planned_start", "planned_end")
    interviewees = [e for e in schedule.get("interviewee_ids") or []]
    if row.type != "stage1" and not interviewees:
        raise InvalidInput(f"interviewee_ids: a {row.type} audit needs its interviewees")
    for e in interviewees:
        directory.user_by_email(ctx.session, e)
    row.planned_start, row.planned_end = start, end
    row.cb_lead_auditor, row.mode = schedule.get("cb_lead_auditor"), schedule.get("mode")
    row.details = {**(row.details or {}), "schedule": schedule}
    touch(ctx, row, "plan_received")
    ctx.audit("external_audit_participants_notified", subject=row.ref, interviewees=interviewees,
              planned_start=start.isoformat(), reminders=[shift_date(start, "-P7D").isoformat(),
                                                          shift_date(start, "-P1D").isoformat()])
    return {"planned_start_iso": iso_day(start), "confirm_due_iso": iso_day(shift_date(start, "-P3D")),
            "log_due_iso": iso_day(shift_date(end, "P1D")), "outcome_due_iso": iso_day(shift_date(end, "P14D")),
            "interviewees": [{"user_id": e} for e in interviewees]}


@operator("cert.record_participation")
def record_participation(ctx: OperatorContext, audit_ref: str, confirmations: list[dict[str, Any]]) -> dict[str, Any]:
    """X3: interviewees' availability (a deputy named on a conflict)."""
    row = _external(ctx, audit_ref)
    for i, c in enumerate(confirmations):
        if c.get("availability") == "conflict" and not c.get("deputy_id"):
            raise InvalidInput(f"confirmations/{i}: a conflict needs a deputy")
    row.details = {**(row.details or {}), "participation": confirmations}
    touch(ctx, row)
    return {"conflicts": sum(c.get("availability") == "conflict" for c in confirmations)}


@operator("cert.audit_started")
def audit_started(ctx: OperatorContext, audit_ref: str) -> dict[str, Any]:
    """X4: the planned start has come: the audit is ``in_progress``."""
    row = _external(ctx, audit_ref)
    touch(ctx, row, "in_progress")
    return {"status": row.status}


@operator("cert.record_audit_log")
def record_audit_log(ctx: OperatorContext, audit_ref: str, log: dict[str, Any]) -> dict[str, Any]:
    """X5: the audit days: actual dates and the log of the CB's information requests."""
    row = _external(ctx, audit_ref)
    start, end = _date_range(log, "actual_start", "actual_end")
    row.actual_start, row.actual_end = start, end
    row.details = {**(row.details or {}), "information_requests": log.get("requests") or [],
                   "issues_during_audit": log.get("issues_during_audit")}
    touch(ctx, row)
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
            finding = new_row(ctx, ExternalFinding, refs.next_ref(ctx.session, "EXF"), external_audit_id=row.id,
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
                            "submit_due_iso": iso_day(max(shift_date(cb_due, "-P3D"), today(ctx)))})
        if new:
            ctx.start_process("aims_nc_capa", _nc_request(row, finding), subject=finding.ref)
    row.outcome = outcome
    row.details = {**(row.details or {}), "report_ref": report_ref, "next_audit_date": next_audit_date,
                   "improvement_findings": improvements}
    touch(ctx, row, "findings_open" if nc_findings else "report_received")
    repeat = None
    if row.type == "stage2" and any(f["type"] == "major_nc" for f in nc_findings):
        repeat = iso_day(shift_date(row.actual_end or today(ctx), "P6M"))
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
    touch(ctx, finding, "open")
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
    touch(ctx, finding, "closed" if finding.cb_status == "verified" else "open")
    ctx.audit("cb_response", subject=finding.ref, response=response, cb_status=finding.cb_status)
    return {"cb_status": finding.cb_status}


@operator("cert.flag_stage2_repeat")
def flag_stage2_repeat(ctx: OperatorContext, audit_ref: str) -> dict[str, Any]:
    """X9r: majors not verified within 6 months of the last stage 2 day: stage 2 is repeated."""
    row = _external(ctx, audit_ref)
    row.details = {**(row.details or {}), "stage2_repeat_required": True}
    touch(ctx, row)
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
    touch(ctx, row, "closed")
    if row.type == "stage1":
        touch(ctx, cycle, "stage1_completed")
    elif row.type == "stage2":
        touch(ctx, cycle, "corrective_actions_pending" if open_ncs and not repeat else "stage2_completed")
    ctx.audit("external_audit_closed", subject=row.ref, outcome=row.outcome, open_findings=[f.ref for f in open_ncs],
              stage2_repeat_required=repeat)
    return {"audit_ref": row.ref, "audit_type": row.type, "outcome": row.outcome,
            "concerns_open": sum(f.type == "stage1_concern" for f in findings),
            "nc_findings_count": sum(f.type in NC_FINDINGS for f in findings), "stage2_repeat_required": repeat}
