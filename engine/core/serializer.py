"""The only module that knows the stored workflow format.

An instance row stores the SpiffWorkflow state *without* the process spec: the spec lives once per
process version and is parsed once per process (``definitions.specs_for``). The JSON carries
``spec_key`` (the version's sha256) instead, and ``serializer_version`` ``aimsflow-1``; SpiffWorkflow's
own migrations never touch it. Restoring needs the parsed specs of that version.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from copy import deepcopy
from types import MethodType
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.exceptions import TaskNotFoundException
from SpiffWorkflow.specs.Join import Join
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

FORMAT_VERSION = "aimsflow-1"

_SPECS: ContextVar[tuple[Any, dict[str, Any]] | None] = ContextVar("aimsflow_specs", default=None)


class _InstanceOnlyConverter(BpmnWorkflowConverter):
    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["spec_key"] = getattr(workflow, "spec_key", None)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        pruned = getattr(workflow, "pruned_elements", None)
        if pruned:
            dct["pruned_elements"] = sorted(pruned)
        return dct

    def from_dict(self, dct: dict[str, Any]) -> BpmnWorkflow:
        specs = _SPECS.get()
        if specs is None:
            raise RuntimeError("restore a workflow through serializer.loads(), which supplies its specs")
        spec, subprocess_specs = specs
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.spec_key = dct["spec_key"]
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        workflow.pruned_elements = set(dct.get("pruned_elements", ()))
        return workflow


def _do_engine_steps(workflow: BpmnWorkflow, will_complete_task: Any = None, did_complete_task: Any = None) -> bool:
    """SpiffWorkflow 3.2's ``BpmnWorkflow._do_engine_steps`` with one fix: a subworkflow whose parent
    task is gone is cancelled and dropped instead of failing the pass. An interrupting boundary event
    on a multi-instance subprocess drops the instance tasks but leaves their running subworkflows
    behind; SpiffWorkflow then looked up their parent task and raised ``TaskNotFoundException``
    (and their ready user tasks would still have been offered)."""

    def update_workflow(wf: Any) -> int:
        count = 0
        for task in wf.get_tasks(state=TaskState.READY):
            if not task.task_spec.manual:
                if will_complete_task is not None:
                    will_complete_task(task)
                task.run()
                count += 1
                if did_complete_task is not None:
                    did_complete_task(task)
        return count

    active = workflow.get_active_subprocesses()
    for subprocess in sorted(active, key=lambda v: v.depth, reverse=True):
        if workflow.subprocesses.get(subprocess.parent_task_id) is not subprocess:
            continue  # deleted meanwhile
        if _orphaned(workflow, subprocess):
            continue
        count = None
        while count is None or count > 0:
            count = update_workflow(subprocess)
        if subprocess.parent_task_id is not None:
            task = workflow.get_task_from_id(subprocess.parent_task_id)
            task.task_spec._update(task)
    count = update_workflow(workflow)
    return count > 0 or len(workflow.get_active_subprocesses()) > len(active)


def _orphaned(workflow: BpmnWorkflow, subprocess: Any) -> bool:
    """Cancel and drop ``subprocess`` (and the subworkflows inside it) if its parent task is gone."""
    try:
        workflow.get_task_from_id(subprocess.parent_task_id)
        return False
    except TaskNotFoundException:
        pass
    inner = [sp for sp in list(workflow.subprocesses.values()) if sp is not subprocess and
             _inside(workflow, sp, subprocess)]
    for sp in [*inner, subprocess]:
        sp.cancel()
        workflow.subprocesses.pop(sp.parent_task_id, None)
    return True


def _inside(workflow: BpmnWorkflow, sp: Any, outer: Any) -> bool:
    """True when ``sp``'s parent task lives in ``outer`` (directly or deeper)."""
    while sp is not None:
        if sp.parent_task_id in outer.tasks:
            return True
        sp = next((c for c in workflow.subprocesses.values() if sp.parent_task_id in c.tasks), None)
    return False


#: finished tasks kept on the path above the live ones when the task tree is pruned: a margin for whatever
#: looks a few steps back, and no pruning at all for ordinary short flows
KEEP_FINISHED = 20
#: the first tasks of the path (the flow's beginning) are kept too: a parallel gateway that a loop enters
#: decides whether it may fire by walking its ancestors up to the input the flow first came in by
KEEP_FIRST = 10


def prune(workflow: BpmnWorkflow, keep: int = KEEP_FINISHED) -> int:
    """Drop the finished middle of the workflow's task tree; returns how many tasks went.

    SpiffWorkflow 3.2 keeps every task it ever ran, so an instance that loops (a recurring review) grows
    its stored state, and the time to save and restore it, with every round; and its task iterator stops
    1,000 levels down, so after a few hundred rounds the live tasks fall out of sight and the instance
    looks finished. Every unfinished task descends from one path of tasks from the root; all of that path
    above the unfinished tasks' nearest common ancestor is finished, and so is everything hanging off it
    (a finished branch, a loop's earlier rounds). The first ``KEEP_FIRST`` tasks of the path and the last
    ``keep`` above that ancestor stay, joined parent to child; the tasks between them, with what hangs off
    them and the finished subprocesses they started, go. The cut never falls on a join, a subprocess task,
    a split or anything not completed. SpiffWorkflow stores each task's data as a change from its parent's,
    computed when it saves, so the live tasks' data is unchanged. The BPMN ids of the completed tasks
    that went stay in ``pruned_elements`` (the instance page colours them); who did what and when is in
    our own tables (human tasks, audit trail), not in the tree. A finished workflow, and one whose process
    has a completion condition (it reads the root's branches), is left as it is.
    """
    tasks = workflow.tasks
    # a cut needs the common ancestor at least ``keep + 2`` tasks down the path: a tree with fewer tasks has
    # nothing to cut (most flows; this runs at every save)
    if len(tasks) < keep + 3 or getattr(workflow.spec, "completion_condition", None):
        return 0
    unfinished = [t for t in tasks.values() if not t.has_state(TaskState.FINISHED_MASK)]
    if not unfinished:
        return 0
    path = []
    task = unfinished[0]
    while task is not None:
        path.append(task)
        task = task.parent
    path.reverse()
    depth = {t.id: i for i, t in enumerate(path)}
    common = len(path) - 1
    for task in unfinished[1:]:
        while task.id not in depth:
            task = task.parent
        common = min(common, depth[task.id])
    head = min(KEEP_FIRST, common)
    while head > 0 and not _may_be_root(path[head]):
        head -= 1
    cut = common - keep
    while cut > head + 1 and not _may_be_root(path[cut]):
        cut -= 1
    if cut <= head + 1 or not _may_be_root(path[head]):
        return 0
    tail = _subtree(path[cut])
    gone = [tasks[i] for i in _subtree(path[head + 1]) - tail]
    pruned = getattr(workflow, "pruned_elements", None)
    if pruned is None:
        pruned = workflow.pruned_elements = set()
    waiting = workflow.event_manager.tasks
    for task in gone:
        bpmn_id = getattr(task.task_spec, "bpmn_id", None)
        if bpmn_id and task.state == TaskState.COMPLETED:
            pruned.add(bpmn_id)
        del tasks[task.id]
        waiting.pop(task.id, None)
    path[cut]._parent = path[head].id
    path[head]._children = [path[cut].id]  # its only child was path[head + 1] (_may_be_root)
    if workflow.last_task is not None and workflow.last_task.id not in tasks:
        workflow.last_task = None
    _drop_subprocesses(workflow, {t.id for t in gone})
    return len(gone)


def _subtree(task: Any) -> set[UUID]:
    ids: set[UUID] = set()
    stack = [task]
    while stack:
        task = stack.pop()
        ids.add(task.id)
        stack.extend(task.children)
    return ids


def _may_be_root(task: Any) -> bool:
    return (task.state == TaskState.COMPLETED and not isinstance(task.task_spec, (Join, SubWorkflowTask))
            and len(task.children) == 1)


def _drop_subprocesses(workflow: BpmnWorkflow, gone: set[UUID]) -> None:
    """Forget the (finished) subprocesses started by tasks that went, and those started inside them."""
    while True:
        dropped = [key for key, sp in workflow.subprocesses.items() if sp.parent_task_id in gone]
        if not dropped:
            return
        for key in dropped:
            sp = workflow.subprocesses.pop(key)
            gone |= set(sp.tasks)


def _patched(workflow: BpmnWorkflow) -> BpmnWorkflow:
    workflow._do_engine_steps = MethodType(_do_engine_steps, workflow)  # type: ignore[method-assign]
    return workflow


def _make() -> BpmnWorkflowSerializer:
    config = deepcopy(SPIFF_CONFIG)
    config[BpmnWorkflow] = _InstanceOnlyConverter
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config), version=FORMAT_VERSION)


_SERIALIZER = _make()


def dumps(workflow: BpmnWorkflow) -> str:
    """The workflow's state as compact JSON (no spec)."""
    registry = _SERIALIZER.registry
    registry._encoder_mode = True
    try:
        dct = _SERIALIZER.to_dict(workflow)
        dct[_SERIALIZER.VERSION_KEY] = FORMAT_VERSION
        return json.dumps(dct, cls=_SERIALIZER._encoder_cls, separators=(",", ":"))
    finally:
        registry._encoder_mode = False


def loads(state: str, specs: tuple[Any, dict[str, Any]]) -> BpmnWorkflow:
    """Restore a workflow saved by :func:`dumps` onto its parsed ``specs``."""
    dct = json.loads(state)
    version = dct.pop(_SERIALIZER.VERSION_KEY, None)
    if version != FORMAT_VERSION:
        raise ValueError(f"stored workflow format {version!r} is not {FORMAT_VERSION!r}")
    token = _SPECS.set(specs)
    try:
        workflow: BpmnWorkflow = _SERIALIZER.from_dict(dct)
    finally:
        _SPECS.reset(token)
    return _patched(workflow)


def new_workflow(specs: tuple[Any, dict[str, Any]], spec_key: str, script_engine: Any = None) -> BpmnWorkflow:
    workflow = BpmnWorkflow(specs[0], specs[1], script_engine=script_engine)
    workflow.spec_key = spec_key
    return _patched(workflow)
