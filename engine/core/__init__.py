"""The generic BPMN workflow engine: definitions, runtime, use cases, assignment, deadlines and escalation,
notifications, outbox, audit trail, worker. No domain word and no import of ``engine.app``,
``engine.aims``, Flask or ``web`` (README.md here; ``tests/test_layering.py``).

What callers outside the engine use is named here and imported on first use.
"""

from engine.core.faces import face

__all__, __getattr__ = face(__name__, modules=(
    "audit_trail", "definitions", "delegation", "directory", "domain", "errors", "forms", "messaging",
    "notifications", "outbox", "services", "worker",
), names={
    "clock": ("Clock", "FixedClock", "SystemClock", "as_utc", "is_zone", "isoformat", "local_text", "parse_datetime",
              "zone"),
    "db": ("configure_sqlite", "deferred_begin", "make_engine", "no_wait", "write_ahead"),
    "errors": ("ConflictError", "DefinitionError", "EngineError", "FieldError", "Forbidden", "InvalidInput", "NotFound",
               "SodViolation", "ValidationError", "WorkflowError"),
    "models": ("OPEN_STATES", "Base", "HumanTask", "InstanceState", "ProcessInstance", "TaskState", "User"),
    "outbox": ("OutgoingMail", "Send", "TransportDown"),
    "context": ("Context",),
    "form_messages": ("human_date", "title_at"),
    "settings": ("EngineSettings",),
    "uow": ("transaction",),
    "words": ("choices", "humanize"),
})
