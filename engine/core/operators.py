"""Service-task operators: the only code a BPMN service task can call.

An operator is a plain function ``op(ctx: OperatorContext, **params) -> dict`` registered under a
dotted name (``risk.route_acceptance``). The diagram names it in
``<spiffworkflow:serviceTaskOperator id="...">``; its parameters are expressions over task data,
evaluated in the sandbox before the call. The returned dict (plain JSON data) is stored under the
task's ``resultVariable``. Operators write the registers through ``ctx.session`` and append audit
events through ``ctx.audit``; they flush, never commit, and they are idempotent: running the same
service task of the same instance twice must not create a second row.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from engine.core import domain
from engine.core.errors import NotFound, WorkflowError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engine.core.clock import Clock
    from engine.core.models import ProcessInstance, User
    from engine.core.settings import EngineSettings

Operator = Callable[..., dict[str, Any]]

_REGISTRY: dict[str, Operator] = {}


def operator(name: str) -> Callable[[Operator], Operator]:
    """Register ``fn`` as the operator ``name`` (decorator)."""

    def register(fn: Operator) -> Operator:
        if name in _REGISTRY and _REGISTRY[name] is not fn:
            raise ValueError(f"operator {name!r} is registered twice")
        _REGISTRY[name] = fn
        return fn

    return register


def registry() -> dict[str, Operator]:
    """Every registered operator by name (importing the operator modules registers them)."""
    _load_builtin_operators()
    return dict(_REGISTRY)


def get_operator(name: str) -> Operator:
    """The operator ``name``, its database errors turned into a WorkflowError that names the operator and
    the kind of error but not the statement (the exception stays chained, for the log).
    Raises NotFound for an unknown name."""
    _load_builtin_operators()
    try:
        fn = _REGISTRY[name]
    except KeyError:
        raise NotFound(f"no operator named {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return fn(*args, **kwargs)
        except SQLAlchemyError as exc:
            kind = type(getattr(exc, "orig", None) or exc).__name__
            raise WorkflowError(f"operator {name!r} failed in the database ({kind})") from exc

    return call


_loaded = False


def _load_builtin_operators() -> None:
    """Import the engine's own operators and the installed domain's once; their ``@operator``
    decorators register them."""
    global _loaded
    if _loaded:
        return
    importlib.import_module("engine.core.process_operators")
    for module in domain.current().operator_modules:
        importlib.import_module(module)
    _loaded = True


@dataclass
class StartRequest:
    """A process another instance asked to start; the runtime starts it after the current step."""

    process_id: str
    data: dict[str, Any]
    subject: str | None = None


@dataclass
class OperatorContext:
    """What an operator may use. ``data`` is the service task's data (read it, don't mutate it)."""

    session: Session
    clock: Clock
    settings: EngineSettings
    actor: User | None
    instance: ProcessInstance
    task_spec: str
    data: dict[str, Any]
    audit_events: list[dict[str, Any]] = field(default_factory=list)
    starts: list[StartRequest] = field(default_factory=list)

    def audit(self, action: str, subject: str | None = None, **data: Any) -> None:
        """Queue an audit event; the runtime appends it to the chain in this transaction."""
        self.audit_events.append({"action": action, "subject": subject, "data": data})

    def start_process(self, process_id: str, data: dict[str, Any], subject: str | None = None) -> None:
        """Start ``process_id`` as a separate instance once the current step has finished."""
        self.starts.append(StartRequest(process_id, dict(data), subject))

    def set_subject(self, subject: str) -> None:
        """Name the business object this instance is about (``AIS-001``) for lists and links."""
        self.instance.subject = subject
