"""What the instance page shows: the diagram's completed, active and overdue elements, the timeline
from the audit trail in words (people by name, steps by their names), the data in people's words
(``summary``) and raw for admins, the tasks, and the register rows the instance touched.
The registers themselves are ``register_edit``'s."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lxml import etree
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.aims import roles
from engine.app import access, subject
from engine.app.event_words import phrase, shown
from engine.app.subject import Subject
from engine.app.summary import Item, summarize
from engine.core import definitions, runtime, services
from engine.core.bpmn_source import BPMN_NS
from engine.core.models import OPEN_STATES, AuditEvent, HumanTask, ProcessInstance, ProcessVersion, User
from engine.core.runtime import Context
from engine.core.words import humanize


@dataclass
class InstanceView:
    instance: ProcessInstance
    version: ProcessVersion
    completed: list[str] = field(default_factory=list)
    active: list[str] = field(default_factory=list)
    overdue: list[str] = field(default_factory=list)
    timeline: list[AuditEvent] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    tasks: list[HumanTask] = field(default_factory=list)
    #: the records the instance last touched, as the approval pages' cards
    records: list[Subject] = field(default_factory=list)
    started_by: User | None = None
    #: the users the tasks name (holders and completers), by id
    people: dict[int, User] = field(default_factory=dict)
    #: the worker's last failed attempt to run the instance on (a timer whose path failed, e.g. a script
    #: past its budget), unless a timer fired since; its data holds ``error`` and ``retry_at``
    failure: AuditEvent | None = None
    #: the timeline in words, oldest first
    moments: list[Moment] = field(default_factory=list)
    #: ``data`` in people's words (the fields the process's forms name)
    summary: list[Item] = field(default_factory=list)


@dataclass(frozen=True)
class Moment:
    """One audit event as people read it: ``who`` (a name, or "aimsflow" for the engine) ``what``
    ("completed Approve the plan", "triaged the nonconformity as major": ``event_words``), and ``note``: what a
    person wrote beside it (comment, reason, rationale) or why it failed, if any."""

    at: datetime
    who: str
    what: str
    note: str | None
    event: AuditEvent


def instance_view(ctx: Context, user: User, instance_id: int) -> InstanceView:
    """The instance page. Raises NotFound when the user may not see the instance."""
    session = ctx.session
    instance = access.visible_instance(session, user, instance_id)
    view = InstanceView(instance, instance.process_version)
    workflow = runtime.restore(ctx, instance).workflow
    # what pruning dropped from a long-lived instance's task tree was completed too
    completed, active = set(getattr(workflow, "pruned_elements", ())), set()
    for task in workflow.get_tasks():
        bpmn_id = getattr(task.task_spec, "bpmn_id", None)
        if not bpmn_id:
            continue
        if task.state == TaskState.COMPLETED:
            completed.add(bpmn_id)
        elif task.state in (TaskState.READY, TaskState.WAITING, TaskState.STARTED):
            active.add(bpmn_id)
    now = ctx.clock.now()
    view.tasks = list(session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id)
                                      .order_by(HumanTask.id)))
    view.overdue = sorted({t.task_spec for t in view.tasks
                           if t.state in OPEN_STATES and t.due_at is not None and t.due_at < now})
    view.active = sorted(active - set(view.overdue))
    view.completed = sorted(completed - active)
    view.timeline = timeline(session, instance.id)
    names = {t.task_spec: t.name for t in view.tasks}
    for task in workflow.get_tasks():
        bpmn_id, name = getattr(task.task_spec, "bpmn_id", None), getattr(task.task_spec, "bpmn_name", None)
        if bpmn_id and name:
            names.setdefault(bpmn_id, name)
    view.moments = described(session, view.timeline, names, instance.subject)
    view.failure = last_failure(view.timeline)
    view.data = services.instance_data(ctx, instance.id)
    view.summary = summarize(session, view.version, view.data, [t.form for t in view.tasks if t.form])
    view.records = subject.touched(session, instance.id)
    view.started_by = session.get(User, instance.started_by_id) if instance.started_by_id else None
    ids = {i for t in view.tasks for i in (t.assignee_id, t.completed_by_id) if i is not None}
    if ids:
        view.people = {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids)))}
    return view


def timeline(session: Session, instance_id: int) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.instance_id == instance_id)
                                .order_by(AuditEvent.seq)))


def described(session: Session, events: list[AuditEvent], names: dict[str, str],
              own_subject: str | None = None) -> list[Moment]:
    """``events`` in words (``event_words``): actors and the people the data names by name (e-mails looked
    up once), steps by ``names`` (BPMN id -> name). A record the page is about already (``own_subject``,
    e.g. the instance's subject) is not named again in each sentence."""
    emails = {e.actor for e in events if e.actor} | {e.subject for e in events if e.subject and "@" in e.subject}
    for e in events:
        for value in (e.data.values() if isinstance(e.data, dict) else ()):
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str) and "@" in item:
                    emails.update(_EMAIL.findall(item))
    people: dict[str, str] = ({e: n for e, n in session.execute(select(User.email, User.name)
                                                                  .where(User.email.in_(emails))) if n}
                              if emails else {})
    out = []
    for e in events:
        data = e.data if isinstance(e.data, dict) else {}
        values = {k: shown(v, people) for k, v in data.items()}
        spec = data.get("task_spec")
        values["step"] = (names.get(spec) or humanize(str(spec))) if spec else ""
        raw = data.get("fired")
        fired = [str(t) for t in raw] if isinstance(raw, list) else []
        # timers by their names in the diagram ("Stage 1 minus 30 days"), when every one has a name
        values["fired"] = ", ".join(f"“{names[t]}”" for t in fired) if all(t in names for t in fired) else ""
        # a reference as it is written (AIS-001, aims_policy_review v2); an account by its person's name
        values["subject"] = people.get(e.subject, e.subject) if e.subject and e.subject != own_subject else ""
        who = (people.get(e.actor) or e.actor) if e.actor else "aimsflow"
        if values.get("by") == who:  # "recorded the acceptance of the risk" by the one who accepted it
            values["by"] = ""
        what = phrase(e.action, data, values)
        notes = [data[k] for k in NOTES if data.get(k) and isinstance(data[k], str)]
        if isinstance(data.get("reasons"), list):
            notes += [str(r) for r in data["reasons"]]
        said = [_EMAIL.sub(lambda m: people.get(m.group(0), m.group(0)), shown(n, people)) for n in notes]
        out.append(Moment(e.at, who, what, ": ".join(said) or None, e))
    return out


#: an e-mail address inside a text (a note naming a person)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


#: data fields that carry what a person wrote or why something failed: shown beside the sentence
NOTES = ("comment", "reason", "rationale", "question", "dissent", "blocker", "error")


def last_failure(events: list[AuditEvent]) -> AuditEvent | None:
    """The latest ``timer_failed`` event of a timeline, unless a timer fired after it."""
    for event in reversed(events):
        if event.action == "timer":
            return None
        if event.action == "timer_failed":
            return event
    return None


def instances(session: Session, user: User, limit: int = 200, process_id: str | None = None) -> list[ProcessInstance]:
    """The instances ``user`` may see, newest first."""
    stmt = select(ProcessInstance).where(access.visible_instances_condition(user))
    if process_id:
        stmt = stmt.where(ProcessInstance.process_id == process_id)
    return list(session.scalars(stmt.order_by(ProcessInstance.id.desc()).limit(limit)))


#: what the lane that holds only the engine's own steps (scripts, timers, messages) is called for people
SYSTEM_LANE = "aimsflow (automatic steps)"


def diagram_in_words(xml: str) -> str:
    """The process's BPMN as the instance page draws it: lanes named by role code (``aims_owner``, as the
    engine reads them) are labelled with the role's words ("AIMS owner"); nothing else changes."""
    root = definitions.parse_text("diagram.bpmn", xml)
    changed = False
    for lane in root.iter(f"{{{BPMN_NS}}}lane"):
        code = (lane.get("name") or "").strip()
        words = SYSTEM_LANE if code == "system" else roles.ROLES.get(code)
        if words:
            lane.set("name", words)
            changed = True
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode() if changed else xml
