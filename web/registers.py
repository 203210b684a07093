"""The registers: lists (retired rows behind a filter), a record's page with its history, adding,
editing (a stale edit answers 409 and keeps the typed values), retiring and restoring, downloads (CSV,
XLSX, the template, every register as a zip) and import with a preview of what will change."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_login import login_required

from engine.app import (
    corrective_actions,
    evidence_files,
    objective_results,
    process_admin,
    register_edit,
    register_io,
    scope,
)
from engine.core import ConflictError, InvalidInput, ValidationError

from .common import actor, context, now, seen_version, unit
from .extensions import db

bp = Blueprint("registers", __name__)

MIME = {"csv": "text/csv; charset=utf-8",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "zip": "application/zip"}


@bp.before_request
@login_required
def _login() -> None:
    """Every page here needs a logged-in user."""


def _download(data: bytes, filename: str, kind: str) -> Response:
    return Response(data, mimetype=MIME[kind], headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.route("/registers")
def index() -> Any:
    name = request.args.get("register", "ai_systems")
    retired = request.args.get("retired") == "1"
    rows = register_edit.rows(db.session, actor(), name, retired=retired)
    spec = register_edit.spec_of(name)
    return render_template("registers/list.html", spec=spec, rows=rows, retired=retired,
                           specs=register_edit.SPECS, may_write=register_edit.may_write(actor(), spec))


@bp.route("/registers/<name>")
def register_list(name: str) -> Any:
    """A register's own address (``/registers/risks``) opens its list; an unknown name is a 404 in words."""
    register_edit.spec_of(name)
    return redirect(url_for(".index", register=name), 302)


def _form_values(spec: Any) -> dict[str, Any]:
    """The values a register form posts, by field key, as the browser sends them."""
    values: dict[str, Any] = {}
    for f in spec.editable_fields():
        if f.kind == "bool":
            values[f.key] = "yes" if request.form.get(f.key) else "no"
        elif f.kind in ("choices", "refs"):
            values[f.key] = request.form.getlist(f.key)
        else:
            values[f.key] = request.form.get(f.key, "")
    return values


def _shown(spec: Any, values: dict[str, Any]) -> dict[str, Any]:
    """Plain values as form inputs show them (lists one per line, dates ISO, yes/no)."""
    out: dict[str, Any] = {}
    for f in spec.fields:
        value = values.get(f.key)
        if f.kind in ("choices", "refs"):
            out[f.key] = list(value or [])
        elif f.kind == "lines":
            out[f.key] = "\n".join(value or []) if isinstance(value, list) else (value or "")
        else:
            out[f.key] = register_edit.to_text(f, value) if not isinstance(value, str) else value
    return out


def _form(spec: Any, values: dict[str, Any], errors: list[Any], status: int, **extra: Any) -> Any:
    return render_template("registers/form.html", spec=spec, values=values,
                           errors={e.path: e.message for e in errors}, all_errors=errors,
                           options=register_edit.choices_for(db.session, spec), **extra), status


@bp.route("/registers/<name>/new", methods=["GET", "POST"])
def new(name: str) -> Any:
    spec = register_edit.spec_of(name)
    register_edit.require_writer(actor(), spec)
    values = _shown(spec, register_edit.defaults(spec)) | {"ref": ""}
    if request.method == "POST":
        values = _form_values(spec) | {"ref": request.form.get("ref", "").strip()}
        try:
            with unit() as ctx:
                row = register_edit.create(ctx, actor(), name, values)
            flash(f"Added {spec.noun} {row.ref}.", "success")
            return redirect(url_for(".record", name=name, ref=row.ref), 303)
        except (ValidationError, ConflictError) as exc:
            errors = getattr(exc, "errors", [])
            flash(exc.message if not errors else "Some values need fixing; see the messages next to the fields.",
                  "danger")
            return _form(spec, values, errors, 422 if errors else 409, ref=None)
    return _form(spec, values, [], 200, ref=None)


@bp.route("/registers/<name>/<ref>")
def record(name: str, ref: str) -> Any:
    return _record_page(name, ref)


def _record_page(name: str, ref: str, typed: dict[str, Any] | None = None, errors: list[Any] | None = None,
                 status: int = 200) -> Any:
    """A record's page; an objective's shows its results, a chart and the form to record one (with what
    was typed and the problems when a measurement was refused); a nonconformity's, its root causes with
    the corrective actions that address each."""
    rec = register_edit.record(db.session, actor(), name, ref)
    files = evidence_files.revisions(db.session, actor(), ref) if name == "evidence" else []
    results = objective_results.results(db.session, now().date(), actor(), ref) if name == "objectives" else None
    causes = corrective_actions.by_root_cause(db.session, ref) if name == "nonconformities" else []
    shown = register_edit.display(rec.spec, rec.values, db.session)
    # a new file for the item starts its evidence review: offered to those who may start one
    may_revise = bool(files) and process_admin.may_start(db.session, actor(), "aims_evidence_review")
    return render_template("registers/record.html", rec=rec, spec=rec.spec, shown=shown, results=results,
                           revisions=files, may_revise=may_revise, causes=causes,
                           typed=typed or {}, errors={e.path: e.message for e in errors or []}), status


@bp.route("/registers/objectives/<ref>/measurements", methods=["POST"])
def record_measurement(ref: str) -> Any:
    typed = {k: request.form.get(k, "") for k in objective_results.FIELDS}
    try:
        with unit() as ctx:
            row = objective_results.record(ctx, actor(), ref, typed)
        flash(f"Recorded measurement {row.ref} of {ref}.", "success")
        return redirect(url_for(".record", name="objectives", ref=ref, _anchor="results"), 303)
    except (ValidationError, ConflictError) as exc:
        errors = getattr(exc, "errors", [])
        flash("The measurement was not recorded: " + (exc.message if not errors else
                                                       "see the messages next to the fields."), "danger")
        return _record_page("objectives", ref, typed, errors, 422 if errors else 409)


@bp.route("/registers/<name>/<ref>/edit", methods=["GET", "POST"])
def edit(name: str, ref: str) -> Any:
    rec = register_edit.record(db.session, actor(), name, ref)
    register_edit.require_writer(actor(), rec.spec)
    if request.method == "GET":
        return _form(rec.spec, _shown(rec.spec, rec.values), [], 200, ref=ref, version=rec.version)
    values = _form_values(rec.spec)
    version = seen_version(request.form.get("version"))
    try:
        with unit() as ctx:
            _, changes = register_edit.edit(ctx, actor(), name, ref, values, version)
        flash(f"Saved {rec.spec.noun} {ref}: " + (", ".join(rec.spec.field(k).label for k in changes)
                                                  + " changed." if changes else "nothing changed."), "success")
        return redirect(url_for(".record", name=name, ref=ref), 303)
    except ValidationError as exc:
        flash("Some values need fixing; see the messages next to the fields.", "danger")
        return _form(rec.spec, values, exc.errors, 422, ref=ref, version=version)
    except ConflictError as exc:
        flash(f"Not saved: {exc.message}. Your values are still below; the current ones are on the record's page.",
              "danger")
        return _form(rec.spec, values, [], 409, ref=ref, version=version)


@bp.route("/registers/<name>/<ref>/retire", methods=["POST"])
def retire(name: str, ref: str) -> Any:
    restore = request.form.get("restore") == "1"
    try:
        with unit() as ctx:
            register_edit.retire(ctx, actor(), name, ref, request.form.get("reason", ""),
                                 seen_version(request.form.get("version")), restore=restore)
        flash(f"{'Restored' if restore else 'Retired'} {ref}.", "success")
    except (ValidationError, ConflictError) as exc:
        flash(exc.message if not isinstance(exc, ValidationError) else "Give a reason.", "danger")
    return redirect(url_for(".record", name=name, ref=ref), 303)


@bp.route("/registers/<name>/export.<fmt>")
def export(name: str, fmt: str) -> Any:
    data = register_io.export(db.session, actor(), name, fmt)
    return _download(data, f"{name}.{fmt}", fmt)


@bp.route("/registers/<name>/template.<fmt>")
def template(name: str, fmt: str) -> Any:
    if fmt not in register_io.FORMATS:
        raise InvalidInput("the template comes as csv or xlsx")
    return _download(register_io.template(db.session, actor(), name, fmt), f"{name}-template.{fmt}", fmt)


@bp.route("/registers/all.<fmt>.zip")
def export_all(fmt: str) -> Any:
    if fmt not in register_io.FORMATS:
        raise InvalidInput("the registers come as csv or xlsx files")
    data, _ = register_io.export_all(db.session, actor(), fmt)
    return _download(data, f"registers-{fmt}.zip", "zip")


@bp.route("/registers/<name>/import", methods=["GET", "POST"])
def import_page(name: str) -> Any:
    spec = register_edit.spec_of(name)
    register_edit.require_writer(actor(), spec)
    if request.method == "GET":
        return render_template("registers/import.html", spec=spec, rules=register_edit.rules(spec), plan=None)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("Choose a CSV or XLSX file to import.", "danger")
        return render_template("registers/import.html", spec=spec, rules=register_edit.rules(spec), plan=None), 422
    data = upload.read()
    plan = register_io.plan(db.session, actor(), name, upload.filename, data, clock=context().clock)
    status = 422 if plan.problems else 200
    return render_template("registers/import.html", spec=spec, rules=register_edit.rules(spec), plan=plan,
                           filename=upload.filename, payload=base64.b64encode(data).decode("ascii"),
                           seen=json.dumps(plan.versions())), status


def _posted_upload() -> tuple[str, bytes, dict[str, int]]:
    try:
        data = base64.b64decode(request.form.get("payload", ""), validate=True)
        seen = json.loads(request.form.get("seen", "{}"))
    except (binascii.Error, ValueError):
        raise InvalidInput("the preview was damaged; upload the file again") from None
    if not isinstance(seen, dict) or not all(isinstance(v, int) for v in seen.values()):
        raise InvalidInput("the preview was damaged; upload the file again")
    return request.form.get("filename", "upload.csv")[:200], data, seen


@bp.route("/registers/<name>/import/apply", methods=["POST"])
def import_apply(name: str) -> Any:
    spec = register_edit.spec_of(name)
    filename, data, seen = _posted_upload()
    try:
        with unit() as ctx:
            plan = register_io.apply(ctx, actor(), name, filename, data, seen=seen, source="web import")
    except ConflictError as exc:
        flash(f"Nothing was imported: {exc.message}", "danger")
        return render_template("registers/import.html", spec=spec, rules=register_edit.rules(spec), plan=None), 409
    flash(f"Imported {filename}: {plan.summary()}.", "success")
    return redirect(url_for(".index", register=name), 303)


# --------------------------------------------------------------------------- the scope statement (4.3)

def _scope_values() -> dict[str, Any]:
    items, whys = request.form.getlist("exclusion_item"), request.form.getlist("exclusion_justification")
    return {"text": request.form.get("text", ""), "boundaries": request.form.get("boundaries", ""),
            "exclusions": [{"item": i, "justification": j} for i, j in zip(items, whys, strict=False)]}


def _scope_page(typed: dict[str, Any] | None = None, errors: list[Any] | None = None, status: int = 200,
                seen: tuple[Any, Any] | None = None) -> Any:
    info = scope.page(db.session, actor())
    latest = info.latest
    base = info.draft or info.approved
    values = typed or {"text": base.text if base else info.setup_text, "boundaries": base.boundaries if base else "",
                       "exclusions": list(base.exclusions or []) if base else []}
    seen = seen or ((latest.version, latest.row_version) if latest else (0, ""))
    return render_template("registers/scope.html", i=info, values=values, seen=seen,
                           errors={e.path: e.message for e in errors or []}, all_errors=errors or [],
                           specs=register_edit.SPECS, spec=None), status


@bp.route("/registers/scope", methods=["GET", "POST"])
def scope_page() -> Any:
    if request.method == "GET":
        return _scope_page()
    typed = _scope_values()
    seen = (seen_version(request.form.get("based_on")), seen_version(request.form.get("version")))
    try:
        with unit() as ctx:
            draft = scope.save(ctx, actor(), typed, *seen)
        flash(f"Saved draft version {draft.version} of the scope statement; someone other than you approves it.",
              "success")
        return redirect(url_for(".scope_page"), 303)
    except ValidationError as exc:
        flash("Some values need fixing; see the messages below.", "danger")
        return _scope_page(typed, exc.errors, 422, seen)
    except ConflictError as exc:
        flash(f"Not saved: {exc.message}. Your text is still below.", "danger")
        return _scope_page(typed, [], 409, seen)


@bp.route("/registers/scope/approve", methods=["POST"])
def scope_approve() -> Any:
    try:
        with unit() as ctx:
            row = scope.approve(ctx, actor(), seen_version(request.form.get("based_on")),
                                seen_version(request.form.get("version")))
        flash(f"Approved version {row.version} of the scope statement; it is now in force.", "success")
    except ConflictError as exc:
        flash(f"Not approved: {exc.message}.", "danger")
        return _scope_page(status=409)
    return redirect(url_for(".scope_page"), 303)
