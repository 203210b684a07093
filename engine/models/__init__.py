"""All tables, on one declarative ``Base``."""

from .access import ApiToken, LoginFailure, UserSession
from .audit import AuditEvent, AuditHead
from .base import Base
from .evidence import Evidence, TaskDraft
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
    "AISystem", "ApiToken", "Approval", "AuditEvent", "AuditHead", "Base", "Evidence", "HumanTask",
    "ImpactAssessment", "LoginFailure", "Organisation", "ProcessInstance", "ProcessVersion", "RefCounter", "Risk",
    "RiskAcceptance", "RiskTreatmentAction", "RoleAssignment", "TaskDraft", "User", "UserSession",
]
