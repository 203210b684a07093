"""``CapaFlow`` drives ``processes/aims_nc_capa.bpmn`` (and the ``aims_action`` instances it starts)
through the services with valid form data, so tests can walk any path and then look at the registers.

People (demo organisation): tomas reports, priya (AIMS owner) triages, ravi owns the NC, ingrid approves
the plan, lucas and elena own actions, daniel (internal auditor) verifies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from engine.aims.registers import CorrectiveAction, Nonconformity
from engine.core import services
from engine.core.clock import FixedClock
from engine.core.models import HumanTask, ProcessInstance
from engine.core.runtime import Context, clear_caches

from .helpers import email, user

PROCESS = "aims_nc_capa"


def report(**extra: Any) -> dict[str, Any]:
    return {"title": "Bias report skipped for two months", "description": "The monthly subgroup report of "
            "TalentSift was not produced in April and May.", "requirement_ref": "9.1",
            "detected_at": "2026-11-01", "suggested_severity": "minor"} | extra


def triage(kind: str = "yes", severity: str = "minor", owner: str = "ravi", approver: str = "ingrid",
           comms: bool = False, system_action: str = "none", **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"is_nonconformity": kind, "rationale": "a required monitoring step did not happen"}
    if kind == "yes":
        data |= {"severity": severity, "nc_owner_id": email(owner), "plan_approver_id": email(approver),
                 "incident_communication_required": comms, "ai_system_action": system_action}
    return data | extra


CONTAIN = {"containment_actions": "Reports for April and May produced by hand", "correction": "Reports reviewed",
           "consequences_handled": "No shortlisting decision depended on them", "correction_completed_at": "2026-11-03"}
COMMS = {"audiences": ["regulator", "affected_users"], "message": "We told the regulator on time",
         "sent_at": "2026-11-03", "regulatory_deadline": "met", "follow_up_needed": False}
RCA = {"rca_method": "five_whys", "analysis": "The report is built by hand by one analyst who was on leave; nobody "
       "else knew how to run it and there was no reminder or schedule behind it.",
       "root_causes": [{"cause": "Single analyst, no backup", "category": "people"},
                       {"cause": "No scheduled job or alert", "category": "technology"}],
       "similar_ncs_exist": False, "similar_ncs_could_occur": False}


def plan(owners: tuple[str, ...] = ("lucas", "elena"), due: str = "2026-12-01", changes: list[str] | None = None
         ) -> dict[str, Any]:
    return {"ca_required": "yes", "aims_change_required": changes or ["none"],
            "actions": [{"description": f"Action {i} for cause {i % 2}", "addresses_root_cause": i % 2,
                         "owner_id": email(owner), "due_date": due} for i, owner in enumerate(owners)],
            "effectiveness_criteria": "Two monthly reports in a row issued within 5 days of month end",
            "effectiveness_check_after": "P30D"}


NO_CA = {"ca_required": "no_correction_sufficient", "aims_change_required": ["none"],
         "no_ca_justification": "A one-off lapse; the correction removed it"}


def done(status: str = "done", on: str = "2026-11-02") -> dict[str, Any]:
    if status == "cannot_complete":
        return {"status": status, "completion_note": "not started", "blocker": "no budget for the scheduler"}
    return {"status": "done", "completion_note": "pipeline live", "completed_at": on,
            "evidence": ["EVD-201 scheduler config"]}


def verify(result: str = "effective") -> dict[str, Any]:
    return {"result": result, "evidence_reviewed": ["EVD-202 December report"],
            "criteria_assessment": "both reports on time" if result == "effective" else "January report late again",
            "recurrence_observed": result != "effective", "lessons_learned": "automate manual reports"}


@dataclass
class CapaFlow:
    ctx: Context
    clock: FixedClock
    instance: ProcessInstance | None = None

    @property
    def session(self):  # type: ignore[no-untyped-def]
        return self.ctx.session

    def start(self, by: str = "tomas", **extra: Any) -> ProcessInstance:
        self.instance = services.start_process(self.ctx, user(self.session, by), PROCESS, report(**extra)).instance
        return self.instance

    def nc(self) -> Nonconformity:
        assert self.instance is not None
        row = self.session.scalar(select(Nonconformity).where(Nonconformity.instance_id == self.instance.id))
        assert row is not None
        return row

    def actions(self) -> list[CorrectiveAction]:
        return list(self.nc().actions)

    def tasks(self, instance: ProcessInstance | None = None) -> list[HumanTask]:
        target = instance or self.instance
        assert target is not None
        return services.open_tasks(self.ctx, target.id)

    def specs(self) -> list[str]:
        return [t.task_spec for t in self.tasks()]

    def task(self, spec: str, instance: ProcessInstance | None = None) -> HumanTask:
        found = [t for t in self.tasks(instance) if t.task_spec == spec]
        assert len(found) == 1, f"expected one open {spec}, found {[t.task_spec for t in self.tasks(instance)]}"
        return found[0]

    def complete(self, spec: str, who: str, data: dict[str, Any],
                 instance: ProcessInstance | None = None) -> services.Outcome:
        return services.complete_task(self.ctx, user(self.session, who), self.task(spec, instance).id, data)

    # ---- steps

    def triage(self, **kw: Any) -> services.Outcome:
        return self.complete("ut_triage_nc", "priya", triage(**kw))

    def contain(self, who: str = "ravi") -> services.Outcome:
        return self.complete("ut_contain_correct", who, CONTAIN)

    def root_cause(self, who: str = "ravi") -> services.Outcome:
        return self.complete("ut_root_cause", who, RCA)

    def plan(self, data: dict[str, Any] | None = None, who: str = "ravi") -> services.Outcome:
        return self.complete("ut_plan_ca", who, data or plan())

    def approve(self, decision: str = "approve", who: str = "ingrid") -> services.Outcome:
        data = {"decision": decision} | ({"comment": "actions do not address the people cause"}
                                         if decision == "reject" else {})
        return self.complete("ut_approve_ca_plan", who, data)

    def action_instances(self) -> list[ProcessInstance]:
        assert self.instance is not None
        return list(self.session.scalars(select(ProcessInstance).where(
            ProcessInstance.parent_instance_id == self.instance.id, ProcessInstance.process_id == "aims_action",
            ProcessInstance.status == "running").order_by(ProcessInstance.id)))

    def act(self, statuses: tuple[str, ...] = ("done", "done")) -> None:
        """Every running action instance reports, in order, with the given statuses (done today)."""
        instances = self.action_instances()
        assert len(instances) == len(statuses), f"{len(instances)} actions running"
        for instance, status in zip(instances, statuses, strict=True):
            row = self.task("ut_complete_action", instance)
            owner = self.session.get(type(user(self.session, "lucas")), row.assignee_id)
            services.complete_task(self.ctx, owner, row.id, done(status, self.clock.now().date().isoformat()))

    def reach_check_date(self) -> services.Outcome:
        """Move the clock past the effectiveness check date and let the timer fire."""
        check = self.nc().effectiveness_check_at
        assert check is not None
        self.clock.set(f"{(check + timedelta(days=1)).isoformat()}T09:00:00+00:00")
        assert self.instance is not None
        clear_caches()  # the timer fires on a workflow restored from the database
        return services.wake_instance(self.ctx, self.instance.id)

    def verify(self, result: str = "effective", who: str = "daniel") -> services.Outcome:
        return self.complete("ut_verify_effectiveness", who, verify(result))

    def to_plan(self, **triage_kw: Any) -> None:
        """Start, triage, contain and analyse: the plan task is open."""
        self.start()
        self.triage(**triage_kw)
        self.contain()
        self.root_cause()
