"""SpiffWorkflow's errors become WorkflowError at the runtime's boundary, keeping what an admin needs to
fix the diagram: the element, the script line, the BPMN file and the task trace."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from engine.core import services
from engine.core.errors import WorkflowError
from engine.core.runtime import Binding, Context

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


def test_a_database_error_while_the_workflow_runs_is_named_without_its_statement(ctx: Context) -> None:
    """Its message lands in the worker's report, the audit trail and the instance page: no SQL there."""
    binding = Binding(workflow=None)
    with pytest.raises(WorkflowError) as info, ctx.session.begin_nested():
        binding.step(lambda: ctx.session.execute(text("SELECT no_such_column FROM human_task")))
    assert info.value.message in ("the engine failed in the database (UndefinedColumn)",
                                  "the engine failed in the database (OperationalError)")
    assert isinstance(info.value.__cause__, SQLAlchemyError)  # the detail stays chained, for the log
