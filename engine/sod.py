"""Segregation-of-duties rules SOD-01 ... SOD-10 (DOMAIN.md 2.1), as a lookup table of small checks.

Each rule looks at the acting user, the task, the process data and who completed which task of the
same instance (from the ``human_task`` rows), and returns a sentence saying why the user may not act,
or None. Rules are applied when candidates are built and again at completion (``assignment.py``).
Users in process data are e-mail addresses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .extensions import lookup_path

#: rules whose tasks check someone else's work; completing one does not make you a maker (SOD-01)
CHECKER_RULES = frozenset({"SOD-01", "SOD-02", "SOD-03", "SOD-04", "SOD-05", "SOD-06", "SOD-07", "SOD-10"})

#: authority levels for risk acceptance, lowest first (DOMAIN.md 6.3)
AUTHORITY_ORDER = ("risk_owner", "approver", "top_management", "ceo")


@dataclass(frozen=True)
class DoneTask:
    """A completed human task of the same instance."""

    spec: str
    name: str
    role: str
    sod_rules: tuple[str, ...]
    by: str  # e-mail


@dataclass
class SodContext:
    email: str
    roles: frozenset[str]
    task_spec: str
    task_role: str
    data: dict[str, Any]
    history: list[DoneTask] = field(default_factory=list)
    #: for SOD-09: the user handing the task over and the manager of the receiving user
    delegator: str | None = None
    manager_email: str | None = None
    ceo_email: str | None = None

    def field(self, path: str) -> Any:
        return lookup_path(self.data, path)

    def emails(self, *paths: str) -> set[str]:
        """Every e-mail the data holds at ``paths`` (single values or lists), lower-cased."""
        found: set[str] = set()
        for path in paths:
            value = self.field(path)
            values = value if isinstance(value, list) else [value]
            found.update(v.strip().lower() for v in values if isinstance(v, str) and v.strip())
        return found

    def makers(self) -> dict[str, str]:
        """e-mail -> name of a task they completed that made (not checked) something in this instance."""
        out: dict[str, str] = {}
        for done in self.history:
            if not CHECKER_RULES.intersection(done.sod_rules) and done.spec != self.task_spec:
                out.setdefault(done.by, done.name)
        return out

    def completed_in_role(self, role: str) -> set[str]:
        return {d.by for d in self.history if d.role == role}


Rule = Callable[[SodContext], str | None]


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
            if c.ceo_email and c.email != c.ceo_email:
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


RULES: dict[str, tuple[str, Rule]] = {
    "SOD-01": ("maker-checker", _sod01),
    "SOD-02": ("auditor independence", _sod02),
    "SOD-03": ("effectiveness verifier", _sod03),
    "SOD-04": ("risk acceptance authority", _sod04),
    "SOD-05": ("impact assessment", _sod05),
    "SOD-06": ("evidence", _sod06),
    "SOD-07": ("minutes", _sod07),
    "SOD-08": ("admin", _sod08),
    "SOD-09": ("self-delegation", _sod09),
    "SOD-10": ("readiness", _sod10),
}


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule} {RULES[self.rule][0]}: {self.message}"


def check(context: SodContext, rules: Iterable[str]) -> list[Violation]:
    """Every rule of ``rules`` that forbids ``context.email`` from acting (empty: allowed)."""
    out = []
    for rule in rules:
        entry = RULES.get(rule)
        if entry is None:
            continue
        message = entry[1](context)
        if message:
            out.append(Violation(rule, message))
    return out
