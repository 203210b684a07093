"""The /api/v1 endpoints: thin wrappers over one engine call each."""

from __future__ import annotations

import json
import re
from typing import Any

import marshmallow as ma
from flask import request
from flask_smorest import abort

from engine.app import (
    TaskRow,
    access,
    history,
    objective_results,
    process_admin,
    register_edit,
    scope,
    uploads,
    worklist,
)
from engine.core import OPEN_STATES, DefinitionError, HumanTask, ProcessInstance, definitions, forms, services

from ..common import context, now, seen_version, unit
from ..extensions import db
from . import schemas as s
from .base import api_user, blueprint

tasks = blueprint("tasks_api", "Human tasks: the inbox, claim, release, complete")
instances = blueprint("instances_api", "Process instances: start and read")
defs = blueprint("definitions_api", "Process definitions: list, lint, deploy")
registers = blueprint("registers_api", "The AIMS registers: read, add, change, retire")
BLUEPRINTS = [tasks, instances, defs, registers]

ERRORS = (401, 403, 404, 409, 422)


def _errors(blp: Any, *codes: int) -> Any:
    def wrap(fn: Any) -> Any:
        for code in codes:
            fn = blp.alt_response(code, schema=s.ErrorSchema, description="error")(fn)
        return fn
    return wrap


def _task(row: HumanTask | TaskRow) -> dict[str, Any]:
    if isinstance(row, TaskRow):
        return dict(row.__dict__)
    holder = db.session.get(type(api_user()), row.assignee_id) if row.assignee_id else None
    return {"id": row.id, "name": row.name, "task_spec": row.task_spec, "process_id": row.process_id,
            "instance_id": row.instance_id, "subject": row.subject, "role": row.role, "state": row.state,
            "assignee": holder.email if holder else None, "due_at": row.due_at,
            "overdue": row.state in OPEN_STATES and row.due_at is not None and row.due_at < now(),
            "form": row.form, "version": row.row_version}


def _seen(body: dict[str, Any] | None) -> int | None:
    """The task version the client read: the body's ``version``, else ``If-Match``, else None."""
    if body and body.get("version") is not None:
        return int(body["version"])
    return seen_version(request.headers.get("If-Match"))


def _instance(i: ProcessInstance) -> dict[str, Any]:
    return {"id": i.id, "process_id": i.process_id, "version": i.process_version.version, "subject": i.subject,
            "status": i.status, "started_at": i.started_at, "ended_at": i.ended_at, "end_event": i.end_event}


def _outcome(o: services.Outcome) -> dict[str, Any]:
    return {"instance": _instance(o.instance), "new_tasks": [_task(t) for t in o.new_tasks]}


# --------------------------------------------------------------------------- tasks

@tasks.route("/tasks")
@tasks.arguments(s.TaskQuery, location="query")
@tasks.response(200, s.TaskSchema(many=True))
@_errors(tasks, 401, 422)
def list_tasks(args: dict[str, Any]) -> Any:
    """Tasks the token's user may act on (tab: mine, claimable, overdue, all), overdue first, one page
    (`page`, `per_page` up to 500). `X-Total-Count` is the tab's exact count, `X-Page-Count` its pages."""
    page = worklist.inbox_page(db.session, api_user(), now(), args["tab"], args["q"], args["process"],
                               args["page"], args["per_page"])
    return [_task(r) for r in page.rows], 200, {"X-Total-Count": str(page.counts[page.tab]),
                                                "X-Page-Count": str(page.pages)}


@tasks.route("/tasks/<int:task_id>")
@tasks.response(200, s.TaskDetailSchema)
@_errors(tasks, 401, 404)
def get_task(task_id: int) -> Any:
    """One task with its form schema and the data it sees."""
    d = worklist.task_detail(context(), api_user(), task_id, page=False)
    return {**_task(d.task), "form_schema": forms.with_choice_words(d.schema, d.choices_data), "data": d.data,
            "completed_by": d.completed_by.email if d.completed_by else None, "completed_at": d.task.completed_at,
            "may_claim": d.may_claim, "may_complete": d.may_complete, "blocked": d.blocked}, \
        200, {"ETag": f'"{d.task.row_version}"'}


@tasks.route("/tasks/<int:task_id>/claim", methods=["POST"])
@tasks.arguments(s.TaskActionBody, required=False)
@tasks.response(200, s.TaskSchema)
@_errors(tasks, *ERRORS)
def claim_task(body: dict[str, Any], task_id: int) -> Any:
    """Claim a ready task. 409 says who took it, or what changed since the `version` you read."""
    with unit() as ctx:
        worklist.task_detail(ctx, api_user(), task_id, page=False)
        return _task(services.claim_task(ctx, api_user(), task_id, expected_version=_seen(body)))


@tasks.route("/tasks/<int:task_id>/release", methods=["POST"])
@tasks.arguments(s.TaskActionBody, required=False)
@tasks.response(200, s.TaskSchema)
@_errors(tasks, *ERRORS)
def release_task(body: dict[str, Any], task_id: int) -> Any:
    """Give a claimed task back. 409 says what changed since the `version` you read."""
    with unit() as ctx:
        worklist.task_detail(ctx, api_user(), task_id, page=False)
        return _task(services.release_task(ctx, api_user(), task_id, expected_version=_seen(body)))


@tasks.route("/tasks/<int:task_id>/complete", methods=["POST"])
@tasks.arguments(s.CompleteBody)
@tasks.response(200, s.OutcomeSchema)
@_errors(tasks, *ERRORS)
def complete_task(body: dict[str, Any], task_id: int) -> Any:
    """Submit the form data; the process runs on until it waits again. 409 names who completed it first,
    or what changed since the `version` you read."""
    with unit() as ctx:
        return _outcome(worklist.submit(ctx, api_user(), task_id, body["data"], expected_version=_seen(body)))


# --------------------------------------------------------------------------- instances

def _start_body() -> tuple[dict[str, Any], list[uploads.Incoming]]:
    """The start request: JSON, or multipart with ``process_id``, ``data`` (a JSON object) and one file
    part per file field, named by its path (``file``, ``proof_files.0``). Aborts 422 naming what is wrong."""
    files: list[uploads.Incoming] = []
    if request.mimetype == "multipart/form-data":
        try:
            data = json.loads(request.form.get("data") or "{}")
        except ValueError:
            data = None
        raw: Any = {"process_id": request.form.get("process_id"), "data": data}
        for name, part in request.files.items(multi=True):
            path = tuple(int(p) if p.isdigit() else p for p in name.split("."))
            files.append(uploads.Incoming(path, part.filename or "", part.mimetype, part.read()))
    else:
        raw = request.get_json(silent=True)
    try:
        return s.StartBody().load(raw if isinstance(raw, dict) else {}), files
    except ma.ValidationError as exc:
        abort(422, message="the start request does not fit: give process_id and data (an object)",
              errors={"json": exc.messages})
        raise  # abort raised already


@instances.route("/instances", methods=["POST"])
@instances.doc(requestBody={"required": True, "content": {
    "application/json": {"schema": s.StartBody},
    "multipart/form-data": {"schema": {"type": "object", "required": ["process_id"], "properties": {
        "process_id": {"type": "string"},
        "data": {"type": "string", "description": "the start data, a JSON object"}},
        "additionalProperties": {"type": "string", "format": "binary",
                                 "description": "a file for the start form's file field of this name "
                                                "(file, proof_files.0)"}}}}})
@instances.response(201, s.OutcomeSchema)
@_errors(instances, *ERRORS)
def start_instance() -> Any:
    """Start the published version of a process with its start data. Send multipart/form-data when the
    start form takes files: ``process_id``, ``data`` (JSON) and one part per file, named by its field."""
    body, files = _start_body()
    with unit() as ctx:
        return _outcome(uploads.start(ctx, api_user(), body["process_id"], body["data"], files))


@instances.route("/instances")
@instances.response(200, s.InstanceSchema(many=True))
@_errors(instances, 401)
def list_instances() -> Any:
    """Instances the token's user may see, newest first."""
    return [_instance(i) for i in history.instances(db.session, api_user())]


@instances.route("/instances/<int:instance_id>")
@instances.response(200, s.InstanceDetailSchema)
@_errors(instances, 401, 404)
def get_instance(instance_id: int) -> Any:
    """An instance with its current data, its tasks and its completed / active / overdue elements."""
    v = history.instance_view(context(), api_user(), instance_id)
    return {**_instance(v.instance), "data": v.data, "tasks": [_task(t) for t in v.tasks],
            "completed": v.completed, "active": v.active, "overdue": v.overdue}


# --------------------------------------------------------------------------- definitions

def _version(v: Any, count: int | None = None) -> dict[str, Any]:
    return {"id": v.id, "process_id": v.process_id, "version": v.version, "name": v.name, "status": v.status,
            "sha256": v.sha256, "deployed_at": v.deployed_at, "instances": count, "warnings": v.lint_warnings or []}


@defs.route("/definitions")
@defs.response(200, s.DefinitionSchema(many=True))
@_errors(defs, 401)
def list_definitions() -> Any:
    """Every process with its versions (newest first) and instance counts."""
    return [{"process_id": p.process_id, "name": p.name,
             "published_version": p.published.version if p.published else None,
             "versions": [_version(v, p.instances.get(v.id, 0)) for v in p.versions]}
            for p in process_admin.process_list(db.session)]


def _source(body: dict[str, Any]) -> definitions.SourceFile:
    xml = body["xml"]
    name = body.get("filename")
    if not name:
        match = re.search(r"<(?:\w+:)?process\b[^>]*\bid=\"([^\"]+)\"", xml)
        name = f"{match.group(1) if match else 'process'}.bpmn"
    return definitions.SourceFile.from_text(str(name)[:200], xml)


@defs.route("/definitions/lint", methods=["POST"])
@defs.arguments(s.LintBody)
@defs.response(200, s.LintResultSchema)
@_errors(defs, 401, 422)
def lint_definition(body: dict[str, Any]) -> Any:
    """Lint a BPMN file without storing it: ok (no error; warnings may be listed), or every problem with the
    element it concerns."""
    ctx = context()
    try:
        parsed = definitions.parse_and_lint([_source(body)], ctx.settings, definitions.deployed_library(ctx.session))
    except DefinitionError as exc:
        return {"ok": False, "process_id": None, "problems": [p.to_dict() for p in exc.problems]}
    return {"ok": True, "process_id": parsed[0].process_id, "problems": [p.to_dict() for p in parsed[0].warnings]}


@defs.route("/definitions", methods=["POST"])
@defs.arguments(s.DeployBody)
@defs.response(201, s.DeployResultSchema)
@_errors(defs, *ERRORS)
def deploy_definition(body: dict[str, Any]) -> Any:
    """Deploy a BPMN file (admins): lint, then store it as a published (or draft) version. 422 lists the
    lint problems; nothing is stored then."""
    access.require_admin(api_user())
    with unit() as ctx:
        result = definitions.deploy(ctx.session, [_source(body)], ctx.settings, ctx.clock, api_user(),
                                    status=body["status"])[0]
        return {"version": _version(result.version), "created": result.created}


# --------------------------------------------------------------------------- registers

def _spec(spec: Any, user: Any) -> dict[str, Any]:
    return {"name": spec.name, "label": spec.label, "writable": register_edit.may_write(user, spec),
            "changed_through": spec.flow.name if spec.flow else None,
            "fields_": [{"key": f.key, "label": f.label, "kind": f.kind, "required": f.required,
                        "editable": f.editable and spec.editable, "choices": [c for c, _ in f.choices],
                        "rule": text} for f, text in register_edit.rules(spec)]}


def _record(rec: Any) -> Any:
    body = {**rec.row.__dict__, "values": {k: _plain(v) for k, v in rec.values.items()}, "version": rec.version,
            "retired_at": rec.retired_at}
    return body, 200, {"ETag": f'"{rec.version}"'}


@registers.route("/registers")
@registers.response(200, s.RegisterSchema(many=True))
@_errors(registers, 401)
def list_registers() -> Any:
    """The registers there are, their fields with their rules, and whether the token's user may change them."""
    return [_spec(spec, api_user()) for spec in register_edit.SPECS.values()]


@registers.route("/registers/<name>")
@registers.arguments(s.RegisterQuery, location="query")
@registers.response(200, s.RegisterRowSchema(many=True))
@_errors(registers, 401, 403, 404)
def register_rows(args: dict[str, Any], name: str) -> Any:
    """The rows of one register, by reference (retired ones with `retired=true`)."""
    return [r.__dict__ for r in register_edit.rows(db.session, api_user(), name, retired=args["retired"])]


@registers.route("/registers/<name>", methods=["POST"])
@registers.arguments(s.RegisterValuesBody)
@registers.response(201, s.RegisterRowDetailSchema)
@_errors(registers, *ERRORS)
def create_register_row(body: dict[str, Any], name: str) -> Any:
    """Add a row (`values` by field key; `ref` optional where the register numbers its rows). 422 lists
    every field that needs fixing."""
    with unit() as ctx:
        row = register_edit.create(ctx, api_user(), name, body["values"], source="api")
    body, _, headers = _record(register_edit.record(db.session, api_user(), name, row.ref))
    return body, 201, headers


@registers.route("/registers/<name>/<ref>")
@registers.response(200, s.RegisterRowDetailSchema)
@_errors(registers, 401, 403, 404)
def register_row(name: str, ref: str) -> Any:
    """One register row with its values by field key and its `version` (also the `ETag`)."""
    return _record(register_edit.record(db.session, api_user(), name, ref))


@registers.route("/registers/<name>/<ref>", methods=["PATCH"])
@registers.arguments(s.RegisterValuesBody)
@registers.response(200, s.RegisterRowDetailSchema)
@_errors(registers, *ERRORS)
def edit_register_row(body: dict[str, Any], name: str, ref: str) -> Any:
    """Change the fields given. Send the `version` you read (or `If-Match`): a change made since answers
    409 and nothing changes."""
    with unit() as ctx:
        register_edit.edit(ctx, api_user(), name, ref, body["values"], _seen(body), source="api")
    return _record(register_edit.record(db.session, api_user(), name, ref))


@registers.route("/registers/<name>/<ref>/retire", methods=["POST"])
@registers.arguments(s.RetireBody)
@registers.response(200, s.RegisterRowDetailSchema)
@_errors(registers, *ERRORS)
def retire_register_row(body: dict[str, Any], name: str, ref: str) -> Any:
    """Retire a row (kept for the audit trail, hidden from lists). A reason is required."""
    with unit() as ctx:
        register_edit.retire(ctx, api_user(), name, ref, body["reason"], _seen(body), source="api")
    return _record(register_edit.record(db.session, api_user(), name, ref))


@registers.route("/registers/<name>/<ref>/restore", methods=["POST"])
@registers.arguments(s.RetireBody)
@registers.response(200, s.RegisterRowDetailSchema)
@_errors(registers, *ERRORS)
def restore_register_row(body: dict[str, Any], name: str, ref: str) -> Any:
    """Bring a retired row back. A reason is required."""
    with unit() as ctx:
        register_edit.retire(ctx, api_user(), name, ref, body["reason"], _seen(body), restore=True, source="api")
    return _record(register_edit.record(db.session, api_user(), name, ref))


def _results(ref: str) -> dict[str, Any]:
    r = objective_results.results(db.session, now().date(), api_user(), ref)
    o, p = r.objective, r.performance
    return {"objective": o.ref, "unit": o.unit, "target": o.target, "baseline": o.baseline, "on_target": p.on_target,
            "overdue": r.overdue, "next_due": p.next_due,
            "measurements": [{"ref": m.ref, "measured_on": m.measured_on, "value": m.value, "note": m.note,
                              "recorded_by": r.recorders.get(m.recorded_by_id or 0)} for m in p.points]}


@registers.route("/objectives/<ref>/measurements")
@registers.response(200, s.ObjectiveResultsSchema)
@_errors(registers, 401, 403, 404)
def objective_measurements(ref: str) -> Any:
    """An objective's measurements (oldest first), its latest value against its target, and whether a
    measurement is overdue."""
    return _results(ref)


@registers.route("/objectives/<ref>/measurements", methods=["POST"])
@registers.arguments(s.MeasurementBody)
@registers.response(201, s.ObjectiveResultsSchema)
@_errors(registers, *ERRORS)
def record_objective_measurement(body: dict[str, Any], ref: str) -> Any:
    """Record a measurement of an objective (its owner, the AIMS owner or top management). 422 names every
    value that needs fixing."""
    with unit() as ctx:
        objective_results.record(ctx, api_user(), ref, body, source="api")
    return _results(ref), 201


def _scope() -> dict[str, Any]:
    info = scope.page(db.session, api_user())
    return {"in_force": scope.as_dict(info.approved, info.names) if info.approved else None,
            "draft": scope.as_dict(info.draft, info.names) if info.draft else None,
            "versions": [scope.as_dict(v, info.names) for v in info.versions]}


@registers.route("/scope")
@registers.response(200, s.ScopeSchema)
@_errors(registers, 401, 403)
def get_scope() -> Any:
    """The AIMS scope statement (4.3): the version in force, the draft awaiting approval, every version."""
    return _scope()


@registers.route("/scope", methods=["PUT"])
@registers.arguments(s.ScopeBody)
@registers.response(200, s.ScopeSchema)
@_errors(registers, *ERRORS)
def save_scope(body: dict[str, Any]) -> Any:
    """Change the scope statement (AIMS owner, top management): a new draft version when the latest is
    approved, else the draft. Send `based_on` (and `version`) as read: anything saved since answers 409."""
    with unit() as ctx:
        scope.save(ctx, api_user(), body, body["based_on"], body.get("version"))
    return _scope()


@registers.route("/scope/approve", methods=["POST"])
@registers.arguments(s.ScopeApproveBody)
@registers.response(200, s.ScopeSchema)
@_errors(registers, *ERRORS)
def approve_scope(body: dict[str, Any]) -> Any:
    """Approve the draft (top management or the AIMS owner, not its author: 403 `sod_violation`)."""
    with unit() as ctx:
        scope.approve(ctx, api_user(), body["based_on"], body.get("version"))
    return _scope()


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
