"""The ISO/IEC 42001 domain as the engine sees it: one :class:`~engine.core.domain.Domain` handed to the
core at start-up (:func:`engine.aims.install`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from engine.aims import references, roles, sod_rules
from engine.aims.words import WORDS
from engine.core.domain import Domain, NamedRecipient, OrganisationPeople, PhaseResult, WorkerPhase

if TYPE_CHECKING:
    from engine.core.runtime import Context

#: decisions that approve or accept; any other value of a form's decision needs a comment
POSITIVE_DECISIONS = frozenset({
    "approve", "accept", "accepted", "go", "granted", "issue", "proceed", "confirm_low_tier", "ok",
    "approve_plan_as_is",
})

#: decisions that send work back or refuse it; completing a task with one is also audited as a rejection
REJECTIONS = frozenset({
    "reject", "return_for_rework", "request_changes", "require_full_assessment", "changes_required",
    "reject_require_further_treatment", "return_to_assessor", "returned", "reject_revision", "no_go",
})

#: escalation-ladder recipients that name the organisation's people (README "Escalation profiles")
RECIPIENTS = {
    "aims_owner": NamedRecipient("the organisation's AIMS owner", "aims_owner"),
    "top_management_sponsor": NamedRecipient("the organisation's top-management sponsor", "top_management_sponsor"),
    "ceo": NamedRecipient("the organisation's CEO", "ceo"),
    "aims_owner_report": NamedRecipient(
        "listed for the AIMS owner's report: in the app and the daily digest, no immediate e-mail", "aims_owner",
        report="the AIMS owner report"),
}


def organisation_people(session: Session) -> OrganisationPeople:
    """The AIMS owner, the top-management sponsor and the CEO; the lane leads of the organisation settings;
    the AIMS owner stands in for a missing line manager."""
    org = roles.organisation(session)
    if org is None:
        return OrganisationPeople(fallback_manager="aims_owner")
    leads: Any = (org.details or {}).get("lane_leads") or {}
    return OrganisationPeople(
        people={"aims_owner": org.aims_owner_id, "top_management_sponsor": org.top_management_sponsor_id,
                "ceo": org.ceo_id},
        lane_leads={k: v for k, v in leads.items() if isinstance(v, str)} if isinstance(leads, dict) else {},
        fallback_manager="aims_owner")


def _due(ctx: Context) -> PhaseResult:
    """The worker phase of the dates that drive work (``date_triggers``, imported when the worker runs)."""
    from engine.aims import date_triggers

    return date_triggers.run(ctx)


def _no_due() -> PhaseResult:
    from engine.aims import date_triggers

    return date_triggers.DueReport()


DOMAIN = Domain(
    name="ISO/IEC 42001",
    roles=roles.ROLES,
    business_roles=roles.BUSINESS_ROLES,
    manager_roles=roles.MANAGER_ROLES,
    delegation_admin_roles=roles.DELEGATION_ADMIN_ROLES,
    sod_rules=sod_rules.RULES,
    delegation_rule="SOD-09",
    sod_facts=sod_rules.facts,
    recipients=RECIPIENTS,
    organisation_people=organisation_people,
    positive_decisions=POSITIVE_DECISIONS,
    rejections=REJECTIONS,
    worker_phases=(WorkerPhase("due", _due, _no_due),),
    operator_modules=("engine.aims.operators",),
    references=references.REFERENCES,
    words=WORDS,
)
