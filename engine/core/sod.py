"""Segregation of duties: applying the installed domain's rules (``Domain.sod_rules``) to one user and task.

Each rule looks at the acting user, the task, the process data and who completed which task of the
same instance (from the ``human_task`` rows), and returns a sentence saying why the user may not act,
or None. Rules are applied when candidates are built and again at completion (``assignment.py``).
Users in process data are e-mail addresses.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.core import domain
from engine.core.properties import lookup_path


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
    #: for the delegation rule: the user handing the task over and the manager of the receiving user
    delegator: str | None = None
    manager_email: str | None = None
    #: what the domain's rules read besides the task (``Domain.sod_facts``)
    facts: dict[str, Any] = field(default_factory=dict)

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
            if not _checker(done.sod_rules) and done.spec != self.task_spec:
                out.setdefault(done.by, done.name)
        return out

    def completed_in_role(self, role: str) -> set[str]:
        return {d.by for d in self.history if d.role == role}


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str

    def __str__(self) -> str:
        rule = domain.current().sod_rules.get(self.rule)
        return f"{self.rule} {rule.name if rule else ''}: {self.message}"


def check(context: SodContext, rules: Iterable[str]) -> list[Violation]:
    """Every rule of ``rules`` that forbids ``context.email`` from acting (empty: allowed)."""
    known = domain.current().sod_rules
    out = []
    for rule in rules:
        entry = known.get(rule)
        if entry is None:
            continue
        message = entry.check(context)
        if message:
            out.append(Violation(rule, message))
    return out


def _checker(rules: Iterable[str]) -> bool:
    known = domain.current().sod_rules
    return any(r in known and known[r].checker for r in rules)
