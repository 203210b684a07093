"""aimsflow's engine, in three layers (README.md here): ``engine.core`` the generic BPMN workflow engine,
``engine.aims`` the ISO/IEC 42001 domain it is given at start-up (``engine.aims.install()``), and
``engine.app`` what the screens and the CLI read and do.

No Flask here. Use cases take a :class:`Context` and the acting user; the most used names are re-exported
here and imported on first use.
"""

from engine.core.faces import face

__all__, __getattr__ = face(__name__, modules=("aims", "app", "core"), names={
    "core.clock": ("Clock", "FixedClock", "SystemClock"),
    "core.errors": ("ConflictError", "DefinitionError", "EngineError", "Forbidden", "InvalidInput", "NotFound",
                    "SodViolation", "ValidationError", "WorkflowError"),
    "core.runtime": ("Context",),
    "core.services": ("Outcome", "cancel_instance", "claim_task", "complete_task", "reassign_task",
                      "release_task", "start_process"),
    "core.settings": ("EngineSettings",),
})
