"""SpiffWorkflow's errors become WorkflowError at the runtime's boundary, keeping what an admin needs to
fix the diagram: the element, the script line, the BPMN file and the task trace."""

from __future__ import annotations

import pytest

from engine.core import services
from engine.core.errors import WorkflowError
from engine.core.runtime import Context

from .helpers import deploy_tiny, user


def test_failing_script_error_carries_the_task_trace_and_the_bpmn_file(ctx: Context) -> None:
    deploy_tiny(ctx.session, ctx.settings, ctx.clock, "tiny_broken_script")
    with pytest.raises(WorkflowError) as info:
        services.start_process(ctx, user(ctx.session, "tomas"), "tiny_broken_script", {"weight": 3})
    error = info.value
    assert (error.element, error.line, error.file) == ("st_score", 2, "tiny_broken_script.bpmn")
    assert error.task_trace == ["Compute score (tiny_broken_script.bpmn)", "Scoring (tiny_broken_script.bpmn)"]
    assert error.message.startswith("st_score: ") and "weight" in error.message  # did you mean 'weight'?
    # the file and the trace are for the logs; users and API clients get what they got before
    assert error.to_dict() == {"code": "workflow_error", "message": error.message, "element": "st_score", "line": 2}
    assert "tiny_broken_script.bpmn, line 2" in error.diagnosis() and "Scoring (" in error.diagnosis()
