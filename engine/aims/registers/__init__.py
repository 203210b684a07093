"""The ISO/IEC 42001 registers (tables on the core's one ``Base``), grouped by area."""

from .audits import Audit, AuditFinding, AuditProgramme
from .certification import CertificationCycle, ExternalAudit, ExternalFinding, ReadinessReview
from .common import RegisterMixin
from .context import ContextIssue, DataResource, InterestedParty, PartyRequirement, Supplier
from .documents import Acknowledgement, Document, DocumentVersion, Evidence, EvidenceRevision
from .nonconformities import ActionItem, CorrectiveAction, Nonconformity
from .organisation import DueDateStart, Organisation, ScopeStatement
from .reviews import ManagementReview, ReviewAction, ReviewDecision
from .soa import Clause, Control, SoAEntry, SoAVersion
from .support import AIObjective, CompetenceRequirement, ObjectiveMeasurement, TrainingRecord
from .systems_risks import AISystem, Approval, ImpactAssessment, Risk, RiskAcceptance, RiskTreatmentAction

__all__ = [
    "AIObjective",
    "AISystem",
    "Acknowledgement",
    "ActionItem",
    "Approval",
    "Audit",
    "AuditFinding",
    "AuditProgramme",
    "CertificationCycle",
    "Clause",
    "CompetenceRequirement",
    "ContextIssue",
    "Control",
    "CorrectiveAction",
    "DataResource",
    "Document",
    "DocumentVersion",
    "DueDateStart",
    "Evidence",
    "EvidenceRevision",
    "ExternalAudit",
    "ExternalFinding",
    "ImpactAssessment",
    "InterestedParty",
    "ManagementReview",
    "Nonconformity",
    "ObjectiveMeasurement",
    "Organisation",
    "PartyRequirement",
    "ReadinessReview",
    "RegisterMixin",
    "ReviewAction",
    "ReviewDecision",
    "Risk",
    "RiskAcceptance",
    "RiskTreatmentAction",
    "ScopeStatement",
    "SoAEntry",
    "SoAVersion",
    "Supplier",
    "TrainingRecord",
]
