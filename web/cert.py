"""Certification pages: the Statement of Applicability with its downloads (XLSX, PDF, the audit pack)
and the readiness dashboard. For the AIMS owner, top management, internal auditors and admins
(``engine.app.access.CERT_ROLES``); other roles get 403."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_login import login_required

from engine.aims import soa
from engine.app import documents, soa_edit
from engine.core import ConflictError, InvalidInput, ValidationError

from . import formfields
from .common import actor, context, seen_version, unit
from .tasks import build_form

bp = Blueprint("cert", __name__)


@bp.before_request
@login_required
def _login() -> None:
    """Every page here needs a logged-in user."""


def _send(download: documents.Download) -> Response:
    return Response(download.data, mimetype=download.mimetype, headers={
        "Content-Disposition": f'attachment; filename="{download.filename}"', "Cache-Control": "no-store"})


@bp.route("/soa")
def soa_page() -> Any:
    ctx = context()
    statement = documents.soa_statement(ctx.session, ctx.clock, actor())
    status = request.args.get("status", "")
    if status and status not in soa.STATUSES:
        raise InvalidInput(f"unknown status {status!r}; use one of {', '.join(soa.STATUSES)}")
    rows = [r for r in statement.rows if not status or r.status == status]
    return render_template("cert/soa.html", s=statement, rows=rows, status=status, statuses=soa.STATUSES,
                           gap_text=soa.GAP_TEXT)


@bp.route("/soa/controls/<control_id>", methods=["GET", "POST"])
def soa_entry(control_id: str) -> Any:
    """A control's line of the SoA: read by the SoA's readers, changed by its owner or the AIMS owner."""
    ctx = context()
    info = soa_edit.page(ctx.session, ctx.clock, actor(), control_id)
    values: dict[str, Any] = {}
    errors: list[Any] = []
    status = 200
    if request.method == "POST":
        values, _ = formfields.parse(soa_edit.SCHEMA, request.form)
        try:
            with unit() as uctx:
                soa_edit.save(uctx.session, uctx.clock, actor(), control_id, values,
                              seen_version(request.form.get("version")))
            flash(f"{control_id} saved in the working SoA.", "success")
            return redirect(url_for(".soa_entry", control_id=control_id), 303)
        except ValidationError as exc:
            errors, status = exc.errors, 422
        except ConflictError as exc:  # the page as it is now, with what the user typed still in the form
            flash(exc.message + ". Your answers are still below.", "warning")
            status = 409
        except InvalidInput as exc:
            errors, status = [formfields.refusal(soa_edit.SCHEMA, exc.message)], 422
        info = soa_edit.page(context().session, ctx.clock, actor(), control_id)
    elif info.entry is not None:
        values = {"applicable": info.entry.applicable, "justification": info.entry.justification,
                  "exclusion_basis": info.entry.exclusion_basis,
                  "implementation_status": info.entry.implementation_status if info.entry.applicable else None,
                  "implementation_description": info.entry.implementation_description,
                  "target_date": info.entry.target_date.isoformat() if info.entry.target_date else None}
    fields, problems = build_form(soa_edit.SCHEMA, values, errors)
    return render_template("cert/soa_entry.html", i=info, r=info.row, fields=fields, problems=problems,
                           gap_text=soa.GAP_TEXT), status


@bp.route("/soa/new-version", methods=["POST"])
def soa_new_version() -> Any:
    with unit() as ctx:
        version = soa_edit.open_working_version(ctx.session, ctx.clock, actor())
        text = f"Working version {version.version} of the SoA is open; its lines can be changed."
    flash(text, "success")
    back = request.form.get("control_id", "")
    return redirect(url_for(".soa_entry", control_id=back) if back else url_for(".soa_page"), 303)


@bp.route("/soa/export.<fmt>")
def soa_export(fmt: str) -> Any:
    with unit() as ctx:
        download = documents.soa_export(ctx.session, ctx.clock, actor(), fmt)
    return _send(download)


@bp.route("/audit-pack.zip")
def audit_pack() -> Any:
    with unit() as ctx:
        download = documents.audit_pack_download(ctx.session, ctx.clock, actor(), ctx.settings.evidence_dir)
    return _send(download)


@bp.route("/readiness")
def readiness_page() -> Any:
    ctx = context()
    d = documents.readiness_dashboard(ctx.session, ctx.clock, actor())
    report = documents.readiness_report(ctx.session, ctx.clock, actor())
    # [label, value] pairs: the order of the figures survives JSON (tojson sorts an object's keys)
    charts = {name: [[k, n] for k, n in figures.items()] for name, figures in (
        ("status", d.controls_by_status), ("ncs", d.open_ncs_by_grade), ("flows", d.overdue_tasks_by_flow),
        ("owners", d.overdue_tasks_by_owner))}
    return render_template("cert/readiness.html", d=d, charts=charts, report=report)
