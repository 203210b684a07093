"""Operators of certification preparation (FLOWS.md (d): ``aims_cert_prep``): the certification cycle,
its project and target dates, postponing stage 1 or stage 2 and the evidence pack frozen for the
certification body (``cert.*``); and the helpers the other certification modules share:

* ``cert_soa``: the Statement of Applicability (``soa.*``, through ``engine/aims/soa.py``);
* ``cert_readiness``: readiness reviews, their remediation and the go/no-go (preparation and maintenance);
* ``cert_audits``: external audits and the certification body's findings (``aims_external_audit``);
* ``cert_maintenance``: the certification decision, surveillance and recertification
  (``aims_cert_maintenance``).

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

from engine.aims import audit_pack, roles
from engine.aims.operators.common import actor_id, as_date, by_ref, email, record_approval, today, touch, user_id
from engine.aims.registers import CertificationCycle
from engine.core import refs
from engine.core.clock import isoformat
from engine.core.errors import ConflictError, InvalidInput
from engine.core.operators import OperatorContext, operator

# =========================================================================== helpers of the cert_* modules


def new_row(ctx: OperatorContext, model: Any, ref: str, **values: Any) -> Any:
    """A new register row ``ref`` created by this instance (added and flushed)."""
    now = ctx.clock.now()
    row = model(ref=ref, created_at=now, updated_at=now, created_by_id=actor_id(ctx), instance_id=ctx.instance.id,
                **values)
    ctx.session.add(row)
    ctx.session.flush()
    return row


def cycle_row(ctx: OperatorContext, ref: str) -> CertificationCycle:
    return by_ref(ctx, CertificationCycle, ref, "cycle_ref: no certification cycle")


def iso_day(day: date, clock_time: time = time(0, 0)) -> str:
    """A date as the ISO date-time a ``timeDate`` timer takes (UTC)."""
    return datetime.combine(day, clock_time, UTC).isoformat()


_DAY_DURATION = re.compile(r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?")


def shift_date(day: date, duration: str) -> date:
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


def actor_email(ctx: OperatorContext, given: str | None = None) -> str | None:
    """``given``, else the user whose task completion is running this service task."""
    return given or (ctx.actor.email if ctx.actor is not None else None)


def aims_owner(ctx: OperatorContext) -> str | None:
    org = roles.organisation(ctx.session)
    return email(ctx, org.aims_owner_id) if org else None


# =========================================================================== the certification cycle

PROJECT_FIELDS = ("certification_body", "cb_accredited_for_42001", "accreditation_body", "cb_contact")
#: the certification body of a cycle opened before anyone named it
UNNAMED_BODY = "(to be named)"


@operator("cert.open_cycle")
def open_cycle(ctx: OperatorContext, cycle_ref: str | None = None) -> dict[str, Any]:
    """D1: take the named certification cycle (or open a new one, ``planning``) for this instance."""
    row = None
    if cycle_ref:
        row = cycle_row(ctx, cycle_ref)
    else:
        row = ctx.session.scalar(select(CertificationCycle).where(CertificationCycle.instance_id == ctx.instance.id))
    if row is None:
        ref = f"CERT-{today(ctx).year}"
        if ctx.session.scalar(select(CertificationCycle).where(CertificationCycle.ref == ref)) is not None:
            ref = refs.next_ref(ctx.session, "CERT")
        row = new_row(ctx, CertificationCycle, ref, status="planning", certification_body=UNNAMED_BODY,
                      iso_refs=["9.2.2", "9.3", "10.2"])
    elif row.status in ("certified", "refused", "withdrawn"):
        raise ConflictError(f"cycle {row.ref} is {row.status}; start a new cycle for a new certification")
    row.details = {**(row.details or {}), "prep_instance_id": ctx.instance.id}
    touch(ctx, row)
    ctx.set_subject(row.ref)
    owner = aims_owner(ctx)
    return {"cycle_ref": row.ref, "aims_owner_id": owner, "prepared_by_id": owner,
            "project": project_so_far(ctx, row)}


def project_so_far(ctx: OperatorContext, cycle: CertificationCycle) -> dict[str, Any]:
    """What the register already holds of the cycle's project, as the project form's values: the
    certification body, its contact and accreditation, the point of contact and the dates the
    organisation typed into the register (or an earlier run of this step recorded), so the AIMS owner
    checks them rather than typing them again. Fields the register leaves empty are left out."""
    details = cycle.details or {}
    values: dict[str, Any] = {"scope_ref": details["scope_ref"]} if isinstance(details.get("scope_ref"), str) else {}
    if isinstance(details.get("project"), dict):
        values.update(details["project"])
    named_body = cycle.certification_body != UNNAMED_BODY
    named = {
        "certification_body": cycle.certification_body if named_body else None,
        "cb_accredited_for_42001": cycle.cb_accredited_for_42001 if named_body else None,
        "accreditation_body": cycle.accreditation_body, "cb_contact": cycle.cb_contact,
        "internal_point_of_contact_id": email(ctx, cycle.internal_point_of_contact_id),
        "aims_operating_since": cycle.aims_operating_since, "target_stage1_date": cycle.target_stage1_date,
        "target_stage2_date": cycle.target_stage2_date,
    }
    for name, value in named.items():
        if value not in (None, ""):
            values[name] = value.isoformat() if isinstance(value, date) else value
    return values


def _deadlines(cycle: CertificationCycle) -> dict[str, Any]:
    stage1, stage2 = cycle.target_stage1_date, cycle.target_stage2_date
    assert stage1 is not None and stage2 is not None
    return {"target_stage1_date": stage1.isoformat(), "target_stage2_date": stage2.isoformat(),
            "latest_action_due": shift_date(stage1, "-P14D").isoformat(),
            "stage1_checkpoint_iso": iso_day(shift_date(stage1, "-P30D")),
            "stage2_go_deadline_iso": iso_day(shift_date(stage2, "-P14D"))}


@operator("cert.record_project")
def record_project(ctx: OperatorContext, cycle_ref: str, project: dict[str, Any]) -> dict[str, Any]:
    """D2: the certification project. Stage 2 must come at least 14 days after stage 1; a stage 1 less
    than 60 days away and a CB not accredited for ISO/IEC 42001 are recorded as warnings."""
    cycle = cycle_row(ctx, cycle_ref)
    stage1 = as_date(project.get("target_stage1_date"), "target_stage1_date")
    stage2 = as_date(project.get("target_stage2_date"), "target_stage2_date")
    if stage1 is None or stage2 is None:
        raise InvalidInput("target_stage1_date and target_stage2_date are required")
    if stage2 <= shift_date(stage1, "P14D"):
        raise InvalidInput(f"target_stage2_date {stage2} must be more than 14 days after target_stage1_date {stage1}")
    warnings = []
    if stage1 < shift_date(today(ctx), "P60D"):
        warnings.append(f"stage 1 on {stage1} is less than 60 days away")
    if not project.get("cb_accredited_for_42001"):
        warnings.append("the certification body is not accredited for ISO/IEC 42001: a blocker for certification")
    for name in PROJECT_FIELDS:
        setattr(cycle, name, project.get(name))
    cycle.internal_point_of_contact_id = user_id(ctx, project.get("internal_point_of_contact_id"))
    cycle.aims_operating_since = as_date(project.get("aims_operating_since"), "aims_operating_since")
    cycle.target_stage1_date, cycle.target_stage2_date = stage1, stage2
    cycle.details = {**(cycle.details or {}), "project": project, "project_warnings": warnings}
    touch(ctx, cycle, "planning" if cycle.status == "planning" else None)
    ctx.audit("cert_project_defined", subject=cycle.ref, certification_body=cycle.certification_body,
              target_stage1_date=stage1.isoformat(), target_stage2_date=stage2.isoformat(), warnings=warnings)
    return _deadlines(cycle) | {"warnings": warnings}


@operator("cert.postpone_or_proceed")
def postpone_or_proceed(ctx: OperatorContext, cycle_ref: str, decision: str, rationale: str, decided_by: str | None,
                        new_target_stage1_date: str | None = None,
                        new_target_stage2_date: str | None = None) -> dict[str, Any]:
    """D9c: stage 1 is 30 days away with blockers left: postpone (new dates) or proceed with them."""
    cycle = cycle_row(ctx, cycle_ref)
    record_approval(ctx, "certification_cycle", cycle.id, cycle.ref, "approval", decision,
                    actor_email(ctx, decided_by), "top_management", rationale)
    if decision == "postpone_stage1":
        stage1 = as_date(new_target_stage1_date, "new_target_stage1_date")
        if stage1 is None or stage1 <= (cycle.target_stage1_date or today(ctx)):
            raise InvalidInput("new_target_stage1_date must be later than the current target stage 1 date")
        gap = (cycle.target_stage2_date or stage1) - (cycle.target_stage1_date or stage1)
        stage2 = as_date(new_target_stage2_date, "new_target_stage2_date") or shift_date(stage1, f"P{gap.days}D")
        if stage2 <= shift_date(stage1, "P14D"):
            raise InvalidInput(f"new_target_stage2_date {stage2} must be more than 14 days after stage 1 {stage1}")
        cycle.target_stage1_date, cycle.target_stage2_date = stage1, stage2
        touch(ctx, cycle)
        ctx.audit("stage1_postponed", subject=cycle.ref, target_stage1_date=stage1.isoformat(), rationale=rationale)
    else:
        ctx.audit("stage1_proceed_with_blockers", subject=cycle.ref, rationale=rationale)
    return _deadlines(cycle) | {"decision": decision}


@operator("cert.build_evidence_pack")
def build_evidence_pack(ctx: OperatorContext, cycle_ref: str, audit_type: str, round: int) -> dict[str, Any]:
    """D11: freeze the evidence pack for the certification body: the audit pack's manifest (each file's
    sha256) and the zip's sha256 are kept on the cycle."""
    cycle = cycle_row(ctx, cycle_ref)
    packs = list((cycle.details or {}).get("evidence_packs", []))
    key = {"instance_id": ctx.instance.id, "audit_type": audit_type, "round": round}
    found = next((p for p in packs if all(p.get(k) == v for k, v in key.items())), None)
    if found is None:
        pack = audit_pack.build(ctx.session, ctx.clock, evidence_dir=ctx.settings.evidence_dir)
        found = key | {"generated_at": isoformat(pack.generated_at), "sha256": pack.sha256, "status": "frozen",
                       "manifest": pack.manifest, "audit_trail_ok": pack.verification.ok,
                       "expires_at": shift_date(today(ctx), "P6M").isoformat()}
        packs.append(found)
        cycle.details = {**(cycle.details or {}), "evidence_packs": packs}
        touch(ctx, cycle)
        ctx.audit("evidence_pack_frozen", subject=cycle.ref, audit_type=audit_type, sha256=pack.sha256,
                  files=len(pack.manifest))
    manifest = found["manifest"]
    return {"sha256": found["sha256"], "files": len(manifest) if isinstance(manifest, list) else 0}


@operator("cert.stage2_go")
def stage2_go(ctx: OperatorContext, cycle_ref: str, decision: str, rationale: str,
              new_stage2_date: str | None = None) -> dict[str, Any]:
    """D13a: stage 1 concerns are still open 14 days before stage 2: proceed, or ask the CB to postpone."""
    cycle = cycle_row(ctx, cycle_ref)
    record_approval(ctx, "certification_cycle", cycle.id, cycle.ref, "approval", decision, actor_email(ctx),
                    "top_management", rationale)
    if decision == "ask_cb_to_postpone":
        stage2 = as_date(new_stage2_date, "new_stage2_date")
        if stage2 is None or stage2 <= (cycle.target_stage2_date or today(ctx)):
            raise InvalidInput("new_stage2_date must be later than the current target stage 2 date")
        cycle.target_stage2_date = stage2
        touch(ctx, cycle)
    ctx.audit("stage2_go_decision", subject=cycle.ref, decision=decision, rationale=rationale)
    return _deadlines(cycle) | {"decision": decision}
