"""Long-lived instances: the finished top of the task tree is pruned before each save, so a looping
instance keeps a small state, runs on past SpiffWorkflow's depth limit, and its history stays whole."""

from __future__ import annotations

import json
from typing import Any

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from engine.app import history
from engine.core import audit_trail, serializer, services
from engine.core.models import HumanTask
from engine.core.runtime import Context

from .helpers import DATA, deploy_tiny, user


def specs() -> tuple[Any, dict[str, Any]]:
    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(DATA / "tiny_loop.bpmn"))
    return parser.get_spec("tiny_loop"), parser.get_subprocess_specs("tiny_loop")


def ready(workflow: BpmnWorkflow) -> list[str]:
    return sorted(t.task_spec.name for t in workflow.get_tasks(state=TaskState.READY, manual=True))


def test_prune_keeps_a_loop_small_and_running_past_spiffworkflows_depth_limit() -> None:
    """SpiffWorkflow's task iterator stops 1,000 levels down: unpruned, this loop (3 levels a round) would
    look finished after about 330 rounds with its checks still to do."""
    parsed = specs()
    workflow = BpmnWorkflow(*parsed)
    workflow.task_tree.data.update({"rounds_done": 0, "rounds_wanted": 400})
    workflow.do_engine_steps()
    sizes = []
    for round_no in range(400):
        assert ready(workflow) == ["check_a", "check_b"], round_no
        for name in ("check_a", "check_b"):
            task = workflow.get_next_task(state=TaskState.READY, spec_name=name)
            task.data[name] = round_no
            task.run()
            workflow.do_engine_steps()
            if name == "check_a":  # the join waits for the other branch
                assert ready(workflow) == ["check_b"]
            serializer.prune(workflow)
            state = serializer.dumps(workflow)
            workflow = serializer.loads(state, parsed)  # a round trip every step, as the engine saves
        sizes.append(len(json.loads(state)["tasks"]))
    assert workflow.is_completed() and workflow.data["rounds_done"] == 400
    assert max(sizes) < 80 and sizes[-2] == sizes[100], sizes[::50]  # flat, not a round's tasks more each round
    assert {"split", "check_a", "check_b", "join", "count", "again"} <= workflow.pruned_elements


def assert_one_tree(workflow: BpmnWorkflow) -> None:
    """Every task left is reached from the root through the children lists, each child naming its parent:
    pruning leaves no orphan behind."""
    reached, stack = set(), [workflow.task_tree]
    while stack:
        task = stack.pop()
        reached.add(task.id)
        for child in task.children:
            assert child.parent is task
            stack.append(child)
    assert reached == set(workflow.tasks)


def run_loop(rounds: int, keep: int | None) -> tuple[list[list[str]], dict[str, Any], int]:
    """The loop run with a round trip every step, pruned to ``keep`` (None: never); what was ready at each
    step, the final data and the tasks left."""
    parsed = specs()
    workflow = BpmnWorkflow(*parsed)
    workflow.task_tree.data.update({"rounds_done": 0, "rounds_wanted": rounds})
    workflow.do_engine_steps()
    seen = []
    for round_no in range(rounds):
        for name in ("check_a", "check_b"):
            seen.append(ready(workflow))
            task = workflow.get_next_task(state=TaskState.READY, spec_name=name)
            task.data[name] = round_no
            task.run()
            workflow.do_engine_steps()
            if keep is not None:
                serializer.prune(workflow, keep)
                assert_one_tree(workflow)
            workflow = serializer.loads(serializer.dumps(workflow), parsed)
    assert workflow.is_completed()
    return seen, dict(workflow.data), len(workflow.tasks)


@pytest.mark.parametrize("keep", [1, 3, 20], ids=["keep-1", "keep-3", "keep-20"])
def test_prune_changes_neither_the_route_nor_the_data(keep: int) -> None:
    pruned_seen, pruned_data, pruned_tasks = run_loop(30, keep)
    seen, data, tasks = run_loop(30, None)
    assert pruned_seen == seen and pruned_data == data  # SpiffWorkflow's own result, whatever it is
    assert pruned_tasks < tasks


def test_prune_leaves_a_short_flow_as_it_is() -> None:
    workflow = BpmnWorkflow(*specs())
    workflow.task_tree.data.update({"rounds_done": 0, "rounds_wanted": 3})
    workflow.do_engine_steps()
    for name in ("check_a", "check_b"):
        workflow.get_next_task(state=TaskState.READY, spec_name=name).run()
        workflow.do_engine_steps()
    before = len(workflow.tasks)
    assert serializer.prune(workflow) == 0 and len(workflow.tasks) == before
    assert workflow.task_tree.task_spec.name == "Start"


def test_pruned_instance_keeps_its_history_audit_trail_and_diagram(ctx: Context) -> None:
    deploy_tiny(ctx.session, ctx.settings, ctx.clock, "tiny_loop")
    tomas = user(ctx.session, "tomas")
    outcome = services.start_process(ctx, tomas, "tiny_loop", {"rounds_done": 0, "rounds_wanted": 12})
    instance = outcome.instance
    done = 0
    while outcome.new_tasks or done == 0 or instance.status == "running":
        open_rows = services.open_tasks(ctx, instance.id)
        if not open_rows:
            break
        outcome = services.complete_task(ctx, tomas, open_rows[0].id, {})
        done += 1
    assert done == 24 and instance.status == "completed"
    state = json.loads(instance.state)
    assert len(state["tasks"]) < 70 and "pruned_elements" in state  # unpruned: about 90
    view = history.instance_view(ctx, tomas, instance.id)
    assert {"start", "check_a", "check_b", "count", "end"} <= set(view.completed)
    rows = ctx.session.query(HumanTask).filter_by(instance_id=instance.id, state="completed").count()
    assert rows == 24
    assert audit_trail.verify(ctx.session).ok
    assert services.instance_data(ctx, instance.id)["rounds_done"] == 12
