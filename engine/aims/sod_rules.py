"""The ISO/IEC 42001 segregation-of-duties rules SOD-01 ... SOD-10 (DOMAIN.md 2.1), as a lookup table of
small checks. The engine applies them (``engine.core.sod``) when candidates are built and at completion;
each looks at the acting user, the task, the process data, who completed which task of the same
instance, and the organisation's CEO (``SodContext.facts["ceo_email"]``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from engine.core import directory
from engine.core.domain import SodRule
from engine.core.sod import SodContext

#: authority levels for risk acceptance, lowest first (DOMAIN.md 6.3)
AUTHORITY_ORDER = ("risk_owner", "approver", "top_management", "ceo")


def _sod01(c: SodContext) -> str | None:
    made = c.makers()
    if c.email in made:
        return f"you completed '{made[c.email]}' in this process, so you cannot also check or approve it"
    authors = c.emails("author_id", "submitted_by_id")
    if c.email in authors:
        return "you authored or submitted this record, so someone else must approve it"
    return None


def _sod02(c: SodContext) -> str | None:
    if c.email in c.emails("auditee_ids", "audited_owner_ids", "process_owner_id", "auditee_id"):
        return "you own or operate what is being audited, so you cannot audit it"
    return None


def _sod03(c: SodContext) -> str | None:
    if c.email in c.emails("nc_owner_id", "action_owner_ids"):
        return "you own this nonconformity or one of its actions, so you cannot verify its effectiveness"
    return None


def _sod04(c: SodContext) -> str | None:
    if c.email in c.emails("assessor_id"):
        return "you performed the risk assessment, so you cannot accept its residual risk"
    made = c.makers()
    if c.email in made:
        return f"you completed '{made[c.email]}' in this assessment, so you cannot accept its residual risk"
    authority = c.field("request.authority") or c.field("result.authority") or c.field("authority")
    if authority in AUTHORITY_ORDER:
        if authority == "ceo":
            if c.facts.get("ceo_email") and c.email != c.facts["ceo_email"]:
                return "a critical residual risk can only be accepted by the CEO"
        elif authority == "top_management" and "top_management" not in c.roles:
            return "a high residual risk needs a top-management member to accept it"
        elif authority == "approver" and not c.roles & {"approver", "top_management"}:
            return "this residual risk needs an approver (department head) or higher to accept it"
    return None


def _sod05(c: SodContext) -> str | None:
    assessor = c.emails("assessor_id")
    if c.task_role == "reviewer":
        if c.email in assessor | c.emails("system_owner_id"):
            return "you assessed this AI system or own it, so you cannot review its impact assessment"
        return None
    reviewers = c.emails("privacy_reviewer_id", "legal_reviewer_id", "rai_reviewer_id") | \
        c.completed_in_role("reviewer")
    if c.email in assessor:
        return "you performed this impact assessment, so you cannot approve it"
    if c.email in reviewers:
        return "you reviewed this impact assessment, so you cannot also approve it"
    tier = c.field("impact_tier")
    if tier in ("medium", "high") and c.email in c.emails("system_owner_id"):
        return f"you own this AI system, so you cannot approve its {tier}-tier impact assessment"
    if tier == "high" and "top_management" not in c.roles:
        return "a high-tier impact assessment must be approved by top management"
    return None


def _sod06(c: SodContext) -> str | None:
    if c.email in c.emails("submitted_by_id", "collected_by_id"):
        return "you submitted this evidence, so someone else must accept it"
    return None


def _sod07(c: SodContext) -> str | None:
    if c.email in c.emails("minute_taker_id"):
        return "you took these minutes, so the chair or another top-management attendee must approve them"
    chair = c.emails("chair_id")
    if chair and c.email not in chair and "top_management" not in c.roles:
        return "minutes are approved by the chair or a top-management attendee"
    return None


def _sod08(c: SodContext) -> str | None:
    if "admin" in c.roles:
        return "administrators configure and reassign but never complete approvals or decisions"
    return None


def _sod09(c: SodContext) -> str | None:
    if c.delegator is None:
        return None
    if c.manager_email and c.manager_email == c.delegator:
        return f"{c.email} reports to {c.delegator}, who may not hand this approval to their own report"
    if c.email in c.makers() or c.email in c.emails("author_id", "submitted_by_id"):
        return f"{c.email} authored this record and cannot receive its approval"
    return None


def _sod10(c: SodContext) -> str | None:
    if "top_management" not in c.roles:
        return "the certification go/no-go decision belongs to top management"
    if c.email in c.emails("prepared_by_id") or c.email in c.makers():
        return "you prepared the readiness pack, so another top-management member must decide go/no-go"
    return None


RULES: dict[str, SodRule] = {
    "SOD-01": SodRule("maker-checker", _sod01, checker=True,
                      description="whoever wrote or submitted the record may not approve it"),
    "SOD-02": SodRule("auditor independence", _sod02, checker=True,
                      description="an auditor may not audit what they own or operate"),
    "SOD-03": SodRule("effectiveness verifier", _sod03, checker=True,
                      description="the owner of a nonconformity or of its actions may not verify them"),
    "SOD-04": SodRule("risk acceptance authority", _sod04, checker=True,
                      description="residual risk is accepted by someone senior enough who did not assess it"),
    "SOD-05": SodRule("impact assessment", _sod05, checker=True,
                      description="the assessor, reviewer and approver of an impact assessment are different "
                                  "people; a high tier needs top management"),
    "SOD-06": SodRule("evidence", _sod06, checker=True,
                      description="whoever submitted the evidence may not accept it"),
    "SOD-07": SodRule("minutes", _sod07, checker=True,
                      description="the minute-taker may not approve the minutes; the chair or top management does"),
    "SOD-08": SodRule("admin", _sod08,
                      description="administrators may reassign the task but never decide it"),
    "SOD-09": SodRule("self-delegation", _sod09,
                      description="an approval may not be handed to one's own report or to the record's author"),
    "SOD-10": SodRule("readiness", _sod10, checker=True,
                      description="the go/no-go is decided by top management other than whoever prepared the pack"),
}


def facts(session: Session) -> dict[str, Any]:
    """What the rules read besides the task: the CEO's e-mail (SOD-04, critical risks)."""
    from engine.aims.registers import Organisation  # loaded when first read (see engine.aims.roles)

    org = session.query(Organisation).order_by(Organisation.id).first()
    return {"ceo_email": directory.email_of(session, org.ceo_id) if org else None}
