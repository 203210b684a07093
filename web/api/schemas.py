"""The JSON shapes of /api/v1 (marshmallow); the OpenAPI document is generated from them."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate


class ErrorBody(ma.Schema):
    code = fields.String(required=True, metadata={"description": "stable code: not_found, forbidden, "
                                                                 "sod_violation, conflict, validation_error, ..."})
    message = fields.String(required=True)
    errors = fields.Raw(metadata={"description": "per-field problems (validation errors)"})
    problems = fields.List(fields.Dict(), metadata={"description": "lint problems per BPMN element"})
    rule = fields.String(metadata={"description": "the segregation-of-duties rule (sod_violation)"})
    element = fields.String(allow_none=True)
    line = fields.Integer(allow_none=True)


class ErrorSchema(ma.Schema):
    error = fields.Nested(ErrorBody, required=True)


class TaskQuery(ma.Schema):
    tab = fields.String(load_default="all", validate=validate.OneOf(["mine", "claimable", "overdue", "all"]))
    q = fields.String(load_default="", validate=validate.Length(max=200))
    process = fields.String(load_default="", validate=validate.Length(max=100))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class TaskSchema(ma.Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    task_spec = fields.String(required=True)
    process_id = fields.String(required=True)
    instance_id = fields.Integer(required=True)
    subject = fields.String(allow_none=True)
    role = fields.String(required=True)
    state = fields.String(required=True)
    assignee = fields.String(allow_none=True)
    due_at = fields.DateTime(allow_none=True)
    overdue = fields.Boolean()
    form = fields.String(allow_none=True)
    version = fields.Integer(metadata={"description": "the task's version: send it back (`If-Match` or the "
                                                      "body's `version`) and a change made since answers 409"})


class TaskDetailSchema(TaskSchema):
    form_schema = fields.Dict(allow_none=True)
    data = fields.Dict()
    completed_by = fields.String(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    may_claim = fields.Boolean()
    may_complete = fields.Boolean()
    blocked = fields.String(allow_none=True)


class CompleteBody(ma.Schema):
    data = fields.Dict(required=True, metadata={"description": "the form data (JSON object)"})
    version = fields.Integer(strict=True, validate=validate.Range(min=1), metadata={
        "description": "the task's version as you read it (optional; also `If-Match`): a change made since "
                       "answers 409 and nothing is completed"})


class TaskActionBody(ma.Schema):
    version = fields.Integer(strict=True, validate=validate.Range(min=1), metadata={
        "description": "the task's version as you read it (optional; also `If-Match`): a change made since "
                       "answers 409 and nothing changes"})


class StartBody(ma.Schema):
    process_id = fields.String(required=True, validate=validate.Length(min=1, max=100))
    data = fields.Dict(load_default=dict)


class InstanceSchema(ma.Schema):
    id = fields.Integer(required=True)
    process_id = fields.String(required=True)
    version = fields.Integer(required=True)
    subject = fields.String(allow_none=True)
    status = fields.String(required=True)
    started_at = fields.DateTime(required=True)
    ended_at = fields.DateTime(allow_none=True)
    end_event = fields.String(allow_none=True)


class InstanceDetailSchema(InstanceSchema):
    data = fields.Dict()
    tasks = fields.List(fields.Nested(TaskSchema))
    completed = fields.List(fields.String())
    active = fields.List(fields.String())
    overdue = fields.List(fields.String())


class OutcomeSchema(ma.Schema):
    instance = fields.Nested(InstanceSchema, required=True)
    new_tasks = fields.List(fields.Nested(TaskSchema), required=True)


class ProblemSchema(ma.Schema):
    file = fields.String()
    element = fields.String(metadata={"description": "the BPMN id of the element (empty: the whole file)"})
    label = fields.String(metadata={"description": "the element in words: its kind and name"})
    line = fields.Integer(allow_none=True)
    severity = fields.String(validate=validate.OneOf(["error", "warning"]),
                             metadata={"description": "an error refuses publish and deploy; a warning is recorded"})
    rule = fields.String(metadata={"description": "the lint rule (dead-end, lane-role, ...)"})
    message = fields.String(metadata={"description": "what is wrong"})
    fix = fields.String(metadata={"description": "how to fix it"})
    text = fields.String(metadata={"description": "what is wrong and the fix, as one sentence"})


class LintBody(ma.Schema):
    xml = fields.String(required=True, validate=validate.Length(min=1))
    filename = fields.String(load_default=None, allow_none=True,
                             metadata={"description": "<process_id>.bpmn; defaults to the process id inside"})


class DeployBody(LintBody):
    status = fields.String(load_default="published", validate=validate.OneOf(["published", "draft"]))


class LintResultSchema(ma.Schema):
    ok = fields.Boolean(required=True)
    process_id = fields.String(allow_none=True)
    problems = fields.List(fields.Nested(ProblemSchema), required=True)


class VersionSchema(ma.Schema):
    id = fields.Integer(required=True)
    process_id = fields.String(required=True)
    version = fields.Integer(required=True)
    name = fields.String(required=True)
    status = fields.String(required=True)
    sha256 = fields.String(required=True)
    deployed_at = fields.DateTime(required=True)
    instances = fields.Integer()
    warnings = fields.List(fields.Nested(ProblemSchema), metadata={"description": "its lint warnings"})


class DeployResultSchema(ma.Schema):
    version = fields.Nested(VersionSchema, required=True)
    created = fields.Boolean(required=True)


class DefinitionSchema(ma.Schema):
    process_id = fields.String(required=True)
    name = fields.String(required=True)
    published_version = fields.Integer(allow_none=True)
    versions = fields.List(fields.Nested(VersionSchema), required=True)


class RegisterFieldSchema(ma.Schema):
    key = fields.String(required=True)
    label = fields.String(required=True)
    kind = fields.String(required=True)
    required = fields.Boolean()
    editable = fields.Boolean()
    choices = fields.List(fields.String())
    rule = fields.String()


class RegisterSchema(ma.Schema):
    name = fields.String(required=True)
    label = fields.String(required=True)
    writable = fields.Boolean(metadata={"description": "whether the token's user may add and change rows"})
    changed_through = fields.String(allow_none=True, metadata={"description": "the flow that owns the rows"})
    fields_ = fields.List(fields.Nested(RegisterFieldSchema), data_key="fields")


class RegisterQuery(ma.Schema):
    retired = fields.Boolean(load_default=False, metadata={"description": "include retired rows"})


class RegisterRowSchema(ma.Schema):
    register = fields.String(required=True)
    id = fields.Integer(required=True)
    ref = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.String(required=True)
    instance_id = fields.Integer(allow_none=True)
    retired = fields.Boolean()


class RegisterRowDetailSchema(RegisterRowSchema):
    values = fields.Dict(required=True, metadata={"description": "the row's values by field key"})
    version = fields.Integer(required=True)
    retired_at = fields.DateTime(allow_none=True)


class RegisterValuesBody(ma.Schema):
    values = fields.Dict(required=True, metadata={"description": "values by field key (GET /registers lists "
                                                                 "the fields and their rules)"})
    version = fields.Integer(strict=True, validate=validate.Range(min=1), metadata={
        "description": "the row's version as you read it (optional; also `If-Match`): a change made since "
                       "answers 409 and nothing changes"})


class RetireBody(ma.Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=1000))
    version = fields.Integer(strict=True, validate=validate.Range(min=1))


class MeasurementSchema(ma.Schema):
    ref = fields.String(required=True)
    measured_on = fields.Date(required=True)
    value = fields.Float(required=True)
    note = fields.String(allow_none=True)
    recorded_by = fields.String(allow_none=True, metadata={"description": "who recorded it (their name)"})


class ObjectiveResultsSchema(ma.Schema):
    objective = fields.String(required=True)
    unit = fields.String(allow_none=True)
    target = fields.Float(allow_none=True)
    baseline = fields.Float(allow_none=True)
    on_target = fields.Boolean(allow_none=True, metadata={"description": "whether the latest value meets the target"})
    overdue = fields.Boolean(metadata={"description": "no measurement within the objective's frequency"})
    next_due = fields.Date(allow_none=True)
    measurements = fields.List(fields.Nested(MeasurementSchema), metadata={"description": "oldest first"})


class MeasurementBody(ma.Schema):
    measured_on = fields.Raw(required=True, metadata={"description": "the day measured, like 2026-11-30"})
    value = fields.Raw(required=True, metadata={"description": "a number, in the objective's unit"})
    note = fields.String(allow_none=True, validate=validate.Length(max=2000))


class ExclusionSchema(ma.Schema):
    item = fields.String(required=True, metadata={"description": "what the AIMS leaves out"})
    justification = fields.String(required=True, metadata={"description": "why"})


class ScopeVersionSchema(ma.Schema):
    version = fields.Integer(required=True)
    status = fields.String(required=True, metadata={"description": "draft, approved (in force) or superseded"})
    text = fields.String(required=True)
    boundaries = fields.String()
    exclusions = fields.List(fields.Nested(ExclusionSchema))
    author = fields.String(allow_none=True)
    approver = fields.String(allow_none=True)
    approved_at = fields.DateTime(allow_none=True)
    updated_at = fields.DateTime()
    row_version = fields.Integer(metadata={"description": "send it back with `based_on` to change or approve"})


class ScopeSchema(ma.Schema):
    in_force = fields.Nested(ScopeVersionSchema, allow_none=True)
    draft = fields.Nested(ScopeVersionSchema, allow_none=True)
    versions = fields.List(fields.Nested(ScopeVersionSchema), metadata={"description": "newest first"})


class ScopeBody(ma.Schema):
    text = fields.String(required=True)
    boundaries = fields.String(load_default="")
    exclusions = fields.List(fields.Dict(), load_default=list, metadata={
        "description": "[{\"item\": what is left out, \"justification\": why}]"})
    based_on = fields.Integer(strict=True, required=True, validate=validate.Range(min=0), metadata={
        "description": "the number of the latest version you read (0 when there is none)"})
    version = fields.Integer(strict=True, validate=validate.Range(min=1), metadata={
        "description": "that version's `row_version`: anything saved since answers 409"})


class ScopeApproveBody(ma.Schema):
    based_on = fields.Integer(strict=True, required=True, validate=validate.Range(min=1), metadata={
        "description": "the number of the draft you read"})
    version = fields.Integer(strict=True, validate=validate.Range(min=1), metadata={
        "description": "the draft's `row_version` as you read it"})
