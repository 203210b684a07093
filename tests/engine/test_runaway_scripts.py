"""Runaway scripts: a script task, a gateway condition and a timer-led script that never end (``while
True``), would build a huge value in one step (``9**9**9``, ``'a' * 10**10``) or grow the memory in small
steps (a loop appending, a comprehension of millions of items) stop within seconds with ScriptBudgetError
naming the element and the budget; the transaction rolls back, no lock is left behind (another command
commits right after), and the worker records the failure (the instance page shows it) and does not retry
the instance at every pass.

The database is one the tests commit to (``fresh_db``), so a lock left behind would show: on SQLite the
next writer would fail with "database is locked".
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from xml.sax.saxutils import escape

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine.app import history
from engine.core import definitions, services, worker
from engine.core.clock import FixedClock
from engine.core.errors import ScriptBudgetError
from engine.core.models import AuditEvent, InstanceState, ProcessInstance
from engine.core.runtime import Context
from engine.core.settings import EngineSettings
from engine.core.uow import transaction

from .helpers import user

#: a budget short enough for tests; the default is 5 s
SECONDS = 1.0
#: a memory budget small enough for tests (MB); the default is 256
MEGABYTES = 32
#: how long a runaway may take to be stopped (the budget, plus slack for a slow CI machine)
STOPPED_WITHIN = SECONDS + 2.0

#: runaway -> (the script, the condition): a condition cannot hold a ``while`` loop, so its never-ending
#: case is a comprehension over 10**14 items
RUNAWAYS: dict[str, tuple[str, str]] = {
    "while_true": ("while True:\n    pass", "sum(1 for a in range(10**7) for b in range(10**7)) > 0"),
    "pow": ("x = 9**9**9", "9**9**9 > 0"),
    "alloc": ("x = 'a' * 10**10", "len('a' * 10**10) > 0"),
    "memory": ("x = []\nwhile True:\n    x.append('a' * 10**6)", "len(['a' * 1000 for i in range(10**7)]) > 0"),
}
LIMITS = {"while_true": "script_time_limit", "pow": "script_max_int_bits", "alloc": "script_max_size",
          "memory": "script_max_memory"}

_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs_{pid}"
                  targetNamespace="http://aimsflow.test">
  <bpmn:process id="{pid}" name="Runaway {pid}" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
"""
_TAIL = """    <bpmn:endEvent id="end"><bpmn:incoming>f_end</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>"""

_SCRIPT = """    <bpmn:scriptTask id="st_runaway" name="Runaway script">
      <bpmn:incoming>{incoming}</bpmn:incoming><bpmn:outgoing>f_end</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f_end" sourceRef="st_runaway" targetRef="end"/>
"""

BODIES = {
    "script": _SCRIPT.replace("{incoming}", "f1")
    + """    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="st_runaway"/>
""",
    "condition": """    <bpmn:exclusiveGateway id="gw_runaway" name="Runaway condition" default="f_end">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f_other</bpmn:outgoing><bpmn:outgoing>f_end</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:endEvent id="end_other"><bpmn:incoming>f_other</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="gw_runaway"/>
    <bpmn:sequenceFlow id="f_other" sourceRef="gw_runaway" targetRef="end_other">
      <bpmn:conditionExpression>{condition}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_end" sourceRef="gw_runaway" targetRef="end"/>
""",
    "timer": """    <bpmn:intermediateCatchEvent id="tm_wait" name="Wait an hour">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:timerEventDefinition id="ted_wait"><bpmn:timeDuration>"PT1H"</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="tm_wait"/>
    <bpmn:sequenceFlow id="f2" sourceRef="tm_wait" targetRef="st_runaway"/>
""" + _SCRIPT.replace("{incoming}", "f2"),
}
ELEMENTS = {"script": "st_runaway", "condition": "gw_runaway", "timer": "st_runaway"}


def _bpmn(place: str, runaway: str) -> definitions.SourceFile:
    pid = f"runaway_{place}_{runaway}"
    script, condition = RUNAWAYS[runaway]
    body = BODIES[place].replace("{script}", escape(script)).replace("{condition}", escape(condition))
    return definitions.SourceFile(f"{pid}.bpmn", (_HEAD.format(pid=pid) + body + _TAIL).encode())


@pytest.fixture
def budget_settings(tiny_settings: EngineSettings) -> EngineSettings:
    return replace(tiny_settings, script_time_limit=SECONDS, script_max_memory_mb=MEGABYTES)


@pytest.fixture
def db(fresh_db: sessionmaker[Session], budget_settings: EngineSettings,
       clock: FixedClock) -> Iterator[sessionmaker[Session]]:
    """A committed database holding every runaway diagram and ``tiny_approval`` (the command run after)."""
    with fresh_db() as s, transaction(s, clock):
        files = [_bpmn(place, runaway) for place in BODIES for runaway in RUNAWAYS]
        files.append(definitions.SourceFile.read(budget_settings.processes_dir / "tiny_approval.bpmn"))
        definitions.deploy(s, files, budget_settings, clock)
    yield fresh_db


def _another_command_commits(db: sessionmaker[Session], settings: EngineSettings, clock: FixedClock) -> None:
    """A write in a new session commits at once: the failed transaction left no lock behind."""
    started = time.perf_counter()
    with db() as s, transaction(s, clock):
        services.start_process(Context(s, clock, settings), user(s, "tomas"), "tiny_approval",
                               {"topic": "After a runaway"})
    assert time.perf_counter() - started < 2.0


def _instances(db: sessionmaker[Session], process_id: str) -> list[ProcessInstance]:
    with db() as s:
        return list(s.scalars(select(ProcessInstance).where(ProcessInstance.process_id == process_id)))


@pytest.mark.parametrize("place", ["script", "condition"])
@pytest.mark.parametrize("runaway", list(RUNAWAYS))
def test_runaway_stops_with_the_element_and_the_budget_and_rolls_back(
        db: sessionmaker[Session], budget_settings: EngineSettings, clock: FixedClock,
        place: str, runaway: str) -> None:
    pid = f"runaway_{place}_{runaway}"
    started = time.perf_counter()
    with db() as s, pytest.raises(ScriptBudgetError) as caught, transaction(s, clock):
        services.start_process(Context(s, clock, budget_settings), user(s, "tomas"), pid, {})
    took = time.perf_counter() - started

    assert took < STOPPED_WITHIN, f"{pid} took {took:.1f} s"
    error = caught.value
    assert error.element == ELEMENTS[place]
    assert error.limit == LIMITS[runaway]
    assert error.message.startswith(f"{ELEMENTS[place]}: ")
    assert f"AIMSFLOW_{LIMITS[runaway].upper()}" in error.message
    assert error.to_dict()["code"] == "script_budget"
    assert _instances(db, pid) == []  # rolled back: no half-started instance
    _another_command_commits(db, budget_settings, clock)


@pytest.mark.parametrize("runaway", list(RUNAWAYS))
def test_worker_records_a_runaway_timer_path_and_does_not_retry_it_every_pass(
        db: sessionmaker[Session], budget_settings: EngineSettings, clock: FixedClock, runaway: str) -> None:
    pid = f"runaway_timer_{runaway}"
    with db() as s, transaction(s, clock):
        instance_id = services.start_process(Context(s, clock, budget_settings), user(s, "tomas"), pid,
                                             {}).instance.id
    clock.set(clock.now() + timedelta(hours=2))

    started = time.perf_counter()
    with db() as s:
        report = worker.run_pass(s, clock, budget_settings)
    took = time.perf_counter() - started

    assert took < STOPPED_WITHIN + 1.0, f"the worker pass took {took:.1f} s"
    assert len(report.failures) == 1
    assert "st_runaway" in report.failures[0] and LIMITS[runaway] in report.failures[0]
    with db() as s:
        instance = s.get(ProcessInstance, instance_id)
        assert instance is not None
        assert instance.status == InstanceState.RUNNING  # as it was before the timer: nothing half-done
        assert instance.wake_at is not None and instance.wake_at > clock.now()
        failed = list(s.scalars(select(AuditEvent).where(AuditEvent.instance_id == instance_id,
                                                         AuditEvent.action == "timer_failed")))
        assert len(failed) == 1 and "st_runaway" in failed[0].data["error"]
        page = history.instance_view(Context(s, clock, budget_settings), user(s, "tomas"), instance_id)
        assert page.failure is not None  # the instance page shows it, with when it is retried
        assert page.failure.data["error"].startswith("st_runaway: ")
        assert f"AIMSFLOW_{LIMITS[runaway].upper()}" in page.failure.data["error"]
    _another_command_commits(db, budget_settings, clock)

    clock.set(clock.now() + timedelta(minutes=15))
    with db() as s:
        again = worker.run_pass(s, clock, budget_settings)
    assert again.failures == [] and again.instances_woken == 0
