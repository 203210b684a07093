"""Diagrams exported by other modelers (``tests/data/foreign``): those executable in substance deploy
and run to their end through the services; the others are refused with a lint message naming the
element and the construct (README "Diagrams from other modelers")."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlalchemy.orm import Session

from engine.core import definitions, services
from engine.core.clock import FixedClock
from engine.core.errors import DefinitionError
from engine.core.models import InstanceState
from engine.core.runtime import Context
from engine.core.settings import EngineSettings

from .helpers import DATA, user

FOREIGN = DATA / "foreign"

#: (file, default lane role, {process id: [(task id, who, data), ...] in the order they open})
RUNS: list[tuple[str, str, dict[str, list[tuple[str, str, dict[str, Any]]]]]] = [
    # the pool "Specialist reviewer" gives its lane-less tasks the reviewer role; the "Requester" pool is not executable
    ("camunda_model_review.bpmn", "", {"model_card_review": [
        ("Activity_review", "sofia", {"accepted": True}), ("Activity_publish", "fatima", {})]}),
    # bpmn.io: no lanes, plain and user tasks behind a parallel gateway: the default lane role
    ("bpmn-io_dataset_check.bpmn", "assessor", {"Process_0dataset": [
        ("Activity_0prov", "sofia", {}), ("Activity_1bias", "hannah", {})]}),
    # Signavio: two executable pools in one collaboration, each deployed and run
    ("signavio_intake_and_triage.bpmn", "", {
        "sid-incident-intake": [("sid-F2B3C4D5-E6F7-4081-92A3-B4C5D6E7F809", "tomas", {})],
        "sid-incident-triage": [("sid-25E6F708-192A-43B4-C5D6-E7F8091A2B3C", "sofia", {}),
                                ("sid-36F70819-2A3B-44C5-D6E7-F8091A2B3C4D", "ingrid", {})]}),
    # Bizagi: extension elements everywhere, a gateway deciding on the data
    ("bizagi_supplier_approval.bpmn", "", {"Id_b8d0f2a4-6c7e-4b9f-8d1c-2e3f4a5b6c7d": [
        ("Id_f2b4d6e8-0a1c-4f3d-8b5a-6c7d8e9f0a12", "tomas", {}),
        ("Id_25e7a9b1-3d4f-4c6a-9e8d-9f0a1b2c3d45", "ingrid", {"decision": "approve"})]}),
]

#: (file, element id, words the message and fix must hold)
REFUSED = [
    ("diagram.bpmn", "", ("no executable process", 'isExecutable="true"')),
    ("camunda_implicit_split.bpmn", "Activity_draft", ("an implicit parallel split: add a parallel gateway",)),
    ("camunda_conditional_flows.bpmn", "Activity_draft", ("implicit conditional split", "inclusive gateway")),
    ("signavio_compensation.bpmn", "sid-BOUNDARY-COMP", ("compensation boundary event", "compensation triggers")),
    ("bizagi_data_store.bpmn", "Id_store-ref", ('data store "Model inventory"', "does not support")),
]


#: who starts each process: a holder of its start event's lane role (default priya)
STARTERS = {"sid-incident-intake": "tomas", "sid-incident-triage": "sofia",
            "Id_b8d0f2a4-6c7e-4b9f-8d1c-2e3f4a5b6c7d": "tomas"}


def _settings(default_lane_role: str = "") -> EngineSettings:
    return EngineSettings(forms_dir=DATA / "forms", processes_dir=DATA, default_lane_role=default_lane_role)


@pytest.mark.parametrize(("file", "role", "runs"), RUNS, ids=[r[0] for r in RUNS])
def test_foreign_diagram_deploys_and_runs_to_its_end(session: Session, clock: FixedClock, file: str, role: str,
                                                     runs: dict[str, list[tuple[str, str, dict[str, Any]]]]) -> None:
    settings = _settings(role)
    results = definitions.deploy(session, [definitions.SourceFile.read(FOREIGN / file)], settings, clock)
    assert [r.version.process_id for r in results] == list(runs)
    ctx = Context(session, clock, settings)
    for process_id, steps in runs.items():
        starter = STARTERS.get(process_id, "priya")
        outcome = services.start_process(ctx, user(session, starter) if starter else None, process_id)
        opened = {t.task_spec: t for t in outcome.new_tasks}
        for task_id, who, data in steps:
            task = opened.pop(task_id)
            actor = user(session, who)
            services.claim_task(ctx, actor, task.id)
            outcome = services.complete_task(ctx, actor, task.id, data)
            opened |= {t.task_spec: t for t in outcome.new_tasks}
        assert not opened
        assert outcome.instance.status == InstanceState.COMPLETED


def test_foreign_lane_less_task_takes_the_pool_role_then_the_setting(session: Session, clock: FixedClock) -> None:
    source = definitions.SourceFile.read(FOREIGN / "camunda_model_review.bpmn")
    [review] = definitions.deploy(session, [source], _settings(), clock)
    ctx = Context(session, clock, _settings())
    task = services.start_process(ctx, user(session, "priya"), "model_card_review").new_tasks[0]
    assert task.role == "reviewer"
    with pytest.raises(DefinitionError) as info:
        definitions.parse_and_lint([definitions.SourceFile.read(FOREIGN / "bpmn-io_dataset_check.bpmn")], _settings())
    assert "set AIMSFLOW_DEFAULT_LANE_ROLE" in str(info.value)
    with pytest.raises(DefinitionError) as info:
        definitions.parse_and_lint([definitions.SourceFile.read(FOREIGN / "bpmn-io_dataset_check.bpmn")],
                                   dataclasses.replace(_settings(), default_lane_role="nobody"))
    assert "AIMSFLOW_DEFAULT_LANE_ROLE names 'nobody', which is not a known role" in str(info.value)


@pytest.mark.parametrize(("file", "element", "words"), REFUSED, ids=[r[0] for r in REFUSED])
def test_foreign_diagram_refused_names_element_and_construct(file: str, element: str, words: tuple[str, ...]) -> None:
    with pytest.raises(DefinitionError) as info:
        definitions.parse_and_lint([definitions.SourceFile.read(FOREIGN / file)], _settings("assessor"))
    errors = [p for p in info.value.problems if p.is_error]
    assert [p.element for p in errors] == [element]
    said = f"{errors[0].message} {errors[0].fix} {errors[0].label}"
    assert all(w in said for w in words), said
