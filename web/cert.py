"""Certification pages: the Statement of Applicability with its downloads (XLSX, PDF, the audit pack)
and the readiness dashboard. For the AIMS owner, top management, internal auditors and admins
(``engine.app.access.CERT_ROLES``); other roles get 403."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, render_template, request
from flask_login import login_required

from engine.aims import soa
from engine.app import documents
from engine.core import InvalidInput

from .common import actor, context, unit

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
    # [label, value] pairs: the order of the figures survives JSON (tojson sorts an object's keys)
    charts = {name: [[k, n] for k, n in figures.items()] for name, figures in (
        ("status", d.controls_by_status), ("ncs", d.open_ncs_by_grade), ("flows", d.overdue_tasks_by_flow),
        ("owners", d.overdue_tasks_by_owner))}
    return render_template("cert/readiness.html", d=d, charts=charts)
