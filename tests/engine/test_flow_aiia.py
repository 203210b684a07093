"""The AI system impact assessment flow ``aims_aiia`` (FLOWS.md (a)) end to end, through the services:
every end state, the rework loop and its limit, the approval roles, segregation of duties, bad forms,
the register rows each path leaves, and a serialize/restore in the middle of the flow.

The demo organisation provides the people and AIS-002 "Ask Lumi" (owner Mei Lin, sponsor Grace, in
operation, personal data, AIIA-002-v1 approved). A test that needs a system that is not yet operating
registers its own (``proposed``), rolled back with the test.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from lxml import etree
from SpiffWorkflow.bpmn.specs.mixins import UserTaskMixin
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

from engine.aims.operators.aiia import record_sha256
from engine.aims.registers import AISystem, Approval, ImpactAssessment, Risk
from engine.core import definitions, operators, runtime, serializer, services
from engine.core.errors import ConflictError, Forbidden, SodViolation, ValidationError
from engine.core.models import HumanTask, ProcessInstance, RoleAssignment, User
from engine.core.operators import OperatorContext
from engine.core.properties import read_properties
from engine.core.runtime import Context

from .helpers import PEOPLE, email, events, grant

pytestmark = pytest.mark.demo

SYSTEM = "AIS-002"
EXTRA_PEOPLE = {"lucas": "lucas.moreau@lumenvale.example", "hannah": "hannah.schmidt@lumenvale.example",
                "amara": "amara.okafor@lumenvale.example", "kwame": "kwame.mensah@lumenvale.example"}

MEDIUM = {"decision_effect": "informs_human", "decision_domain": ["none"], "personal_data": "personal",
          "biometric_data": False, "vulnerable_groups": ["none"], "external_interaction": True,
          "generative_output": True, "people_affected_per_year": 50000, "safety_relevant": False,
          "legal_high_risk_classification": "no"}
HIGH = {**MEDIUM, "decision_domain": ["credit_lending"]}
LOW = {**MEDIUM, "personal_data": "none", "external_interaction": False, "generative_output": False,
       "people_affected_per_year": 120}
CONTEXT = {
    "intended_use": "Answer product and fee questions on the website and in the app.",
    "reasonably_foreseeable_misuse": "Customers treating answers as financial advice.",
    "deployment_context": "customer_facing",
    "operators_and_users": "CX team runs it; retail customers read the answers.",
    "affected_groups": [{"group": "Retail customers", "size_estimate": 50000, "vulnerable": False}],
    "jurisdictions": ["GB", "IE"],
    "data_description": "Help-centre articles; redacted conversation text.",
    "human_oversight_description": "Live-agent handover on every answer; daily QA sampling.",
}
CHECKLIST = {d: "considered_no_impact" for d in ("environment_sustainability", "economic", "government_democratic",
                                                 "health_safety_public", "culture_norms_values",
                                                 "information_ecosystem")}


def mail(key: str) -> str:
    return email(key) if key in PEOPLE else EXTRA_PEOPLE[key]


def impact(**over: Any) -> dict[str, Any]:
    """A negative impact: severity 4 x likelihood 3, residual 3 x 3 = 9 (raises a risk, tier medium)."""
    item = {"affected_party_type": "group", "affected_group": "Customers in financial difficulty",
            "dimension": "financial", "description": "Wrong fee information leads to unexpected charges.",
            "nature": "negative", "severity": 4, "likelihood": 3, "scale": "10k_1m",
            "reversibility": "reversible", "planned_measures": "Knowledge-base change control; fee answers cite "
                                                              "the tariff page.",
            "residual_severity": 3, "residual_likelihood": 3}
    item.update(over)
    return item


MINOR = {"affected_group": "Website visitors", "dimension": "transparency_explainability", "severity": 2,
         "likelihood": 2, "residual_severity": 1, "residual_likelihood": 2}


def analysis(*impacts: dict[str, Any], **over: Any) -> dict[str, Any]:
    data = {"impacts": list(impacts) or [impact()], "societal_checklist": dict(CHECKLIST),
            "predictable_failures": [{"failure": "Outdated article retrieved", "effect": "Wrong answer",
                                      "mitigation": "Article expiry dates"}],
            "proposed_conclusion": "proceed"}
    data.update(over)
    return data


class Aiia:
    """Drives ``aims_aiia`` through the services, one human step at a time."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.session = ctx.session

    def user(self, key: str) -> User:
        found = self.session.scalar(select(User).where(User.email == mail(key)))
        assert found is not None, key
        return found

    def start(self, system: str = SYSTEM, by: str = "priya", trigger: str = "periodic",
              **extra: Any) -> ProcessInstance:
        data = {"ai_system_id": system, "trigger": trigger, "requested_by_id": mail(by), **extra}
        return services.start_process(self.ctx, self.user(by), "aims_aiia", data).instance

    def open(self, instance: ProcessInstance) -> list[str]:
        return sorted(t.task_spec for t in services.open_tasks(self.ctx, instance.id))

    def task(self, instance: ProcessInstance, spec: str) -> HumanTask:
        tasks = [t for t in services.open_tasks(self.ctx, instance.id) if t.task_spec == spec]
        assert len(tasks) == 1, f"expected one open {spec}, found {self.open(instance)}"
        return tasks[0]

    def complete(self, instance: ProcessInstance, spec: str, key: str, data: dict[str, Any]) -> services.Outcome:
        return services.complete_task(self.ctx, self.user(key), self.task(instance, spec).id, data)

    def row(self, instance: ProcessInstance) -> ImpactAssessment:
        found = self.session.scalar(select(ImpactAssessment).where(ImpactAssessment.instance_id == instance.id)
                                    .order_by(ImpactAssessment.version.desc()).limit(1))
        assert found is not None
        return found

    def data(self, instance: ProcessInstance) -> dict[str, Any]:
        return services.instance_data(self.ctx, instance.id)

    def system(self, ref: str = SYSTEM) -> AISystem:
        found = self.session.scalar(select(AISystem).where(AISystem.ref == ref))
        assert found is not None
        return found

    # ------------------------------------------------------------------ steps

    def assign_team(self, instance: ProcessInstance, assessor: str = "lucas", rai: str = "priya",
                    privacy: str | None = "sofia", legal: str | None = "fatima") -> None:
        data: dict[str, Any] = {"assessor_id": mail(assessor), "rai_reviewer_id": mail(rai),
                                "target_completion": "2026-12-15"}
        if privacy:
            data["privacy_reviewer_id"] = mail(privacy)
        if legal:
            data["legal_reviewer_id"] = mail(legal)
        self.complete(instance, "ut_assign_aiia_team", "priya", data)

    def screen(self, instance: ProcessInstance, answers: dict[str, Any] = MEDIUM, owner: str = "meilin") -> None:
        self.complete(instance, "ut_screening", owner, dict(answers))

    def to_analysis(self, instance: ProcessInstance, answers: dict[str, Any] = MEDIUM, owner: str = "meilin",
                    **team: Any) -> None:
        self.assign_team(instance, **team)
        self.screen(instance, answers, owner)
        self.complete(instance, "ut_system_context", owner, dict(CONTEXT))

    def analyse(self, instance: ProcessInstance, data: dict[str, Any] | None = None,
                assessor: str = "lucas") -> services.Outcome:
        return self.complete(instance, "ut_impact_analysis", assessor, data or analysis())

    def to_reviews(self, answers: dict[str, Any] = MEDIUM, data: dict[str, Any] | None = None,
                   **team: Any) -> ProcessInstance:
        instance = self.start()
        self.to_analysis(instance, answers, **team)
        self.analyse(instance, data, assessor=team.get("assessor", "lucas"))
        return instance

    def review(self, instance: ProcessInstance, kind: str, key: str, outcome: str = "no_objection") -> None:
        data: dict[str, Any] = {"outcome": outcome}
        if outcome == "changes_required":
            data.update(comments=f"{kind}: the mitigation is not specific enough", items_to_change=["impacts"])
        self.complete(instance, f"ut_review_{kind}", key, data)

    def clear_reviews(self, instance: ProcessInstance, outcome: str = "no_objection",
                      reviewers: dict[str, str] | None = None) -> None:
        """Complete every open review with ``outcome``."""
        who = reviewers or {"privacy": "sofia", "legal": "fatima", "rai": "priya"}
        for spec in self.open(instance):
            if spec.startswith("ut_review_"):
                kind = spec.removeprefix("ut_review_")
                self.review(instance, kind, who[kind], outcome)

    def approve(self, instance: ProcessInstance, key: str = "ingrid", decision: str = "approve",
                spec: str = "ut_approve_aiia", **extra: Any) -> services.Outcome:
        data = {"decision": decision, "decision_rationale": "Impacts are understood and mitigated.", **extra}
        return self.complete(instance, spec, key, data)


@pytest.fixture
def aiia(ctx: Context) -> Aiia:
    return Aiia(ctx)


def approvals(aiia: Aiia, row: ImpactAssessment) -> list[tuple[str, str, str | None, str | None]]:
    rows = aiia.session.scalars(select(Approval).where(Approval.subject_type == "ImpactAssessment",
                                                       Approval.subject_id == row.id).order_by(Approval.id))
    return [(a.step, a.decision, aiia.session.get(User, a.actor_id).email if a.actor_id else None, a.actor_role)
            for a in rows]


def risk_assessments(aiia: Aiia, system: str = SYSTEM) -> list[ProcessInstance]:
    return list(aiia.session.scalars(select(ProcessInstance).where(
        ProcessInstance.process_id == "aims_risk_assessment", ProcessInstance.subject == system)
        .order_by(ProcessInstance.id)))


def new_system(aiia: Aiia, ref: str = "AIS-900", status: str = "proposed", owner: str = "ravi",
               sponsor: str = "ingrid", personal_data: str = "none") -> AISystem:
    now = aiia.ctx.clock.now()
    system = AISystem(ref=ref, name="Invoice Sorter", status=status, created_at=now, updated_at=now,
                      system_owner_id=aiia.user(owner).id, business_sponsor_id=aiia.user(sponsor).id,
                      personal_data=personal_data, description="Routes supplier invoices to cost centres.")
    aiia.session.add(system)
    aiia.session.flush()
    return system


# --------------------------------------------------------------------------- start


def test_aiia_start_creates_the_next_version_and_puts_the_system_under_change(aiia: Aiia) -> None:
    before = aiia.session.scalar(select(ImpactAssessment).where(ImpactAssessment.ref == "AIIA-002-v1"))
    assert before is not None

    instance = aiia.start()

    row = aiia.row(instance)
    assert (row.ref, row.version, row.status, row.trigger) == ("AIIA-002-v2", 2, "draft", "periodic")
    assert row.content["baseline_ref"] == "AIIA-002-v1"
    assert row.assessor_id == aiia.user("meilin").id  # the system owner, proposed
    assert instance.subject == SYSTEM
    assert aiia.system().status == "change_pending"
    assert aiia.open(instance) == ["ut_assign_aiia_team"]
    task = aiia.task(instance, "ut_assign_aiia_team")
    assert (task.role, task.form, task.due_at) == ("aims_owner", "aiia_assign_team",
                                                   aiia.ctx.clock.now() + timedelta(days=3))
    data = aiia.data(instance)
    assert (data["system_owner_id"], data["assessor_id"], data["previous_tier"]) == (
        mail("meilin"), mail("meilin"), "medium")
    assert [e.data["after"] for e in events(aiia.session, instance.id, "ai_system_status")] == ["change_pending"]


def test_aiia_start_of_a_proposed_system_puts_it_under_assessment(aiia: Aiia) -> None:
    new_system(aiia)

    instance = aiia.start("AIS-900", trigger="new_system")

    assert (aiia.row(instance).ref, aiia.row(instance).version) == ("AIIA-900-v1", 1)
    assert aiia.system("AIS-900").status == "under_assessment"


def test_aiia_start_closes_an_abandoned_unfinished_version(aiia: Aiia) -> None:
    # the demo's AIIA-004-v1 is in progress without a running instance behind it
    instance = aiia.start("AIS-004", by="ravi", trigger="new_system")

    row = aiia.row(instance)
    old = aiia.session.scalar(select(ImpactAssessment).where(ImpactAssessment.ref == "AIIA-004-v1"))
    assert old is not None
    assert (row.ref, row.content["baseline_ref"]) == ("AIIA-004-v2", "AIIA-004-v1")
    assert row.screening_answers == old.screening_answers  # the baseline's answers are the starting point
    assert (old.status, old.content["cancelled"]["reason"]) == ("cancelled",
                                                                "replaced by AIIA-004-v2; no assessment was running")
    assert aiia.system("AIS-004").status == "under_assessment"


def test_aiia_second_start_for_the_same_system_is_a_conflict(aiia: Aiia) -> None:
    aiia.start()

    with pytest.raises(ConflictError, match="AIS-002 already has an impact assessment running"):
        aiia.start(by="meilin")


@pytest.mark.parametrize(("data", "fields"), [
    ({"trigger": "periodic"}, ["ai_system_id"]),
    ({"ai_system_id": SYSTEM, "trigger": "whim"}, ["trigger"]),
    ({"ai_system_id": SYSTEM, "trigger": "periodic", "previous_tier": "extreme"}, ["previous_tier"]),
], ids=["no-system", "unknown-trigger", "unknown-tier"])
def test_aiia_start_payload_is_checked_against_the_start_form(aiia: Aiia, data: dict[str, Any],
                                                               fields: list[str]) -> None:
    with pytest.raises(ValidationError) as info:
        services.start_process(aiia.ctx, aiia.user("priya"), "aims_aiia", data)

    assert [e.path for e in info.value.errors] == fields


def test_aiia_may_not_be_started_by_a_reviewer_only(aiia: Aiia) -> None:
    with pytest.raises(Forbidden, match="aims_owner, process_owner"):
        aiia.start(by="sofia")


# --------------------------------------------------------------------------- full path


def test_aiia_full_medium_tier_with_conditions_ends_e_cond_and_locks_the_register(aiia: Aiia) -> None:
    instance = aiia.start()
    aiia.assign_team(instance)
    assert aiia.open(instance) == ["ut_screening"]
    screening = aiia.task(instance, "ut_screening")
    assert (screening.role, screening.assignee_id) == ("process_owner", aiia.user("meilin").id)
    aiia.screen(instance)
    assert aiia.row(instance).impact_tier == "medium"
    aiia.complete(instance, "ut_system_context", "meilin", dict(CONTEXT))
    analysis_task = aiia.task(instance, "ut_impact_analysis")
    assert analysis_task.assignee_id == aiia.user("lucas").id
    assert analysis_task.due_at == aiia.ctx.clock.now() + timedelta(days=10)

    aiia.ctx.clock.advance(days=2)
    outcome = aiia.analyse(instance, analysis(impact(), impact(**MINOR)))

    # A7: the significant impact became a risk, and a risk assessment of the system was started
    row = aiia.row(instance)
    [risk] = aiia.session.scalars(select(Risk).where(Risk.origin_ref == row.ref))
    assert (risk.status, risk.origin, risk.owner_id, risk.ai_system_ids) == (
        "identified", "aiia", aiia.user("meilin").id, [aiia.system().id])
    assert row.linked_risk_ids == [risk.id]
    assert row.content["impacts"][0]["risk_id"] == risk.ref and "risk_id" not in row.content["impacts"][1]
    [child] = outcome.started
    assert (child.process_id, child.subject, child.parent_instance_id) == ("aims_risk_assessment", SYSTEM,
                                                                           instance.id)
    child_data = aiia.data(child)
    assert {k: child_data[k] for k in ("assessment_scope", "scope_ref", "trigger", "assessor_id",
                                       "requested_by_id", "risk_refs", "aiia_ref")} == {
        "assessment_scope": "ai_system", "scope_ref": SYSTEM, "trigger": "aiia", "assessor_id": mail("lucas"),
        "requested_by_id": mail("priya"), "risk_refs": [risk.ref], "aiia_ref": row.ref}
    # the risk assessment (FLOWS.md (f)) now waits for the assessor to identify risks, the AIIA's among them
    assert risk.ref in [r["risk_id"] for r in child_data["opened"]["existing_risks"]]
    [identify] = services.open_tasks(aiia.ctx, child.id)
    assert (identify.task_spec, identify.assignee_id, identify.subject) == (
        "ut_identify_risks", aiia.user("lucas").id, SYSTEM)

    # A8: personal data -> privacy review; legal classification "no" at tier medium -> no legal review
    assert row.status == "in_review"
    assert aiia.open(instance) == ["ut_review_privacy", "ut_review_rai"]
    aiia.clear_reviews(instance)
    assert aiia.row(instance).status == "pending_approval"
    approval = aiia.task(instance, "ut_approve_aiia")
    assert (approval.role, approval.form, approval.sod_rules) == ("approver", "aiia_approval", "SOD-01,SOD-05,SOD-08")

    conditions = [{"text": "Publish the chatbot's fee-answer limits", "owner_id": mail("meilin"),
                   "due": "2027-01-31"}]
    aiia.approve(instance, "ingrid", "approve_with_conditions", conditions=conditions)

    assert (instance.status, instance.end_event) == ("completed", "E_COND")
    row = aiia.row(instance)
    approved_at = aiia.ctx.clock.now()
    assert (row.status, row.version, row.impact_tier) == ("approved_with_conditions", 2, "medium")
    assert (row.approver_id, row.approved_at, row.next_review_due) == (
        aiia.user("ingrid").id, approved_at, date(2027, 11, 4))
    assert row.conditions == conditions
    assert row.retention_until == date(2029, 11, 4)
    assert row.content["record_sha256"] == record_sha256(row)
    assert sorted(row.reviewer_ids) == sorted([aiia.user("sofia").id, aiia.user("priya").id])
    assert approvals(aiia, row) == [
        ("review", "approve", mail("sofia"), "reviewer"),
        ("review", "approve", mail("priya"), "reviewer"),
        ("approval", "approve_with_conditions", mail("ingrid"), "approver")]
    previous = aiia.session.scalar(select(ImpactAssessment).where(ImpactAssessment.ref == "AIIA-002-v1"))
    assert previous is not None and previous.status == "superseded"
    system = aiia.system()
    assert (system.status, system.impact_tier, system.last_aiia_id, system.next_aiia_due) == (
        "in_operation", "medium", row.id, date(2027, 11, 4))


def test_aiia_approved_without_conditions_ends_e_ok_without_risks(aiia: Aiia) -> None:
    instance = aiia.start()
    aiia.to_analysis(instance)
    outcome = aiia.analyse(instance, analysis(impact(**MINOR)))
    assert outcome.started == [] and risk_assessments(aiia) == []
    assert aiia.data(instance)["risks_raised"]["risk_assessment"] == "not_needed"
    aiia.clear_reviews(instance)

    aiia.approve(instance, "grace", next_review_override="P6M")

    assert (instance.status, instance.end_event) == ("completed", "E_OK")
    row = aiia.row(instance)
    assert (row.status, row.linked_risk_ids, row.conditions) == ("approved", [], [])
    assert row.next_review_due == date(2027, 5, 2)  # the override, not P1Y
    assert aiia.system().status == "in_operation"


def test_aiia_approval_refuses_a_next_review_override_above_two_years(aiia: Aiia) -> None:
    instance = aiia.start()
    aiia.to_analysis(instance)
    aiia.analyse(instance, analysis(impact(**MINOR)))
    aiia.clear_reviews(instance)

    with pytest.raises(ValidationError, match="next_review_override: P3Y is longer than P2Y"):
        aiia.approve(instance, "grace", next_review_override="P3Y")


def test_aiia_conditions_are_refused_unless_approving_with_conditions(aiia: Aiia) -> None:
    instance = aiia.start()
    aiia.to_analysis(instance)
    aiia.analyse(instance, analysis(impact(**MINOR)))
    aiia.clear_reviews(instance)

    with pytest.raises(ValidationError) as info:
        aiia.approve(instance, "grace", conditions=[{"text": "x", "owner_id": mail("meilin"), "due": "2027-01-01"}])
    assert [e.path for e in info.value.errors] == ["conditions"]
    with pytest.raises(ValidationError) as info:
        aiia.approve(instance, "grace", "approve_with_conditions")
    assert [e.path for e in info.value.errors] == ["conditions"]


# --------------------------------------------------------------------------- low tier


def test_aiia_low_tier_is_recorded_and_ends_e_low(aiia: Aiia) -> None:
    new_system(aiia)
    instance = aiia.start("AIS-900", trigger="new_system")
    aiia.assign_team(instance, privacy=None, legal=None)
    aiia.screen(instance, LOW, owner="ravi")
    assert aiia.row(instance).impact_tier == "low"
    record = aiia.task(instance, "ut_low_tier_record")
    assert (record.role, record.assignee_id) == ("assessor", aiia.user("lucas").id)
    aiia.complete(instance, "ut_low_tier_record", "lucas", {
        "rationale": "Internal routing aid; no personal data; a clerk checks every routed invoice.",
        "intended_use": "Suggest the cost centre of a supplier invoice.",
        "foreseeable_misuse": "Auto-posting without the clerk's check.",
        "human_oversight_description": "The clerk confirms or corrects every suggestion."})
    confirm = aiia.task(instance, "ut_confirm_low_tier")
    assert (confirm.role, confirm.assignee_id, confirm.escalation_profile) == (
        "approver", aiia.user("ingrid").id, "APPROVAL")

    aiia.complete(instance, "ut_confirm_low_tier", "ingrid", {"decision": "confirm_low_tier"})

    assert (instance.status, instance.end_event) == ("completed", "E_LOW")
    row = aiia.row(instance)
    assert (row.status, row.impact_tier, row.approver_id) == ("low_tier_recorded", "low", aiia.user("ingrid").id)
    assert row.next_review_due == date(2028, 11, 2)  # P2Y
    assert row.content["low_tier_record"]["intended_use"] == "Suggest the cost centre of a supplier invoice."
    assert approvals(aiia, row) == [("sign_off", "approve", mail("ingrid"), "approver")]
    system = aiia.system("AIS-900")
    assert (system.status, system.impact_tier, system.last_aiia_id) == ("approved_for_development", "low", row.id)


def test_aiia_low_tier_sent_to_full_assessment_by_the_sponsor(aiia: Aiia) -> None:
    new_system(aiia)
    instance = aiia.start("AIS-900", trigger="new_system")
    aiia.assign_team(instance, privacy=None, legal=None)
    aiia.screen(instance, LOW, owner="ravi")
    aiia.complete(instance, "ut_low_tier_record", "lucas", {
        "rationale": "Internal routing aid; no personal data; a clerk checks every routed invoice.",
        "intended_use": "Suggest cost centres.", "foreseeable_misuse": "Auto-posting.",
        "human_oversight_description": "Clerk check."})

    with pytest.raises(ValidationError, match="comment"):
        aiia.complete(instance, "ut_confirm_low_tier", "ingrid", {"decision": "require_full_assessment"})
    aiia.complete(instance, "ut_confirm_low_tier", "ingrid",
                  {"decision": "require_full_assessment", "comment": "Suppliers' bank details are involved."})

    assert aiia.open(instance) == ["ut_system_context"]
    aiia.complete(instance, "ut_system_context", "ravi", dict(CONTEXT))
    aiia.analyse(instance, analysis(impact(**MINOR)))
    assert aiia.open(instance) == ["ut_review_rai"]  # no personal data: no privacy review
    aiia.clear_reviews(instance)
    aiia.approve(instance, "ingrid")

    assert (instance.status, instance.end_event) == ("completed", "E_OK")
    row = aiia.row(instance)
    assert (row.status, row.impact_tier, row.next_review_due) == ("approved", "low", date(2028, 11, 2))
    assert approvals(aiia, row) == [("sign_off", "request_changes", mail("ingrid"), "approver"),
                                    ("review", "approve", mail("priya"), "reviewer"),
                                    ("approval", "approve", mail("ingrid"), "approver")]


@pytest.mark.parametrize("extra", [{"trigger": "incident"}, {"previous_tier": "high"}],
                         ids=["incident", "previously-high"])
def test_aiia_low_screening_still_takes_the_full_path(aiia: Aiia, extra: dict[str, Any]) -> None:
    new_system(aiia)
    instance = aiia.start("AIS-900", **({"trigger": "new_system"} | extra))
    aiia.assign_team(instance, privacy=None, legal=None)
    aiia.screen(instance, LOW, owner="ravi")

    assert aiia.open(instance) == ["ut_system_context"]


# --------------------------------------------------------------------------- rework


def test_aiia_changes_required_by_a_reviewer_returns_to_the_analysis(aiia: Aiia) -> None:
    instance = aiia.to_reviews()
    aiia.review(instance, "privacy", "sofia", "changes_required")
    assert aiia.open(instance) == ["ut_review_rai"]  # the join waits for every review taken
    aiia.ctx.clock.advance(days=1)
    aiia.review(instance, "rai", "priya")

    assert aiia.open(instance) == ["ut_impact_analysis"]
    task = aiia.task(instance, "ut_impact_analysis")
    assert (task.assignee_id, task.due_at) == (aiia.user("lucas").id, aiia.ctx.clock.now() + timedelta(days=10))
    row = aiia.row(instance)
    assert (row.status, row.rework_count) == ("changes_requested", 1)
    assert aiia.data(instance)["rework_count"] == 1
    assert [(r["kind"], r["round"], r["outcome"]) for r in row.content["reviews"]] == [
        ("privacy", 0, "changes_required"), ("rai", 0, "no_objection")]

    aiia.analyse(instance)  # same impact again: the risk raised in round 0 is linked, not duplicated
    aiia.clear_reviews(instance)
    assert aiia.open(instance) == ["ut_approve_aiia"]
    assert len(list(aiia.session.scalars(select(Risk).where(Risk.origin_ref == row.ref)))) == 1
    assert len(risk_assessments(aiia)) == 1
    assert aiia.data(instance)["risks_raised"]["risk_assessment"] == "already_running"


def _changes_until_deadlock(aiia: Aiia) -> ProcessInstance:
    instance = aiia.to_reviews()
    for round_ in range(4):
        aiia.clear_reviews(instance, "changes_required")
        if round_ < 3:
            assert aiia.open(instance) == ["ut_impact_analysis"], round_
            assert aiia.row(instance).rework_count == round_ + 1
            aiia.analyse(instance)
    return instance


def test_aiia_fourth_changes_required_goes_to_the_aims_owner_who_sends_it_on_with_dissent(aiia: Aiia) -> None:
    instance = _changes_until_deadlock(aiia)

    assert aiia.open(instance) == ["ut_resolve_aiia_deadlock"]
    task = aiia.task(instance, "ut_resolve_aiia_deadlock")
    assert (task.role, task.due_at) == ("aims_owner", aiia.ctx.clock.now() + timedelta(days=3))
    aiia.complete(instance, "ut_resolve_aiia_deadlock", "priya",
                  {"decision": "send_to_approver_with_dissent", "comment": "Mitigations are proportionate."})

    assert aiia.open(instance) == ["ut_approve_aiia"]
    assert aiia.data(instance)["approval_request"] == {"approver_role": "approver", "dissent": True}
    aiia.approve(instance, "ingrid")
    assert (instance.status, instance.end_event) == ("completed", "E_OK")
    row = aiia.row(instance)
    assert (row.status, row.rework_count) == ("approved", 3)
    assert len([a for a in approvals(aiia, row) if a[0] == "review"]) == 8
    assert ("sign_off", "approve", mail("priya"), "aims_owner") in approvals(aiia, row)


def test_aiia_deadlock_cancelled_by_the_aims_owner_ends_e_cancel(aiia: Aiia) -> None:
    instance = _changes_until_deadlock(aiia)

    aiia.complete(instance, "ut_resolve_aiia_deadlock", "priya",
                  {"decision": "cancel_assessment", "comment": "Redesign the retrieval first."})

    assert (instance.status, instance.end_event) == ("completed", "E_CANCEL")
    row = aiia.row(instance)
    assert (row.status, row.content["cancelled"]["reason"]) == ("cancelled",
                                                                "review deadlock: Redesign the retrieval first.")
    assert aiia.system().status == "in_operation"  # back from change_pending
    previous = aiia.session.scalar(select(ImpactAssessment).where(ImpactAssessment.ref == "AIIA-002-v1"))
    assert previous is not None and previous.status == "approved"  # still the valid assessment


def test_aiia_return_for_rework_by_the_approver_goes_back_to_the_analysis(aiia: Aiia) -> None:
    instance = aiia.to_reviews()
    aiia.clear_reviews(instance)

    aiia.approve(instance, "ingrid", "return_for_rework")

    assert aiia.open(instance) == ["ut_impact_analysis"]
    row = aiia.row(instance)
    assert (row.status, row.rework_count) == ("changes_requested", 1)
    assert row.content["rework_log"][-1]["source"] == "approval"
    aiia.analyse(instance)
    aiia.clear_reviews(instance)
    aiia.approve(instance, "ingrid")
    assert (instance.status, instance.end_event) == ("completed", "E_OK")
    assert [a[1] for a in approvals(aiia, aiia.row(instance)) if a[0] == "approval"] == ["request_changes",
                                                                                         "approve"]


# --------------------------------------------------------------------------- reject


@pytest.mark.parametrize(("system", "expected"), [(SYSTEM, "suspended"), ("AIS-900", "rejected")],
                         ids=["operating-system-suspended", "new-system-rejected"])
def test_aiia_rejection_ends_e_rej_and_sets_the_system_status(aiia: Aiia, system: str, expected: str) -> None:
    owner = "meilin"
    if system == "AIS-900":
        new_system(aiia, owner="meilin", personal_data="personal")
    instance = aiia.start(system)
    aiia.to_analysis(instance, owner=owner)
    aiia.analyse(instance)
    aiia.clear_reviews(instance)

    aiia.approve(instance, "ingrid", "reject")

    assert (instance.status, instance.end_event) == ("completed", "E_REJ")
    row = aiia.row(instance)
    assert (row.status, row.approver_id, row.approved_at) == ("rejected", aiia.user("ingrid").id, None)
    assert row.content["record_sha256"] == record_sha256(row)
    assert aiia.system(system).status == expected
    assert approvals(aiia, row)[-1] == ("approval", "reject", mail("ingrid"), "approver")


# --------------------------------------------------------------------------- high tier


def test_aiia_high_tier_needs_top_management_and_the_legal_review(aiia: Aiia) -> None:
    instance = aiia.start()
    aiia.to_analysis(instance, HIGH)
    analysis_task = aiia.task(instance, "ut_impact_analysis")
    assert analysis_task.due_at == aiia.ctx.clock.now() + timedelta(days=14)

    with pytest.raises(ValidationError) as info:
        aiia.analyse(instance)
    assert sorted(e.path for e in info.value.errors) == ["consultation_summary", "impacts"]
    third = impact(affected_group="Applicants", dimension="privacy_security")
    aiia.analyse(instance, analysis(impact(), impact(**MINOR), third,
                                    consultation_summary="Consumer panel and the DPO were consulted."))

    assert aiia.open(instance) == ["ut_review_legal", "ut_review_privacy", "ut_review_rai"]
    aiia.clear_reviews(instance)
    approval = aiia.task(instance, "ut_approve_aiia_high")
    assert approval.role == "top_management"
    with pytest.raises(Forbidden, match="Top management"):
        aiia.approve(instance, "ingrid", spec="ut_approve_aiia_high")
    aiia.approve(instance, "jonas", spec="ut_approve_aiia_high")

    assert (instance.status, instance.end_event) == ("completed", "E_OK")
    row = aiia.row(instance)
    assert (row.status, row.impact_tier, row.next_review_due) == ("approved", "high", date(2027, 11, 2))
    assert approvals(aiia, row)[-1] == ("approval", "approve", mail("jonas"), "top_management")
    assert aiia.system().impact_tier == "high"


def test_aiia_a_severe_residual_impact_raises_the_tier_to_high(aiia: Aiia) -> None:
    instance = aiia.start()
    aiia.to_analysis(instance)

    aiia.analyse(instance, analysis(impact(residual_severity=4, residual_likelihood=1)))

    assert aiia.row(instance).impact_tier == "high"
    assert "ut_review_legal" in aiia.open(instance)  # legal reviews every high tier
    [risk] = aiia.session.scalars(select(Risk).where(Risk.origin_ref == aiia.row(instance).ref))
    assert risk.details["impact"]["residual_score"] == 4  # raised for its severity, not its score
    aiia.clear_reviews(instance)
    assert aiia.open(instance) == ["ut_approve_aiia_high"]


# --------------------------------------------------------------------------- segregation of duties


def _to_approval(aiia: Aiia, **team: Any) -> ProcessInstance:
    instance = aiia.to_reviews(**team)
    aiia.clear_reviews(instance, reviewers={"privacy": team.get("privacy", "sofia"), "rai": team.get("rai", "priya"),
                                            "legal": team.get("legal", "fatima")})
    assert aiia.open(instance) == ["ut_approve_aiia"]
    return instance


def test_aiia_assessor_may_not_approve(aiia: Aiia) -> None:
    instance = _to_approval(aiia, assessor="hannah")
    hannah = aiia.user("hannah")
    hannah.role_rows.append(RoleAssignment(role="approver"))
    aiia.session.flush()

    with pytest.raises(SodViolation, match="SOD-05 impact assessment: you performed this impact assessment") as info:
        aiia.approve(instance, "hannah")
    assert info.value.audit_after_rollback is not None
    assert aiia.task(instance, "ut_approve_aiia").state == "ready"


def test_aiia_reviewer_may_not_approve_and_is_no_candidate(aiia: Aiia) -> None:
    unsure = {**MEDIUM, "legal_high_risk_classification": "unsure"}
    instance = aiia.to_reviews(unsure)
    assert aiia.row(instance).impact_tier == "medium"
    assert "ut_review_legal" in aiia.open(instance)  # unsure -> legal review
    aiia.clear_reviews(instance)
    task = aiia.task(instance, "ut_approve_aiia")
    assert aiia.user("fatima").id in task.excluded_ids

    with pytest.raises(SodViolation, match="you reviewed this impact assessment"):
        aiia.approve(instance, "fatima")
    with pytest.raises(Forbidden, match="segregation of duties excludes"):
        services.claim_task(aiia.ctx, aiia.user("fatima"), task.id)


def test_aiia_system_owner_may_not_approve_a_medium_tier(aiia: Aiia) -> None:
    grant(aiia.session, "meilin", "approver")
    instance = _to_approval(aiia)

    with pytest.raises(SodViolation, match="you own this AI system, so you cannot approve its medium-tier"):
        aiia.approve(instance, "meilin")


def test_aiia_team_assignment_refuses_a_reviewer_who_is_the_assessor_or_owner(aiia: Aiia) -> None:
    instance = aiia.start()
    task = aiia.task(instance, "ut_assign_aiia_team")
    version, state = instance.version, instance.state

    with pytest.raises(ValidationError) as info:
        aiia.complete(instance, "ut_assign_aiia_team", "priya", {
            "assessor_id": mail("sofia"), "rai_reviewer_id": mail("priya"), "privacy_reviewer_id": mail("sofia"),
            "target_completion": "2026-12-15"})
    assert [(e.path, e.message) for e in info.value.errors] == [
        ("privacy_reviewer_id", "must not be the assessor (SOD-05: reviewer ≠ assessor)")]
    with pytest.raises(ValidationError) as info:
        aiia.complete(instance, "ut_assign_aiia_team", "priya", {
            "assessor_id": mail("lucas"), "rai_reviewer_id": mail("priya"), "target_completion": "2026-12-15"})
    assert [e.path for e in info.value.errors] == ["privacy_reviewer_id"]
    assert "processes personal data" in str(info.value)

    aiia.session.expire_all()
    assert (instance.version, instance.state, task.state) == (version, state, "ready")
    assert aiia.row(instance).assessor_id == aiia.user("meilin").id


# --------------------------------------------------------------------------- bad forms


def test_aiia_bad_screening_names_every_failing_field_and_changes_nothing(aiia: Aiia) -> None:
    instance = aiia.start()
    aiia.assign_team(instance)
    aiia.session.flush()
    task = aiia.task(instance, "ut_screening")
    version, state, audit_count = instance.version, instance.state, len(events(aiia.session, instance.id))

    bad = {**MEDIUM, "decision_effect": "vibes", "decision_domain": ["none", "employment"],
           "people_affected_per_year": -1}
    del bad["safety_relevant"]
    with pytest.raises(ValidationError) as info:
        aiia.screen(instance, bad)

    assert sorted(e.path for e in info.value.errors) == ["decision_domain", "decision_effect",
                                                         "people_affected_per_year", "safety_relevant"]
    aiia.session.expire_all()
    assert (instance.version, instance.state) == (version, state)
    assert (task.state, task.submitted) == ("ready", None)
    assert aiia.row(instance).status == "screening"
    assert len(events(aiia.session, instance.id)) == audit_count


def test_aiia_bad_impact_analysis_names_the_item_fields(aiia: Aiia) -> None:
    instance = aiia.start()
    aiia.to_analysis(instance)

    with pytest.raises(ValidationError) as info:
        aiia.analyse(instance, analysis(
            impact(residual_severity=5, planned_measures=None),
            impact(nature="negative", residual_likelihood=None, **{"risk_id": "R-1"}),
            societal_checklist={**CHECKLIST, "economic": "maybe"},
            proposed_conclusion="proceed_with_conditions"))

    assert sorted(e.path for e in info.value.errors) == [
        "impacts/0/planned_measures", "impacts/0/residual_severity", "impacts/1/residual_likelihood",
        "impacts/1/risk_id", "proposed_conditions", "societal_checklist/economic"]
    assert aiia.open(instance) == ["ut_impact_analysis"]


def test_aiia_impact_naming_an_unknown_risk_is_refused(aiia: Aiia) -> None:
    instance = aiia.start()
    aiia.to_analysis(instance)

    with pytest.raises(ValidationError, match=r"impacts/0/risk_id: .*\(Impacts, row 1\): there is no risk RSK-999"):
        aiia.analyse(instance, analysis(impact(risk_id="RSK-999")))
    assert aiia.session.scalars(select(Risk).where(Risk.origin == "aiia", Risk.origin_ref == "AIIA-002-v2")).all() == []


def test_aiia_impact_naming_an_existing_risk_links_it(aiia: Aiia) -> None:
    instance = aiia.start()
    aiia.to_analysis(instance)

    aiia.analyse(instance, analysis(impact(risk_id="RSK-002")))

    row = aiia.row(instance)
    risk = aiia.session.scalar(select(Risk).where(Risk.ref == "RSK-002"))
    assert risk is not None and row.linked_risk_ids == [risk.id]
    assert aiia.data(instance)["risks_raised"]["linked"] == ["RSK-002"]
    assert aiia.session.scalars(select(Risk).where(Risk.origin_ref == row.ref)).all() == []


def test_aiia_societal_checklist_impact_recorded_needs_an_impact(aiia: Aiia) -> None:
    instance = aiia.start()
    aiia.to_analysis(instance)

    with pytest.raises(ValidationError, match="societal_checklist/economic: marked impact_recorded"):
        aiia.analyse(instance, analysis(societal_checklist={**CHECKLIST, "economic": "impact_recorded"}))


# --------------------------------------------------------------------------- persistence


def test_aiia_serialize_and_restore_mid_flow_then_finish(aiia: Aiia) -> None:
    instance = aiia.to_reviews()
    aiia.review(instance, "privacy", "sofia")
    aiia.session.flush()
    state = instance.state

    runtime.clear_caches()
    restored = runtime.restore(aiia.ctx, instance).workflow
    assert serializer.dumps(restored) == state
    runtime.clear_caches()

    aiia.review(instance, "rai", "priya")
    runtime.clear_caches()
    aiia.approve(instance, "ingrid")

    assert (instance.status, instance.end_event) == ("completed", "E_OK")
    assert aiia.row(instance).status == "approved"


def test_aiia_approval_task_arms_the_deployment_blocked_timer_and_clears_it(aiia: Aiia) -> None:
    instance = aiia.to_reviews()
    assert instance.wake_at is None
    aiia.clear_reviews(instance)
    assert instance.wake_at is not None  # the non-interrupting P10D timer on the approval

    aiia.approve(instance, "ingrid")

    assert (instance.status, instance.end_event, instance.wake_at) == ("completed", "E_OK", None)


def test_aiia_deployment_blocked_timer_notifies_the_sponsor_and_the_approval_still_ends_the_flow(
        aiia: Aiia) -> None:
    new_system(aiia, owner="meilin", personal_data="personal")
    instance = aiia.start("AIS-900", trigger="new_system")
    aiia.to_analysis(instance)
    aiia.analyse(instance)
    aiia.clear_reviews(instance)

    # what the timer worker will do: the P10D timer is due; refresh timers and run the engine
    workflow = runtime.restore(aiia.ctx, instance).workflow
    [timer] = [t for t in workflow.get_tasks(state=TaskState.WAITING) if t.task_spec.bpmn_id == "tm_blocked"]
    timer.internal_data["event_value"] = "2000-01-01T00:00:00+00:00"
    binding = runtime.bind(aiia.ctx, instance, workflow, None)
    binding.step(workflow.refresh_timers)
    effects = runtime.run(aiia.ctx, instance, workflow, None, binding)
    runtime.save(aiia.ctx, instance, workflow)
    runtime.sync_tasks(aiia.ctx, instance, workflow)
    runtime.append_effects(aiia.ctx, instance, None, effects)

    [notice] = events(aiia.session, instance.id, "deployment_blocked_notice")
    assert (notice.subject, notice.data["to"], notice.data["aiia_ref"]) == ("AIS-900", mail("grace"), "AIIA-900-v1")
    assert aiia.open(instance) == ["ut_approve_aiia"]  # non-interrupting: the approval still waits
    aiia.approve(instance, "ingrid")
    assert (instance.status, instance.end_event) == ("completed", "E_OK")
    assert aiia.system("AIS-900").status == "approved_for_development"


def test_aiia_operators_run_twice_change_nothing_more(aiia: Aiia) -> None:
    instance = aiia.to_reviews()
    aiia.review(instance, "privacy", "sofia")
    data = aiia.data(instance)
    octx = OperatorContext(aiia.session, aiia.ctx.clock, aiia.ctx.settings, aiia.user("sofia"), instance,
                           "svc_record_privacy", {**data, "outcome": "no_objection"})
    row = aiia.row(instance)
    counts = (len(approvals(aiia, row)), len(aiia.session.scalars(select(Risk)).all()), len(row.content["reviews"]))

    first = operators.get_operator("aiia.raise_risks")(octx)
    again = operators.get_operator("aiia.raise_risks")(octx)
    operators.get_operator("aiia.record_review")(octx, kind="privacy")
    draft = operators.get_operator("aiia.create_draft")(octx, ai_system_id=SYSTEM, trigger="periodic")

    assert first["created"] == again["created"] == [] and first["risk_refs"] == again["risk_refs"]
    assert first["risk_assessment"] == "already_running" and octx.starts == []
    assert draft["aiia_ref"] == row.ref
    assert (len(approvals(aiia, row)), len(aiia.session.scalars(select(Risk)).all()),
            len(row.content["reviews"])) == counts


def test_aiia_finalise_twice_keeps_the_first_lock(aiia: Aiia) -> None:
    instance = aiia.to_reviews()
    aiia.clear_reviews(instance)
    aiia.approve(instance, "ingrid")
    row = aiia.row(instance)
    locked = (row.status, row.approved_at, row.content["record_sha256"])
    aiia.ctx.clock.advance(days=3)
    octx = OperatorContext(aiia.session, aiia.ctx.clock, aiia.ctx.settings, aiia.user("ingrid"), instance,
                           "svc_finalise", {"aiia_ref": row.ref, "decision": "reject"})

    result = operators.get_operator("aiia.finalise")(octx, status="reject")

    assert result["status"] == "approved"
    assert (row.status, row.approved_at, row.content["record_sha256"]) == locked


# --------------------------------------------------------------------------- the definition itself

#: FLOWS.md (a): lane, form, assignee_var, due, escalation profile, SoD rules of every user task
TASKS = {
    "ut_assign_aiia_team": ("aims_owner", "aiia_assign_team", None, "P3D", "STD", ()),
    "ut_screening": ("process_owner", "aiia_screening", "system_owner_id", "P5D", "STD", ()),
    "ut_low_tier_record": ("assessor", "aiia_low_tier_record", "assessor_id", "P5D", "STD", ()),
    "ut_confirm_low_tier": ("approver", "aiia_confirm_low_tier", "business_sponsor_id", "P5D", "APPROVAL",
                            ("SOD-01", "SOD-05", "SOD-08")),
    "ut_system_context": ("process_owner", "aiia_system_context", "system_owner_id", "P7D", "STD", ()),
    "ut_impact_analysis": ("assessor", "aiia_impact_analysis", "assessor_id", None, "STD", ()),
    "ut_review_privacy": ("reviewer", "aiia_review", "privacy_reviewer_id", "P5D", "STD", ("SOD-05", "SOD-08")),
    "ut_review_legal": ("reviewer", "aiia_review", "legal_reviewer_id", "P5D", "STD", ("SOD-05", "SOD-08")),
    "ut_review_rai": ("reviewer", "aiia_review", "rai_reviewer_id", "P5D", "STD", ("SOD-05", "SOD-08")),
    "ut_resolve_aiia_deadlock": ("aims_owner", "aiia_resolve_deadlock", None, "P3D", "STD", ("SOD-08",)),
    "ut_approve_aiia": ("approver", "aiia_approval", None, "P5D", "APPROVAL", ("SOD-01", "SOD-05", "SOD-08")),
    "ut_approve_aiia_high": ("top_management", "aiia_approval", None, "P5D", "APPROVAL",
                             ("SOD-01", "SOD-05", "SOD-08")),
}


def _aiia_specs(aiia: Aiia) -> dict[str, Any]:
    version = definitions.latest_version(aiia.session, "aims_aiia")
    spec, subs = definitions.specs_for(aiia.session, version)
    found = {}
    for s in [spec, *subs.values()]:
        for ts in s.task_specs.values():
            if isinstance(ts, UserTaskMixin):
                found[ts.bpmn_id] = ts
    return found


def test_aiia_user_tasks_carry_the_properties_flows_md_gives_them(aiia: Aiia) -> None:
    found = _aiia_specs(aiia)

    assert sorted(found) == sorted(TASKS)
    for bpmn_id, (lane, form, assignee, due, profile, rules) in TASKS.items():
        props = read_properties(found[bpmn_id].extensions)
        assert (found[bpmn_id].lane, props.form, props.assignee_var, props.due_in, props.escalation_profile,
                props.sod_rules) == (lane, form, assignee, due, profile, rules), bpmn_id
    assert read_properties(found["ut_impact_analysis"].extensions).due_at_var == "analysis_window.due_at"
    _, start = definitions.start_event_properties(definitions.specs_for(
        aiia.session, definitions.latest_version(aiia.session, "aims_aiia")))
    assert (start.form, start.start_roles) == ("aiia_start", ("aims_owner", "process_owner"))


def test_aiia_every_form_is_used_and_every_element_is_drawn(aiia: Aiia) -> None:
    version = definitions.latest_version(aiia.session, "aims_aiia")
    forms_dir = aiia.ctx.settings.forms_dir
    shipped = {p.name.removesuffix(".schema.json") for p in forms_dir.glob("aiia_*.schema.json")}
    assert shipped == set(version.forms)  # no form without a task, no task without its form

    root = etree.fromstring(version.bpmn_xml.encode())
    ns = {"bpmn": definitions.BPMN_NS, "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI"}
    process = root.find("bpmn:process", ns)
    elements = {e.get("id") for e in process.iter() if e.get("id") and etree.QName(e).localname in DRAWN}
    shapes = {s.get("bpmnElement") for s in root.iterfind(".//bpmndi:BPMNShape", ns)}
    edges = {s.get("bpmnElement") for s in root.iterfind(".//bpmndi:BPMNEdge", ns)}
    flows = {e.get("id") for e in process.iter(f"{{{definitions.BPMN_NS}}}sequenceFlow")}
    assert elements - shapes == set()
    assert flows - edges == set()
    assert {lane.get("name") for lane in process.iterfind(".//bpmn:lane", ns)} == {
        "aims_owner", "process_owner", "assessor", "reviewer", "approver", "top_management"}
    ends = {e.get("id") for e in process.iter(f"{{{definitions.BPMN_NS}}}endEvent")}
    assert {"E_OK", "E_COND", "E_LOW", "E_REJ", "E_CANCEL"} <= ends


DRAWN = {"startEvent", "endEvent", "userTask", "serviceTask", "scriptTask", "exclusiveGateway", "inclusiveGateway",
         "subProcess", "boundaryEvent", "lane", "participant"}


def test_aiia_does_not_start_a_second_risk_assessment_for_the_system(aiia: Aiia) -> None:
    running = services.start_process(aiia.ctx, aiia.user("priya"), "aims_risk_assessment", {
        "assessment_scope": "ai_system", "scope_ref": SYSTEM, "trigger": "periodic",
        "assessor_id": mail("lucas")}).instance
    instance = aiia.start()
    aiia.to_analysis(instance)

    outcome = aiia.analyse(instance)

    assert outcome.started == []
    assert risk_assessments(aiia) == [running]
    assert aiia.data(instance)["risks_raised"]["risk_assessment"] == "already_running"
    assert aiia.row(instance).linked_risk_ids != []
