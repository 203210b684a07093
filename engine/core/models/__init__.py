"""The engine's tables, on the one declarative ``Base`` every table of aimsflow uses (a domain adds its
registers to the same metadata: ``engine.aims.registers``)."""

from .access import ApiToken, LoginFailure, PasswordLink, UserSession
from .audit_trail import AuditEvent, AuditHead
from .base import Base
from .deadlines import Delegation, Notification, OutboxMessage, ProcessSchedule, UserPreference
from .evidence import EvidenceFile, TaskDraft
from .identity import RefCounter, RoleAssignment, User
from .messages import EventSubscription, ProcessMessage
from .process import OPEN_STATES, HumanTask, InstanceState, ProcessInstance, ProcessVersion, TaskState

__all__ = [
    "OPEN_STATES", "ApiToken", "AuditEvent", "AuditHead", "Base", "Delegation", "EventSubscription", "EvidenceFile",
    "HumanTask",
    "InstanceState", "LoginFailure", "Notification", "OutboxMessage", "PasswordLink", "ProcessInstance",
    "ProcessMessage",
    "ProcessSchedule", "ProcessVersion", "RefCounter", "RoleAssignment", "TaskDraft", "TaskState", "User",
    "UserPreference", "UserSession",
]
