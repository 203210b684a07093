"""Call activities (``version.dependencies``) end to end: deploy the caller with or after the called
process, run a user task inside the called process from a restored instance, loop through the call
again, and get the called process's data back."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from engine.core import definitions, runtime, services
from engine.core.clock import FixedClock
from engine.core.errors import DefinitionError
from engine.core.runtime import Context
from engine.core.settings import EngineSettings

from .helpers import DATA, user


def source(name: str) -> definitions.SourceFile:
    return definitions.SourceFile.read(DATA / f"{name}.bpmn")


def run_caller(ctx: Context) -> None:
    outcome = services.start_process(ctx, user(ctx.session, "tomas"), "tiny_caller", {"topic": "GPUs"})
    instance = outcome.instance
    [inner] = outcome.new_tasks
    assert (inner.task_spec, inner.role, inner.form) == ("ut_inner", "approver", "tiny_approve")
    assert inner.due_at is not None
    runtime.clear_caches()  # the next step restores the instance from the database
    services.complete_task(ctx, user(ctx.session, "ingrid"), inner.id, {"decision": "reject", "comment": "no"})
    [again] = services.open_tasks(ctx, instance.id)
    assert again.task_spec == "ut_inner" and again.id != inner.id
    runtime.clear_caches()
    services.complete_task(ctx, user(ctx.session, "ingrid"), again.id, {"decision": "approve"})
    [after] = services.open_tasks(ctx, instance.id)
    assert after.task_spec == "ut_after"
    data = services.instance_data(ctx, instance.id)
    assert (data["answer"], data["rounds"]) == ("GPUs: approve", 2)
    services.complete_task(ctx, user(ctx.session, "tomas"), after.id, {})
    assert (instance.status, instance.end_event) == ("completed", "end_ok")


def test_call_activity_deployed_together_runs_end_to_end(tiny_ctx: Context, session: Session,
                                                         clock: FixedClock, tiny_settings: EngineSettings) -> None:
    results = definitions.deploy(session, [source("tiny_caller"), source("tiny_callee")], tiny_settings, clock)
    caller = next(r.version for r in results if r.version.process_id == "tiny_caller")
    assert list(caller.dependencies) == ["tiny_callee"]
    assert "tiny_approve" in caller.forms  # the called process's forms travel with the caller
    run_caller(tiny_ctx)


def test_call_activity_resolves_an_already_deployed_process(tiny_ctx: Context, session: Session,
                                                            clock: FixedClock, tiny_settings: EngineSettings) -> None:
    definitions.deploy(session, [source("tiny_callee")], tiny_settings, clock)
    [result] = definitions.deploy(session, [source("tiny_caller")], tiny_settings, clock)
    assert list(result.version.dependencies) == ["tiny_callee"]
    runtime.clear_caches()
    run_caller(tiny_ctx)


def test_call_activity_to_an_unknown_process_fails_deploy(session: Session, clock: FixedClock,
                                                          tiny_settings: EngineSettings) -> None:
    with pytest.raises(DefinitionError, match="call_inner.*calls process 'tiny_callee'"):
        definitions.deploy(session, [source("tiny_caller")], tiny_settings, clock)


@pytest.mark.parametrize("restored", [False, True], ids=["cached", "restored"])
def test_interrupting_timer_on_a_multi_instance_subprocess_drops_its_instances(
        tiny_ctx: Context, session: Session, clock: FixedClock, tiny_settings: EngineSettings, restored: bool) -> None:
    """SpiffWorkflow left the instances' subworkflows behind and failed the next engine step
    (TaskNotFoundException); serializer._do_engine_steps cancels and drops them."""
    definitions.deploy(session, [source("tiny_mi_timeout")], tiny_settings, clock)
    outcome = services.start_process(tiny_ctx, user(session, "tomas"), "tiny_mi_timeout", {"items": ["a", "b"]})
    instance = outcome.instance
    assert sorted(t.task_spec for t in outcome.new_tasks) == ["ut_item", "ut_item"]
    services.complete_task(tiny_ctx, user(session, "tomas"), outcome.new_tasks[0].id, {})
    if restored:
        runtime.clear_caches()
    clock.advance(days=3)
    woken = services.wake_instance(tiny_ctx, instance.id)
    assert [t.task_spec for t in services.open_tasks(tiny_ctx, instance.id)] == ["ut_timed_out"]
    assert [t.task_spec for t in woken.new_tasks] == ["ut_timed_out"]
    workflow = runtime.restore(tiny_ctx, instance).workflow
    assert all(sp.completed or sp.parent_task_id in workflow.tasks or any(
        sp.parent_task_id in other.tasks for other in workflow.subprocesses.values())
        for sp in workflow.subprocesses.values())
    services.complete_task(tiny_ctx, user(session, "tomas"), services.open_tasks(tiny_ctx, instance.id)[0].id, {})
    assert (instance.status, instance.end_event) == ("completed", "end_late")
