"""The registers as declarations: one ``RegisterSpec`` per register (its table, reference, fields, who
writes it, or the flow that owns it). The pages, the API, import, export and the template are all driven
by these; a new register (suppliers, datasets, ...) is one more entry in ``SPECS``.

Who reads: every active user with a role (``engine.app.access.require_register_reader``). Who writes: the
spec's ``writers``; a register with a ``flow`` is changed only through that flow (its pages say so and
link it), and an import may not add or change its rows.

``plain_values`` and ``stored_value`` translate between what people see (e-mail addresses, references)
and what the table holds (user ids, row ids).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.aims.register_fields import Field
from engine.aims.registers import (
    AIObjective,
    AISystem,
    CompetenceRequirement,
    ContextIssue,
    DataResource,
    Document,
    Evidence,
    ImpactAssessment,
    InterestedParty,
    Nonconformity,
    ObjectiveMeasurement,
    PartyRequirement,
    Risk,
    RiskAcceptance,
    RiskTreatmentAction,
    Supplier,
    TrainingRecord,
)
from engine.aims.roles import ROLES
from engine.aims.words import WORDS
from engine.core.models import User
from engine.core.words import humanize


def _codes(*codes: str) -> tuple[tuple[str, str], ...]:
    """Choices whose label is the code in words (``special_category`` -> ``Special category``)."""
    return tuple((c, humanize(c, WORDS)) for c in codes)


@dataclass(frozen=True)
class Flow:
    """The flow that owns a register: its process id and its name."""

    process_id: str
    name: str


@dataclass(frozen=True)
class RegisterSpec:
    name: str
    label: str
    #: one row in words ("AI system"), for messages
    noun: str
    model: Any
    #: the key of the field that titles a row in lists
    title: str
    fields: tuple[Field, ...]
    #: new rows get ``PREFIX-001``; None: the reference is typed (a code)
    prefix: str | None = None
    ref_width: int = 3
    initial_status: str = "active"
    iso_refs: tuple[str, ...] = ()
    writers: frozenset[str] = frozenset()
    flow: Flow | None = None
    description: str = ""
    #: the statuses of a register that declares no ``status`` field (its rows still have one)
    statuses: tuple[tuple[str, str], ...] = ()

    @property
    def editable(self) -> bool:
        return self.flow is None and bool(self.writers)

    @property
    def status_field(self) -> Field:
        """The field that says a row's status: the declared one, or one over ``statuses``."""
        declared = next((f for f in self.fields if f.key == "status"), None)
        return declared or Field("status", "Status", "choice", choices=self.statuses, editable=False)

    def status_words(self, code: str | None) -> str:
        """A row's status as pages say it ("submitted" -> "Submitted"); the API and exports keep the code."""
        return self.status_field.choice_label(code)

    def title_words(self, title: Any) -> Any:
        """A row's title as pages say it: a register titled by a choice (an impact assessment by its
        trigger) says the choice's label; any other title as it is stored (a date for the page to word)."""
        field = self.field(self.title)
        return field.choice_label(title) if field.kind == "choice" else title

    def field(self, key: str) -> Field:
        for f in self.fields:
            if f.key == key:
                return f
        raise KeyError(key)

    def editable_fields(self) -> list[Field]:
        return [f for f in self.fields if f.editable and self.editable]


AI_ROLES = _codes("ai_provider", "ai_producer", "ai_customer", "ai_partner", "ai_subject", "relevant_authority")
SYSTEM_STATUSES = _codes("proposed", "under_assessment", "approved_for_development", "in_development",
                         "approved_for_deployment", "in_operation", "change_pending", "suspended", "retired",
                         "rejected")
LIFE_CYCLE = _codes("inception", "design_development", "verification_validation", "deployment",
                    "operation_monitoring", "continuous_validation", "re_evaluation", "retirement")
THEMES = _codes("accountability", "ai_expertise", "data_availability_quality", "environmental_impact", "fairness",
                "maintainability", "privacy", "robustness", "safety", "security", "transparency_explainability")
TIERS = _codes("low", "medium", "high")

AI_SYSTEMS = RegisterSpec(
    "ai_systems", "AI systems", "AI system", AISystem, "name", prefix="AIS", initial_status="proposed",
    iso_refs=("4.1", "4.3", "8.1"), writers=frozenset({"aims_owner", "process_owner"}),
    description="The inventory of the organisation's AI systems (A.4.2, A.6.2, A.9.4).",
    fields=(
        Field("name", "Name", required=True, max_length=200),
        Field("description", "Description", "longtext"),
        Field("intended_purpose", "Intended purpose", "longtext"),
        Field("reasonably_foreseeable_misuse", "Reasonably foreseeable misuse", "longtext"),
        Field("status", "Governance status", "choice", required=True, choices=SYSTEM_STATUSES),
        Field("org_roles", "Our AI roles", "choices", choices=AI_ROLES),
        Field("system_owner", "System owner", "user", attr="system_owner_id"),
        Field("business_sponsor", "Business sponsor", "user", attr="business_sponsor_id"),
        Field("ai_technique", "AI technique", "choice", choices=_codes(
            "classical_ml", "deep_learning", "llm_generative", "rules_plus_ml", "computer_vision", "other")),
        Field("life_cycle_stage", "Life-cycle stage", "choice", choices=LIFE_CYCLE),
        Field("deployment_context", "Deployment context", "choice", choices=_codes(
            "internal", "customer_facing", "public", "embedded_in_product")),
        Field("decision_role", "Role in decisions", "choice", choices=_codes(
            "informs_human", "recommends", "decides_with_human_review", "fully_automated")),
        Field("human_oversight", "Human oversight", "longtext"),
        Field("affected_parties", "Affected parties", "lines", max_length=100),
        Field("personal_data", "Personal data", "choice", required=True,
              choices=_codes("none", "personal", "special_category")),
        Field("continuous_learning", "Learns in operation", "bool"),
        Field("regulatory_classification", "Regulatory classification", "choice", choices=_codes(
            "not_assessed", "prohibited", "high_risk", "transparency_obligations", "minimal")),
        Field("in_aims_scope", "In the AIMS scope", "bool"),
        Field("impact_tier", "Impact tier", "choice", choices=TIERS, editable=False),
        Field("next_aiia_due", "Next impact assessment due", "date", editable=False),
        Field("last_risk_assessment_at", "Last risk assessment", "date", editable=False),
    ))

DOCUMENTS = RegisterSpec(
    "documents", "Documents", "document", Document, "title", prefix="DOC", iso_refs=("7.5.1", "7.5.2", "7.5.3"),
    writers=frozenset({"aims_owner"}), statuses=_codes("draft", "active", "withdrawn", "retired", "archived"),
    description="Controlled documents: their owner, classification and review dates. Their versions are "
                "reviewed and published through the policy review flow.",
    fields=(
        Field("title", "Title", required=True, max_length=300),
        Field("doc_type", "Type", "choice", required=True, choices=_codes(
            "ai_policy", "policy", "procedure", "scope", "soa", "plan", "record", "other")),
        Field("owner", "Owner", "user", attr="owner_id"),
        Field("classification", "Classification", "choice", required=True,
              choices=_codes("public", "internal", "confidential", "restricted")),
        Field("review_interval", "Review interval", max_length=20, help="A duration like P1Y (a year) or P6M."),
        Field("next_review_at", "Next review", "date"),
        Field("retention", "Kept after supersession", max_length=20, help="A duration like P3Y."),
        Field("audience", "Audience", "lines", max_length=100),
        Field("external_publication", "Published externally", "bool"),
    ))

OBJECTIVES = RegisterSpec(
    "objectives", "AI objectives", "objective", AIObjective, "title", prefix="OBJ", ref_width=2,
    iso_refs=("6.2",), writers=frozenset({"aims_owner", "top_management"}),
    description="AI objectives and how they are measured (6.2, A.6.1.2, A.9.3).",
    fields=(
        Field("title", "Title", required=True, max_length=300),
        Field("description", "Description", "longtext"),
        Field("kind", "Kind", "choice", required=True, choices=(
            ("aims", "AIMS"), ("responsible_development", "Responsible development"),
            ("responsible_use", "Responsible use"))),
        Field("theme", "Theme", "choice", required=True, choices=THEMES),
        Field("status", "Status", "choice", required=True, choices=_codes(
            "draft", "pending_approval", "active", "achieved", "not_achieved", "withdrawn")),
        Field("policy_clause_ref", "Policy clause", max_length=200),
        Field("metric", "Metric", "longtext"),
        Field("unit", "Unit", max_length=40),
        Field("baseline", "Baseline", "number"),
        Field("target", "Target", "number"),
        Field("measurement_frequency", "Measured every", max_length=20, help="A duration like P3M."),
        Field("owner", "Owner", "user", attr="owner_id"),
        Field("resources", "Resources", "longtext"),
        Field("due_date", "Due date", "date"),
        Field("evaluation_method", "How results are evaluated", "longtext"),
        Field("ai_systems", "AI systems", "refs", attr="ai_system_ids", target="ai_systems"),
    ))

#: who records an objective's results: its register's writers (an objective's owner may too, on its page)
MEASUREMENT_WRITERS = frozenset({"aims_owner", "top_management"})

MEASUREMENTS = RegisterSpec(
    "objective_measurements", "Objective measurements", "measurement", ObjectiveMeasurement, "measured_on",
    prefix="MEAS", ref_width=4, initial_status="recorded", iso_refs=("6.2", "9.1"), writers=MEASUREMENT_WRITERS,
    statuses=_codes("recorded"),
    description="The results of the objectives' metrics over time (6.2 e, 9.1). An objective's owner records "
                "them on the objective's page; a wrong one is retired, not deleted.",
    fields=(
        Field("objective", "Objective", "ref", attr="objective_id", target="objectives", required=True),
        Field("measured_on", "Measured on", "date", required=True, past_only=True),
        Field("value", "Value", "number", required=True, help="In the objective's unit."),
        Field("note", "Note", "longtext"),
        Field("recorded_by", "Recorded by", "user", attr="created_by_id", editable=False),
    ))

COMPETENCE = RegisterSpec(
    "competence", "Competence requirements", "competence requirement", CompetenceRequirement, "competence",
    iso_refs=("7.2",), writers=frozenset({"aims_owner"}), statuses=_codes("active", "retired"),
    description="The competences roles and AI systems need (7.2, A.4.6). The reference is a short code.",
    fields=(
        Field("competence", "Competence", required=True, max_length=300),
        Field("role", "Role", "choice", choices=tuple(ROLES.items())),
        Field("ai_system", "AI system", "ref", attr="ai_system_id", target="ai_systems"),
        Field("required_level", "Required level", max_length=40),
        Field("evidence_needed", "Evidence needed", "longtext"),
        Field("refresh_interval", "Refresh every", max_length=20, help="A duration like P2Y."),
    ))

TRAINING = RegisterSpec(
    "training", "Training records", "training record", TrainingRecord, "course", prefix="TRN",
    initial_status="assigned", iso_refs=("7.2", "7.3"), writers=frozenset({"aims_owner"}),
    description="Training assigned and completed, and whether it worked (7.2, 7.3).",
    fields=(
        Field("course", "Course", required=True, max_length=300),
        Field("person", "Person", "user", attr="user_id", help="Blank for a campaign addressed to an audience."),
        Field("requirement", "Competence requirement", "ref", attr="requirement_id", target="competence"),
        Field("provider", "Provider", max_length=200),
        Field("status", "Status", "choice", required=True, choices=_codes(
            "assigned", "in_progress", "completed", "expired", "campaign")),
        Field("assigned_at", "Assigned on", "date"),
        Field("due_at", "Due on", "date"),
        Field("completed_at", "Completed on", "date"),
        Field("score", "Score", "number", minimum=0),
        Field("effectiveness_check", "Effective?", "choice", required=True,
              choices=_codes("not_checked", "effective", "not_effective")),
        Field("expires_at", "Expires on", "date"),
        Field("certificate", "Certificate", "ref", attr="certificate_evidence_id", target="evidence", editable=False),
    ))


CONTEXT_ISSUES = RegisterSpec(
    "context_issues", "Context issues", "context issue", ContextIssue, "description", prefix="CI", ref_width=2,
    initial_status="open", iso_refs=("4.1",), writers=frozenset({"aims_owner", "top_management"}),
    description="Internal and external issues that affect what the AIMS can achieve (4.1), climate change "
                "among them, and what each means for the AIMS.",
    fields=(
        Field("description", "Issue", "longtext", required=True),
        Field("kind", "Internal or external", "choice", required=True, choices=_codes("internal", "external")),
        Field("category", "Category", "choice", choices=_codes(
            "regulatory", "legal", "technological", "organisational", "economic", "social", "ethical",
            "competitive", "climate", "other")),
        Field("effect_on_aims", "Effect on the AIMS", "longtext"),
        Field("ai_systems", "AI systems", "refs", attr="ai_system_ids", target="ai_systems"),
        Field("owner", "Owner", "user", attr="owner_id"),
        Field("status", "Status", "choice", required=True, choices=_codes("open", "monitored", "closed")),
        Field("next_review_at", "Next review", "date"),
    ))

PARTY_TYPES = _codes("ai_subject", "customer", "employee", "regulator", "supplier", "partner", "investor",
                     "certification_body", "public", "other")

INTERESTED_PARTIES = RegisterSpec(
    "interested_parties", "Interested parties", "interested party", InterestedParty, "name", prefix="IP",
    ref_width=2, iso_refs=("4.2",), writers=frozenset({"aims_owner", "top_management"}),
    description="The parties relevant to the AIMS (4.2). Their requirements are the register "
                "“Party requirements”.",
    fields=(
        Field("name", "Name", required=True, max_length=200),
        Field("party_type", "Type", "choice", required=True, choices=PARTY_TYPES),
        Field("description", "Description", "longtext"),
        Field("owner", "Relationship owner", "user", attr="owner_id"),
        Field("status", "Status", "choice", required=True, choices=_codes("active", "no_longer_relevant")),
    ))

PARTY_REQUIREMENTS = RegisterSpec(
    "party_requirements", "Party requirements", "requirement", PartyRequirement, "requirement", prefix="REQ",
    iso_refs=("4.2",), writers=frozenset({"aims_owner", "top_management"}),
    description="What each interested party requires, and whether and how the AIMS addresses it (4.2 c).",
    fields=(
        Field("party", "Interested party", "ref", attr="party_id", target="interested_parties", required=True),
        Field("requirement", "Requirement", "longtext", required=True),
        Field("source", "Source", "choice", choices=_codes("law", "regulation", "contract", "standard",
                                                            "expectation")),
        Field("addressed_by_aims", "Addressed by the AIMS", "bool"),
        Field("how_addressed", "How it is addressed, or why not", "longtext"),
        Field("linked_controls", "Controls", "lines", max_length=20, help="Annex A controls, e.g. A.8.2."),
        Field("status", "Status", "choice", required=True, choices=_codes("active", "met", "withdrawn")),
    ))

SUPPLIERS = RegisterSpec(
    "suppliers", "Suppliers", "supplier", Supplier, "name", prefix="SUP", initial_status="under_assessment",
    iso_refs=("8.1",), writers=frozenset({"aims_owner", "process_owner"}),
    description="Suppliers of AI systems, models, components, data and compute, and how they were assessed "
                "(A.10.2, A.10.3, 8.1).",
    fields=(
        Field("name", "Name", required=True, max_length=200),
        Field("services", "What they provide", "longtext"),
        Field("ai_components", "AI components bought in", "lines", max_length=200),
        Field("ai_systems", "Used by AI systems", "refs", attr="ai_system_ids", target="ai_systems"),
        Field("contract_ref", "Contract", max_length=100),
        Field("dpa_in_place", "Data processing agreement", "bool"),
        Field("data_retention_terms", "Data retention terms", "longtext"),
        Field("trains_on_our_data", "Trains its models on our data", "choice",
              choices=(("no", "No"), ("yes", "Yes"), ("opt_out", "Unless we opt out"), ("unknown", "Unknown"))),
        Field("status", "Status", "choice", required=True, choices=_codes(
            "under_assessment", "active", "suspended", "ended")),
        Field("risk_rating", "Risk rating", "choice", choices=_codes("pending", "low", "medium", "high")),
        Field("last_assessment_result", "Last assessment", "choice", choices=_codes(
            "approved", "approved_with_conditions", "rejected")),
        Field("last_assessed_at", "Last assessed on", "date"),
        Field("assessment_due", "Next assessment due", "date"),
        Field("conditions", "Conditions", "lines", max_length=300),
        Field("owner", "Supplier owner", "user", attr="owner_id"),
    ))

DATA_RESOURCES = RegisterSpec(
    "data_resources", "Data resources", "data resource", DataResource, "name", prefix="DS", initial_status="planned",
    iso_refs=("8.1",), writers=frozenset({"aims_owner", "process_owner"}),
    description="The data AI systems are built, tested and run with: provenance, quality, intended use and "
                "retention (A.7.2 to A.7.6, A.4.3).",
    fields=(
        Field("name", "Name", required=True, max_length=200),
        Field("ai_systems", "AI systems", "refs", attr="ai_system_ids", target="ai_systems"),
        Field("purpose", "Purpose", "choice", choices=_codes(
            "training", "validation", "testing", "retrieval_corpus", "inference_input", "monitoring", "other")),
        Field("source", "Source", "choice", choices=_codes("internal", "supplier", "public", "purchased",
                                                            "synthetic")),
        Field("supplier", "Supplier", "ref", attr="supplier_id", target="suppliers"),
        Field("acquisition_method", "How it is acquired", "longtext"),
        Field("legal_basis_or_licence", "Legal basis or licence", "longtext"),
        Field("provenance", "Provenance", "longtext", help="Where it comes from and what was done to it (A.7.5)."),
        Field("quality_requirements", "Quality requirements", "longtext"),
        Field("quality_checks", "Quality checks and results", "longtext"),
        Field("intended_use", "Intended use", "longtext", help="What it may and may not be used for."),
        Field("personal_data", "Personal data", "choice", choices=_codes("none", "personal", "special_category")),
        Field("retention", "Retention", "longtext", help="How long it is kept and what happens then."),
        Field("owner", "Data owner", "user", attr="owner_id"),
        Field("status", "Status", "choice", required=True, choices=_codes("planned", "in_use", "retired")),
    ))


def _flow_owned(name: str, label: str, noun: str, model: Any, title: str, flow: Flow,
                *fields: Field) -> RegisterSpec:
    return RegisterSpec(name, label, noun, model, title, flow=flow,
                        fields=tuple(Field(**{**f.__dict__, "editable": False}) for f in fields))


AIIA_FLOW = Flow("aims_aiia", "AI system impact assessment")

#: the codes the flows write, in words (the flows' forms say the same: ``forms/*.schema.json``)
LEVELS = _codes("low", "medium", "high", "critical")
AIIA_STATUSES = _codes("draft", "screening", "low_tier_recorded", "in_progress", "in_review", "changes_requested",
                       "pending_approval", "approved", "approved_with_conditions", "rejected", "superseded",
                       "cancelled")
AIIA_TRIGGERS = _codes("new_system", "significant_change", "periodic", "incident", "regulatory_change",
                       "supplier_change")
AIIA_CONCLUSIONS = _codes("proceed", "proceed_with_conditions", "do_not_proceed")
RISK_STATUSES = _codes("identified", "analysed", "treatment_planned", "pending_acceptance", "in_treatment",
                       "monitoring", "closed")
RISK_SOURCES = (
    ("complexity_of_environment", "Complexity of the environment"),
    ("lack_of_transparency_explainability", "Lack of transparency or explainability"),
    ("level_of_automation", "Level of automation"), ("machine_learning", "Machine learning"),
    ("hardware", "Hardware"), ("life_cycle_issues", "Life cycle issues"),
    ("technology_readiness", "Technology readiness"), ("third_party_supplier", "Third party or supplier"),
    ("security", "Security"), ("privacy", "Privacy"), ("legal_regulatory", "Legal and regulatory"),
    ("misuse", "Misuse"))
TREATMENTS = _codes("modify", "avoid", "share", "retain")
ACTION_STATUSES = _codes("planned", "in_progress", "done", "blocked", "verified", "cancelled")
ACCEPTANCE_STATUSES = _codes("requested", "granted", "refused", "escalated", "expired", "revoked", "superseded")
AUTHORITIES = _codes("risk_owner", "approver", "top_management", "ceo")
ACCEPTANCE_DECISIONS = (("accept", "Accepted"), ("refuse", "Refused"))
NC_SOURCES = (
    ("manual", "Manual"), ("internal_audit", "Internal audit"), ("external_audit_stage1", "External audit, stage 1"),
    ("external_audit_stage2", "External audit, stage 2"), ("surveillance", "Surveillance"),
    ("recertification", "Recertification"), ("concern_report", "Concern report"), ("monitoring", "Monitoring"),
    ("incident", "Incident"), ("complaint", "Complaint"), ("management_review", "Management review"),
    ("self_identified", "Self-identified"))
NC_GRADES = _codes("major", "minor")
NC_STATUSES = (
    ("reported", "Reported"), ("rejected_not_nc", "Not a nonconformity"), ("duplicate", "Duplicate"),
    ("containment", "Containment"), ("root_cause_analysis", "Root cause analysis"),
    ("action_planning", "Action planning"), ("plan_approved", "Plan approved"), ("implementing", "Implementing"),
    ("effectiveness_review", "Effectiveness review"), ("closed", "Closed"))
EFFECTIVENESS = _codes("effective", "not_effective")
EVIDENCE_STATUSES = _codes("draft", "submitted", "accepted", "rejected", "expired", "archived")
RISK_FLOW = Flow("aims_risk_assessment", "Risk assessment and acceptance")

IMPACT_ASSESSMENTS = _flow_owned(
    "impact_assessments", "Impact assessments", "impact assessment", ImpactAssessment, "trigger", AIIA_FLOW,
    Field("ai_system", "AI system", "ref", attr="ai_system_id", target="ai_systems"),
    Field("version", "Version", "integer"), Field("trigger", "Trigger", "choice", choices=AIIA_TRIGGERS),
    Field("status", "Status", "choice", choices=AIIA_STATUSES),
    Field("impact_tier", "Impact tier", "choice", choices=TIERS),
    Field("overall_conclusion", "Conclusion", "choice", choices=AIIA_CONCLUSIONS),
    Field("assessor", "Assessor", "user", attr="assessor_id"),
    Field("approver", "Approver", "user", attr="approver_id"),
    Field("next_review_due", "Next review due", "date"))

RISKS = _flow_owned(
    "risks", "Risks", "risk", Risk, "title", RISK_FLOW,
    Field("title", "Title"), Field("description", "Description", "longtext"),
    Field("status", "Status", "choice", choices=RISK_STATUSES),
    Field("source_category", "Risk source", "choice", choices=RISK_SOURCES),
    Field("ai_systems", "AI systems", "refs", attr="ai_system_ids", target="ai_systems"),
    Field("inherent_score", "Inherent score", "integer"),
    Field("inherent_level", "Inherent level", "choice", choices=LEVELS),
    Field("treatment_option", "Treatment", "choice", choices=TREATMENTS),
    Field("planned_controls", "Planned controls", "lines"),
    Field("residual_score", "Residual score", "integer"),
    Field("residual_level", "Residual level", "choice", choices=LEVELS),
    Field("owner", "Risk owner", "user", attr="owner_id"), Field("next_review_at", "Next review", "date"))

RISK_TREATMENT_ACTIONS = _flow_owned(
    "risk_treatment_actions", "Risk treatment actions", "treatment action", RiskTreatmentAction, "description",
    RISK_FLOW,
    Field("risk", "Risk", "ref", attr="risk_id", target="risks"), Field("description", "Description", "longtext"),
    Field("control_ref", "Control"), Field("owner", "Owner", "user", attr="owner_id"),
    Field("due_date", "Due date", "date"), Field("completed_at", "Completed on", "date"),
    Field("status", "Status", "choice", choices=ACTION_STATUSES))

RISK_ACCEPTANCES = _flow_owned(
    "risk_acceptances", "Risk acceptances", "risk acceptance", RiskAcceptance, "level", RISK_FLOW,
    Field("risk", "Risk", "ref", attr="risk_id", target="risks"), Field("level", "Level", "choice", choices=LEVELS),
    Field("required_authority", "Required authority", "choice", choices=AUTHORITIES),
    Field("decision", "Decision", "choice", choices=ACCEPTANCE_DECISIONS),
    Field("acceptor", "Accepted by", "user", attr="acceptor_id"), Field("valid_from", "Valid from", "date"),
    Field("valid_until", "Valid until", "date"), Field("status", "Status", "choice", choices=ACCEPTANCE_STATUSES))

NONCONFORMITIES = _flow_owned(
    "nonconformities", "Nonconformities", "nonconformity", Nonconformity, "title",
    Flow("aims_nc_capa", "Nonconformity and corrective action"),
    Field("title", "Title"), Field("source", "Source", "choice", choices=NC_SOURCES),
    Field("source_ref", "Source reference"), Field("requirement_ref", "Requirement"),
    Field("severity", "Grade", "choice", choices=NC_GRADES), Field("status", "Status", "choice", choices=NC_STATUSES),
    Field("owner", "Owner", "user", attr="owner_id"),
    Field("effectiveness_result", "Effectiveness", "choice", choices=EFFECTIVENESS))

#: the kinds of evidence in words: those the evidence review's start form offers (with its titles) and
#: those the flows file proofs as (``x-evidence`` marks, the training certificate)
EVIDENCE_TYPES = (
    ("record", "Record"), ("document", "Document"), ("report", "Report"), ("certificate", "Certificate"),
    ("screenshot", "Screenshot"), ("log", "Log extract"), ("minutes", "Meeting minutes"), ("other", "Other"),
    *_codes("assessment", "configuration_export", "contract", "dataset_card", "test_result", "training_record"),
)

EVIDENCE = _flow_owned(
    "evidence", "Evidence", "evidence item", Evidence, "title", Flow("aims_evidence_review", "Evidence review"),
    Field("title", "Title"), Field("evidence_type", "Type", "choice", choices=EVIDENCE_TYPES),
    Field("status", "Status", "choice", choices=EVIDENCE_STATUSES), Field("linked_controls", "Controls", "lines"),
    Field("linked_clauses", "Clauses", "lines"),
    Field("valid_until", "Valid until", "date"), Field("owner", "Owner", "user", attr="owner_id"),
    Field("revision", "Revision", "integer", zero="no file yet"), Field("sha256", "SHA-256"))



def evidence_type_words(code: str | None) -> str:
    """A kind of evidence in words, as the evidence register shows it ("minutes" -> "Meeting minutes")."""
    return EVIDENCE.field("evidence_type").choice_label(code) if code else ""


#: every register, in the order the pages list them
SPECS: dict[str, RegisterSpec] = {s.name: s for s in (
    AI_SYSTEMS, CONTEXT_ISSUES, INTERESTED_PARTIES, PARTY_REQUIREMENTS, SUPPLIERS, DATA_RESOURCES, DOCUMENTS,
    OBJECTIVES, MEASUREMENTS, COMPETENCE, TRAINING, IMPACT_ASSESSMENTS, RISKS, RISK_TREATMENT_ACTIONS, RISK_ACCEPTANCES,
    NONCONFORMITIES, EVIDENCE)}


# --------------------------------------------------------------------------- plain <-> stored

def _target(spec: Field) -> Any:
    return SPECS[spec.target or ""].model


def plain_value(session: Session, spec: Field, stored: Any) -> Any:
    """What people see for a stored value: e-mails for user ids, references for row ids."""
    if spec.kind == "user":
        user = session.get(User, stored) if stored is not None else None
        return user.email if user else None
    if spec.kind == "ref":
        row = session.get(_target(spec), stored) if stored is not None else None
        return row.ref if row else None
    if spec.kind == "refs":
        model = _target(spec)
        return [r.ref for r in (session.get(model, i) for i in stored or []) if r is not None]
    if spec.many:
        return list(stored or [])
    return stored


def plain_values(session: Session, register: RegisterSpec, row: Any) -> dict[str, Any]:
    return {f.key: plain_value(session, f, getattr(row, f.column)) for f in register.fields}


def stored_value(session: Session, spec: Field, plain: Any) -> Any:
    """The stored value for a plain one. Raises ValueError with a message in words."""
    if spec.kind == "user":
        if plain is None:
            return None
        user = session.scalar(select(User).where(User.email == plain))
        if user is None or not user.active:
            raise ValueError(f"no active user has the e-mail address {plain}")
        return user.id
    if spec.kind in ("ref", "refs"):
        model = _target(spec)
        wanted = [plain] if spec.kind == "ref" else list(plain or [])
        ids = []
        for ref in wanted:
            if ref is None:
                continue
            row_id = session.scalar(select(model.id).where(model.ref == ref))
            if row_id is None:
                raise ValueError(f"there is no {SPECS[spec.target or ''].noun} {ref}")
            ids.append(row_id)
        return ids if spec.kind == "refs" else (ids[0] if ids else None)
    return plain
