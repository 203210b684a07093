"""Process instances (list, the instance page with the diagram, timeline, data and register links),
starting a process with its start form. The registers are ``registers.py``'s."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_login import login_required

from engine.app import access, history, process_admin, uploads, worklist
from engine.core import ConflictError, Forbidden, InvalidInput, NotFound, ValidationError

from . import formfields
from .common import actor, context, now, unit
from .extensions import db
from .tasks import build_form

bp = Blueprint("instances", __name__)


@bp.before_request
@login_required
def _login() -> None:
    """Every page here needs a logged-in user."""


@bp.route("/instances")
def instance_list() -> Any:
    rows = history.instances(db.session, actor(), process_id=request.args.get("process") or None)
    return render_template("instances/list.html", rows=rows)


@bp.route("/instances/<int:instance_id>")
def instance(instance_id: int) -> Any:
    view = history.instance_view(context(), actor(), instance_id)
    return render_template("instances/instance.html", v=view, now=now())


@bp.route("/instances/<int:instance_id>/diagram.xml")
def diagram(instance_id: int) -> Any:
    instance = access.visible_instance(db.session, actor(), instance_id)  # 404 for one the user may not see
    return Response(history.diagram_in_words(instance.process_version.bpmn_xml), mimetype="application/xml")


@bp.route("/start")
def start_list() -> Any:
    return render_template("instances/start_list.html", items=process_admin.startable(db.session, actor()))


@bp.route("/start/<process_id>", methods=["GET", "POST"])
def start(process_id: str) -> Any:
    info = process_admin.start_form(db.session, actor(), process_id)
    # a link may fill in top-level text fields (?evidence_ref=EVD-019 from the item's page)
    values: dict[str, Any] = {k: v for k, v in request.args.items()
                              if k in ((info.form or {}).get("properties") or {})}
    errors: list[Any] = []
    status = 200
    if request.method == "POST":
        values, files = formfields.parse(info.form, request.form, request.files)
        incoming = [uploads.Incoming(f.path, f.file.filename or "", f.file.mimetype, f.file.read()) for f in files]
        try:
            with unit() as ctx:
                outcome = uploads.start(ctx, actor(), process_id, values, incoming)
                new_id = outcome.instance.id
                mine = [t.id for t in outcome.new_tasks if t.assignee_id == actor().id]
                after = worklist.what_next(db.session, new_id)
            flash(f"Started “{info.version.name}”. {after.sentence(actor())}", "success")
            if mine:
                return redirect(url_for("tasks.task", task_id=mine[0]), 303)
            return redirect(url_for(".instance", instance_id=new_id), 303)
        except ValidationError as exc:
            errors, status = exc.errors, 422
        except (ConflictError, Forbidden, InvalidInput, NotFound) as exc:  # what the first steps found: form stays
            errors = [formfields.refusal(info.form, exc.message)]
            status = 409 if isinstance(exc, ConflictError) else 403 if isinstance(exc, Forbidden) else 422
        if incoming:
            flash("Choose the file again: a file is kept only once the form is sent without problems.", "info")
    fields, problems = build_form(info.form, values, errors)
    return render_template("instances/start.html", info=info, fields=fields, problems=problems), status

