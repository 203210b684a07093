"""Generic operators about processes themselves (not about one register)."""

from __future__ import annotations

from typing import Any

from engine.core.errors import InvalidInput
from engine.core.operators import OperatorContext, operator


@operator("process.start")
def start(ctx: OperatorContext, process_id: str, data: dict[str, Any] | None = None,
          subject: str | None = None) -> dict[str, Any]:
    """Start ``process_id`` as a separate instance (a child of this one) once this step has finished.
    A message the child throws and does not catch itself comes back to this instance."""
    if not isinstance(process_id, str) or not process_id:
        raise InvalidInput("process.start needs a process_id")
    ctx.start_process(process_id, dict(data or {}), subject=subject)
    return {"requested": process_id}
