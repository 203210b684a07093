"""All tables, on one declarative ``Base``."""

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
    "AIObjective", "AISystem", "Acknowledgement", "ActionItem", "Approval", "Audit", "AuditEvent", "AuditFinding",
    "AuditHead", "AuditProgramme", "Base", "CertificationCycle", "Clause", "CompetenceRequirement", "Control",
    "CorrectiveAction", "Document", "DocumentVersion", "Evidence", "ExternalAudit", "ExternalFinding", "HumanTask",
    "ImpactAssessment", "ManagementReview", "Nonconformity", "Organisation", "ProcessInstance", "ProcessMessage",
    "ProcessVersion", "ReadinessReview", "RefCounter", "ReviewAction", "ReviewDecision", "Risk", "RiskAcceptance",
    "RiskTreatmentAction", "RoleAssignment", "SoAEntry", "SoAVersion", "TrainingRecord", "User",
]
