"""Operators of the Statement of Applicability in certification preparation (FLOWS.md (d) D3-D7,
``aims_cert_prep``): the working SoA generated from the registers, the control owners' entries, the AIMS
owner's review, top management's decision and publication (``soa.*``, through ``engine/aims/soa.py``)."""

from __future__ import annotations

from typing import Any

from engine.aims import soa
from engine.aims.operators.cert import actor_email, aims_owner, cycle_row
from engine.aims.operators.common import actor_id, record_approval, touch, user_id
from engine.aims.registers import SoAVersion
from engine.core.errors import ConflictError, InvalidInput
from engine.core.operators import OperatorContext, operator


def _working(ctx: OperatorContext) -> SoAVersion:
    version = soa.working_version(ctx.session)
    if version is None:
        raise ConflictError("there is no SoA being prepared; generate it first (soa.generate)")
    return version


def _gap_item(ctx: OperatorContext, row: soa.Row, codes: list[str], details: list[str]) -> dict[str, Any]:
    """What a control owner's task shows and its form starts from (the entry as it stands)."""
    return {"control_id": row.control_id, "title": row.title, "codes": codes, "details": details,
            "owner_id": row.owner or aims_owner(ctx), "applicable": row.applicable,
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
    touch(ctx, version)
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
    record_approval(ctx, "soa_version", version.id, version.ref, "approval", decision, actor_email(ctx, approver),
                    "top_management", comment)
    if decision == "request_changes":
        version.status = "generated"
        touch(ctx, version)
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
        soa.publish(ctx.session, ctx.clock, version, user_id(ctx, actor_email(ctx, approver)), ctx.instance.id)
    if cycle_ref:
        cycle = cycle_row(ctx, cycle_ref)
        cycle.soa_version_id = version.id
        touch(ctx, cycle)
    ctx.audit("soa_published", subject=version.ref, version=version.version)
    return {"version_ref": version.ref, "version": version.version}
