"""``AuditFlow`` and ``ProgrammeFlow`` drive ``aims_internal_audit`` and ``aims_audit_programme`` with valid
form data, so tests walk a path and then look at the registers.

People (demo organisation): priya (AIMS owner) appoints the team and reviews the report; daniel and
hannah are trained internal auditors (hannah assessed AIS-001's risk and impact assessment, so she may
not audit it); meilin owns Ask Lumi (AIS-002) and the controls A.8.2 and A.8.3, and is the auditee;
grace and amara are top management.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine.aims import catalogue
from engine.aims.registers import Approval, Audit, AuditFinding, AuditProgramme
from engine.core.runtime import Context

from .flow_driver import FlowDriver
from .helpers import email

START, END = "2027-02-15", "2027-02-19"
SCOPE = {"clauses": ["8.1", "8.2"], "controls": ["A.8.2", "A.8.3"], "ai_systems": ["AIS-002"]}


def unplanned(**changes: Any) -> dict[str, Any]:
    data = {"title": "Operation of Ask Lumi", "objectives": "Check operational planning and user information",
            "scope_clauses": SCOPE["clauses"], "scope_controls": SCOPE["controls"],
            "scope_ai_systems": SCOPE["ai_systems"], "planned_start": START, "planned_end": END,
            "method": "hybrid", "reason": "complaints about chatbot answers"}
    return data | changes


def plan(auditees: tuple[str, ...] = ("meilin",), **changes: Any) -> dict[str, Any]:
    data = {"objectives": "Confirm 8.1 and 8.2 for Ask Lumi", "scope": dict(SCOPE),
            "criteria": ["iso42001_clauses", "annex_a_controls"], "methods": ["interview", "document_review"],
            "schedule": [{"date": START, "start_time": "09:30", "topic": f"Interview {a}", "auditee_id": email(a)}
                         for a in auditees],
            "sampling_approach": "five chatbot transcripts per month", "auditee_ids": [email(a) for a in auditees]}
    return data | changes


def results(checklist: list[dict[str, Any]], **rated: str) -> dict[str, Any]:
    """Fieldwork data: every checklist item conforming unless ``rated`` says otherwise (A_8_2="minor_nc")."""
    items = []
    for item in checklist:
        result = rated.get(item["item_ref"].replace(".", "_"), "conforming")
        row = {"item_ref": item["item_ref"], "result": result, "evidence_refs": ["EVD-010 transcript sample"]}
        if item.get("follow_up_of"):
            row["follow_up_of"] = item["follow_up_of"]
        items.append(row)
    return {"opening_meeting_held": True, "checklist": items,
            "interviews_held": [{"person": "Mei Lin Chen", "role": "system owner", "date": START}]}


def finding(kind: str = "minor_nc", ref: str = "A.8.2", auditee: str = "meilin") -> dict[str, Any]:
    return {"type": kind, "clause_or_control": ref, "statement": f"{ref} is not applied to every release",
            "criterion": f"ISO/IEC 42001 {ref}", "objective_evidence": "release notes of June lack user information",
            "auditee_id": email(auditee)}


def findings(*items: dict[str, Any]) -> dict[str, Any]:
    return {"findings": list(items), "closing_meeting_held": True, "closing_meeting_date": END}


def report(*distribution: str, conformity: str = "conforms_with_minor_nc") -> dict[str, Any]:
    return {"executive_summary": "Operation is planned and controlled with one lapse",
            "conclusion_conformity": conformity, "conclusion_effectiveness": "effective for this scope",
            "distribution": [email(k) for k in distribution or ("meilin", "priya")]}


DECLARE = {"no_conflict": True, "confidentiality_ack": True}
CONFIRMED = {"availability": "confirmed", "documents_provided": ["DOC-PROC-001"]}


class AuditFlow(FlowDriver):
    def __init__(self, ctx: Context):
        super().__init__(ctx, "aims_internal_audit")

    def start_unplanned(self, **changes: Any) -> None:
        self.start("priya", {"unplanned": unplanned(**changes)})

    @property
    def ref(self) -> str:
        assert self.instance is not None and self.instance.subject is not None
        return self.instance.subject

    def appoint(self, lead: str = "daniel", *team: str) -> None:
        data: dict[str, Any] = {"lead_auditor_id": email(lead), "scope_confirmed": True}
        if team:
            data["team_ids"] = [email(t) for t in team]
        self.complete("priya", "ut_appoint_audit_team", data)

    def declare(self, *auditors: str) -> None:
        for key in auditors or ("daniel",):
            self.complete(key, "ut_auditor_declaration", DECLARE)

    def plan_and_prepare(self, lead: str = "daniel", auditees: tuple[str, ...] = ("meilin",)) -> None:
        self.complete(lead, "ut_prepare_audit_plan", plan(auditees))
        for key in auditees:
            self.complete(key, "ut_auditee_prepare", CONFIRMED)

    def to_fieldwork(self, lead: str = "daniel") -> None:
        """Start an unplanned audit of Ask Lumi and walk it to fieldwork with ``lead`` auditing."""
        self.start_unplanned()
        self.appoint(lead)
        self.declare(lead)
        self.plan_and_prepare(lead)
        self.fire_timer("tm_planned_start")

    def fieldwork(self, lead: str = "daniel", **rated: str) -> None:
        self.complete(lead, "ut_fieldwork", results(self.audit().checklist, **rated))

    # --- registers

    def audit(self) -> Audit:
        row = self.session.scalar(select(Audit).where(Audit.ref == self.ref))
        assert row is not None
        return row

    def findings(self) -> list[AuditFinding]:
        return list(self.session.scalars(select(AuditFinding).where(AuditFinding.audit_id == self.audit().id)
                                         .order_by(AuditFinding.id)))

    def approvals(self) -> list[tuple[str, str, str]]:
        assert self.instance is not None
        rows = self.session.scalars(select(Approval).where(Approval.instance_id == self.instance.id)
                                    .order_by(Approval.id))
        return [(a.step, a.decision, a.actor_role or "") for a in rows]


def programme_audits(*audits: dict[str, Any], **changes: Any) -> dict[str, Any]:
    data = {"period": "FY2027", "objectives": "Cover the whole AIMS before stage 1", "audits": list(audits),
            "frequency_rationale": "high-tier systems yearly, the rest once per cycle",
            "resources": "two trained internal auditors", "external_auditor_needed": False}
    return data | changes


def programme_audit(title: str, clauses: list[str], controls: list[str] | None = None, start: str = "2027-03-01",
                    end: str = "2027-03-05", lead: str | None = "daniel") -> dict[str, Any]:
    data: dict[str, Any] = {"title": title, "scope_clauses": clauses, "scope_controls": controls or [],
                            "planned_start": start, "planned_end": end, "method": "onsite"}
    if lead:
        data["proposed_lead_auditor"] = email(lead)
    return data


class ProgrammeFlow(FlowDriver):
    def __init__(self, ctx: Context):
        super().__init__(ctx, "aims_audit_programme")

    def programme(self) -> AuditProgramme:
        assert self.instance is not None
        row = self.session.scalar(select(AuditProgramme).where(AuditProgramme.ref == self.instance.subject))
        assert row is not None
        return row

    def audits(self) -> list[Audit]:
        return list(self.session.scalars(select(Audit).where(Audit.programme_id == self.programme().id)
                                         .order_by(Audit.ref)))


def all_required_audits() -> list[dict[str, object]]:
    """Two audits that together cover every clause and every Annex A control."""
    clauses = catalogue.clause_ids()
    controls = catalogue.control_ids()
    return [programme_audit("Context to support", [c for c in clauses if c[0] in "4567"], controls[:19]),
            programme_audit("Operation to improvement", [c for c in clauses if c[0] not in "4567"], controls[19:],
                            start="2027-06-01", end="2027-06-05", lead="hannah")]
