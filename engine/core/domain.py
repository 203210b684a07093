"""What a domain hands the engine at start-up.

The core knows BPMN, lanes-as-roles, segregation of duties, deadlines and escalation ladders, but not
which roles, rules and people an organisation has. A domain (such as ``engine.aims``) describes
them in one :class:`Domain` and calls :func:`install` once at start-up (the web app factory, the CLI,
the test fixtures); the core reads them through :func:`current`. A second domain plugs in the same way
without editing the core.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engine.core.runtime import Context
    from engine.core.sod import SodContext

#: a segregation-of-duties check: a sentence saying why the user may not act, or None
SodCheck = Callable[["SodContext"], "str | None"]


@dataclass(frozen=True)
class SodRule:
    """A segregation-of-duties rule: its short name and its check. ``checker`` rules guard tasks that
    check someone else's work; completing one does not make you a maker of what it checks.
    ``description`` says in one sentence who may not do the task (the modeler shows it)."""

    name: str
    check: SodCheck
    checker: bool = False
    description: str = ""


@dataclass(frozen=True)
class NamedRecipient:
    """An escalation-ladder recipient that stands for one of the organisation's named people
    (:attr:`Domain.named_people`). ``report`` recipients are listed in the app and the daily digest and
    get no immediate e-mail; ``report`` is then the report's title ("the quarterly report")."""

    description: str
    person: str
    report: str | None = None


@dataclass
class OrganisationPeople:
    """The organisation's named people (key -> user id), the lead of each lane's role (role -> e-mail)
    and the key of the person who stands in for a missing line manager."""

    people: dict[str, int | None] = field(default_factory=dict)
    lane_leads: dict[str, str] = field(default_factory=dict)
    fallback_manager: str | None = None


class PhaseResult(Protocol):
    """What a domain's worker phase reports: problems to list, and its part of the pass's summary line."""

    failures: list[str]

    def summary(self) -> str: ...


@dataclass(frozen=True)
class WorkerPhase:
    """A step the domain adds to every worker pass, run after the timer-started schedules. It commits
    its own units of work; ``empty`` makes the result of a pass with nothing to report."""

    name: str
    run: Callable[[Context], PhaseResult]
    empty: Callable[[], PhaseResult]


@dataclass(frozen=True)
class Reference:
    """A kind of record forms name by its reference (``"x-ref": "evidence"`` -> ``EVD-014``): what people
    call it ("evidence item"), the records to choose from as (reference, label) and whether one exists."""

    label: str
    options: Callable[[Session], list[tuple[str, str]]]
    exists: Callable[[Session, str], bool]


def _no_people(session: Session) -> OrganisationPeople:
    return OrganisationPeople()


def _no_facts(session: Session) -> dict[str, Any]:
    return {}


@dataclass
class Domain:
    """Everything the core needs from a domain. Defaults describe a domain with no roles and no rules."""

    name: str
    #: role code -> label people read; lanes must name one of these
    roles: Mapping[str, str] = field(default_factory=dict)
    #: roles that may act on business tasks (the others configure, reassign or read)
    business_roles: frozenset[str] = frozenset()
    #: roles that may reassign any task and cancel any instance (besides the holder's line manager)
    manager_roles: frozenset[str] = frozenset()
    #: roles that may manage anyone's out-of-office delegations
    delegation_admin_roles: frozenset[str] = frozenset()
    #: segregation-of-duties rules by id; ``delegation_rule`` applies whenever a deputy acts
    sod_rules: Mapping[str, SodRule] = field(default_factory=dict)
    delegation_rule: str | None = None
    #: facts the rules may read besides the task's data (``SodContext.facts``), read once per check
    sod_facts: Callable[[Session], dict[str, Any]] = _no_facts
    #: escalation-ladder recipients that name organisation people, and who those people are
    recipients: Mapping[str, NamedRecipient] = field(default_factory=dict)
    organisation_people: Callable[[Session], OrganisationPeople] = _no_people
    #: decision words that approve or accept; any other decision needs a comment (``engine.core.decisions``)
    positive_decisions: frozenset[str] = frozenset()
    #: decision words that send work back or refuse it (audited as a rejection as well)
    rejections: frozenset[str] = frozenset()
    #: worker phases run in every pass, in order
    worker_phases: Sequence[WorkerPhase] = ()
    #: the kinds of record a form field may name with ``"x-ref"``
    references: Mapping[str, Reference] = field(default_factory=dict)
    #: words of codes the domain says otherwise than in lower case (``"hr": "HR"``): pages read codes
    #: nothing gave a title with these and the core's (``engine.core.words``)
    words: Mapping[str, str] = field(default_factory=dict)
    #: modules whose ``@operator`` functions service tasks may call (imported on first use)
    operator_modules: Sequence[str] = ()


_installed: Domain | None = None


def install(domain: Domain) -> None:
    """Make ``domain`` the one the engine serves (idempotent for the same domain)."""
    global _installed
    if _installed is not None and _installed is not domain and _installed.name != domain.name:
        raise RuntimeError(f"the {_installed.name} domain is installed already; one domain per process")
    _installed = domain  # its operator modules are imported when an operator is first looked up


def roles_in_words(codes: frozenset[str] | set[str]) -> str:
    """The roles' labels for a sentence, sorted: "Admin, Auditor or Reviewer"."""
    labels = sorted(current().roles.get(code, code) for code in codes)
    if len(labels) < 2:
        return "".join(labels) or "nobody"
    return f"{', '.join(labels[:-1])} or {labels[-1]}"


def current() -> Domain:
    """The installed domain. Raises RuntimeError when start-up did not install one."""
    if _installed is None:
        raise RuntimeError("no domain is installed: call engine.aims.install() at start-up")
    return _installed
