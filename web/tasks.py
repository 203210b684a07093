"""The inbox, the task page (form, instructions, data so far, claim / release / complete / draft),
evidence downloads and the managers' team view with reassignment."""

from __future__ import annotations

import functools
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_login import login_required
from markupsafe import Markup, escape

from engine.aims import BUSINESS_ROLES, ROLES, risk_criteria
from engine.app import organisation_setup, uploads, worklist
from engine.core import (
    OPEN_STATES,
    ConflictError,
    Forbidden,
    InvalidInput,
    NotFound,
    SodViolation,
    ValidationError,
    directory,
    services,
)

from . import formfields, instruction_text
from .common import actor, context, now, seen_version, unit
from .extensions import db

bp = Blueprint("tasks", __name__)


@bp.before_request
@login_required
def _login() -> None:
    """Every page here needs a logged-in user."""


@bp.route("/tasks")
def inbox() -> Any:
    page = worklist.inbox_page(db.session, actor(), now(), request.args.get("tab", "mine"),
                               request.args.get("q", "").strip(), request.args.get("process", ""),
                               max(1, request.args.get("page", 1, type=int) or 1))
    steps = organisation_setup.checklist(db.session) if "admin" in actor().roles else []
    return render_template("tasks/inbox.html", page=page, steps=steps)


def _users(roles: list[str]) -> list[tuple[str, str]]:
    """The people a user picker offers (those holding ``roles``; any business role without), each as
    "Name — their roles in words" ("Priya Raman — AIMS owner")."""
    asked = list(roles or BUSINESS_ROLES)
    seen: dict[str, str] = {}
    for role in asked:
        for u in directory.users_with_role(db.session, role):
            held = sorted(ROLES.get(r, r) for r in u.roles if r in asked)
            seen[u.email] = f"{u.name} — {', '.join(held)}" if held else u.name
    return sorted(seen.items(), key=lambda kv: kv[1])


def _refs(kind: str) -> list[tuple[str, str]]:
    return worklist.reference_options(db.session, kind)


def build_form(schema: dict[str, Any] | None, values: dict[str, Any] | None,
               errors: list[Any] | None = None, task_data: dict[str, Any] | None = None
               ) -> tuple[list[formfields.Field], list[formfields.Problem]]:
    """A form's fields with the people and records its pickers offer (and the items of ``task_data``
    its choices among items offer), and the summary of ``errors``."""
    errors = errors or []
    criteria = functools.cache(lambda: worklist.risk_criteria_in_force(db.session))  # read once, if a scale asks

    def scales(name: str) -> dict[str, str]:
        return risk_criteria.scale_words(criteria(), name)

    def meanings(name: str) -> dict[str, str]:
        return risk_criteria.descriptions(criteria(), name)

    fields = formfields.build(schema, values, {e.path: e.message for e in errors}, _users, _refs, scales, meanings,
                              task_data)
    return fields, formfields.summary(fields, errors)


def instructions_html(text: str | None, data: dict[str, Any], schema: dict[str, Any] | None = None,
                      others: list[dict[str, Any]] | None = None) -> Markup | None:
    """The BPMN instructions, a Jinja template over the task data, rendered in a sandbox; a code the
    task's form ``schema`` offers as a titled choice reads as its title, and one only the process's
    ``others`` forms offer (the form that collected it) as theirs."""
    if not text:
        return None
    people = instruction_text.People()  # the e-mails it shows, named after with one lookup
    jinja = instruction_text.environment(instruction_text.code_titles([schema, *(others or [])]), people)
    try:
        rendered = people.named(jinja.from_string(text).render(**{k: v for k, v in data.items() if isinstance(k, str)}))
    except Exception:  # a broken template still shows its text
        rendered = str(escape(text))
    return Markup("<br>".join(Markup(rendered).split("\n")))


def _render(detail: worklist.TaskDetail, values: dict[str, Any] | None = None,
            errors: list[Any] | None = None, status: int = 200) -> Any:
    fields, problems = build_form(detail.schema, values if values is not None else (detail.draft or detail.data),
                                  errors, detail.choices_data)
    decision_fields: dict[str, Any] = {}
    if detail.decision is not None:
        keep = {detail.decision.name, detail.decision.comment_field}
        decision_fields = {f.key: f for f in fields if f.key in keep}
        fields = [f for f in fields if f.key not in keep]
    return render_template("tasks/task.html", d=detail, fields=fields, decision_fields=decision_fields,
                           problems=problems,
                           instructions=instructions_html(detail.instructions, detail.instruction_data,
                                                          detail.schema, detail.process_forms),
                           disabled=not detail.may_complete,
                           overdue=detail.task.state in OPEN_STATES and detail.task.due_at is not None
                           and detail.task.due_at < now()), status


@bp.route("/tasks/<int:task_id>")
def task(task_id: int) -> Any:
    return _render(worklist.task_detail(context(), actor(), task_id))


@bp.route("/tasks/<int:task_id>/claim", methods=["POST"])
def claim(task_id: int) -> Any:
    with unit() as ctx:
        worklist.task_detail(ctx, actor(), task_id, page=False)  # 404 for a task the user may not see
        try:
            services.claim_task(ctx, actor(), task_id, expected_version=seen_version(request.form.get("version")))
        except (ConflictError, Forbidden) as exc:
            flash(exc.message, "warning")
            return redirect(url_for(".task", task_id=task_id), 303)
    flash("The task is yours now.", "success")
    return redirect(url_for(".task", task_id=task_id), 303)


@bp.route("/tasks/<int:task_id>/release", methods=["POST"])
def release(task_id: int) -> Any:
    with unit() as ctx:
        worklist.task_detail(ctx, actor(), task_id, page=False)  # 404 for a task the user may not see
        try:
            services.release_task(ctx, actor(), task_id,
                                  expected_version=seen_version(request.form.get("version")))
        except (ConflictError, Forbidden) as exc:
            flash(exc.message, "warning")
            return redirect(url_for(".task", task_id=task_id), 303)
    flash("The task is back in its lane for someone else to claim.", "info")
    return redirect(url_for(".inbox"), 303)


@bp.route("/tasks/<int:task_id>/complete", methods=["POST"])
def complete(task_id: int) -> Any:
    ctx = context()
    detail = worklist.task_detail(ctx, actor(), task_id, page=False)
    data, files = formfields.parse(detail.schema, request.form, request.files)
    incoming = [uploads.Incoming(f.path, f.file.filename or "", f.file.mimetype, f.file.read()) for f in files]
    refused = uploads.field_errors(ctx.settings, detail.schema, incoming)
    if refused:  # a kind not kept or too large: said next to its field, nothing stored
        return _render(worklist.task_detail(ctx, actor(), task_id), data, refused, 422)
    try:
        for upload in incoming:  # each file is kept even if the form is sent back with errors
            with unit() as uctx:
                row = worklist.store_evidence(uctx, actor(), task_id, "/".join(map(str, upload.path)),
                                              upload.filename, upload.content_type, upload.content)
                formfields.put(data, upload.path, worklist.evidence_ref(row))
        if request.form.get("action") == "draft":
            with unit() as uctx:
                worklist.save_draft(uctx, actor(), task_id, data)
            flash("Draft saved. It is here when you come back.", "info")
            return redirect(url_for(".task", task_id=task_id), 303)
        with unit() as uctx:
            outcome = worklist.submit(uctx, actor(), task_id, data,
                                      expected_version=seen_version(request.form.get("version")))
            mine = [t.id for t in outcome.new_tasks if t.assignee_id == actor().id]
        after = worklist.what_next(db.session, detail.task.instance_id)
    except ValidationError as exc:
        return _render(worklist.task_detail(context(), actor(), task_id), data, exc.errors, 422)
    except ConflictError as exc:  # the page as it is now, with what the user typed still in the form
        flash(exc.message + ". Your answers are still below.", "warning")
        return _render(worklist.task_detail(context(), actor(), task_id), data, [], 409)
    except Forbidden as exc:
        flash(exc.message, "danger")
        return _render(worklist.task_detail(context(), actor(), task_id), data, [], 403)
    except (InvalidInput, NotFound) as exc:  # what the step found wrong (NotFound: a record it looks for is gone)
        return _render(worklist.task_detail(context(), actor(), task_id), data,
                       [formfields.refusal(detail.schema, exc.message)], 422)
    flash(f"“{detail.task.name}” completed. {after.sentence(actor())}", "success")
    if mine:
        return redirect(url_for(".task", task_id=mine[0]), 303)
    return redirect(url_for(".inbox"), 303)


@bp.route("/tasks/<int:task_id>/reassign", methods=["POST"])
def reassign(task_id: int) -> Any:
    """Managers hand a task to someone else with a reason. A role that may not reassign gets 403."""
    worklist.task_detail(context(), actor(), task_id, page=False)  # 404 for a task the user may not see
    to = request.form.get("to", "")
    try:
        with unit() as ctx:
            services.reassign_task(ctx, actor(), task_id, to, request.form.get("reason", ""),
                                   expected_version=seen_version(request.form.get("version")))
            holder = directory.user_by_email(ctx.session, to)
        flash(f"Task {task_id} reassigned to {holder.name or holder.email}.", "success")
    except (InvalidInput, ConflictError, SodViolation, NotFound) as exc:
        flash(exc.message, "danger")
    back = url_for(".team") if request.form.get("back") == "team" else url_for(".task", task_id=task_id)
    return redirect(back, 303)


@bp.route("/evidence/<int:evidence_id>")
def evidence(evidence_id: int) -> Any:
    row, path = worklist.evidence_file(context(), actor(), evidence_id)
    return send_file(path, mimetype=row.content_type, as_attachment=True, download_name=row.filename)


@bp.route("/team")
def team() -> Any:
    overdue = request.args.get("overdue") == "1"
    rows = worklist.team_rows(db.session, actor(), now(), overdue_only=overdue)
    return render_template("tasks/team.html", rows=rows, overdue=overdue,
                           candidates={r.task.role: directory.users_with_role(db.session, r.task.role) for r in rows})
