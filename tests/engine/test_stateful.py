"""Random sequences of start / claim / release / complete / reassign / cancel by random users, with the
engine's invariants checked after every step:

* no task is completed twice, and every completion is audited exactly once;
* nobody completes a task the rules forbid: they held the lane's role or were its assignee, admins never
  complete business tasks, and the segregation-of-duties rules of the task hold for the completer;
* the open ``human_task`` rows of every running instance are exactly its workflow's ready user tasks;
* the audit chain verifies.

Each example runs inside a savepoint of the test's session and is rolled back afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.core import assignment, audit_trail, runtime, services, sod
from engine.core.errors import EngineError
from engine.core.models import OPEN_STATES, AuditEvent, HumanTask, ProcessInstance, User
from engine.core.runtime import Context

from .helpers import email
from .stateful_models import MODELS, FlowModel

USERS = ["tomas", "meilin", "fatima", "ingrid", "grace", "jonas", "priya", "sofia", "daniel", "oliver", "ravi",
         "lucas"]


@dataclass
class World:
    ctx: Context
    model: FlowModel


class EngineMachine(RuleBasedStateMachine):
    world: World  # set by the test before the machine runs

    @initialize()
    def open_savepoint(self) -> None:
        self.session: Session = self.world.ctx.session
        self.savepoint = self.session.begin_nested()
        self.instances: list[int] = []

    def teardown(self) -> None:
        if self.savepoint.is_active:
            self.savepoint.rollback()
        runtime.clear_caches()

    # ------------------------------------------------------------------ helpers

    def user(self, key: str) -> User:
        found = self.session.scalar(select(User).where(User.email == email(key)))
        assert found is not None
        return found

    def attempt(self, fn: Any, *args: Any) -> Any:
        """Run one use case in its own savepoint: an EngineError leaves nothing behind (as a rollback would)."""
        nested = self.session.begin_nested()
        try:
            result = fn(self.world.ctx, *args)
        except EngineError as exc:
            nested.rollback()
            runtime.clear_caches()  # the failed attempt may have moved a cached workflow along
            return exc
        nested.commit()
        return result

    def open_tasks(self) -> list[HumanTask]:
        return list(self.session.scalars(select(HumanTask).where(
            HumanTask.instance_id.in_(self.instances), HumanTask.state.in_(OPEN_STATES))
            .order_by(HumanTask.id))) if self.instances else []

    # ------------------------------------------------------------------ rules

    @rule(who=st.sampled_from(USERS))
    def start(self, who: str) -> None:
        if len(self.instances) >= 3:
            return
        outcome = self.attempt(services.start_process, self.user(who), self.world.model.process_id,
                               self.world.model.start_data)
        if not isinstance(outcome, EngineError):
            self.instances.append(outcome.instance.id)

    @rule(pick=st.integers(0, 50), who=st.sampled_from(USERS))
    def claim(self, pick: int, who: str) -> None:
        tasks = self.open_tasks()
        if tasks:
            self.attempt(services.claim_task, self.user(who), tasks[pick % len(tasks)].id)

    @rule(pick=st.integers(0, 50), who=st.sampled_from(USERS))
    def release(self, pick: int, who: str) -> None:
        tasks = self.open_tasks()
        if tasks:
            self.attempt(services.release_task, self.user(who), tasks[pick % len(tasks)].id)

    @rule(pick=st.integers(0, 50), who=st.sampled_from(USERS), choice=st.integers(0, 20))
    def complete(self, pick: int, who: str, choice: int) -> None:
        tasks = self.open_tasks()
        if not tasks:
            return
        task = tasks[pick % len(tasks)]
        options = self.world.model.data_for(task.task_spec)
        data = options[choice % len(options)]
        user = self.user(who)
        before = self._sod_facts(task, user)
        result = self.attempt(services.complete_task, user, task.id, data)
        if not isinstance(result, EngineError):
            event(f"completed {task.task_spec}")
            self._check_allowed(task, user, before)

    @rule(pick=st.integers(0, 50), nth=st.integers(0, 20), choice=st.integers(0, 20))
    def complete_as_candidate(self, pick: int, nth: int, choice: int) -> None:
        """Like ``complete``, by the task's assignee or a holder of its role (random users rarely are),
        so that random runs get deep into longer flows."""
        tasks = self.open_tasks()
        if not tasks:
            return
        task = tasks[pick % len(tasks)]
        candidates = [k for k in USERS if task.assignee_id == self.user(k).id
                      or (task.assignee_id is None and task.role in self.user(k).roles)]
        if candidates:
            self.complete(pick, candidates[nth % len(candidates)], choice)

    @rule(pick=st.integers(0, 50), who=st.sampled_from(["priya", "oliver", "grace", "jonas", "tomas"]),
          to=st.sampled_from(USERS))
    def reassign(self, pick: int, who: str, to: str) -> None:
        tasks = self.open_tasks()
        if tasks:
            self.attempt(services.reassign_task, self.user(who), tasks[pick % len(tasks)].id, email(to),
                         "random reassignment")

    @rule(pick=st.integers(0, 10), who=st.sampled_from(USERS))
    def cancel(self, pick: int, who: str) -> None:
        if self.instances and pick % 3 == 0:  # rarer than the other steps, so that flows get far
            self.attempt(services.cancel_instance, self.user(who), self.instances[pick % len(self.instances)],
                         "random cancellation")

    # ------------------------------------------------------------------ invariants

    def _sod_facts(self, task: HumanTask, user: User) -> tuple[list[sod.Violation], bool, bool]:
        """What the rules said about ``user`` and ``task`` just before the attempt."""
        instance = self.session.get(ProcessInstance, task.instance_id)
        assert instance is not None
        if instance.status != "running" or task.state not in OPEN_STATES:
            return [], False, False
        workflow = runtime.restore(self.world.ctx, instance).workflow
        runtime._WORKFLOWS.put(instance.id, instance.state, workflow)  # put back what we only looked at
        spiff = workflow.get_task_from_id(UUID(task.spiff_task_id))
        done = assignment.history(self.session, instance.id)
        violations = assignment.sod_violations(self.session, user, task, spiff.data, done)
        return violations, task.role in user.roles, task.assignee_id == user.id

    def _check_allowed(self, task: HumanTask, user: User, before: tuple[list[sod.Violation], bool, bool]) -> None:
        violations, held_role, was_assignee = before
        assert not violations, f"{user.email} completed {task.task_spec} although {violations[0]}"
        assert held_role or was_assignee, f"{user.email} completed {task.task_spec} without its role {task.role}"
        assert not (user.roles <= {"admin"}), "an admin completed a business task"

    @invariant()
    def no_task_completed_twice(self) -> None:
        if not self.instances:
            return
        per_task = self.session.execute(
            select(AuditEvent.task_id, func.count()).where(AuditEvent.action == "complete",
                                                           AuditEvent.instance_id.in_(self.instances))
            .group_by(AuditEvent.task_id)).all()
        assert all(n == 1 for _, n in per_task), per_task
        completed = self.session.scalar(select(func.count()).select_from(HumanTask).where(
            HumanTask.instance_id.in_(self.instances), HumanTask.state == "completed"))
        assert completed == len(per_task)

    @invariant()
    def task_rows_match_ready_tasks(self) -> None:
        for instance_id in self.instances:
            instance = self.session.get(ProcessInstance, instance_id)
            assert instance is not None
            rows = {t.spiff_task_id for t in self.session.scalars(select(HumanTask).where(
                HumanTask.instance_id == instance_id, HumanTask.state.in_(OPEN_STATES)))}
            workflow = runtime.restore(self.world.ctx, instance).workflow
            runtime._WORKFLOWS.put(instance.id, instance.state, workflow)
            ready = set(runtime.ready_human_tasks(workflow)) if instance.status == "running" else set()
            assert rows == ready, (instance.status, rows, ready)

    @invariant()
    def audit_chain_verifies(self) -> None:
        result = audit_trail.verify(self.session)
        assert result.ok, result.problem


@pytest.mark.parametrize("model", [m.param() for m in MODELS])
def test_engine_invariants_hold_under_random_use(model: FlowModel, session: Session, clock: Any,
                                                  request: pytest.FixtureRequest) -> None:
    ctx = model.context(session, clock, request)
    EngineMachine.world = World(ctx, model)
    run_state_machine_as_test(EngineMachine, settings=settings(
        max_examples=model.examples, stateful_step_count=model.steps, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]))
