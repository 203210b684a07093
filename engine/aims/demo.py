"""The demo organisation (``engine/data/demo_organisation.json``), loaded with every date shifted by
(today - the data set's ``as_of``) so open work stays current. Loading twice updates the same rows."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.aims import catalogue
from engine.aims.register_specs import AI_ROLES, LIFE_CYCLE
from engine.aims.registers import (
    AIObjective,
    AISystem,
    Audit,
    AuditFinding,
    AuditProgramme,
    CertificationCycle,
    CompetenceRequirement,
    ContextIssue,
    Control,
    CorrectiveAction,
    DataResource,
    Document,
    DocumentVersion,
    Evidence,
    ImpactAssessment,
    InterestedParty,
    ManagementReview,
    Nonconformity,
    ObjectiveMeasurement,
    Organisation,
    PartyRequirement,
    ReadinessReview,
    ReviewAction,
    ReviewDecision,
    Risk,
    RiskAcceptance,
    RiskTreatmentAction,
    ScopeStatement,
    SoAEntry,
    SoAVersion,
    Supplier,
    TrainingRecord,
)
from engine.core import audit_trail, refs
from engine.core.clock import Clock, parse_datetime
from engine.core.models import RoleAssignment, User

DATA_FILE = Path(__file__).parent / "data" / "demo_organisation.json"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$")


def shift_dates(value: Any, days: int) -> Any:
    """Every ISO date and datetime string inside ``value`` moved by ``days``."""
    if isinstance(value, dict):
        return {k: shift_dates(v, days) for k, v in value.items()}
    if isinstance(value, list):
        return [shift_dates(v, days) for v in value]
    if isinstance(value, str):
        if _DATE.match(value):
            return (date.fromisoformat(value) + timedelta(days=days)).isoformat()
        if _DATETIME.match(value):
            return (parse_datetime(value) + timedelta(days=days)).isoformat().replace("+00:00", "Z")
    return value


def read(clock: Clock, path: Path = DATA_FILE) -> dict[str, Any]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    as_of = date.fromisoformat(raw["meta"]["as_of"])
    days = (clock.now().date() - as_of).days
    return shift_dates({k: v for k, v in raw.items() if k != "meta"}, days) | {"meta": raw["meta"]}


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value[:10]) if value else None


def _datetime(value: str | None) -> datetime | None:
    return parse_datetime(value) if value else None


def _number(ref: str) -> int:
    match = re.search(r"(\d+)$", ref)
    return int(match.group(1)) if match else 0


#: the demo's competence requirements in words (the demo data names them by code)
COMPETENCES = {
    "ai_policy_awareness": "AI policy awareness",
    "aims_management": "Running the AI management system (ISO/IEC 42001 lead implementer)",
    "bias_testing": "Bias testing of ML models",
    "iso42001_internal_auditor": "ISO/IEC 42001 internal auditing",
    "llm_risk_awareness": "LLM risk awareness (hallucination, prompt injection)",
}


class _Loader:
    def __init__(self, session: Session, clock: Clock, data: dict[str, Any]):
        self.session, self.clock, self.data = session, clock, data
        self.now: datetime = clock.now()
        self.users: dict[str, User] = {}
        self.systems: dict[str, AISystem] = {}
        self.risks: dict[str, Risk] = {}
        self.evidence: dict[str, Evidence] = {}
        self.documents: dict[str, Document] = {}
        self.ncs: dict[str, Nonconformity] = {}

    def uid(self, key: str | None) -> int | None:
        return self.users[key].id if key and key in self.users else None

    def upsert(self, model: Any, ref: str, **values: Any) -> Any:
        row = self.session.scalar(select(model).where(model.ref == ref))
        if row is None:
            row = model(ref=ref, created_at=self.now, updated_at=self.now, **values)
            self.session.add(row)
        else:
            for k, v in values.items():
                setattr(row, k, v)
            row.updated_at = self.now
        return row

    def load_users(self) -> None:
        for u in self.data["users"]:
            user = self.session.scalar(select(User).where(User.external_key == u["id"])) or \
                self.session.scalar(select(User).where(User.email == u["email"].lower()))
            if user is None:
                user = User(email=u["email"].lower(), name=u["name"], created_at=self.now)
                self.session.add(user)
            user.name, user.title, user.department = u["name"], u.get("title"), u.get("department")
            user.external_key, user.active = u["id"], True
            wanted = set(u.get("roles", []))
            user.role_rows = [r for r in user.role_rows if r.role in wanted] + \
                [RoleAssignment(role=r) for r in sorted(wanted - {r.role for r in user.role_rows})]
            self.users[u["id"]] = user
        self.session.flush()
        for u in self.data["users"]:
            self.users[u["id"]].manager_id = self.uid(u.get("manager_id"))

    def load_organisation(self) -> None:
        o = self.data["organisation"]
        org = self.session.scalar(select(Organisation).limit(1)) or Organisation(name=o["name"])
        self.session.add(org)
        org.name = o["name"]
        org.aims_owner_id = self.uid(o.get("aims_owner_id"))
        org.top_management_sponsor_id = self.uid(o.get("top_management_sponsor_id"))
        org.ceo_id = self.uid(o.get("ceo_id"))
        criteria = dict(self.data.get("risk_criteria", {}))
        criteria.setdefault("appetite_max_score", self.data["config"].get("risk_appetite_max_score", 6))
        criteria["version"] = criteria.get("ref", "RC-v1.0")
        org.risk_criteria = criteria
        org.details = {k: v for k, v in o.items() if k not in ("id", "name")} | {"config": self.data["config"]}
        scope = self.data.get("aims_scope") or {}
        if scope.get("statement"):
            org.details["scope_statement"] = scope["statement"]
            self.load_scope(scope)

    def load_scope(self, scope: dict[str, Any]) -> None:
        """The approved scope statement, version 1: written by the AIMS owner, approved by top management."""
        words = dict(LIFE_CYCLE) | dict(AI_ROLES)
        parts = (("org_units", "Organisational units"), ("sites", "Sites"), ("ai_system_ids", "AI systems"),
                 ("life_cycle_stages_covered", "Life-cycle stages"), ("ai_roles_in_scope", "Our AI roles"))
        boundaries = "\n".join(f"{label}: {', '.join(words.get(v, v) for v in scope[key])}"
                                for key, label in parts if scope.get(key))
        approved = _datetime(scope.get("approved_at")) or self.now
        if self.session.scalar(select(ScopeStatement.id).limit(1)) is not None:
            return  # loaded before; later versions are the users' own
        self.session.add(ScopeStatement(
            version=1, status="approved", text=scope["statement"], boundaries=boundaries,
            exclusions=[{"item": e["item"], "justification": e.get("justification", "")}
                        for e in scope.get("exclusions", [])],
            author_id=self.uid(self.data["organisation"].get("aims_owner_id")),
            approver_id=self.uid(scope.get("approved_by_id")), approved_at=approved, created_at=approved,
            updated_at=approved, row_version=1))
        self.session.flush()

    def load_systems(self) -> None:
        for s in self.data["ai_systems"]:
            known = {c: s[c] for c in ("name", "description", "intended_purpose", "reasonably_foreseeable_misuse",
                                       "org_roles", "ai_technique", "life_cycle_stage", "deployment_context",
                                       "decision_role", "human_oversight", "affected_parties", "personal_data",
                                       "continuous_learning", "impact_tier", "regulatory_classification",
                                       "in_aims_scope") if c in s}
            details = {k: v for k, v in s.items() if k not in known and k not in (
                "ref", "status", "system_owner_id", "business_sponsor_id", "next_aiia_due", "last_risk_assessment_at")}
            self.systems[s["ref"]] = self.upsert(
                AISystem, s["ref"], status=s.get("status", "proposed"), system_owner_id=self.uid(s["system_owner_id"]),
                business_sponsor_id=self.uid(s.get("business_sponsor_id")), next_aiia_due=_date(s.get("next_aiia_due")),
                last_risk_assessment_at=_date(s.get("last_risk_assessment_at")), details=details,
                iso_refs=["4.1", "8.1"], **known)

    def load_context(self) -> None:
        """Context issues (4.1), interested parties and their requirements (4.2)."""
        self.session.flush()  # the AI systems get their ids
        for c in self.data.get("context_issues", []):
            self.upsert(ContextIssue, c["ref"], kind=c["kind"], category=c.get("category"),
                        description=c["description"], effect_on_aims=c.get("effect_on_aims"),
                        ai_system_ids=self.system_ids(c.get("related_ai_system_ids")),
                        owner_id=self.uid(c.get("owner_id")), status=c.get("status", "open"),
                        next_review_at=_date(c.get("next_review_at")), iso_refs=["4.1"])
        number = 0
        for p in self.data.get("interested_parties", []):
            party = self.upsert(InterestedParty, p["ref"], name=p["name"], party_type=p["type"],
                                description=p.get("description"), owner_id=self.uid(p.get("owner_id")),
                                status=p.get("status", "active"), iso_refs=["4.2"])
            self.session.flush()
            for r in p.get("requirements", []):
                number += 1
                self.upsert(PartyRequirement, f"REQ-{number:03d}", party_id=party.id, requirement=r["requirement"],
                            source=r.get("source"), addressed_by_aims=bool(r.get("addressed_by_aims", True)),
                            how_addressed=r.get("how_addressed") or r.get("rationale_if_not"),
                            linked_controls=r.get("linked_controls", []), status="active", iso_refs=["4.2"])
        refs.ensure_at_least(self.session, "CI", max((_number(c["ref"]) for c in self.data.get("context_issues", [])),
                                                     default=0))
        refs.ensure_at_least(self.session, "IP", len(self.data.get("interested_parties", [])))
        refs.ensure_at_least(self.session, "REQ", number)

    def load_suppliers_and_data(self) -> None:
        """Suppliers and what they provide (A.10), data resources (A.7)."""
        suppliers: dict[str, Supplier] = {}
        for p in self.data.get("suppliers", []):
            suppliers[p["ref"]] = self.upsert(
                Supplier, p["ref"], name=p["name"], services=p.get("services"),
                ai_components=p.get("ai_components_provided", []),
                ai_system_ids=self.system_ids(p.get("ai_system_ids")), contract_ref=p.get("contract_ref"),
                dpa_in_place=bool(p.get("dpa_in_place")), data_retention_terms=p.get("data_retention_terms"),
                trains_on_our_data=p.get("model_training_on_customer_data"), status=p.get("status", "active"),
                risk_rating=p.get("risk_rating"), last_assessment_result=p.get("last_assessment_result"),
                last_assessed_at=_date(p.get("last_assessed_at")), assessment_due=_date(p.get("assessment_due")),
                conditions=p.get("conditions", []), owner_id=self.uid(p.get("owner_id")), iso_refs=["8.1"])
        self.session.flush()
        for d in self.data.get("datasets", []):
            supplier = suppliers.get(d.get("supplier_ref", ""))
            self.upsert(DataResource, d["ref"], name=d["name"], ai_system_ids=self.system_ids(d.get("ai_system_ids")),
                        purpose=d.get("purpose"), source=d.get("source"), supplier_id=supplier.id if supplier else None,
                        acquisition_method=d.get("acquisition_method"),
                        legal_basis_or_licence=d.get("legal_basis_or_licence"),
                        provenance=d.get("provenance_record"), quality_requirements=d.get("quality_requirements"),
                        quality_checks=d.get("quality_checks"), intended_use=d.get("intended_use"),
                        personal_data=d.get("contains_personal_data"), retention=d.get("retention"),
                        owner_id=self.uid(d.get("owner_id")), status=d.get("status", "in_use"), iso_refs=["8.1"])
        refs.ensure_at_least(self.session, "SUP", max((_number(p["ref"]) for p in self.data.get("suppliers", [])),
                                                      default=0))
        refs.ensure_at_least(self.session, "DS", max((_number(d["ref"]) for d in self.data.get("datasets", [])),
                                                     default=0))

    def load_assessments(self) -> None:
        self.session.flush()
        for a in self.data["impact_assessments"]:
            system = self.systems[a["ai_system_ref"]]
            content = {k: v for k, v in a.items() if k in ("impacts", "societal_checklist", "predictable_failures",
                                                            "positive_impacts", "consultation", "context_author_id")}
            row = self.upsert(
                ImpactAssessment, a["ref"], ai_system_id=system.id, version=a["version"], trigger=a["trigger"],
                status=a["status"], impact_tier=a.get("impact_tier"), screening_answers=a.get("screening", {}),
                content=content, overall_conclusion=a.get("overall_conclusion"), conditions=a.get("conditions", []),
                assessor_id=self.uid(a.get("assessor_id")),
                reviewer_ids=[self.uid(r) for r in a.get("reviewer_ids", [])],
                approver_id=self.uid(a.get("approver_id")),
                approved_at=parse_datetime(a["approved_at"]) if a.get("approved_at") else None,
                next_review_due=_date(a.get("next_review_due")),
                retention_rule=a.get("retention_rule", "system_retirement+P3Y"),
                iso_refs=["6.1.4", "8.4"])
            if a["status"] in ("approved", "approved_with_conditions", "low_tier_recorded"):
                self.session.flush()
                if system.last_aiia_id is None or a["ref"].endswith(f"v{a['version']}"):
                    system.last_aiia_id = row.id
        refs.ensure_at_least(self.session, "AIIA", len(self.data["impact_assessments"]))

    def load_risks(self) -> None:
        columns = ("kind", "title", "description", "source_category", "origin", "origin_ref", "consequences",
                   "existing_controls", "inherent_likelihood", "inherent_impact", "inherent_score", "inherent_level",
                   "treatment_option", "planned_controls", "annex_a_compared", "target_residual_likelihood",
                   "target_residual_impact", "residual_score", "residual_level", "actual_residual_likelihood",
                   "actual_residual_impact", "criteria_version")
        for r in self.data["risks"]:
            values = {c: r[c] for c in columns if c in r and r[c] is not None}
            risk = self.upsert(Risk, r["ref"], status=r["status"], owner_id=self.uid(r.get("owner_id")),
                               assessor_id=self.uid(r.get("assessor_id")),
                               ai_system_ids=[self.systems[s].id for s in r.get("ai_system_ids", [])
                                              if s in self.systems],
                               next_review_at=_date(r.get("next_review_at")), iso_refs=["6.1.2", "6.1.3", "8.2"],
                               details={"above_appetite": r.get("above_appetite")}, **values)
            self.risks[r["ref"]] = risk
            self.session.flush()
            for a in r.get("treatment_actions", []):
                self.upsert(RiskTreatmentAction, a["ref"], risk_id=risk.id, description=a["description"],
                            control_ref=a.get("control_ref"), owner_id=self.uid(a.get("owner_id")),
                            due_date=_date(a.get("due_date")), status=a.get("status", "planned"),
                            iso_refs=["6.1.3", "8.3"])
        refs.ensure_at_least(self.session, "RSK", max((_number(r["ref"]) for r in self.data["risks"]), default=0))
        refs.ensure_at_least(self.session, "RTA", max((_number(a["ref"]) for r in self.data["risks"]
                                                        for a in r.get("treatment_actions", [])), default=0))

    def load_acceptances(self) -> None:
        for a in self.data["risk_acceptances"]:
            risk = self.risks[a["risk_ref"]]
            row = self.upsert(
                RiskAcceptance, a["ref"], risk_id=risk.id, status=a["status"],
                residual_score_at_acceptance=a["residual_score_at_acceptance"], level=a["level"],
                required_authority=a.get("required_authority", "approver"),
                requested_by_id=self.uid(a.get("requested_by_id")), acceptor_id=self.uid(a.get("acceptor_id")),
                decision=a.get("decision"), rationale=a.get("rationale"), conditions=a.get("conditions"),
                valid_from=_date(a.get("valid_from")), valid_until=_date(a.get("valid_until")), iso_refs=["6.1.3"])
            if a["status"] == "granted":
                self.session.flush()
                risk.acceptance_id = row.id
        refs.ensure_at_least(self.session, "RA", max((_number(a["ref"]) for a in self.data["risk_acceptances"]),
                                                     default=0))

    def system_ids(self, refs_: list[str] | None) -> list[int]:
        return [self.systems[r].id for r in refs_ or [] if r in self.systems]

    def load_documents(self) -> None:
        for d in self.data.get("documents", []):
            doc = self.upsert(Document, d["ref"], title=d["title"], doc_type=d["doc_type"],
                              owner_id=self.uid(d.get("owner_id")), classification=d.get("classification", "internal"),
                              review_interval=d.get("review_interval", "P1Y"),
                              next_review_at=_date(d.get("next_review_at")),
                              external_publication=bool(d.get("external_publication")),
                              details={"workflow": d["workflow"]} if d.get("workflow") else {},
                              status="active", iso_refs=["7.5.1", "7.5.2", "7.5.3"])
            self.documents[d["ref"]] = doc
            self.session.flush()
            current = None
            for v in d.get("versions", []):
                row = self.session.scalar(select(DocumentVersion).where(DocumentVersion.document_id == doc.id,
                                                                        DocumentVersion.version == v["version"]))
                if row is None:
                    row = DocumentVersion(document_id=doc.id, version=v["version"], created_at=self.now)
                    self.session.add(row)
                row.status, row.updated_at = v["status"], self.now
                row.change_type, row.change_summary = v.get("change_type"), v.get("change_summary")
                row.author_id, row.approver_id = self.uid(v.get("author_id")), self.uid(v.get("approver_id"))
                row.approved_at = _datetime(v.get("approved_at"))
                row.effective_from = _date(v.get("effective_from") or
                                           (v.get("approved_at") if v["status"] == "published" else None))
                row.requires_acknowledgement = bool(v.get("requires_acknowledgement"))
                row.details = {k: v[k] for k in ("ack_rate", "reviews") if k in v}
                if v["status"] == "published":
                    current = row
            self.session.flush()
            doc.current_version_id = current.id if current is not None else None

    def load_evidence(self) -> None:
        for e in self.data.get("evidence", []):
            self.evidence[e["ref"]] = self.upsert(
                Evidence, e["ref"], title=e["title"], evidence_type=e["evidence_type"], status=e["status"],
                linked_controls=e.get("linked_controls", []), linked_clauses=e.get("linked_clauses", []),
                collected_by_id=self.uid(e.get("collected_by_id")), collected_at=_datetime(e.get("collected_at")),
                reviewer_id=self.uid(e.get("reviewer_id")) if e["status"] != "submitted" else None,
                reviewed_at=_datetime(e.get("collected_at")) if e["status"] == "accepted" else None,
                valid_until=_date(e.get("valid_until")), iso_refs=["7.5.1", "9.1"])
        self.session.flush()
        refs.ensure_at_least(self.session, "EVD", max((_number(r) for r in self.evidence), default=0))

    def load_objectives(self) -> None:
        objectives = {}
        for o in self.data.get("objectives", []):
            objectives[o["ref"]] = self.upsert(
                AIObjective, o["ref"], title=o["title"], kind=o["kind"], theme=o["theme"], status=o["status"],
                policy_clause_ref=o.get("policy_clause_ref"), metric=o.get("metric"), unit=o.get("unit"),
                baseline=o.get("baseline"), target=o.get("target"),
                measurement_frequency=o.get("measurement_frequency"), owner_id=self.uid(o.get("owner_id")),
                due_date=_date(o.get("due_date")), ai_system_ids=self.system_ids(o.get("ai_system_ids")),
                iso_refs=["6.2"])
        self.session.flush()
        number = 0
        for o in self.data.get("objectives", []):
            objective = objectives[o["ref"]]
            for m in o.get("measurements", []):
                number += 1
                self.upsert(ObjectiveMeasurement, f"MEAS-{number:04d}", status="recorded", objective_id=objective.id,
                            measured_on=_date(m["measured_on"]), value=m["value"], note=m.get("note"),
                            created_by_id=self.uid(o.get("owner_id")), iso_refs=["6.2", "9.1"])
        refs.ensure_at_least(self.session, "MEAS", number)
        refs.ensure_at_least(self.session, "OBJ", max((_number(o["ref"]) for o in self.data.get("objectives", [])),
                                                      default=0))

    def load_soa(self) -> None:
        entries = self.data.get("soa_entries", [])
        if not entries:
            return
        soa_doc = next((d for d in self.documents.values() if d.doc_type == "soa"), None)
        draft = soa_doc.versions[-1] if soa_doc is not None and soa_doc.versions else None
        soa = self.upsert(SoAVersion, "SOA-001", version=draft.version if draft else "0.1", status="generated",
                          generated_at=self.now, document_version_id=draft.id if draft else None, iso_refs=["6.1.3"])
        self.session.flush()
        controls = {c.control_id: c for c in self.session.scalars(select(Control))}
        existing = {e.control_id: e for e in soa.entries}
        for e in entries:
            control = controls[e["control_id"]]
            row = existing.get(control.id)
            if row is None:
                row = SoAEntry(soa_version_id=soa.id, control_id=control.id)
                self.session.add(row)
            row.applicable, row.justification = e["applicable"], e.get("justification") or ""
            row.implementation_description = e.get("implementation_description") or None
            row.system_scope = e.get("system_scope", "all_systems")
            row.system_ids = self.system_ids(e.get("system_ids"))
            row.implementation_status = e["implementation_status"]
            row.control_owner_id = self.uid(e.get("control_owner_id"))
            row.linked_risk_ids = [self.risks[r].id for r in e.get("linked_risk_refs", []) if r in self.risks]
            row.evidence_ids = [self.evidence[r].id for r in e.get("evidence_refs", []) if r in self.evidence]
            row.effectiveness = e.get("effectiveness") or "not_assessed"
            row.last_tested_at, row.target_date = _date(e.get("last_tested_at")), _date(e.get("target_date"))
            row.updated_at, row.status = self.now, "draft"
        refs.ensure_at_least(self.session, "SOA", 1)

    def load_training(self) -> None:
        requirements: dict[str, CompetenceRequirement] = {}
        for index, t in enumerate(self.data.get("training_records", []), start=1):
            code = t["requirement"]
            if code not in requirements:
                requirements[code] = self.upsert(
                    CompetenceRequirement, code, competence=COMPETENCES.get(code, code.replace("_", " ")),
                    status="active",
                    role="internal_auditor" if code.endswith("internal_auditor") else None, iso_refs=["7.2"])
                self.session.flush()
            audience = t["user_id"] if t["user_id"].startswith("*") else None
            self.upsert(TrainingRecord, f"TRN-{index:03d}", user_id=None if audience else self.uid(t["user_id"]),
                        requirement_id=requirements[code].id, course=t["course"], status=t["status"],
                        assigned_at=_date(t.get("assigned_at")), due_at=_date(t.get("due_at")),
                        completed_at=_date(t.get("completed_at")), expires_at=_date(t.get("expires_at")),
                        effectiveness_check=t.get("effectiveness_check") or "not_checked",
                        details={k: v for k, v in (("audience", audience), ("note", t.get("note")),
                                                   ("completion_rate", t.get("completion_rate"))) if v is not None},
                        iso_refs=["7.2", "7.3"])
        refs.ensure_at_least(self.session, "TRN", len(self.data.get("training_records", [])))

    def load_nonconformities(self) -> None:
        for n in self.data.get("nonconformities", []):
            nc = self.upsert(
                Nonconformity, n["ref"], source=n["source"], source_ref=n.get("source_ref"), title=n["title"],
                requirement_ref=n.get("requirement_ref"), severity=n.get("severity"), status=n["status"],
                owner_id=self.uid(n.get("owner_id")), plan_approver_id=self.uid(n.get("plan_approver_id")),
                verifier_id=self.uid(n.get("verifier_id")), root_causes=n.get("root_causes", []),
                containment_actions=n.get("containment_actions"), correction=n.get("correction"),
                correction_completed_at=_datetime(n.get("correction_completed_at")),
                incident_communication_required=bool(n.get("incident_communication_required")),
                effectiveness_criteria=n.get("effectiveness_criteria"),
                effectiveness_check_after=n.get("effectiveness_check_after"),
                effectiveness_result=n.get("effectiveness_result"), closed_at=_datetime(n.get("closed_at")),
                ca_required="yes" if n.get("actions") else None, iso_refs=["10.2"])
            self.ncs[n["ref"]] = nc
            self.session.flush()
            for a in n.get("actions", []):
                self.upsert(CorrectiveAction, a["ref"], nc_id=nc.id, description=a["description"], status=a["status"],
                            owner_id=self.uid(a.get("owner_id")), due_date=_date(a.get("due_date")),
                            addresses_root_cause=a.get("addresses_root_cause"), iso_refs=["10.2"])
        year_counts: dict[str, int] = {}
        for ref in self.ncs:
            prefix = ref.rsplit("-", 1)[0]
            year_counts[prefix] = max(year_counts.get(prefix, 0), _number(ref))
        for prefix, number in year_counts.items():
            refs.ensure_at_least(self.session, prefix, number)
        refs.ensure_at_least(self.session, "CA", max((_number(a["ref"]) for n in self.data.get("nonconformities", [])
                                                      for a in n.get("actions", [])), default=0))

    def load_audits(self) -> None:
        p = self.data.get("audit_programme")
        if not p:
            return
        programme = self.upsert(AuditProgramme, p["ref"], period=p["period"], status=p["status"],
                                objectives=p.get("objectives", ""), approved_by_id=self.uid(p.get("approved_by_id")),
                                approved_at=_datetime(p.get("approved_at")), iso_refs=["9.2.2"],
                                coverage_plan=[{"clause_or_control": ref, "planned_audit_ref": a["ref"]}
                                               for a in p.get("audits", [])
                                               for ref in a.get("scope_clauses", []) + a.get("scope_controls", [])])
        self.session.flush()
        for a in p.get("audits", []):
            audit_row = self.upsert(
                Audit, a["ref"], programme_id=programme.id, title=a["title"], status=a["status"],
                scope={"clauses": a.get("scope_clauses", []), "controls": a.get("scope_controls", []),
                       "ai_systems": a.get("scope_ai_systems", [])},
                criteria=["ISO/IEC 42001:2023"], lead_auditor_id=self.uid(a.get("lead_auditor_id")),
                team_ids=[self.uid(u) for u in a.get("team_ids", [])], planned_start=_date(a.get("planned_start")),
                planned_end=_date(a.get("planned_end")), conclusion_conformity=a.get("conclusion_conformity"),
                details={"sod_note": a["sod_note"]} if a.get("sod_note") else {}, iso_refs=["9.2.1", "9.2.2"])
            self.session.flush()
            for f in a.get("findings", []):
                nc = self.ncs.get(f.get("nc_ref", ""))
                self.upsert(AuditFinding, f["ref"], audit_id=audit_row.id, type=f["type"],
                            clause_or_control=f.get("clause_or_control"), statement=f["statement"],
                            nc_id=nc.id if nc else None, status="nc_raised" if nc else "closed",
                            iso_refs=["9.2.1", "10.2"] if nc else ["9.2.1", "10.1"])

    def load_reviews(self) -> None:
        for m in self.data.get("management_reviews", []):
            period = m.get("period_covered") or [None, None]
            review = self.upsert(
                ManagementReview, m["ref"], status=m["status"], period_start=_date(period[0]),
                period_end=_date(period[1]), planned_at=_datetime(m.get("planned_at")),
                held_at=_datetime(m.get("held_at")), chair_id=self.uid(m.get("chair_id")),
                minutes_author_id=self.uid(m.get("minutes_author_id")),
                attendees=[{"user_id": self.uid(a["user_id"]), "present": a["present"]}
                           for a in m.get("attendees", [])],
                conclusions=m.get("conclusions", {}), minutes_approved_by_id=self.uid(m.get("minutes_approved_by_id")),
                minutes_approved_at=_datetime(m.get("minutes_approved_at")),
                details={"note": m["note"]} if m.get("note") else {}, iso_refs=["9.3.1", "9.3.2", "9.3.3"])
            self.session.flush()
            decisions = {d.code: d for d in review.decisions}
            for d in m.get("decisions", []):
                row = decisions.get(d["id"])
                if row is None:
                    row = ReviewDecision(review_id=review.id, code=d["id"], type=d["type"], description="")
                    self.session.add(row)
                    decisions[d["id"]] = row
                row.type, row.description = d["type"], d["description"]
            self.session.flush()
            for a in m.get("actions", []):
                decision = decisions.get(a.get("decision", ""))
                self.upsert(ReviewAction, a["ref"], review_id=review.id, decision_id=decision.id if decision else None,
                            description=a["description"], owner_id=self.uid(a.get("owner_id")),
                            due_date=_date(a.get("due_date")), status=a["status"], iso_refs=["9.3.3"])
        reviews = self.data.get("management_reviews", [])
        refs.ensure_at_least(self.session, "MRA", max((_number(a["ref"]) for m in reviews
                                                       for a in m.get("actions", [])), default=0))

    def load_certification(self) -> None:
        c = self.data.get("certification_cycle")
        if not c:
            return
        scope = self.documents.get("DOC-SCOPE-001")
        soa = self.session.scalar(select(SoAVersion).where(SoAVersion.ref == "SOA-001"))
        cycle = self.upsert(
            CertificationCycle, c["ref"], status=c["status"], certification_body=c["certification_body"],
            accreditation_body=c.get("accreditation_body"),
            cb_accredited_for_42001=bool(c.get("cb_accredited_for_42001")),
            internal_point_of_contact_id=self.uid(c.get("internal_point_of_contact_id")),
            scope_document_version_id=scope.current_version_id if scope else None,
            soa_version_id=soa.id if soa else None, aims_operating_since=_date(c.get("aims_operating_since")),
            target_stage1_date=_date(c.get("target_stage1_date")),
            target_stage2_date=_date(c.get("target_stage2_date")),
            details={"scope_ref": c.get("scope_ref"), "soa_ref": c.get("soa_ref")}, iso_refs=["9.2.2", "10.2"])
        self.session.flush()
        last = c.get("last_readiness_review")
        if last:
            blockers, warnings = last.get("blockers", []), last.get("warnings", [])
            self.upsert(ReadinessReview, "RR-001", cycle_id=cycle.id, run_at=_datetime(last["run_at"]),
                        status="remediation" if blockers else "results_ready",
                        checks=[{"id": b["check"], "result": "fail", "detail": b["detail"]} for b in blockers] +
                        [{"id": w["check"], "result": "warn", "detail": w["detail"]} for w in warnings],
                        blockers_count=len(blockers), warnings_count=len(warnings), score_pct=last.get("score_pct"),
                        iso_refs=["4.4"])
            refs.ensure_at_least(self.session, "RR", 1)


def load(session: Session, clock: Clock, path: Path = DATA_FILE) -> dict[str, int]:
    """Load (or refresh) the demo organisation; returns how many rows of each kind it holds."""
    data = read(clock, path)
    loader = _Loader(session, clock, data)
    loader.load_users()
    loader.load_organisation()
    loader.load_systems()
    loader.load_context()
    loader.load_suppliers_and_data()
    loader.load_assessments()
    loader.load_risks()
    loader.load_acceptances()
    reference = catalogue.load_reference_data(session)
    loader.load_documents()
    loader.load_evidence()
    loader.load_objectives()
    loader.load_soa()
    loader.load_training()
    loader.load_nonconformities()
    loader.load_audits()
    loader.load_reviews()
    loader.load_certification()
    session.flush()
    audit_trail.append(session, clock, "demo_load", subject=data["organisation"]["name"],
                       data={"users": len(loader.users), "ai_systems": len(loader.systems), "risks": len(loader.risks)})
    return {"users": len(loader.users), "AI systems": len(loader.systems),
            "impact assessments": len(data["impact_assessments"]), "risks": len(loader.risks),
            "risk acceptances": len(data["risk_acceptances"]), "controls": reference["controls"],
            "clauses": reference["clauses"], "documents": len(loader.documents), "evidence": len(loader.evidence),
            "SoA entries": len(data.get("soa_entries", [])), "nonconformities": len(loader.ncs),
            "context issues": len(data.get("context_issues", [])),
            "interested parties": len(data.get("interested_parties", [])),
            "suppliers": len(data.get("suppliers", [])), "data resources": len(data.get("datasets", []))}
