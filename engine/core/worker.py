"""One worker pass: what makes deadlines act. ``aimsflow worker`` runs passes in a loop;
``aimsflow worker --once [--now T]`` runs one at a given time.

A pass, at ``clock.now()``:

1. **schedules**: processes with a timer start event whose next firing is due start a new instance;
2. **domain phases**: what the installed domain adds (``Domain.worker_phases``; e.g. register dates
   that came due start their reviews);
3. **timers**: instances whose ``wake_at`` is due get their timers refreshed and run on
   (``services.wake_instance``: boundary timers interrupt or branch off, intermediate timers move on);
   **messages**: instances get the messages and signals that came while they were busy
   (``messaging.deliver_pending``);
4. **ladders**: open tasks whose ``next_action_at`` is due get their reminders, overdue notices and
   escalations (``escalation.sweep``);
5. **digests**: users on the daily digest get one e-mail a day (``notifications.queue_digests``);
6. **outbox**: waiting e-mails are delivered with ``send`` (``outbox.deliver``); skipped when there is
   no sender (mail not configured): the messages wait;
7. **sessions**: housekeeping: expired login sessions are deleted (``sessions.purge_expired``), and failed
   logins older than the login throttle's window (``settings.login_window``,
   ``sessions.purge_login_failures``).

The worker is an edge like the CLI: it commits, one transaction per unit (a schedule firing, an
instance, a batch of tasks, a message), so one failing instance never holds up the others. Rows are
claimed with ``SELECT ... FOR UPDATE SKIP LOCKED``: on PostgreSQL several workers share the work and
nothing fires or is sent twice; on SQLite transactions are serialised (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.core import (
    audit_trail,
    domain,
    escalation,
    messaging,
    notifications,
    outbox,
    services,
    sessions,
    timers,
)
from engine.core.clock import Clock, isoformat
from engine.core.errors import ConflictError, EngineError
from engine.core.models import InstanceState, ProcessInstance, ProcessSchedule
from engine.core.runtime import Context
from engine.core.settings import EngineSettings
from engine.core.uow import transaction

log = logging.getLogger("aimsflow.worker")


@dataclass
class PassReport:
    at: datetime
    schedules_started: int = 0
    #: what each of the domain's worker phases reported, by phase name
    phases: dict[str, domain.PhaseResult] = field(default_factory=dict)
    instances_woken: int = 0
    timers_fired: int = 0
    #: instances handed messages or signals that came while they were busy
    messages_delivered: int = 0
    failures: list[str] = field(default_factory=list)
    ladder: escalation.SweepReport = field(default_factory=escalation.SweepReport)
    digests: int = 0
    delivery: outbox.DeliveryReport | None = None
    mail_waiting: int = 0
    sessions_purged: int = 0
    login_failures_purged: int = 0
    seconds: float = 0.0
    #: seconds per phase: schedules, the domain's phases, timers, messages, ladders, digests, outbox, sessions
    timings: dict[str, float] = field(default_factory=dict)

    def __getattr__(self, name: str) -> domain.PhaseResult:
        """A domain phase's result by the phase's name (``report.due``); a pass that did not run the phase
        reports it empty."""
        for extra in domain.current().worker_phases:
            if extra.name == name:
                return self.__dict__.get("phases", {}).get(name) or extra.empty()
        raise AttributeError(name)

    def summary(self) -> str:
        mail = (f"mail sent {self.delivery.sent}, failed {self.delivery.failed}"
                if self.delivery is not None else "mail delivery off")
        extra = "".join(f"{result.summary()}, " for result in self.phases.values())
        return (f"worker pass at {isoformat(self.at)}: {self.schedules_started} scheduled start(s), {extra}"
                f"{self.instances_woken} instance(s) woken ({self.timers_fired} timer(s) fired), "
                f"{self.ladder.reminders} reminder(s), {self.ladder.overdue_notices} overdue notice(s), "
                f"{self.ladder.escalations} escalation(s), {self.digests} digest(s), {mail}, "
                f"{self.mail_waiting} waiting, {self.sessions_purged} expired session(s) purged, "
                f"{self.login_failures_purged} old failed login(s) purged; "
                f"{len(self.failures)} failure(s); {self.seconds * 1000:.0f} ms")


def run_pass(session: Session, clock: Clock, settings: EngineSettings, send: outbox.Send | None = None,
             *, batch: int = 200) -> PassReport:
    """One pass at ``clock.now()`` (the clock may be fixed: ``--now``). Commits as it goes."""
    started = time.perf_counter()
    report = PassReport(clock.now())
    ctx = Context(session, clock, settings)

    def phase(name: str, since: float) -> float:
        now = time.perf_counter()
        report.timings[name] = now - since
        return now

    mark = started
    _fire_schedules(ctx, report)
    mark = phase("schedules", mark)
    for extra in domain.current().worker_phases:
        result = report.phases[extra.name] = extra.run(ctx)
        report.failures.extend(result.failures)
        mark = phase(extra.name, mark)
    _wake_instances(ctx, report)
    mark = phase("timers", mark)
    report.messages_delivered, failures = messaging.deliver_pending(session, clock, settings)
    report.failures.extend(failures)
    mark = phase("messages", mark)
    _sweep_ladders(ctx, report, batch)
    mark = phase("ladders", mark)
    with transaction(session, clock):
        report.digests = notifications.queue_digests(session, clock, settings)
    mark = phase("digests", mark)
    if send is not None:
        report.delivery = outbox.deliver(session, clock, settings, send)
        report.mail_waiting = report.delivery.waiting
    else:
        report.mail_waiting = outbox.pending_count(session)
        session.rollback()
    mark = phase("outbox", mark)
    with transaction(session, clock):
        report.sessions_purged = sessions.purge_expired(session, clock.now())
        report.login_failures_purged = sessions.purge_login_failures(session, clock.now() - settings.login_window)
    phase("sessions", mark)
    report.seconds = time.perf_counter() - started
    return report


def _fire_schedules(ctx: Context, report: PassReport) -> None:
    session, clock = ctx.session, ctx.clock
    now = clock.now()
    done: set[int] = set()
    while True:
        with transaction(session, clock):
            stmt = select(ProcessSchedule).where(ProcessSchedule.active.is_(True), ProcessSchedule.next_at <= now)
            if done:
                stmt = stmt.where(ProcessSchedule.id.not_in(done))
            schedule = session.scalar(stmt.order_by(ProcessSchedule.next_at, ProcessSchedule.id).limit(1)
                                      .with_for_update(skip_locked=True))
            if schedule is None:
                return
            done.add(schedule.id)
            due_at = schedule.next_at
            instance_id: int | None = None
            error: str | None = None
            try:
                with session.begin_nested():
                    outcome = services.start_process(ctx, None, schedule.process_id, {})
                    instance_id = outcome.instance.id
            except EngineError as exc:
                error = exc.message
            skipped = timers.advance(schedule, now)
            schedule.last_fired_at = now
            schedule.updated_at = now
            if instance_id is not None:
                schedule.last_instance_id = instance_id
                report.schedules_started += 1
            else:
                report.failures.append(f"scheduled start of {schedule.process_id}: {error}")
            audit_trail.append(session, clock, "scheduled_start" if error is None else "scheduled_start_failed",
                               actor=None, instance_id=instance_id, subject=schedule.process_id,
                               data={"process_id": schedule.process_id, "due_at": isoformat(due_at) if due_at else None,
                                     "skipped": skipped, "error": error,
                                     "next_at": isoformat(schedule.next_at) if schedule.next_at else None})


def _wake_instances(ctx: Context, report: PassReport) -> None:
    session, clock = ctx.session, ctx.clock
    now = clock.now()
    after = 0
    while True:
        failure: EngineError | None = None
        outcome: services.Outcome | None = None
        with transaction(session, clock):
            instance_id = session.scalar(
                select(ProcessInstance.id).where(ProcessInstance.status == InstanceState.RUNNING,
                                                 ProcessInstance.wake_at <= now, ProcessInstance.id > after)
                .order_by(ProcessInstance.id).limit(1).with_for_update(skip_locked=True, key_share=True))
            if instance_id is None:
                return
            after = instance_id
            try:
                with session.begin_nested():
                    outcome = services.wake_instance(ctx, instance_id)
            except ConflictError:  # a user changed the instance meanwhile: the next pass tries again
                continue
            except EngineError as exc:
                failure = exc
            if failure is None:
                report.instances_woken += 1
                report.timers_fired += len(outcome.timers_fired) if outcome is not None else 0
            else:
                # keep the instance as it was; try again later instead of at every pass
                retry = now + timers.retry_delay()
                session.execute(update(ProcessInstance).where(ProcessInstance.id == instance_id)
                                .values(wake_at=retry).execution_options(synchronize_session=False))
                audit_trail.append(session, clock, "timer_failed", actor=None, instance_id=instance_id,
                                   data={"error": failure.message, "retry_at": isoformat(retry)})
                report.failures.append(f"instance {instance_id}: {failure.message}")
                log.warning("timer of instance %s failed: %s", instance_id, failure.diagnosis())


def _sweep_ladders(ctx: Context, report: PassReport, batch: int) -> None:
    session, clock = ctx.session, ctx.clock
    seen: set[int] = set()
    while True:
        with transaction(session, clock):
            result = escalation.sweep(session, clock, ctx.settings, limit=batch)
        report.ladder.add(result)
        repeated = seen.intersection(result.task_ids)
        seen.update(result.task_ids)
        if result.tasks < batch or repeated:
            return

