"""Open work for the demo organisation: Lumenvale's first ten days of June (demo calendar), played through
the services by the people who hold each step (``demo_history.py``), so that every demo login finds work
waiting, some of it overdue and escalated, with the reminders, overdue notices and escalations a running
worker would have sent.

The demo calendar is the one of ``data/demo_organisation.json`` (its registers are as of 1 June 2026).
The history begins then (:func:`history_start`: load the registers at that moment, so the audit trail
stays in time order) and ends on 11 June, which becomes the real today.

What each demo login finds afterwards (the logins ``web/welcome.py`` prints):

* Priya Raman (AIMS owner): EVD-018 to review, four days overdue and escalated to her manager; a new
  nonconformity about Ask Lumi to triage; the FraudGuard impact assessment to staff; the certification
  project to define.
* Tomás Alvarez (process owner): containment of the TalentSift release nonconformity, three days
  overdue and escalated to Ingrid Larsen; the screening of TalentSift's impact assessment.
* Sofia Rossi (assessor): the risk identification for Ask Lumi.
* Fatima Al-Sayed (reviewer): the legal review of the AI policy draft (she may claim it).
* Ingrid Larsen (approver): the corrective-action plan for FraudGuard's threshold change, a day
  overdue; the revised nonconformity procedure to approve (she may claim it); the escalation about
  Tomás's containment, and his task in her team view.
* Grace Nwosu (top management): the FY2027 internal audit programme to approve (she may claim it).
* Daniel Kim (internal auditor): his independence declaration for IA-2026-02.
* Oliver Grant (admin) holds no lane: after the history, :data:`ADMIN_DRAFT` is saved as a draft
  version of the evidence review for him to compare and publish (``engine.app.process_admin``).

Started only on a database with no process instance yet, so loading the demo twice starts nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from engine.aims import demo
from engine.aims.demo_history import Calendar, Complete, Played, Start, Step, Story, instance_count, play
from engine.core import definitions
from engine.core.clock import Clock, FixedClock
from engine.core.errors import DefinitionError
from engine.core.runtime import Context

DOMAIN = "lumenvale.example"
#: the demo calendar: 11 June 2026 there is the real today
CALENDAR = Calendar(today=date(2026, 6, 11), domain=DOMAIN)
#: when the history begins (the registers are loaded then)
BEGINS = "2026-06-01T08:00:00Z"


def history_start(clock: Clock) -> FixedClock:
    """A clock at the moment the demo history begins."""
    return FixedClock(CALENDAR.real(BEGINS, clock.now()))


@dataclass
class Prepared:
    """The demo registers loaded (rows per kind), the processes deployed, and whether the history is to
    be played (else ``reason`` says why not)."""

    registers: dict[str, int]
    deployed: list[definitions.DeployResult] = field(default_factory=list)
    history: bool = False
    reason: str | None = None


def prepare(ctx: Context) -> Prepared:
    """Load (or refresh) the demo registers. On a database where no process has run yet and whose
    processes folder (or deployed versions) holds every process the history starts, load them at the
    history's start and deploy the processes folder then too, so that the audit trail stays in time
    order; otherwise load them now and play nothing. Raises what ``demo.load`` raises."""
    if instance_count(ctx):
        return Prepared(demo.load(ctx.session, ctx.clock), reason="processes have run already")
    missing = _missing_processes(ctx)
    if missing:
        return Prepared(demo.load(ctx.session, ctx.clock),
                        reason=f"{', '.join(missing)} neither deployed nor in the processes folder")
    at = history_start(ctx.clock)
    registers = demo.load(ctx.session, at)
    savepoint = ctx.session.begin_nested()
    try:
        deployed = definitions.deploy_directory(ctx.session, ctx.settings, at)
    except DefinitionError as exc:
        savepoint.rollback()
        return Prepared(registers, reason=f"the processes folder does not deploy: {exc.message}")
    savepoint.commit()
    return Prepared(registers, deployed, history=True)


def _missing_processes(ctx: Context) -> list[str]:
    deployed = definitions.latest_versions(ctx.session)
    wanted = sorted({s.steps[0].action.process_id for s in OPEN_WORK if isinstance(s.steps[0].action, Start)})
    return [p for p in wanted if p not in deployed and not (ctx.settings.processes_dir / f"{p}.bpmn").is_file()]


@dataclass(frozen=True)
class DraftChange:
    """A change an admin (``by``) drafts to a published process: task properties of one element."""

    process_id: str
    element_id: str
    properties: dict[str, str]
    by: str


#: the admin's work: the AIMS owner asked for a week to review evidence (five days were too few during
#: the pre-certification rush); Oliver has drafted it, to compare with version 1 and publish
ADMIN_DRAFT = DraftChange("aims_evidence_review", "ut_review_evidence", {"due_in": "P7D"}, "oliver.grant")


def _mail(local: str) -> str:
    return f"{local}@{DOMAIN}"


# --------------------------------------------------------------------------- the story

_TALENTSIFT_NC = Story("TalentSift 3.2 released without the fairness sign-off", (
    Step("2026-06-05T16:40Z", "lucas.moreau", Start("aims_nc_capa", {
        "title": "TalentSift 3.2 went live without the fairness sign-off",
        "description": "Model 3.2 of TalentSift was promoted to production yesterday. The subgroup fairness "
                       "tests ran, but the sign-off by the system owner that the validation procedure asks for "
                       "before deployment was never given; the release checklist was closed by the pipeline.",
        "requirement_ref": "A.6.2.5", "ai_system_refs": ["AIS-001"], "detected_at": "2026-06-05",
        "suggested_severity": "major", "source": "self_identified",
        "evidence": ["Release log of TalentSift 3.2", "Fairness test report 3.2 (unsigned)"]})),
    Step("2026-06-06T09:15Z", "priya.raman", Complete("ut_triage_nc", {
        "is_nonconformity": "yes", "severity": "major", "nc_owner_id": _mail("tomas.alvarez"),
        "plan_approver_id": _mail("fatima.alsayed"), "incident_communication_required": False,
        "ai_system_action": "none",
        "rationale": "A high-tier system went live without the deployment approval A.6.2.5 requires; "
                     "shortlists were produced with it for two days."})),
))

_FRAUDGUARD_NC = Story("FraudGuard alert threshold changed without a change record", (
    Step("2026-06-04T10:30Z", "hannah.schmidt", Start("aims_nc_capa", {
        "title": "FraudGuard alert threshold raised in production without a change record",
        "description": "During the monthly compliance check the FraudGuard alert threshold was found at 0.82 "
                       "instead of the approved 0.75. It was raised two weeks ago to cut the alert queue; no change "
                       "record or approval exists.",
        "requirement_ref": "8.1", "ai_system_refs": ["AIS-003"], "detected_at": "2026-06-03",
        "suggested_severity": "minor", "source": "monitoring"})),
    Step("2026-06-05T09:40Z", "priya.raman", Complete("ut_triage_nc", {
        "is_nonconformity": "yes", "severity": "minor", "nc_owner_id": _mail("kwame.mensah"),
        "plan_approver_id": _mail("ingrid.larsen"), "incident_communication_required": False,
        "ai_system_action": "none",
        "rationale": "A planned change was made without the change control of 8.1; the effect on missed "
                     "fraud is small and being checked."})),
    Step("2026-06-05T15:05Z", "kwame.mensah", Complete("ut_contain_correct", {
        "containment_actions": "Threshold set back to the approved 0.75 the same afternoon.",
        "correction": "The 412 transactions scored between 0.75 and 0.82 since the change were re-screened by "
                      "the fraud team.",
        "consequences_handled": "Three cases were opened from the re-screening; no customer was harmed.",
        "correction_completed_at": "2026-06-05"})),
    Step("2026-06-08T11:20Z", "kwame.mensah", Complete("ut_root_cause", {
        "rca_method": "five_whys",
        "analysis": "The threshold is a runtime setting outside the release pipeline, so changing it needs "
                    "no change record; the operations team raised it under alert-volume pressure because "
                    "nobody had told them it is part of the approved model.",
        "root_causes": [
            {"cause": "The alert threshold is a runtime setting outside the change-controlled release",
             "category": "technology"},
            {"cause": "Fraud operations did not know the threshold is part of the approved model",
             "category": "people"}],
        "similar_ncs_exist": False, "similar_ncs_could_occur": True,
        "other_areas_affected": "Ask Lumi's confidence cut-off is a runtime setting too."})),
    Step("2026-06-09T14:30Z", "kwame.mensah", Complete("ut_plan_ca", {
        "ca_required": "yes", "aims_change_required": ["process"],
        "actions": [
            {"description": "Move the alert threshold into the versioned model configuration, released "
                            "only through the change process", "addresses_root_cause": 0,
             "owner_id": _mail("lucas.moreau"), "due_date": "2026-07-10"},
            {"description": "Brief fraud operations on what the approved model includes; threshold "
                            "requests go to the weekly change board", "addresses_root_cause": 1,
             "owner_id": _mail("elena.petrova"), "due_date": "2026-06-30"}],
        "effectiveness_criteria": "No threshold change without a change record over the next two release "
                                  "cycles, checked against the configuration history.",
        "effectiveness_check_after": "P60D"})),
))

_EVIDENCE = Story("MLOps tooling inventory (EVD-018) submitted for review", (
    Step("2026-06-02T11:30Z", "lucas.moreau", Start("aims_evidence_review", {
        "evidence_ref": "EVD-018", "trigger": "submitted"})),
))

_TALENTSIFT_AIIA = Story("Impact assessment of TalentSift after release 3.2", (
    Step("2026-06-08T10:00Z", "priya.raman", Start("aims_aiia", {
        "ai_system_id": "AIS-001", "trigger": "significant_change", "requested_by_id": _mail("priya.raman"),
        "previous_tier": "high"})),
    Step("2026-06-09T09:30Z", "priya.raman", Complete("ut_assign_aiia_team", {
        "assessor_id": _mail("hannah.schmidt"), "rai_reviewer_id": _mail("priya.raman"),
        "privacy_reviewer_id": _mail("sofia.rossi"), "legal_reviewer_id": _mail("fatima.alsayed"),
        "target_completion": "2026-07-10"})),
))

_FRAUDGUARD_AIIA = Story("Yearly impact assessment of FraudGuard", (
    Step("2026-06-10T09:00Z", "priya.raman", Start("aims_aiia", {
        "ai_system_id": "AIS-003", "trigger": "periodic", "requested_by_id": _mail("priya.raman")})),
))

_ASK_LUMI_NC = Story("Ask Lumi answer sampling skipped for two weeks", (
    Step("2026-06-10T15:20Z", "meilin.chen", Start("aims_nc_capa", {
        "title": "Ask Lumi answer-quality sampling skipped for two weeks",
        "description": "The daily sample of 20 Ask Lumi conversations was not reviewed for the last two weeks "
                       "while the QA analyst was on leave; the monitoring plan asks for it every working day.",
        "requirement_ref": "9.1", "ai_system_refs": ["AIS-002"], "detected_at": "2026-06-10",
        "suggested_severity": "minor", "source": "self_identified"})),
))

_ASK_LUMI_RISK = Story("Periodic risk assessment of Ask Lumi", (
    Step("2026-06-09T11:00Z", "priya.raman", Start("aims_risk_assessment", {
        "assessment_scope": "ai_system", "scope_ref": "AIS-002", "trigger": "periodic",
        "assessor_id": _mail("sofia.rossi"), "requested_by_id": _mail("priya.raman")})),
))

_AUDIT = Story("Internal audit IA-2026-02 (operation, A.5-A.7)", (
    Step("2026-06-08T09:00Z", "priya.raman", Start("aims_internal_audit", {"audit_ref": "IA-2026-02"})),
    Step("2026-06-09T10:00Z", "priya.raman", Complete("ut_appoint_audit_team", {
        "lead_auditor_id": _mail("daniel.kim"), "scope_confirmed": True})),
    # Daniel and Priya (who owns controls in scope) both report to Amara Okafor: SOD-02's reporting line
    Step("2026-06-10T11:30Z", "grace.nwosu", Complete("ut_independence_exception", {
        "decision": "accept_reporting_line_exception",
        "justification": "Priya's controls are audited on their records only; Amara Okafor takes no part in "
                         "the audit or its report, which goes to me."})),
))

_CLAUSES_4_7 = ["4.1", "4.2", "4.3", "4.4", "5.1", "5.2", "5.3", "6.1.1", "6.1.2", "6.1.3", "6.1.4", "6.2", "6.3",
                "7.1", "7.2", "7.3", "7.4", "7.5.1", "7.5.2", "7.5.3"]
_CONTROLS_A2_A4 = ["A.2.2", "A.2.3", "A.2.4", "A.3.2", "A.3.3", "A.4.2", "A.4.3", "A.4.4", "A.4.5", "A.4.6"]
_CONTROLS_A5_A7 = ["A.5.2", "A.5.3", "A.5.4", "A.5.5", "A.6.1.2", "A.6.1.3", "A.6.2.2", "A.6.2.3", "A.6.2.4",
                   "A.6.2.5", "A.6.2.6", "A.6.2.7", "A.6.2.8", "A.7.2", "A.7.3", "A.7.4", "A.7.5", "A.7.6"]
_CLAUSES_9_10 = ["9.1", "9.2.1", "9.2.2", "9.3.1", "9.3.2", "9.3.3", "10.1", "10.2"]
_CONTROLS_A8_A10 = ["A.8.2", "A.8.3", "A.8.4", "A.8.5", "A.9.2", "A.9.3", "A.9.4", "A.10.2", "A.10.3", "A.10.4"]

_PROGRAMME = Story("Internal audit programme FY2027", (
    Step("2026-06-03T10:00Z", "priya.raman", Start("aims_audit_programme", {"period": "FY2027"})),
    Step("2026-06-08T16:00Z", "priya.raman", Complete("ut_draft_programme", {
        "period": "FY2027",
        "objectives": "Cover every clause and every applicable Annex A control before the surveillance audit; "
                      "audit the high-tier systems TalentSift and FraudGuard again in depth.",
        "audits": [
            {"title": "Context, leadership, planning and support; A.2-A.4", "scope_clauses": _CLAUSES_4_7,
             "scope_controls": _CONTROLS_A2_A4, "planned_start": "2027-02-15", "planned_end": "2027-02-19",
             "method": "onsite", "proposed_lead_auditor": _mail("daniel.kim")},
            {"title": "Operation and the AI system life cycle; A.5-A.7", "scope_clauses": ["8.1", "8.2", "8.3", "8.4"],
             "scope_controls": _CONTROLS_A5_A7, "scope_ai_systems": ["AIS-001", "AIS-003"],
             "planned_start": "2027-05-10", "planned_end": "2027-05-14", "method": "hybrid",
             "proposed_lead_auditor": _mail("daniel.kim")},
            {"title": "Performance evaluation and improvement; A.8-A.10", "scope_clauses": _CLAUSES_9_10,
             "scope_controls": _CONTROLS_A8_A10, "planned_start": "2027-08-23", "planned_end": "2027-08-27",
             "method": "onsite", "proposed_lead_auditor": _mail("hannah.schmidt")}],
        "frequency_rationale": "High-tier systems every year; the whole AIMS once a year until the first "
                               "recertification.",
        "resources": "Two trained internal auditors (Daniel Kim, Hannah Schmidt); 15 audit days.",
        "external_auditor_needed": False})),
))

_POLICY_CHECKLIST = {c: True for c in ("fits_purpose", "objectives_framework", "commit_applicable_requirements",
                                       "commit_continual_improvement", "principles_stated",
                                       "exception_handling_defined", "roles_referenced")}

_AI_POLICY = Story("AI policy 1.1: generative-AI acceptable use (management review D1)", (
    Step("2026-06-02T09:30Z", "priya.raman", Start("aims_policy_review", {
        "document_ref": "DOC-POL-001", "trigger": "management_review", "source_ref": "MR-2026-1",
        "reason": "Decision D1: add generative-AI acceptable-use rules to the AI policy."})),
    Step("2026-06-05T14:00Z", "priya.raman", Complete("ut_policy_review_draft", {
        "review_inputs_considered": ["management_review_outputs", "regulatory_changes"],
        "review_outcome": "minor_revision", "changed_topics": ["use_restrictions", "principles"],
        "change_summary": "Adds acceptable-use rules for generative AI tools: approved tools only, no customer "
                          "data in prompts, human review of generated customer text.",
        "draft": "AI Governance / Policies / AI policy 1.1 draft", "content_checklist": _POLICY_CHECKLIST,
        "aligned_policies": [{"document_ref": "DOC-PROC-001", "result": "aligned"}],
        "requires_acknowledgement": False, "external_publication": True, "review_interval": "P1Y",
        "effective_from": "2026-07-01"})),
))

_PROCEDURE = Story("Nonconformity procedure 1.1: reminders and deputies for recurring reports", (
    Step("2026-06-03T11:00Z", "priya.raman", Start("aims_policy_review", {
        "document_ref": "DOC-PROC-004", "trigger": "nc", "source_ref": "NC-2026-002",
        "reason": "NC-2026-002: the TalentSift fairness report was five weeks late because nobody stood in."})),
    Step("2026-06-04T15:10Z", "priya.raman", Complete("ut_policy_review_draft", {
        "review_inputs_considered": ["incidents_concerns", "audit_findings"],
        "review_outcome": "minor_revision", "changed_topics": ["other"],
        "change_summary": "Recurring monitoring reports get a named deputy and a reminder five days before "
                          "they are due; a missed report is raised as a nonconformity.",
        "draft": "AI Governance / Procedures / NC and corrective action procedure 1.1 draft",
        "content_checklist": _POLICY_CHECKLIST,
        "aligned_policies": [{"document_ref": "DOC-POL-001", "result": "aligned"}],
        "requires_acknowledgement": False, "external_publication": False, "review_interval": "P1Y",
        "effective_from": "2026-07-01"})),
    Step("2026-06-08T10:30Z", "sofia.rossi", Complete("ut_policy_specialist_review", {
        "outcome": "endorse_with_comments",
        "comments": "Fine. Name the deputy per report in the monitoring plan, not in the procedure."})),
))

_CERTIFICATION = Story("Certification project CERT-2026", (
    Step("2026-06-10T11:00Z", "priya.raman", Start("aims_cert_prep", {"cycle_ref": "CERT-2026"})),
))

#: the stories (their steps are played in time order, whichever story they belong to)
OPEN_WORK: list[Story] = [
    _EVIDENCE, _AI_POLICY, _PROGRAMME, _PROCEDURE, _FRAUDGUARD_NC, _TALENTSIFT_NC, _TALENTSIFT_AIIA, _AUDIT,
    _ASK_LUMI_RISK, _FRAUDGUARD_AIIA, _CERTIFICATION, _ASK_LUMI_NC,
]


def start_open_work(ctx: Context, stories: list[Story] | None = None) -> list[Played]:
    """Play the demo history up to ``ctx.clock.now()`` (nothing when any instance exists: loading the
    demo twice starts nothing twice). A story that fails is reported with its reason and leaves nothing
    behind (``demo_history.play``)."""
    if instance_count(ctx):
        return []
    return play(ctx, CALENDAR, OPEN_WORK if stories is None else stories)

