"""``FlowDriver``: drive a shipped process through the services by task spec and demo user, so the flow
tests read as the path a user takes.

``fire_timer`` moves the test's clock past a waiting BPMN timer and runs the worker's tick for the
instance (``services.wake_instance``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from engine.core import runtime, services, timers
from engine.core.clock import FixedClock, parse_datetime
from engine.core.models import HumanTask, ProcessInstance
from engine.core.runtime import Context

from .helpers import user


@dataclass
class FlowDriver:
    ctx: Context
    process_id: str
    instance: ProcessInstance | None = None

    @property
    def session(self) -> Session:
        return self.ctx.session

    def start(self, key: str, data: dict[str, Any]) -> ProcessInstance:
        self.instance = services.start_process(self.ctx, user(self.session, key), self.process_id, data).instance
        return self.instance

    def tasks(self, spec: str | None = None) -> list[HumanTask]:
        assert self.instance is not None
        return [t for t in services.open_tasks(self.ctx, self.instance.id) if spec is None or t.task_spec == spec]

    def specs(self) -> list[str]:
        return sorted(t.task_spec for t in self.tasks())

    def data(self) -> dict[str, Any]:
        assert self.instance is not None
        return services.instance_data(self.ctx, self.instance.id)

    def item_of(self, task: HumanTask, name: str) -> Any:
        """The multi-instance item ``name`` the task row works on."""
        assert self.instance is not None
        workflow = runtime.restore(self.ctx, self.instance).workflow
        return runtime.spiff_task(workflow, task).data.get(name)

    def task_for(self, spec: str, key: str | None = None) -> HumanTask:
        """The one open ``spec`` task (the one assigned to ``key`` when there are several)."""
        tasks = self.tasks(spec)
        if key is not None and len(tasks) > 1:
            tasks = [t for t in tasks if t.assignee_id == user(self.session, key).id]
        assert len(tasks) == 1, f"expected one open {spec} for {key}, found {self.specs()}"
        return tasks[0]

    def complete(self, key: str, spec: str, data: dict[str, Any]) -> services.Outcome:
        return services.complete_task(self.ctx, user(self.session, key), self.task_for(spec, key).id, data)

    def waiting_timers(self) -> dict[str, str]:
        """BPMN id -> armed due time (ISO) of every timer the instance waits on."""
        assert self.instance is not None
        workflow = runtime.restore(self.ctx, self.instance).workflow
        return {task.task_spec.bpmn_id: when.isoformat() for task, when in timers.waiting_timers(workflow)}

    def fire_timer(self, bpmn_id: str) -> services.Outcome:
        """Move the clock just past the waiting timer ``bpmn_id`` (if it is not due yet) and let the
        worker's tick (``services.wake_instance``) fire it, on a workflow restored from the database."""
        assert self.instance is not None
        due = self.waiting_timers().get(bpmn_id)
        assert due is not None, f"{bpmn_id} is not waiting; waiting: {sorted(self.waiting_timers())}"
        clock = self.ctx.clock
        assert isinstance(clock, FixedClock)
        when = parse_datetime(due) + timedelta(seconds=1)
        if when > clock.now():
            clock.set(when.isoformat())
        runtime.clear_caches()
        outcome = services.wake_instance(self.ctx, self.instance.id)
        assert bpmn_id not in self.waiting_timers() or self.waiting_timers()[bpmn_id] != due, f"{bpmn_id} did not fire"
        return outcome

    def children(self, process_id: str) -> list[ProcessInstance]:
        from sqlalchemy import select

        assert self.instance is not None
        return list(self.session.scalars(select(ProcessInstance).where(
            ProcessInstance.parent_instance_id == self.instance.id, ProcessInstance.process_id == process_id)
            .order_by(ProcessInstance.id)))
