"""All tables, on one declarative ``Base``."""

from .audit import AuditEvent, AuditHead
from .base import Base
from .deadlines import Delegation, Notification, OutboxMessage, ProcessSchedule, UserPreference
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
    "AISystem", "Approval", "AuditEvent", "AuditHead", "Base", "Delegation", "HumanTask", "ImpactAssessment",
    "Notification", "Organisation", "OutboxMessage", "ProcessInstance", "ProcessSchedule", "ProcessVersion",
    "RefCounter", "Risk", "RiskAcceptance", "RiskTreatmentAction", "RoleAssignment", "User", "UserPreference",
]
