"""The audit events of the ISO/IEC 42001 domain in words: what the operators, evidence intake,
acknowledgements, the due-date starts and the demo write, as a phrase that reads after the actor's name
("Priya Raman *triaged the nonconformity as minor*"; "aimsflow" when the engine acted alone).

A phrase may name what the event names, in square brackets: ``"approved the document[ {subject}][ version
{version}]"``. A bracketed part is kept only when every ``{field}`` in it has a value: ``subject`` is the
event's record unless the page is about that record already; ``step`` is the name of the event's task;
any other field is the event's data field of that name (people by name, lists joined). A :class:`Choice`
picks the phrase by the value of one data field (an approval or a rejection).

``engine.app.event_words`` words the engine's and the application's own events and reads both tables;
``tests/engine/test_event_words.py`` fails for an action written anywhere in ``engine/`` that has no words.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Choice:
    """The phrase for the value of the data field ``field`` (its text: ``True`` reads ``"True"``), else
    ``otherwise``."""

    field: str
    phrases: dict[str, str]
    otherwise: str


Phrase = str | Choice

#: action -> what the actor did (see the module's docstring for the brackets)
WORDS: dict[str, Phrase] = {
    # nonconformities and corrective actions (aims_nc_capa, capa.py)
    "nc_reported": "reported the nonconformity[ {subject}]",
    "nc_triaged": "triaged the nonconformity[ {subject}][ as {severity}]",
    "nc_not_a_nonconformity": "found that the report[ {subject}] is not a nonconformity and logged it as an "
                              "improvement opportunity",
    "nc_duplicate": "marked the report[ {subject}] as a duplicate[ of {duplicate_of}]",
    "nc_contained": "recorded the containment and correction[ of {subject}]",
    "nc_incident_communicated": "recorded the incident communication[ ({audiences})]",
    "ai_system_action_on_nc": Choice("change", {"suspended": "suspended the AI systems concerned[: {systems}]",
                                                "none": "left the AI systems concerned as they are"},
                                     "marked the AI systems concerned[ {change}][: {systems}]"),
    "nc_root_cause": "recorded the root cause analysis[ of {subject}]",
    "nc_plan": "recorded the corrective-action plan[ for {subject}][: {actions}]",
    "nc_plan_decision": Choice("decision", {
        "approve": "approved the corrective-action plan[ for {subject}]",
        "approve_plan_as_is": "approved the corrective-action plan[ for {subject}] as it is",
        "reject": "sent the corrective-action plan[ for {subject}] back for rework",
        "request_rework": "sent the corrective-action plan[ for {subject}] back for rework",
        "reassign_owner": "decided to give the nonconformity[ {subject}] to another owner"},
        "decided on the corrective-action plan[ for {subject}][: {decision}]"),
    "nc_owner_reassigned": "gave the nonconformity[ {subject}] to a new owner[, {new}]",
    "nc_actions_started": "started the corrective actions[ {actions}]",
    "nc_awaiting_effectiveness": "set the date of the effectiveness check[ to {check_at}]",
    "nc_effectiveness_verified": Choice("result", {
        "effective": "verified that the corrective actions[ of {subject}] are effective",
        "not_effective": "found the corrective actions[ of {subject}] not effective and reopened the "
                         "nonconformity"},
        "verified the effectiveness of the corrective actions[ of {subject}][: {result}]"),
    "nc_escalated": "escalated the nonconformity[ {subject}] to top management[ after {reopen_count} reopenings]",
    "nc_aims_changes": "started the changes to the management system[: {changes}]",
    "nc_closed": "closed the nonconformity[ {subject}]",
    # actions (aims_action, action.py)
    "action_opened": "opened the action[ {subject}][ for {owner}][, due {due_date}]",
    "action_reported": Choice("status", {"done": "reported the action[ {subject}] done"},
                              "reported that the action[ {subject}] cannot be completed"),
    "action_verified": Choice("result", {"returned": "returned the action[ {subject}] to its owner"},
                              "accepted the work on the action[ {subject}]"),
    "action_closed": "closed the action[ {subject}][ as {status}]",
    # AI impact assessment (aims_aiia, aiia*.py)
    "aiia_draft_created": "created the impact assessment draft[ {subject}][ (version {version})]",
    "aiia_team_assigned": "named the assessment team[: assessor {assessor}]",
    "aiia_screened": "screened the AI system[: impact tier {impact_tier}]",
    "aiia_impacts_recorded": "recorded the impact analysis",
    "aiia_risks_linked": "linked the serious impacts to risks[ {risks}]",
    "risk_raised": "raised the risk[ {subject}] from the impact assessment[ {origin_ref}]",
    "aiia_rework": "sent the impact assessment[ {subject}] back for rework",
    "aiia_submitted_for_approval": "submitted the impact assessment[ {subject}] for approval",
    "aiia_finalised": Choice("status", {
        "approved": "approved the impact assessment[ {subject}]",
        "approved_with_conditions": "approved the impact assessment[ {subject}] with conditions",
        "low_tier_recorded": "recorded the impact assessment[ {subject}] as low impact"},
        "finalised the impact assessment[ {subject}][: {status}]"),
    "aiia_rejected": "rejected the impact assessment[ {subject}]",
    "aiia_superseded": "marked the earlier impact assessment[ {subject}] superseded[ by {by}]",
    "aiia_cancelled": "cancelled the impact assessment[ {subject}]",
    "ai_system_status": "set the status of the AI system[ {subject}][ to {after}]",
    "deployment_blocked_notice": "told the sponsor[ {to}] that the AI system's deployment waits for the impact "
                                 "assessment's approval",
    # risk assessment (aims_risk_assessment, risk.py)
    "risk_assessment_opened": "opened the risk assessment[ of {subject}]",
    "risks_identified": "identified the risks[ {risks}]",
    "risks_analysed": "analysed the risks",
    "risk_treatment_planned": "planned the risk treatment",
    "risk_acceptance_routed": "sent each risk to whoever may accept it",
    "risk_accepted": "recorded the acceptance of the risk[ {subject}][ by {by}]",
    "risk_acceptance_refused": "refused to accept the risk[ {subject}]",
    "risk_acceptance_escalated": "passed the acceptance of the risk[ {subject}] up[ to the {to_authority}]",
    "change_requested": "asked to stop or redesign the activity behind the risk[ {subject}]",
    "risk_actions_reported": "reported on the risk treatment actions",
    "risk_residual_confirmed": "confirmed the residual risk ratings",
    "risk_assessment_snapshot": "closed the risk assessment[ of {subject}] and kept a dated snapshot",
    "risk_dissent_recorded": "recorded an unresolved objection in the risk assessment",
    # documents and policies (aims_policy_review, policy.py; acknowledgements.py)
    "document_review_opened": "opened the review of the document[ {subject}]",
    "document_drafted": "drafted the document[ {subject}][ version {version}]",
    "document_reviewed": "reviewed the document[ {subject}] and kept it unchanged",
    "document_review_dissent": "recorded that changes are still asked for on the document[ {subject}]",
    "document_approved": "approved the document[ {subject}][ version {version}]",
    "document_published": "published the document[ {subject}][ version {version}]",
    "document_announced": "announced the document[ {subject}][ version {version}]",
    "acknowledgements_requested": "asked[ {people}] people to acknowledge the document[ {subject}]",
    "acknowledgement_campaign_closed": "closed the acknowledgements of the document[ {subject}]",
    "acknowledge": "acknowledged the document[ {subject}][ version {version}]",
    "acknowledgement_question": "asked a question about the document[ {subject}]",
    # evidence and training (aims_evidence_review, evidence_intake.py, training.py)
    "evidence_submitted": "submitted the evidence[ {subject}][: {title}]",
    "evidence_revised": "submitted a new revision of the evidence[ {subject}][ (revision {revision})]",
    "evidence_review_opened": "opened the review of the evidence[ {subject}]",
    "evidence_reviewed": Choice("decision", {
        "accept": "accepted the evidence[ {subject}][, valid until {valid_until}]",
        "reject": "rejected the evidence[ {subject}]"}, "reviewed the evidence[ {subject}][: {decision}]"),
    "training_completed": "recorded the training[ {subject}] as completed[ with the certificate {evidence}]",
    # internal audits and their programme (aims_internal_audit, aims_audit_programme)
    "audit_programme_opened": "opened the audit programme[ {subject}][ for {period}]",
    "audit_programme_drafted": "drafted the audit programme[ {subject}]",
    "audits_planned": "planned the audits[ {audits}]",
    "audit_programme_closed": "closed the audit programme[ {subject}]",
    "internal_audit_opened": "opened the internal audit[ {subject}]",
    "audit_team_checked": "checked the audit team's independence and competence",
    "audit_plan_issued": "issued the audit plan[ ({checklist_items} checklist items)]",
    "audit_fieldwork_recorded": "recorded the audit fieldwork",
    "audit_findings_recorded": "recorded the audit findings",
    "audit_report_issued": "issued the audit report[ {document}]",
    "audit_ncs_raised": "raised a nonconformity for each nonconforming finding[: {ncs}]",
    "audit_follow_up_overdue": "noted that the audit's nonconformities are still open[ and told {recipients}]",
    "internal_audit_closed": "closed the internal audit[ {subject}]",
    # management review (aims_management_review, review.py)
    "management_review_opened": "opened the management review[ {subject}]",
    "management_review_scheduled": "scheduled the management review[ {subject}][ for {planned_at}]",
    "management_review_inputs_missing": "recorded the management review inputs still missing[: {missing}]",
    "management_review_pack_issued": "issued the management review's input pack",
    "management_review_rescheduled": "rescheduled the management review: no member of top management was present",
    "management_review_decision_joined_review": "added the decision[ {decision}] to the running review of the "
                                                "document[ {document}]",
    "management_review_improvement": "recorded an improvement decided by the management review[: {description}]",
    "management_review_closed": "closed the management review[ {subject}] and published its minutes",
    # certification (aims_cert_*, cert*.py)
    "cert_project_defined": "defined the certification project[ with {certification_body}]",
    "readiness_checked": "ran the readiness checks[ ({score_pct}% ready)]",
    "readiness_remediation_planned": "planned the readiness remediation[: {actions}]",
    "soa_generated": "refreshed the Statement of Applicability[ {subject}] from the registers",
    "soa_entries_updated": "updated the SoA entries[ {controls}]",
    "soa_entries_reopened": "sent SoA entries back to their owners[: {controls}]",
    "soa_reviewed": "reviewed the Statement of Applicability[ {subject}]",
    "soa_published": "published the Statement of Applicability[ version {version}]",
    "stage1_postponed": "postponed stage 1[ to {target_stage1_date}]",
    "stage1_proceed_with_blockers": "decided to go ahead with stage 1 despite open blockers",
    "evidence_pack_frozen": "froze the evidence pack for the certification body[ ({files} files)]",
    "stage2_go_decision": Choice("decision", {
        "ask_cb_to_postpone": "decided to ask the certification body to postpone stage 2"},
        "decided to go ahead with stage 2"),
    "external_audit_opened": "opened the external audit[ {subject}][ ({type})]",
    "external_audit_participants_notified": "sent the audit plan to the interviewees and control owners",
    "external_findings_registered": "registered the certification body's findings[ {findings}]",
    "cb_submission": "recorded what was sent to the certification body[ about {subject}]",
    "cb_response": "recorded the certification body's response[ about {subject}]",
    "stage2_repeat_required": "recorded that stage 2 must be repeated",
    "external_audit_closed": "closed the external audit[ {subject}][: {outcome}]",
    "certification_refused": "recorded that the certification body refused certification",
    "certificate_active": "recorded the certificate[ {certificate_number}] as active[ until {expires_at}]",
    "certificate_status": "set the certificate's status[ to {status}]",
    "reinstatement_plan": "recorded the plan to reinstate the certificate",
    "certification_cycle_advanced": "moved the certification cycle on[ after {after}]",
    # the dates that drive work (date_triggers.py) and the demo (demo.py)
    "due_date_start": "started the process[ for {subject}] because a date came due[ ({due_on})]",
    "due_date_start_failed": "could not start the process[ for {subject}] for a date that came due[ ({due_on})]",
    "demo_load": "loaded the demo organisation[ {subject}]",
}
