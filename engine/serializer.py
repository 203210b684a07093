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
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

FORMAT_VERSION = "aimsflow-1"

_SPECS: ContextVar[tuple[Any, dict[str, Any]] | None] = ContextVar("aimsflow_specs", default=None)


class _InstanceOnlyConverter(BpmnWorkflowConverter):
    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["spec_key"] = getattr(workflow, "spec_key", None)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
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
    return workflow


def new_workflow(specs: tuple[Any, dict[str, Any]], spec_key: str, script_engine: Any = None) -> BpmnWorkflow:
    workflow = BpmnWorkflow(specs[0], specs[1], script_engine=script_engine)
    workflow.spec_key = spec_key
    return workflow
