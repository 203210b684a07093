"""Flows the stateful test drives: which process, its start data, and valid form data per task (several
options per task, so random choices take every gateway branch)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy.orm import Session

from engine.clock import FixedClock
from engine.runtime import Context
from engine.settings import EngineSettings

from .helpers import DATA, deploy_tiny


@dataclass
class FlowModel:
    process_id: str
    start_data: dict[str, Any]
    task_data: dict[str, list[dict[str, Any]]]
    setup: Callable[[Session, FixedClock], EngineSettings]
    examples: int = 30
    default: list[dict[str, Any]] = field(default_factory=lambda: [{}])

    def data_for(self, task_spec: str) -> list[dict[str, Any]]:
        return self.task_data.get(task_spec, self.default)

    def context(self, session: Session, clock: FixedClock, request: pytest.FixtureRequest) -> Context:
        return Context(session, clock, self.setup(session, clock))


def _tiny(session: Session, clock: FixedClock) -> EngineSettings:
    settings = EngineSettings(forms_dir=DATA / "forms", processes_dir=DATA)
    deploy_tiny(session, settings, clock, "tiny_approval")
    session.flush()
    return settings


TINY = FlowModel(
    process_id="tiny_approval",
    start_data={"topic": "laptop refresh"},
    task_data={
        "ut_submit": [{"amount": 5}, {"amount": 900, "note": "urgent"}, {"amount": 0}],  # the last is invalid
        "ut_approve": [{"decision": "approve"}, {"decision": "reject", "comment": "too much"},
                       {"decision": "reject"}],  # the last is invalid (comment required)
    },
    setup=_tiny,
)

MODELS: list[FlowModel] = [TINY]
