"""Plain helpers for the engine tests: people by short name (``tests/people.py``: the same people on the
core and the demo database), the tiny diagrams, audit lookups and ``Flow``, which drives
``tests/data/tiny_approval.bpmn`` through the services.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.core import definitions, services, worker
from engine.core.clock import FixedClock
from engine.core.models import AuditEvent, HumanTask, ProcessInstance, RoleAssignment, User
from engine.core.runtime import Context
from engine.core.settings import EngineSettings

from ..people import DOMAIN, STAFF

DATA = Path(__file__).resolve().parent.parent / "data"
PEOPLE = {p.key: p.local for p in STAFF}


def email(key: str) -> str:
    return f"{PEOPLE[key]}@{DOMAIN}"


def deploy_tiny(session: Session, settings: EngineSettings, clock: FixedClock, *names: str) -> None:
    files = [definitions.SourceFile.read(DATA / f"{name}.bpmn") for name in names]
    definitions.deploy(session, files, settings, clock)


def at(ctx: Context, when: datetime) -> worker.PassReport:
    """One worker pass with the (fixed) clock set to ``when``; no pass may fail."""
    assert isinstance(ctx.clock, FixedClock)
    ctx.clock.set(when)
    report = worker.run_pass(ctx.session, ctx.clock, ctx.settings)
    assert report.failures == []
    return report


def user(session: Session, key: str) -> User:
    found = session.scalar(select(User).where(User.email == email(key)))
    assert found is not None, f"user {key} is missing"
    return found


def grant(session: Session, key: str, role: str) -> User:
    """Give a user an extra role (the test's own change, rolled back with it)."""
    who = user(session, key)
    who.role_rows.append(RoleAssignment(role=role))
    session.flush()
    return who


def events(session: Session, instance_id: int, action: str | None = None) -> list[AuditEvent]:
    stmt = select(AuditEvent).where(AuditEvent.instance_id == instance_id).order_by(AuditEvent.seq)
    if action is not None:
        stmt = stmt.where(AuditEvent.action == action)
    return list(session.scalars(stmt))


@dataclass
class Flow:
    """Drives ``tiny_approval``: start -> ut_submit (process_owner) -> ut_approve (approver) -> end_ok,
    or back to ut_submit on ``decision == "reject"``."""

    ctx: Context

    @property
    def session(self) -> Session:
        return self.ctx.session

    def user(self, key: str) -> User:
        return user(self.session, key)

    def start(self, key: str = "tomas", topic: str = "Buy GPUs") -> ProcessInstance:
        return services.start_process(self.ctx, self.user(key), "tiny_approval", {"topic": topic}).instance

    def open_task(self, instance: ProcessInstance, spec: str | None = None) -> HumanTask:
        tasks = [t for t in services.open_tasks(self.ctx, instance.id) if spec is None or t.task_spec == spec]
        assert len(tasks) == 1, f"expected one open task {spec or ''}, found {[t.task_spec for t in tasks]}"
        return tasks[0]

    def submit(self, instance: ProcessInstance, key: str = "tomas", amount: int = 100) -> HumanTask:
        """Complete ut_submit; returns the approval task that became ready."""
        task = self.open_task(instance, "ut_submit")
        services.complete_task(self.ctx, self.user(key), task.id, {"amount": amount})
        return self.open_task(instance, "ut_approve")

    def decide(self, instance: ProcessInstance, key: str = "fatima", decision: str = "approve",
               comment: str | None = None) -> services.Outcome:
        task = self.open_task(instance, "ut_approve")
        data: dict[str, Any] = {"decision": decision}
        if comment is not None:
            data["comment"] = comment
        return services.complete_task(self.ctx, self.user(key), task.id, data)
