"""All tables, on one declarative ``Base``."""

from .access import ApiToken, LoginFailure, UserSession
from .aims import (
    Acknowledgement,
    ActionItem,
    AIObjective,
    Audit,
    AuditFinding,
    AuditProgramme,
    CertificationCycle,
    Clause,
    CompetenceRequirement,
    Control,
    CorrectiveAction,
    Document,
    DocumentVersion,
    Evidence,
    ExternalAudit,
    ExternalFinding,
    ManagementReview,
    Nonconformity,
    ReadinessReview,
    ReviewAction,
    ReviewDecision,
    SoAEntry,
    SoAVersion,
    TrainingRecord,
)
from .audit import AuditEvent, AuditHead
from .base import Base
from .deadlines import Delegation, DueDateStart, Notification, OutboxMessage, ProcessSchedule, UserPreference
from .evidence import EvidenceFile, TaskDraft
from .identity import Organisation, RefCounter, RoleAssignment, User
from .messages import ProcessMessage
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
    "AIObjective", "AISystem", "Acknowledgement", "ActionItem", "ApiToken", "Approval", "Audit", "AuditEvent",
    "AuditFinding", "AuditHead", "AuditProgramme", "Base", "CertificationCycle", "Clause", "CompetenceRequirement",
    "Control", "CorrectiveAction", "Delegation", "DueDateStart", "Document", "DocumentVersion", "Evidence",
    "EvidenceFile",
    "ExternalAudit", "ExternalFinding", "HumanTask", "ImpactAssessment", "LoginFailure", "ManagementReview",
    "Nonconformity", "Notification", "Organisation", "OutboxMessage", "ProcessInstance", "ProcessMessage",
    "ProcessSchedule", "ProcessVersion", "ReadinessReview", "RefCounter", "ReviewAction", "ReviewDecision", "Risk",
    "RiskAcceptance", "RiskTreatmentAction", "RoleAssignment", "SoAEntry", "SoAVersion", "TaskDraft",
    "TrainingRecord", "User", "UserPreference", "UserSession",
]
