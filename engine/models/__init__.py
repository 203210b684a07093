"""All tables, on one declarative ``Base``."""

from .audit import AuditEvent, AuditHead
from .base import Base
from .identity import Organisation, RefCounter, RoleAssignment, User
from .process import HumanTask, ProcessInstance, ProcessVersion
from .registers import (
    AISystem,
    Approval,
    ImpactAssessment,
    Risk,
    RiskAcceptance,
    RiskTreatmentAction,
)

__all__ = [
    "AISystem", "Approval", "AuditEvent", "AuditHead", "Base", "HumanTask", "ImpactAssessment",
    "Organisation", "ProcessInstance", "ProcessVersion", "RefCounter", "Risk", "RiskAcceptance",
    "RiskTreatmentAction", "RoleAssignment", "User",
]
