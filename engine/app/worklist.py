"""The work a person sees: the inbox with its tabs, the team view, one task with everything its page
shows, drafts, evidence uploads, and submitting a task (with the approval rule: anything but a
positive decision needs a comment).

Every function checks visibility (``access``) first; a task the user may not see is NotFound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, aliased

from engine.aims import evidence_intake, risk_criteria, roles
from engine.app import access, queries, uploads
from engine.app.queries import TaskRow
from engine.app.subject import Subject, subjects, touched
from engine.app.summary import Item, summarize
from engine.app.uploads import file_values
from engine.core import assignment, decisions, definitions, directory, domain, forms, runtime, services
from engine.core.errors import ConflictError, FieldError, Forbidden, InvalidInput, NotFound, ValidationError
from engine.core.form_messages import title_at
from engine.core.models import OPEN_STATES, EvidenceFile, HumanTask, ProcessInstance, TaskDraft, TaskState, User
from engine.core.properties import read_properties
from engine.core.runtime import Context
from engine.core.words import choices

TABS = ("mine", "claimable", "overdue", "all")
#: the inbox search reads at most this many characters
SEARCH_CHARS = 200


# --------------------------------------------------------------------------- inbox

@dataclass
class InboxPage:
    rows: list[TaskRow]
    #: exact counts per tab, after the filters
    counts: dict[str, int]
    tab: str
    query: str
    process_id: str
    processes: list[str]
    #: 1-based page of the tab; ``pages`` of them hold its ``counts[tab]`` rows
    page: int = 1
    pages: int = 1
    per_page: int = queries.PAGE_SIZE
    #: process id -> the name people read, for the rows and the process filter
    process_names: dict[str, str] = field(default_factory=dict)


def inbox_page(session: Session, user: User, now: datetime, tab: str = "mine", query: str = "",
               process_id: str = "", page: int = 1, per_page: int = queries.PAGE_SIZE) -> InboxPage:
    """The inbox: ``mine`` (assigned to me), ``claimable`` (my roles may claim), ``overdue``, ``all``;
    overdue first, then by due date; filtered by process and a search over name, subject and ids.
    Counts per tab are exact and taken after the filter; ``rows`` are page ``page`` of the tab
    (``per_page`` rows, 1 to 500); the search reads its first ``SEARCH_CHARS`` characters.
    Raises InvalidInput for an unknown tab or a page out of range."""
    if tab not in TABS:
        raise InvalidInput(f"unknown tab {tab!r}; use one of {', '.join(TABS)}")
    if page < 1 or not 1 <= per_page <= 500:
        raise InvalidInput("the page must be 1 or more, with 1 to 500 rows per page")
    query = query[:SEARCH_CHARS]  # SQLite refuses a LIKE pattern past 50,000 bytes ("too complex")
    counts = queries.inbox_counts(session, user, now, process_id, query)
    by_tab = counts.tabs()
    offset = (page - 1) * per_page
    # a page past the last is empty without asking the database (an offset past its integers is an error there)
    rows = queries.inbox_rows(session, user, now, tab, counts, process_id=process_id, query=query,
                              offset=offset, limit=per_page) if offset < by_tab[tab] else []
    names = queries.process_names(session, set(counts.processes) | {r.process_id for r in rows})
    return InboxPage(rows, by_tab, tab, query, process_id, counts.processes, page,
                     max(1, -(-by_tab[tab] // per_page)), per_page, names)


@dataclass(frozen=True)
class TeamRow:
    task: TaskRow
    assignee_name: str | None
    claimed_at: datetime | None
    #: the name of the task's process
    process_name: str = ""


def team_rows(session: Session, user: User, now: datetime, overdue_only: bool = False,
              limit: int = 500) -> list[TeamRow]:
    """Open tasks of the manager's area: everything for admin, AIMS owner and top management; for an
    approver, the tasks their direct reports hold and the unclaimed tasks of their roles that the
    segregation-of-duties rules did not exclude them from. Overdue first.
    Raises Forbidden for other roles."""
    access.require_team_role(user)
    holder = aliased(User)
    stmt = (select(HumanTask, holder).outerjoin(holder, HumanTask.assignee_id == holder.id)
            .where(HumanTask.state.in_(OPEN_STATES)))
    if not user.roles & domain.current().manager_roles:
        stmt = stmt.where((holder.manager_id == user.id) | access.claimable_by(user))
    if overdue_only:
        stmt = stmt.where(HumanTask.due_at < now)
    stmt = stmt.order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.id).limit(limit)
    out = []
    for task, who in session.execute(stmt):
        row = TaskRow(task.id, task.name, task.task_spec, task.process_id, task.instance_id, task.subject, task.role,
                      task.state, who.email if who else None, task.due_at,
                      task.due_at is not None and task.due_at < now, task.form, task.note,
                      task.escalation_level, task.row_version, who.name if who else None)
        out.append(TeamRow(row, who.name if who else None, task.claimed_at))
    out.sort(key=lambda r: (not r.task.overdue, r.task.due_at is None, r.task.due_at or now, r.task.id))
    names = queries.process_names(session, {r.task.process_id for r in out})
    return [TeamRow(r.task, r.assignee_name, r.claimed_at, names.get(r.task.process_id, r.task.process_id))
            for r in out]


# --------------------------------------------------------------------------- one task

@dataclass(frozen=True)
class DecisionField:
    """How a form asks for a decision (an approval): the field, its options and the field for the comment
    that any decision but a positive one needs (``engine.core.decisions``)."""

    name: str
    options: list[tuple[str, str]]
    comment_field: str | None

    def needs_comment(self, decision: Any) -> bool:
        return decisions.needs_comment(decision)


def decision_field_of(schema: dict[str, Any] | None) -> DecisionField | None:
    """The decision field of a form: a ``decision`` property with fixed options (None without one)."""
    props = (schema or {}).get("properties") or {}
    decision = props.get(decisions.DECISION_FIELD)
    if not isinstance(decision, dict):
        return None
    options = choices(decision)
    if not options:
        return None
    return DecisionField(decisions.DECISION_FIELD, options, decisions.comment_field(props))


def reference_options(session: Session, kind: str) -> list[tuple[str, str]]:
    """The records a reference field of ``kind`` (``"x-ref"``) offers, as (reference, label); none for
    a kind the domain does not know."""
    reference = domain.current().references.get(kind)
    return reference.options(session) if reference is not None else []


def risk_criteria_in_force(session: Session) -> dict[str, Any]:
    """The organisation's risk criteria, the default ones without an organisation or before it set any.
    A form build reads them once and words every scale field from them with ``risk_criteria.scale_words``
    and ``risk_criteria.descriptions``."""
    org = roles.organisation(session)
    return (org.risk_criteria if org is not None else None) or risk_criteria.DEFAULT


@dataclass
class TaskDetail:
    task: HumanTask
    instance: ProcessInstance
    process_name: str
    schema: dict[str, Any] | None
    instructions: str | None
    #: the process data the task sees (what earlier steps collected)
    data: dict[str, Any]
    draft: dict[str, Any] | None
    assignee: User | None
    completed_by: User | None
    #: the form's decision field, for an approval (None for other tasks)
    decision: DecisionField | None
    may_claim: bool = False
    may_release: bool = False
    may_complete: bool = False
    may_reassign: bool = False
    #: why the user may not act, in words (role, holder, segregation of duties)
    blocked: str | None = None
    candidates: list[User] = field(default_factory=list)
    #: for approvals: the instance's audit trail, oldest first (what happened to the record so far)
    history: list[Any] = field(default_factory=list)
    #: ``data`` in people's words: the fields the process's forms name, labelled and formatted
    summary: list[Item] = field(default_factory=list)
    #: the records the instance touched, as record cards (what a finished step's page lists)
    records: list[Subject] = field(default_factory=list)
    #: for an open step: the records it is about, as record cards (``engine.app.subject``)
    subjects: list[Subject] = field(default_factory=list)
    #: the data the form's choices among items (``x-choices-from``) read their items from: the task's
    #: data; for a task already done, what its instance holds now (its answers keep only the index)
    choices_data: dict[str, Any] | None = None
    #: the data the instructions read: the task's; for a task already done, what its instance holds now
    #: with the task's answers (its submitted data alone lacks what the instructions name)
    instruction_data: dict[str, Any] = field(default_factory=dict)
    #: the other forms of the process (the page says a code one of them offers by its title)
    process_forms: list[dict[str, Any]] = field(default_factory=list)


def task_detail(ctx: Context, user: User, task_id: int, page: bool = True) -> TaskDetail:
    """Everything the task page shows. Raises NotFound when the user may not see the task.

    ``page=False`` leaves out what only the page shows (the summary, the records and their cards,
    the history, the people it may go to): the API's task and the checks before an action."""
    session = ctx.session
    task, instance = access.visible_task_and_instance(session, user, task_id)
    version = instance.process_version
    schema = definitions.form_schema(version, task.form)
    data: dict[str, Any] = {}
    instructions = None
    blocked = None
    spec = None
    if task.state in OPEN_STATES:
        try:
            spiff = runtime.spiff_task(runtime.restore(ctx, instance).workflow, task)
            data, spec = dict(spiff.data), spiff.task_spec
        except NotFound:
            pass
    else:
        data = dict(task.submitted or {})
    if spec is None:
        spec = _spec_of(session, version, task.task_spec)
    if spec is not None:
        instructions = read_properties(getattr(spec, "extensions", None)).instructions
    draft = session.scalar(select(TaskDraft.data).where(TaskDraft.task_id == task.id, TaskDraft.user_id == user.id))
    detail = TaskDetail(task, instance, version.name, schema, instructions, data, draft,
                        session.get(User, task.assignee_id) if task.assignee_id else None,
                        session.get(User, task.completed_by_id) if task.completed_by_id else None,
                        decision_field_of(schema))
    if task.state in OPEN_STATES:
        detail.may_reassign = assignment.may_reassign(session, user, task)
        if detail.may_reassign and page:
            detail.candidates = [u for u in directory.users_with_role(session, task.role) if u.id != task.assignee_id]
        blocked = _why_blocked(ctx, user, task, data)
        # the one claim rule (the engine's): a task assigned to you is yours; an unassigned task of your
        # role's queue may be claimed (to take it off the others' lists) or simply completed, which takes it
        detail.may_claim = task.state == TaskState.READY and blocked is None and task.assignee_id is None
        detail.may_complete = blocked is None and task.assignee_id in (None, user.id)
        detail.may_release = task.state == TaskState.CLAIMED and (task.assignee_id == user.id or detail.may_reassign)
    detail.blocked = blocked
    detail.choices_data = data
    if not page:
        return detail
    detail.instruction_data = data
    if task.state not in OPEN_STATES:
        try:
            detail.instruction_data = {**services.instance_data(ctx, instance.id), **data}
        except NotFound:
            pass
        if forms.has_choices(schema):
            detail.choices_data = detail.instruction_data
    detail.process_forms = [f for name, f in sorted(definitions.forms_of(version).items()) if name != task.form]
    steps = list(session.execute(select(HumanTask.task_spec, HumanTask.name, HumanTask.form)
                                 .where(HumanTask.instance_id == task.instance_id).order_by(HumanTask.id)))
    detail.summary = summarize(session, version, data, [s.form for s in steps if s.form], detail.choices_data)
    if task.state in OPEN_STATES:  # the page shows what the open step is about, or a done step's records
        detail.subjects = subjects(session, task.instance_id, instance.subject, data)
    else:
        detail.records = touched(session, task.instance_id)
    if detail.decision is not None:
        from engine.app.history import described, timeline

        detail.history = described(session, timeline(session, task.instance_id),
                                   {s.task_spec: s.name for s in steps}, instance.subject)
    return detail


def _why_blocked(ctx: Context, user: User, task: HumanTask, data: dict[str, Any]) -> str | None:
    session = ctx.session
    if task.assignee_id is not None and task.assignee_id != user.id:
        holder = session.get(User, task.assignee_id)
        return f"{(holder.name or holder.email) if holder else 'Someone else'} holds this task."
    if not assignment.holds_lane(user, task):
        return f"This task is for the role {roles.ROLES.get(task.role, task.role)}, which you do not hold."
    if user.id in (task.excluded_ids or []):
        pass  # the rules below say why in words
    done = assignment.history(session, task.instance_id) if assignment.rules_of(task) else []
    violations = assignment.sod_violations(session, user, task, data, done)
    if violations:
        return "Segregation of duties: " + "; ".join(f"{v.message} ({v.rule})" for v in violations) + "."
    return None


def _spec_of(session: Session, version: Any, bpmn_id: str) -> Any:
    try:
        spec, subs = definitions.specs_for(session, version)
    except Exception:  # a version whose dependencies are gone still shows its tasks
        return None
    for process in [spec, *subs.values()]:
        if process is None:
            continue
        for ts in process.task_specs.values():
            if getattr(ts, "bpmn_id", None) == bpmn_id:
                return ts
    return None


# --------------------------------------------------------------------------- drafts, evidence, submit

def save_draft(ctx: Context, user: User, task_id: int, data: dict[str, Any]) -> TaskDraft:
    """Keep what ``user`` typed for an open task (not validated) until they come back."""
    task = access.visible_task(ctx.session, user, task_id)
    if task.state not in OPEN_STATES:
        raise ConflictError(f"task {task.id} '{task.name}' is {task.state}; there is nothing to save")
    if not isinstance(data, dict):
        raise InvalidInput("a draft must be a JSON object")
    draft = ctx.session.scalar(select(TaskDraft).where(TaskDraft.task_id == task.id, TaskDraft.user_id == user.id))
    if draft is None:
        draft = TaskDraft(task_id=task.id, user_id=user.id, data=data, saved_at=ctx.clock.now())
        ctx.session.add(draft)
    else:
        draft.data, draft.saved_at = data, ctx.clock.now()
    ctx.session.flush()
    return draft


def store_evidence(ctx: Context, user: User, task_id: int, field_name: str, filename: str, content_type: str,
                   content: bytes) -> EvidenceFile:
    """Store an uploaded file for an open task the user may complete: written once per content under
    ``<evidence_dir>/<instance>/<sha256>``, recorded with its sha256, size, type and uploader.
    Raises Forbidden (not the holder), InvalidInput (a kind not kept, empty, too large: ``uploads.refusal``)."""
    task = access.visible_task(ctx.session, user, task_id)
    if task.state not in OPEN_STATES or task.assignee_id != user.id:
        raise Forbidden(f"claim task {task.id} before attaching files to it")
    uploads.check(ctx.settings, filename, content)
    uploads.write(ctx.settings, task.instance_id, content)
    return uploads.record(ctx, user, task.instance_id, task.id, field_name,
                          uploads.Incoming((), filename, content_type, content))


def evidence_ref(row: EvidenceFile) -> dict[str, Any]:
    """How a file field's value looks in form data and process data."""
    return uploads.ref(row)


def evidence_file(ctx: Context, user: User, evidence_id: int) -> tuple[EvidenceFile, Path]:
    """An evidence row and its file, if the user may see its instance. Raises NotFound."""
    row = ctx.session.get(EvidenceFile, evidence_id)
    if row is None or row.instance_id is None:
        raise NotFound(f"no evidence {evidence_id}")
    access.visible_instance(ctx.session, user, row.instance_id)
    path = Path(ctx.settings.evidence_dir) / str(row.instance_id) / row.sha256
    if not path.is_file():
        raise NotFound(f"the file of evidence {evidence_id} is missing from the evidence store")
    return row, path


def _evidence_errors(session: Session, task: HumanTask, schema: dict[str, Any] | None,
                     data: dict[str, Any]) -> list[FieldError]:
    """File fields must point at evidence uploaded to this task's instance."""
    errors = []
    for path, value in file_values(schema, data, ()):
        eid = value.get("evidence_id") if isinstance(value, dict) else None
        row = session.get(EvidenceFile, eid) if isinstance(eid, int) else None
        if row is None or row.instance_id != task.instance_id:
            title = title_at(schema or {}, list(path))
            errors.append(FieldError("/".join(map(str, path)), f"{title}: this file was not uploaded to this task; "
                                                               "upload it again"))
    return errors


@dataclass(frozen=True)
class NextStep:
    """An open task of an instance: its name, its holder's name (None while it waits to be claimed) and
    the name of its role."""

    task_id: int
    name: str
    holder: str | None
    role: str


@dataclass(frozen=True)
class WhatNext:
    """Where an instance stands after a step: its open tasks, or that it finished."""

    status: str
    steps: list[NextStep]

    def sentence(self, user: User | None = None) -> str:
        """What happens next and who holds it, in words (``user`` reads "you" for their own tasks)."""
        if self.status == "completed":
            return "The process has finished."
        if self.status != "running":
            return f"The process is {self.status}."
        if not self.steps:
            return "Nobody holds the next step yet: the process waits for a date or another process."
        parts = []
        for step in self.steps:
            if step.holder is None:
                parts.append(f"“{step.name}”, for anyone with the role {step.role} to claim")
            elif user is not None and step.holder == user.name:
                parts.append(f"“{step.name}”, which is yours")
            else:
                parts.append(f"“{step.name}”, held by {step.holder}")
        return "Next: " + "; ".join(parts) + "."


def what_next(session: Session, instance_id: int) -> WhatNext:
    """The open tasks of an instance with their holders and roles in words, and its status."""
    holder = aliased(User)
    rows = session.execute(select(HumanTask.id, HumanTask.name, HumanTask.role, holder.name)
                           .outerjoin(holder, HumanTask.assignee_id == holder.id)
                           .where(HumanTask.instance_id == instance_id, HumanTask.state.in_(OPEN_STATES))
                           .order_by(HumanTask.id))
    steps = [NextStep(i, name, who, roles.ROLES.get(role, role)) for i, name, role, who in rows]
    status = session.scalar(select(ProcessInstance.status).where(ProcessInstance.id == instance_id))
    return WhatNext(str(status or "running"), steps)


def submit(ctx: Context, user: User, task_id: int, data: dict[str, Any], *,
           expected_version: int | None = None) -> services.Outcome:
    """Complete a task the user can see: the approval rule and file fields are checked, then
    ``services.complete_task`` (which checks state, role, SoD and the form, and that the task is as the
    user saw it at ``expected_version``). The user's draft goes; files given as proof become evidence
    items (``evidence_intake``).
    Raises NotFound, ConflictError ("already completed by X"), Forbidden, SodViolation, ValidationError."""
    session = ctx.session
    task, instance = access.visible_task_and_instance(session, user, task_id)
    schema = definitions.form_schema(instance.process_version, task.form)
    errors = _evidence_errors(session, task, schema, data) if isinstance(data, dict) else []
    decision = decision_field_of(schema)
    if decision is not None and isinstance(data, dict) and decision.needs_comment(data.get(decision.name)):
        comment = data.get(decision.comment_field) if decision.comment_field else None
        if decision.comment_field and not (isinstance(comment, str) and comment.strip()):
            title = title_at(schema or {}, [decision.comment_field])
            errors.append(FieldError(decision.comment_field, f"{title}: write a comment (every decision but "
                                                             "approve needs one)"))
    if errors and task.state in OPEN_STATES:
        raise ValidationError(f"{task.form or task.task_spec}: the submission does not fit the form", errors)
    outcome = services.complete_task(ctx, user, task.id, data, expected_version=expected_version)
    session.execute(delete(TaskDraft).where(TaskDraft.task_id == task.id))
    if isinstance(data, dict):  # the files the step produced as proof: evidence items, to be reviewed
        evidence_intake.register_uploads(session, ctx.clock, user, instance, task, schema, data)
    return outcome

