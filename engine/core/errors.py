"""The one exception tree of the engine.

::

    EngineError                       code            exit  HTTP
    ├── InvalidInput                  invalid_input     3   422
    │   ├── ValidationError           validation_error  3   422   (form data; .errors lists every field)
    │   └── DefinitionError           definition_error  3   422   (BPMN/form/profile; .problems per element)
    ├── ConflictError                 conflict          4   409
    ├── Forbidden                     forbidden         5   403
    │   └── SodViolation              sod_violation     5   403
    ├── NotFound                      not_found         6   404
    └── WorkflowError                 workflow_error    7   500   (a diagram failed at run time)
        └── ScriptBudgetError         script_budget     7   500   (a script ran past its time, size or memory budget)

Every class carries a stable ``code`` (for JSON errors and scripts) and an ``exit_code``
(the CLI contract). ``web/errors.py`` maps each class to one HTTP status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class EngineError(Exception):
    """Base of every error the engine raises on purpose."""

    code = "engine_error"
    exit_code = 1

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
        #: an audit event to append in a fresh transaction after the failed one is rolled back
        #: (used for blocked SoD attempts, which must be on record although nothing changed)
        self.audit_after_rollback: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}

    def diagnosis(self) -> str:
        """What a log line says about the error (the message; more where a subclass knows more)."""
        return self.message


class InvalidInput(EngineError):
    code = "invalid_input"
    exit_code = 3


@dataclass(frozen=True)
class FieldError:
    """One failing field of a form submission: JSON path (``risks/0/title``) and message."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '(form)'}: {self.message}"


class ValidationError(InvalidInput):
    """Form data that does not fit the task's JSON Schema. Nothing was changed."""

    code = "validation_error"

    def __init__(self, message: str, errors: list[FieldError]):
        detail = "; ".join(str(e) for e in errors)
        super().__init__(f"{message}: {detail}" if errors else message)
        self.errors = errors

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["errors"] = [{"path": e.path, "message": e.message} for e in self.errors]
        return d


ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """One lint or parse problem of a definition, shaped so an editor can draw it on its element.

    ``element`` is the BPMN id (empty for the file as a whole), ``label`` the element in words
    (``user task "Approve the request"``), ``message`` what is wrong and ``fix`` how to fix it;
    ``severity`` is ``error`` (refuses publish and deploy) or ``warning`` (shown and recorded);
    ``rule`` names the check (``dead-end``, ``lane-role`` ...); ``line`` is the line in the file, if known.
    """

    file: str
    element: str
    message: str
    fix: str = ""
    severity: str = ERROR
    rule: str = ""
    label: str = ""
    line: int | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    @property
    def text(self) -> str:
        """What is wrong and the fix, as one sentence."""
        what = self.message.rstrip().rstrip(".")
        if not self.fix:
            return what + ("" if what.endswith("?") else ".")
        fix = self.fix.rstrip().rstrip(".")
        return f"{what}; {fix}" + ("" if fix.endswith("?") else ".")

    def where(self) -> str:
        """The file and the element in words with its id: ``x.bpmn, user task "Approve" [ut_approve]``."""
        out = self.file
        if self.label:
            out += f", {self.label}"
        if self.element:
            out += f" [{self.element}]"
        if self.line:
            out += f" (line {self.line})"
        return out

    def __str__(self) -> str:
        return f"{self.where()}{'' if self.is_error else ' (warning)'}: {self.text}"

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "element": self.element, "label": self.label, "line": self.line,
                "severity": self.severity, "rule": self.rule, "message": self.message, "fix": self.fix,
                "text": self.text}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Problem:
        return cls(str(d.get("file", "")), str(d.get("element", "")), str(d.get("message", "")),
                   str(d.get("fix", "")), str(d.get("severity", ERROR)), str(d.get("rule", "")),
                   str(d.get("label", "")), d.get("line") if isinstance(d.get("line"), int) else None)


class DefinitionError(InvalidInput):
    """A BPMN file, form schema or escalation profile that cannot be deployed. Nothing was stored."""

    code = "definition_error"

    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["problems"] = [p.to_dict() for p in self.problems]
        return d


class ConflictError(EngineError):
    """Someone else changed the instance or task first; reload and try again."""

    code = "conflict"
    exit_code = 4


class Forbidden(EngineError):
    """The acting user may not do this (role, ownership or admin limits)."""

    code = "forbidden"
    exit_code = 5


class SodViolation(Forbidden):
    """A segregation-of-duties rule forbids this user from acting on this task."""

    code = "sod_violation"

    def __init__(self, message: str, rule: str):
        super().__init__(message)
        self.rule = rule

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["rule"] = self.rule
        return d


class NotFound(EngineError):
    code = "not_found"
    exit_code = 6


class WorkflowError(EngineError):
    """A script, condition or operator failed while the engine ran a diagram.

    Carries the BPMN element id and, for scripts, the line, so an admin can fix the diagram; and for the
    logs, the BPMN file and SpiffWorkflow's task trace (``"Task name (file.bpmn)"``, the failing task
    first, then the call activities that led to it). ``to_dict`` (what users and API clients get) leaves
    the file and the trace out.
    """

    code = "workflow_error"
    exit_code = 7

    def __init__(self, message: str, element: str = "", line: int | None = None, file: str | None = None,
                 task_trace: list[str] | None = None):
        super().__init__(message)
        self.element = element
        self.line = line
        self.file = file
        self.task_trace = list(task_trace or [])

    def diagnosis(self) -> str:
        """The message with the BPMN file, the line and the task trace."""
        where = ", ".join(part for part in (self.file, f"line {self.line}" if self.line else None) if part)
        trace = " <- ".join(self.task_trace)
        return self.message + (f" [{where}]" if where else "") + (f" (task trace: {trace})" if trace else "")

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.update(element=self.element, line=self.line)
        return d


class ScriptBudgetError(WorkflowError):
    """A script, condition or expression ran past its time budget, would have built a value past its
    size budget, or grew the memory past its memory budget, and was stopped. ``limit`` names the setting
    (``script_time_limit``, ``script_max_size``, ``script_max_int_bits``, ``script_max_memory``); the
    message names the element and the budget."""

    code = "script_budget"

    def __init__(self, message: str, limit: str, element: str = "", line: int | None = None,
                 file: str | None = None, task_trace: list[str] | None = None):
        super().__init__(message, element=element, line=line, file=file, task_trace=task_trace)
        self.limit = limit

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["limit"] = self.limit
        return d


ALL_ERRORS: tuple[type[EngineError], ...] = (
    EngineError, InvalidInput, ValidationError, DefinitionError, ConflictError,
    Forbidden, SodViolation, NotFound, WorkflowError, ScriptBudgetError,
)
