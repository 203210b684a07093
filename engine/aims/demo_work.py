"""Open work for the demo organisation: a few process instances started through the services, so that
the demo logins find tasks in their inboxes (FLOWS.md's demo notes: an assessment mid-way, evidence to
review, a reported nonconformity, an audit and the certification project under way).

Started only on a database with no process instance yet, so loading the demo twice starts nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from engine.core import directory, services
from engine.core.errors import EngineError
from engine.core.models import ProcessInstance
from engine.core.runtime import Context

DOMAIN = "lumenvale.example"

#: (process, the demo user who starts it, start data); users are e-mail local parts
OPEN_WORK: list[tuple[str, str, dict[str, Any]]] = [
    ("aims_risk_assessment", "priya.raman", {
        "assessment_scope": "ai_system", "scope_ref": "AIS-002", "trigger": "periodic",
        "assessor_id": f"sofia.rossi@{DOMAIN}"}),
    ("aims_aiia", "priya.raman", {"ai_system_id": "AIS-003", "trigger": "periodic"}),
    ("aims_evidence_review", "priya.raman", {"evidence_ref": "EVD-018", "trigger": "submitted"}),
    ("aims_nc_capa", "tomas.alvarez", {
        "title": "Drift alerts of the credit model were not reviewed for three weeks",
        "description": "The weekly drift report of AIS-002 was generated but nobody reviewed it between "
                       "two releases; the monitoring procedure asks for a weekly review.",
        "requirement_ref": "A.6.2.6", "suggested_severity": "minor", "source": "self_identified"}),
    ("aims_internal_audit", "priya.raman", {"audit_ref": "IA-2026-02"}),
    ("aims_cert_prep", "priya.raman", {"cycle_ref": "CERT-2026"}),
]


@dataclass
class Started:
    process_id: str
    instance_id: int | None
    tasks: list[str]
    error: str | None = None


def start_open_work(ctx: Context) -> list[Started]:
    """Start the demo's open work (nothing when any instance exists). Each start is its own savepoint:
    one that fails is reported with its reason and leaves nothing behind."""
    if ctx.session.scalar(select(func.count()).select_from(ProcessInstance)):
        return []
    started = []
    for process_id, starter, data in OPEN_WORK:
        actor = directory.user_by_email(ctx.session, f"{starter}@{DOMAIN}")
        savepoint = ctx.session.begin_nested()
        try:
            outcome = services.start_process(ctx, actor, process_id, data)
        except EngineError as exc:
            savepoint.rollback()
            started.append(Started(process_id, None, [], exc.message))
            continue
        savepoint.commit()
        tasks = [f"{t.name} ({directory.email_of(ctx.session, t.assignee_id) or t.role})"
                 for t in outcome.new_tasks]
        started.append(Started(process_id, outcome.instance.id, tasks))
    return started
