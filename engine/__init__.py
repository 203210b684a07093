"""aimsflow's engine: BPMN definitions, the workflow runtime and the AIMS registers.

No Flask here (``engine/README.md``). Use cases take a :class:`Context` and the acting user.
"""

from engine.core.clock import Clock, FixedClock, SystemClock
from engine.core.errors import (
    ConflictError,
    DefinitionError,
    EngineError,
    Forbidden,
    InvalidInput,
    NotFound,
    SodViolation,
    ValidationError,
    WorkflowError,
)
from engine.core.runtime import Context
from engine.core.services import (
    Outcome,
    cancel_instance,
    claim_task,
    complete_task,
    reassign_task,
    release_task,
    start_process,
)
from engine.core.settings import EngineSettings

__all__ = [
    "Clock", "ConflictError", "Context", "DefinitionError", "EngineError", "EngineSettings", "FixedClock",
    "Forbidden", "InvalidInput", "NotFound", "Outcome", "SodViolation", "SystemClock", "ValidationError",
    "WorkflowError", "cancel_instance", "claim_task", "complete_task", "reassign_task", "release_task",
    "start_process",
]
