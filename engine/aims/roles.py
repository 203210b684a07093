"""The roles of an ISO/IEC 42001 AIMS (DOMAIN.md section 2): the codes lanes name, the labels people
read, and which roles act, manage and configure."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

if TYPE_CHECKING:  # the registers load when first read: a command that reads none (aimsflow tasks) skips them
    from engine.aims.registers import Organisation

#: every role a lane may name (DOMAIN.md section 2) -> label shown to people
ROLES: dict[str, str] = {
    "top_management": "Top management",
    "aims_owner": "AIMS owner",
    "process_owner": "Process owner",
    "assessor": "Assessor",
    "reviewer": "Specialist reviewer",
    "approver": "Manager / approver",
    "internal_auditor": "Internal auditor",
    "control_owner": "Control owner",
    "action_owner": "Action owner",
    "employee": "Staff",
    "admin": "Admin",
    "external_auditor": "External auditor (read only)",
}

#: roles that may act on business tasks; ``admin`` configures and reassigns only (SOD-08)
BUSINESS_ROLES = frozenset(ROLES) - {"admin", "external_auditor"}

#: roles that may reassign any task and cancel any instance (besides the holder's line manager)
MANAGER_ROLES = frozenset({"admin", "aims_owner", "top_management"})

#: roles that may set up or revoke a delegation for someone else (besides the user's line manager)
DELEGATION_ADMIN_ROLES = frozenset({"admin", "aims_owner"})


def organisation(session: Session) -> Organisation | None:
    from engine.aims.registers import Organisation

    """The one organisation that runs this AIMS (None before the set-up)."""
    return session.scalar(select(Organisation).order_by(Organisation.id).limit(1))
