"""Admin pages: process definitions (list, versions, the bpmn-js modeler with a properties form, lint,
drafts, publish, compare, XML download), the forms editor with a live preview, users and roles, the
organisation (name, the scope statement in force, risk appetite, its AIMS owner, sponsor and CEO)."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import login_required

from engine.aims import risk_criteria as rc
from engine.aims import roles
from engine.app import access, accounts, organisation_setup, process_admin, scope
from engine.core import ConflictError, DefinitionError, InvalidInput, NotFound, ValidationError

from . import formfields
from .common import actor, context, unit
from .extensions import db
from .tasks import build_form

bp = Blueprint("admin", __name__, url_prefix="/admin")


#: what the AIMS owner uses here too: the organisation page (to read) and its risk criteria form
CRITERIA_ENDPOINTS = frozenset({"admin.organisation", "admin.risk_criteria"})


@bp.before_request
@login_required
def _admin_only() -> None:
    if request.endpoint in CRITERIA_ENDPOINTS:
        access.require_criteria_editor(actor())  # the views check the rest (an admin saves the organisation)
    else:
        access.require_admin(actor())


def _problems(problems: list[Any]) -> list[dict[str, Any]]:
    return [p.to_dict() for p in problems]


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, "send a JSON object")
    return body


def _xml(body: dict[str, Any], process_id: str) -> str:
    """The XML the modeler sent, with what bpmn-js drops put back from the version it was opened from."""
    xml = str(body.get("xml", ""))
    base_id = body.get("base_version_id")
    if isinstance(base_id, int) and xml.strip():
        base = process_admin.get_version(db.session, base_id)
        if base.process_id == process_id:
            try:
                return process_admin.restore_references(xml, base.bpmn_xml)
            except DefinitionError:
                return xml  # lint reports what is wrong with it
    return xml


# --------------------------------------------------------------------------- processes

@bp.route("/processes")
def processes() -> Any:
    return render_template("admin/processes.html", items=process_admin.process_list(db.session))


@bp.route("/processes/<process_id>")
def process(process_id: str) -> Any:
    summary = process_admin.process_summary(db.session, process_id)
    return render_template("admin/process.html", s=summary)


@bp.route("/versions/<int:version_id>/bpmn")
def download(version_id: int) -> Any:
    version = process_admin.get_version(db.session, version_id)
    return Response(version.bpmn_xml, mimetype="application/xml", headers={
        "Content-Disposition": f'attachment; filename="{version.process_id}.v{version.version}.bpmn"'})


@bp.route("/processes/<process_id>/modeler")
def modeler(process_id: str) -> Any:
    summary = process_admin.process_summary(db.session, process_id)
    version_id = request.args.get("version", type=int)
    version = process_admin.get_version(db.session, version_id) if version_id else summary.versions[0]
    if version.process_id != process_id:
        raise NotFound(f"version {version.id} is not a version of {process_id}")
    return render_template("admin/modeler.html", s=summary, version=version,
                           profiles=process_admin.escalation_choices(context().settings),
                           sod_rules=process_admin.sod_choices(), labels=process_admin.PROPERTY_LABELS)


@bp.route("/versions/<int:version_id>/xml")
def version_xml(version_id: int) -> Any:
    return Response(process_admin.get_version(db.session, version_id).bpmn_xml, mimetype="application/xml")


@bp.route("/processes/<process_id>/lint", methods=["POST"])
def lint(process_id: str) -> Any:
    body = _json_body()
    problems = process_admin.lint(db.session, context().settings, process_id, _xml(body, process_id))
    return jsonify({"ok": not any(p.is_error for p in problems), "problems": _problems(problems)})


@bp.route("/processes/<process_id>/properties", methods=["POST"])
def properties(process_id: str) -> Any:
    """The modeler's properties form: set the task properties of one element in the posted XML."""
    body = _json_body()
    values = body.get("values") or {}
    if not isinstance(values, dict):
        abort(400, "values must be an object")
    xml = process_admin.patch_properties(_xml(body, process_id), str(body.get("element", "")),
                                         {str(k): str(v) for k, v in values.items()}, body.get("name"))
    return jsonify({"xml": xml})


@bp.route("/processes/<process_id>/drafts", methods=["POST"])
def save_draft(process_id: str) -> Any:
    body = _json_body()
    with unit() as ctx:
        version, problems = process_admin.save_draft(ctx.session, ctx.settings, ctx.clock, actor(), process_id,
                                                     _xml(body, process_id))
        out = {"version_id": version.id, "version": version.version, "problems": _problems(problems),
               "url": url_for(".process", process_id=process_id)}
    return jsonify(out), 201


@bp.route("/versions/<int:version_id>/publish", methods=["POST"])
def publish(version_id: int) -> Any:
    wants_json = request.is_json
    try:
        with unit() as ctx:
            version = process_admin.publish(ctx.session, ctx.settings, ctx.clock, actor(), version_id)
            pid, number = version.process_id, version.version
    except (DefinitionError, ConflictError) as exc:
        if wants_json:
            raise
        version = process_admin.get_version(db.session, version_id)
        if isinstance(exc, DefinitionError):
            errors = sum(1 for p in exc.problems if p.is_error)
            flash(f"Not published: v{version.version} has {errors} error{'s' * (errors != 1)}; the published "
                  "version stays. Fix them in the modeler:", "danger")
            for p in exc.problems:
                flash(str(p), "danger" if p.is_error else "warning")
        else:
            flash("Not published: " + exc.message, "danger")
        return redirect(url_for(".process", process_id=version.process_id), 303)
    if wants_json:
        return jsonify({"process_id": pid, "version": number, "status": "published"})
    flash(f"{pid} v{number} is published: new instances start on it.", "success")
    return redirect(url_for(".process", process_id=pid), 303)


@bp.route("/versions/<int:version_id>/republish", methods=["POST"])
def republish(version_id: int) -> Any:
    """Roll back: publish an earlier version again, as a new version number with the same XML."""
    try:
        with unit() as ctx:
            version = process_admin.republish(ctx.session, ctx.settings, ctx.clock, actor(), version_id)
            pid, number = version.process_id, version.version
            earlier = process_admin.get_version(ctx.session, version_id).version
    except (DefinitionError, ConflictError) as exc:
        if request.is_json:
            raise
        flash("Not published again: " + exc.message, "danger")
        return redirect(url_for(".process", process_id=process_admin.get_version(db.session, version_id).process_id),
                        303)
    if request.is_json:
        return jsonify({"process_id": pid, "version": number, "status": "published", "from_version": earlier})
    flash(f"v{earlier} is published again as v{number}: new instances start on it; running ones keep theirs.",
          "success")
    return redirect(url_for(".process", process_id=pid), 303)


@bp.route("/processes/<process_id>/compare")
def compare(process_id: str) -> Any:
    a, b = request.args.get("a", type=int), request.args.get("b", type=int)
    if not a or not b:
        raise InvalidInput("choose two versions to compare (a and b)")
    diff = process_admin.compare(db.session, a, b)
    if diff.old.process_id != process_id:
        raise NotFound(f"version {a} is not a version of {process_id}")
    return render_template("admin/compare.html", diff=diff, process_id=process_id)


# --------------------------------------------------------------------------- forms

@bp.route("/versions/<int:version_id>/forms/<name>", methods=["GET", "POST"])
def form_editor(version_id: int, name: str) -> Any:
    version = process_admin.get_version(db.session, version_id)
    text = json.dumps(process_admin.form_of(db.session, version_id, name), indent=2)
    problems: list[str] = []
    if request.method == "POST":
        text = request.form.get("schema", "")
        schema, problems = process_admin.parse_form(text)
        if schema is not None:
            try:
                with unit() as ctx:
                    draft, lint_problems = process_admin.save_draft(ctx.session, ctx.settings, ctx.clock, actor(),
                                                                    version.process_id, version.bpmn_xml,
                                                                    {name: schema})
                    number = draft.version
                errors = sum(1 for p in lint_problems if p.is_error)
                flash(f"Saved as draft v{number}" + (f" ({errors} lint error{'s' * (errors != 1)}: fix them "
                                                     "before publishing)" if errors else "; publish it to use it"),
                      "success")
                return redirect(url_for(".process", process_id=version.process_id), 303)
            except ConflictError as exc:
                problems = [exc.message]
    return render_template("admin/form_editor.html", version=version, name=name, text=text, problems=problems,
                           preview=_preview(text)), 422 if problems else 200


def _preview(text: str, values: dict[str, Any] | None = None, errors: list[Any] | None = None,
             data: dict[str, Any] | None = None, task_text: str = "") -> dict[str, Any]:
    schema, problems = process_admin.parse_form(text)
    task_data, task_problem = process_admin.parse_task_data(task_text)
    fields, summary = build_form(schema, values or {}, errors, task_data) if schema else ([], [])
    return {"fields": fields, "summary": summary, "problems": problems, "text": text, "data": data,
            "task_text": task_text, "task_problem": task_problem}


@bp.route("/forms/preview", methods=["POST"])
def form_preview() -> Any:
    """The live preview (htmx): the posted schema rendered as the form users will see (with the example
    task data's items in its choices among items), or its problems."""
    return render_template("admin/_preview.html", preview=_preview(request.form.get("schema", ""),
                                                                   task_text=request.form.get("task_data", "")))


@bp.route("/forms/try", methods=["POST"])
def form_try() -> Any:
    """The preview's "Check the answers": the answers typed into the preview, read the way a task's
    completion reads them and checked against the form (people and references included); the preview
    again, with the errors or with the data a task would receive. Files are described, not stored."""
    text, task_text = request.form.get("schema", ""), request.form.get("task_data", "")
    schema, _problems = process_admin.parse_form(text)
    if schema is None:
        return render_template("admin/_preview.html", preview=_preview(text, task_text=task_text))
    data, uploads = formfields.parse(schema, request.form, request.files)
    for upload in uploads:
        formfields.put(data, upload.path, formfields.describe_upload(upload))
    task_data, _problem = process_admin.parse_task_data(task_text)
    try:
        process_admin.check_form(context(), schema, data, task_data=task_data)
    except ValidationError as exc:
        preview = _preview(text, data, exc.errors, task_text=task_text)
        return render_template("admin/_preview.html", preview=preview), 422
    return render_template("admin/_preview.html", preview=_preview(text, data, data=data, task_text=task_text))


# --------------------------------------------------------------------------- users

@bp.route("/users", methods=["GET", "POST"])
def users() -> Any:
    link = None
    if request.method == "POST":
        try:
            with unit() as ctx:
                user = accounts.create_user(ctx.session, ctx.clock, actor(), request.form.get("email", ""),
                                            request.form.get("name", ""), request.form.getlist("roles"),
                                            request.form.get("password", ""),
                                            request.form.get("manager") or None)
                if user.password_hash is None:
                    secret = accounts.create_password_link(ctx.session, ctx.clock, user)
                    link = (user.email, url_for("auth.set_password", secret=secret, _external=True))
                else:
                    flash(f"{user.name or user.email} can log in now with {user.email}.", "success")
        except (InvalidInput, NotFound) as exc:
            flash(exc.message, "danger")
        if link is None:
            return redirect(url_for(".users"), 303)
    return render_template("admin/users.html", users=accounts.all_users(db.session), roles=roles.ROLES, link=link,
                           hours=int(accounts.PASSWORD_LINK_LIFETIME.total_seconds() // 3600))


@bp.route("/users/<int:user_id>/roles", methods=["POST"])
def user_roles(user_id: int) -> Any:
    try:
        with unit() as ctx:
            user = accounts.set_roles(ctx.session, ctx.clock, actor(), user_id, request.form.getlist("roles"))
            held = sorted(roles.ROLES.get(r, r) for r in user.roles)
            flash(f"{user.name or user.email}: roles are now {', '.join(held) or 'none'}.", "success")
    except InvalidInput as exc:
        flash(exc.message, "danger")
    return redirect(url_for(".users"), 303)


@bp.route("/users/<int:user_id>/active", methods=["POST"])
def user_active(user_id: int) -> Any:
    active = request.form.get("active") == "1"
    try:
        with unit() as ctx:
            user = accounts.set_active(ctx.session, ctx.clock, actor(), user_id, active)
            state = "active again" if active else "deactivated; their sessions and tokens ended"
            flash(f"{user.name or user.email} is {state}.", "success")
    except InvalidInput as exc:
        flash(exc.message, "danger")
    return redirect(url_for(".users"), 303)


# --------------------------------------------------------------------------- the organisation

@bp.route("/organisation", methods=["GET", "POST"])
def organisation() -> Any:
    """The organisation (admins) and its risk criteria (admins and the AIMS owner, ``risk_criteria``)."""
    current = organisation_setup.settings(db.session)
    if current is None:
        return redirect(url_for("setup.setup"))
    if request.method == "GET":
        return _organisation_page(current, {})
    access.require_admin(actor())
    form = request.form
    new = organisation_setup.Settings(form.get("name", ""), form.get("aims_owner") or None,
                                      form.get("sponsor") or None, form.get("ceo") or None, _version(form))
    try:
        with unit() as ctx:
            organisation_setup.update(ctx, actor(), new)
    except ValidationError as exc:
        return _organisation_page(new, {e.path: e.message for e in exc.errors}, status=422)
    except ConflictError as exc:
        return _organisation_page(new, {}, stale=exc.message, status=409)
    flash("The organisation is saved.", "success")
    return redirect(url_for(".organisation"), 303)


@bp.route("/organisation/risk-criteria", methods=["POST"])
def risk_criteria() -> Any:
    """The risk criteria form of the organisation page: scales, levels, appetite (the AIMS owner or an admin)."""
    values = {key: request.form[key] for key in CRITERIA_FIELDS if key in request.form}  # a missing one stays
    values["confirmed"] = request.form.get("confirmed", "")  # a checkbox: absent when not ticked
    try:
        with unit() as ctx:
            changed = organisation_setup.update_criteria(ctx, actor(), values, _version(request.form))
    except ValidationError as exc:
        return _organisation_page(None, {}, values, {e.path: e.message for e in exc.errors}, status=422)
    except ConflictError as exc:
        return _organisation_page(None, {}, values, {}, stale=exc.message, status=409)
    flash("The risk criteria are saved." if changed else "The risk criteria are saved (nothing had changed).",
          "success")
    return redirect(url_for(".organisation", _anchor="criteria"), 303)


#: the fields of the risk criteria form (``engine.aims.risk_criteria.form_values``)
CRITERIA_FIELDS = tuple(rc.form_values(rc.DEFAULT))


def _version(form: Any) -> int | None:
    raw = str(form.get("version", "")).strip()
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else None


def _organisation_page(org: organisation_setup.Settings | None, errors: dict[str, str],
                       criteria: dict[str, str] | None = None, criteria_errors: dict[str, str] | None = None,
                       stale: str | None = None, status: int = 200) -> Any:
    """The page with ``org`` (None: as stored) and ``criteria`` (typed values over the stored ones) in its two
    forms; ``stale``: why a save was refused because the organisation changed meanwhile."""
    stored = organisation_setup.criteria_form(db.session)
    assert stored is not None
    org = org or organisation_setup.settings(db.session)
    people = [u for u in accounts.all_users(db.session) if u.active]
    in_force, draft = scope.current(db.session)
    return render_template("admin/organisation.html", org=org, errors=errors, people=people,
                           scope=in_force, scope_draft=draft,
                           criteria={**stored[0], **(criteria or {})}, criteria_errors=criteria_errors or {},
                           criteria_version=stored[1] if criteria is None else _version(request.form),
                           stale=stale,
                           may_edit_organisation="admin" in actor().roles, scales=rc.SCALES, values=rc.VALUES,
                           uppers=rc.LEVELS[:-1], steps=organisation_setup.checklist(db.session)), status
