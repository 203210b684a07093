"""A control's line of the Statement of Applicability on its own page: its owner (or the AIMS owner)
edits the justification and how it is implemented in the working version; the approved version is
frozen until the AIMS owner opens a new working version; a stale save answers 409 and keeps the typed
text; a missing justification is named in words; every change is audited with before and after; the
SoA page, the XLSX and the PDF show the implementation and the approval block."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from flask import Flask
from openpyxl import load_workbook
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from engine.aims import soa
from engine.aims.registers import Control, SoAEntry
from engine.core.models import AuditEvent, User
from web.extensions import db

from .conftest import Browser
from .html_form import HtmlForm

pytestmark = pytest.mark.demo
AIMS_OWNER = "priya.raman@lumenvale.example"


def owned_control(app: Flask) -> tuple[str, str]:
    """(control id, owner's e-mail) of a line of the SoA in force whose owner is not the AIMS owner."""
    with app.app_context():
        version = soa.current(db.session)
        assert version is not None
        for entry in version.entries:
            owner = db.session.get(User, entry.control_owner_id) if entry.control_owner_id else None
            if owner is not None and owner.email != AIMS_OWNER and "aims_owner" not in owner.roles:
                control = db.session.get(Control, entry.control_id)
                assert control is not None
                return control.control_id, owner.email
    raise AssertionError("the demo SoA names no control owner besides the AIMS owner")


def post_form(who: Browser, url: str, values: dict[str, object], version: str | None = None) -> tuple[int, str]:
    form = HtmlForm(who.get(url).get_data(as_text=True), "soa-entry-form")
    for key, value in values.items():
        form.fill(f"f.{key}", value)
    body = form.body()
    if version is not None:
        body = [(k, version if k == "version" else v) for k, v in body]
    response = who.client.post(url, data=MultiDict(body), content_type="multipart/form-data")
    return response.status_code, response.get_data(as_text=True)


def test_control_owner_edits_their_line_of_the_working_soa(app: Flask, browser: Callable[[str], Browser]) -> None:
    control, owner_email = owned_control(app)
    url = f"/soa/controls/{control}"
    owner, priya = browser(owner_email), browser(AIMS_OWNER)
    with app.app_context():
        working = soa.working_version(db.session) is not None
    if not working:  # the approved SoA is frozen: the owner reads it, the AIMS owner opens a working version
        page = owner.get(url).get_data(as_text=True)
        assert 'data-testid="why-not"' in page and "soa-entry-form" not in page
        assert 'data-testid="open-version"' not in page
        page = priya.get(url).get_data(as_text=True)
        assert 'data-testid="open-version"' in page
        assert priya.post("/soa/new-version", {"control_id": control}).status_code == 303

    text = "Quarterly fairness review of every model in production, recorded in the model cards"
    status, page = post_form(owner, url, {"applicable": True, "justification": "Risk RSK-003 needs it",
                                          "implementation_status": "in_progress",
                                          "implementation_description": text})
    assert status == 303, page[:2000]
    with app.app_context():
        version = soa.working_version(db.session)
        assert version is not None
        row = soa.compute(db.session, app.extensions["aimsflow.clock"], version).row(control)
        assert (row.justification, row.implementation_description, row.status) == (
            "Risk RSK-003 needs it", text, "in_progress")
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "soa_entry_edited")
                                   .order_by(AuditEvent.seq.desc())).first()
        assert event is not None and event.actor == owner_email and event.subject == f"{version.ref}/{control}"
        assert event.data["changes"]["implementation_description"]["after"] == text
        entry_version = db.session.scalar(select(SoAEntry.row_version).where(
            SoAEntry.soa_version_id == version.id, SoAEntry.control_id == db.session.scalar(
                select(Control.id).where(Control.control_id == control))))
    assert text in priya.get("/soa").get_data(as_text=True)

    # the AIMS owner saved meanwhile: the owner's stale save answers 409 and keeps what they typed
    status, _ = post_form(priya, url, {"applicable": True, "justification": "Risk RSK-003 and the EU AI Act",
                                       "implementation_status": "in_progress", "implementation_description": text})
    assert status == 303
    status, page = post_form(owner, url, {"applicable": True, "justification": "Typed before the reload",
                                          "implementation_status": "implemented"}, version=str(entry_version))
    assert status == 409 and "meanwhile" in page and "Typed before the reload" in page
    # a missing justification is named in words at its field
    status, page = post_form(owner, url, {"applicable": True, "justification": "",
                                          "implementation_status": "implemented"})
    assert status == 422 and "Justification: say why the control is included or excluded" in page
    assert "justification:" not in page

    # someone who neither owns the control nor reads the SoA is refused
    assert browser("elena.petrova@lumenvale.example").get(url).status_code == 403

    xlsx = load_workbook(io.BytesIO(priya.get("/soa/export.xlsx").data))["SoA"]
    assert str(xlsx.cell(row=4, column=1).value).startswith("Approval: not approved yet - working version")
    column = [c.value for c in xlsx[5]].index("Implementation") + 1
    assert text in [xlsx.cell(row=r, column=column).value for r in range(6, xlsx.max_row + 1)]


def test_an_approved_soa_is_frozen_until_the_aims_owner_opens_a_working_version(
        app: Flask, browser: Callable[[str], Browser]) -> None:
    control, owner_email = owned_control(app)
    url = f"/soa/controls/{control}"
    with app.app_context():  # the working version approved (as the certification preparation does)
        version = soa.working_version(db.session)
        assert version is not None
        jonas = db.session.scalar(select(User).where(User.email == "jonas.weber@lumenvale.example"))
        assert jonas is not None
        version.status, version.approved_by_id = "approved", jonas.id
        version.approved_at = app.extensions["aimsflow.clock"].now()
        db.session.commit()
    owner, priya = browser(owner_email), browser(AIMS_OWNER)
    page = owner.get(url).get_data(as_text=True)
    assert 'data-testid="why-not"' in page and "soa-entry-form" not in page and "approved" in page
    assert owner.post(url, {"f.applicable": "on", "f.applicable.present": "1",
                            "f.justification": "late change"}).status_code == 409
    xlsx = load_workbook(io.BytesIO(priya.get("/soa/export.xlsx").data))["SoA"]
    assert "approved on" in str(xlsx.cell(row=4, column=1).value)
    assert str(xlsx.cell(row=4, column=1).value).endswith("by Jonas Weber")
    assert owner.post("/soa/new-version", {"control_id": control}).status_code == 403
    assert 'data-testid="open-version"' in priya.get(url).get_data(as_text=True)
    assert priya.post("/soa/new-version", {"control_id": control}).status_code == 303
    assert "soa-entry-form" in owner.get(url).get_data(as_text=True)


def test_two_aims_owners_opening_a_working_version_at_once_open_one(app: Flask) -> None:
    """The approved SoA again (as the second test left it working, approve it), then two AIMS owners
    press "Open a new working version" at the same moment, ten times: one working version each time."""
    import threading

    from engine.app import soa_edit
    from engine.core import transaction

    clock = app.extensions["aimsflow.clock"]
    for _ in range(10):
        with app.app_context():
            version = soa.working_version(db.session)
            assert version is not None
            version.status, version.approved_at = "approved", clock.now()
            db.session.commit()
        barrier = threading.Barrier(2)
        failures: list[BaseException] = []

        def press(barrier: threading.Barrier = barrier, failures: list[BaseException] = failures) -> None:
            try:
                with app.app_context():
                    priya = db.session.scalar(select(User).where(User.email == AIMS_OWNER))
                    db.session.commit()  # end the read: SQLite's reads here hold the write lock
                    barrier.wait(timeout=30)
                    with transaction(db.session, clock):
                        soa_edit.open_working_version(db.session, clock, priya)
            except BaseException as exc:  # noqa: BLE001 - reported below
                failures.append(exc)

        threads = [threading.Thread(target=press) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not failures, failures
        with app.app_context():
            working = [v for v in soa.versions(db.session) if v.status in soa.WORKING_STATES]
            assert len(working) == 1, [(v.ref, v.status) for v in working]
