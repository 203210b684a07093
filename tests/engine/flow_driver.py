"""``FlowDriver``: drive a shipped process through the services by task spec and demo user, so the flow
tests read as the path a user takes; plus the stand-ins for processes another branch ships.

``fire_timer`` moves a waiting BPMN timer to "due" and runs the instance on, as the worker's wake does
(``services.wake_instance`` on the timers branch): it rewrites the timer's armed time to the past, so
it works whatever clock SpiffWorkflow reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.util.task import TaskState
from sqlalchemy.orm import Session

from engine import definitions, runtime, services
from engine.models import HumanTask, ProcessInstance
from engine.runtime import Context

from .helpers import DATA, user

PAST = "2000-01-01T00:00:00+00:00"
STAND_INS = DATA / "stand_ins"


def deploy_stand_ins(ctx: Context, *names: str) -> None:
    """Deploy ``tests/data/<name>.bpmn`` (stand-ins for ``aims_nc_capa`` and ``aims_action``, whose real
    flows are built on another branch) into the test's rolled-back session."""
    files = [definitions.SourceFile.read(STAND_INS / f"{name}.bpmn") for name in names]
    definitions.deploy(ctx.session, files, ctx.settings, ctx.clock)  # type: ignore[arg-type]
    ctx.session.flush()


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
        """BPMN id -> armed due time of every timer the instance waits on."""
        assert self.instance is not None
        workflow = runtime.restore(self.ctx, self.instance).workflow
        out = {}
        for task in workflow.get_tasks(state=TaskState.WAITING):
            definition = getattr(task.task_spec, "event_definition", None)
            if isinstance(definition, TimerEventDefinition):
                value = definition.details(task).value
                out[task.task_spec.bpmn_id] = value if isinstance(value, str) else value["next"]
        return out

    def fire_timer(self, bpmn_id: str) -> services.Outcome:
        """Make the waiting timer ``bpmn_id`` due and run the instance on until it waits again."""
        assert self.instance is not None
        instance = self.instance
        loaded = runtime.restore(self.ctx, instance)
        timers = [t for t in loaded.workflow.get_tasks(state=TaskState.WAITING) if t.task_spec.bpmn_id == bpmn_id]
        assert timers, f"{bpmn_id} is not waiting; waiting: {sorted(self.waiting_timers())}"
        for task in timers:
            task.internal_data["event_value"] = PAST
        binding = runtime.bind(self.ctx, instance, loaded.workflow, None)
        binding.step(loaded.workflow.refresh_timers)
        effects = runtime.run(self.ctx, instance, loaded.workflow, None, binding)
        with runtime.version_guard(instance):
            runtime.save(self.ctx, instance, loaded.workflow, flush=False)
            new_tasks = runtime.sync_tasks(self.ctx, instance, loaded.workflow)
            self.session.flush()
        outcome = services.Outcome(instance, new_tasks)
        services._after_run(self.ctx, instance, None, effects, outcome)
        return outcome

    def children(self, process_id: str) -> list[ProcessInstance]:
        from sqlalchemy import select

        assert self.instance is not None
        return list(self.session.scalars(select(ProcessInstance).where(
            ProcessInstance.parent_instance_id == self.instance.id, ProcessInstance.process_id == process_id)
            .order_by(ProcessInstance.id)))
