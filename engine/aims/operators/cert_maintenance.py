"""Operators of the certificate (FLOWS.md (d)): the certification body's decision and the active
certificate (``aims_cert_prep`` D15-D16), then its maintenance (``aims_cert_maintenance``): when each
surveillance and recertification starts, suspension, reinstatement and withdrawal, and the cycle moving on
after each audit (``cert.*``).

Idempotency: a row an operator creates is found again before a second one is written, by its ref or
by the instance and round that created it (``details["instance_id"]`` / ``details["round"]``), so a
service task that runs again after a crash changes nothing twice.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from engine.aims.operators.cert import actor_email, aims_owner, cycle_row, iso_day, shift_date
from engine.aims.operators.common import as_date, record_approval, today, touch
from engine.aims.registers import CertificationCycle
from engine.core.errors import ConflictError, InvalidInput
from engine.core.operators import OperatorContext, operator


@operator("cert.record_decision")
def record_decision(ctx: OperatorContext, cycle_ref: str, decision: dict[str, Any],
                    recorded_by: str | None) -> dict[str, Any]:
    """D15: the CB's certification decision as the AIMS owner records it."""
    cycle = cycle_row(ctx, cycle_ref)
    verdict = decision.get("decision")
    decided = as_date(decision.get("decision_date"), "decision_date")
    if decided is None:
        raise InvalidInput("decision_date is required")
    cycle.details = {**(cycle.details or {}), "decision": decision}
    record_approval(ctx, "certification_cycle", cycle.id, cycle.ref, "sign_off", str(verdict),
                    actor_email(ctx, recorded_by), "aims_owner", decision.get("certificate_scope_text"))
    if verdict == "refused":
        touch(ctx, cycle, "refused")
        ctx.audit("certification_refused", subject=cycle.ref, management_review_input=True,
                  decision_date=decided.isoformat())
    else:
        if not decision.get("certificate_number"):
            raise InvalidInput("certificate_number is required when the certificate is granted")
        cycle.certificate_number = decision["certificate_number"]
        cycle.issued_at = as_date(decision.get("issued_at"), "issued_at") or decided
        cycle.expires_at = as_date(decision.get("expires_at"), "expires_at") or shift_date(decided, "P3Y")
        touch(ctx, cycle, "awaiting_decision")
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
    cycle = cycle_row(ctx, cycle_ref)
    decision = (cycle.details or {}).get("decision") or {}
    decided = as_date(decision.get("decision_date"), "decision_date") or today(ctx)
    cycle.surveillance_1_due = shift_date(decided, "P12M")
    cycle.surveillance_2_due = shift_date(decided, "P24M")
    assert cycle.expires_at is not None
    cycle.recertification_due = shift_date(cycle.expires_at, "-P9M")
    already = (cycle.details or {}).get("maintenance_started", [])
    if "surveillance-1" not in already:
        ctx.start_process("aims_cert_maintenance", {"cycle_ref": cycle.ref, "audit_type": "surveillance",
                                                    "audit_no": 1}, subject=cycle.ref)
        cycle.details = {**(cycle.details or {}), "maintenance_started": [*already, "surveillance-1"]}
    touch(ctx, cycle, "certified")
    ctx.audit("certificate_active", subject=cycle.ref, certificate_number=cycle.certificate_number,
              expires_at=cycle.expires_at.isoformat(), surveillance_1_due=cycle.surveillance_1_due.isoformat())
    return {"surveillance_1_due": cycle.surveillance_1_due.isoformat(), "expires_at": cycle.expires_at.isoformat()}


@operator("cert.open_maintenance")
def open_maintenance(ctx: OperatorContext, cycle_ref: str, audit_type: str, audit_no: int) -> dict[str, Any]:
    """(d3): when this surveillance or recertification starts: 90 days before a surveillance is due,
    9 months before the certificate expires for recertification."""
    if audit_type not in ("surveillance", "recertification"):
        raise InvalidInput(f"audit_type must be surveillance or recertification, not {audit_type!r}")
    cycle = cycle_row(ctx, cycle_ref)
    if cycle.status not in ("certified", "surveillance_1_completed", "surveillance_2_completed"):
        raise ConflictError(f"cycle {cycle.ref} is {cycle.status}; only a certified cycle is maintained")
    due = _maintenance_due(cycle, audit_type, audit_no)
    start_at = due if audit_type == "recertification" else shift_date(due, "-P90D")
    ctx.set_subject(f"{cycle.ref} {audit_type}{'' if audit_type == 'recertification' else f' {audit_no}'}")
    owner = aims_owner(ctx)
    latest = shift_date(cycle.expires_at, "-P3M") if audit_type == "recertification" and cycle.expires_at else \
        shift_date(due, "-P14D")
    return {"start_at_iso": iso_day(start_at), "due_date": due.isoformat(), "latest_action_due": latest.isoformat(),
            "aims_owner_id": owner,
            "prepared_by_id": owner, "subset": "full" if audit_type == "recertification" else "surveillance"}


@operator("cert.set_status")
def set_status(ctx: OperatorContext, cycle_ref: str, status: str, reason: str | None = None) -> dict[str, Any]:
    """Suspension, reinstatement and withdrawal of the certificate."""
    if status not in ("suspended", "certified", "withdrawn"):
        raise InvalidInput(f"status must be suspended, certified or withdrawn, not {status!r}")
    cycle = cycle_row(ctx, cycle_ref)
    previous = cycle.status
    touch(ctx, cycle, status)
    ctx.audit("certificate_status", subject=cycle.ref, previous=previous, status=status, reason=reason)
    return {"status": status}


@operator("cert.record_reinstatement_plan")
def record_reinstatement_plan(ctx: OperatorContext, cycle_ref: str, plan: dict[str, Any]) -> dict[str, Any]:
    cycle = cycle_row(ctx, cycle_ref)
    cycle.details = {**(cycle.details or {}), "reinstatement_plan": plan}
    touch(ctx, cycle)
    ctx.audit("reinstatement_plan", subject=cycle.ref, plan=plan)
    return {"recorded": True}


@operator("cert.advance_cycle")
def advance_cycle(ctx: OperatorContext, cycle_ref: str, audit_type: str, audit_no: int,
                  outcome: str | None) -> dict[str, Any]:
    """(d3) 4: after a surveillance, the next one (a year later) or recertification is started; after
    recertification, the certificate runs three more years and the next cycle's surveillance starts.
    A recertification the CB does not recommend ends the chain (the certificate expires)."""
    cycle = cycle_row(ctx, cycle_ref)
    started = list((cycle.details or {}).get("maintenance_started", []))
    following: tuple[str, int] | None
    if audit_type == "surveillance":
        touch(ctx, cycle, f"surveillance_{audit_no}_completed")
        following = ("surveillance", 2) if audit_no == 1 else ("recertification", 1)
    elif outcome == "not_recommend":
        cycle.details = {**(cycle.details or {}), "recertification_outcome": outcome}
        touch(ctx, cycle, "certified")
        following = None
    else:
        assert cycle.expires_at is not None
        decided = cycle.expires_at
        cycle.issued_at, cycle.expires_at = decided, shift_date(decided, "P3Y")
        cycle.surveillance_1_due, cycle.surveillance_2_due = shift_date(decided, "P12M"), shift_date(decided, "P24M")
        cycle.recertification_due = shift_date(cycle.expires_at, "-P9M")
        touch(ctx, cycle, "certified")
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
