"""Evidence submitted on its own and training recorded with its certificate, posted the way the browser
does (multipart from the start page):

* a process owner starts "Evidence review" with a file, its title, the controls it supports, its owner and
  validity: a ``submitted`` item with revision 1 and the AIMS owner's review task;
* a new file for the same item is its revision 2: both are listed on the item's page, the item holds the
  new file, and once accepted the audit pack holds both files, the index saying which is current;
* a file of a kind not kept, or too large, is refused in words next to the field, the typed values stay
  and nothing is created;
* the REST API starts the same with multipart;
* a person records a completed training with its certificate: the training record is completed, the
  certificate is an evidence item, and the readiness check counts the training.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import threading
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from engine.aims import audit_pack, readiness
from engine.aims.registers import Evidence, EvidenceRevision, TrainingRecord
from engine.app import accounts, subject, uploads
from engine.core import services
from engine.core.clock import FixedClock
from engine.core.errors import ConflictError, InvalidInput
from engine.core.models import HumanTask, ProcessInstance
from web.extensions import db

from ..form_values import Upload
from .conftest import PEOPLE, Browser, engine_ctx, shipped_app, user
from .html_form import HtmlForm

pytestmark = pytest.mark.demo
TOMAS = PEOPLE["process_owner"]
MEILIN = "meilin.chen@lumenvale.example"
REPORT = Upload("bias-test-report-q3.pdf", b"%PDF-1.4 bias test report, third quarter\n", "application/pdf")
REPORT_V2 = Upload("bias-test-report-q4.pdf", b"%PDF-1.4 bias test report, fourth quarter\n", "application/pdf")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, clock: FixedClock) -> Iterator[Flask]:
    yield from shipped_app(tmp_path_factory.mktemp("evidence_submission"), clock)


def start(browser: Browser, process_id: str, values: dict[str, object]) -> tuple[int, str, str]:
    """Fill the start page's form like a person and send it: status, page (or redirect target)."""
    form = HtmlForm(browser.get(f"/start/{process_id}").get_data(as_text=True), "start-form")
    for key, value in values.items():
        form.fill(f"f.{key}", value)
    response = browser.client.post(f"/start/{process_id}", data=MultiDict(form.body()),
                                   content_type="multipart/form-data")
    return response.status_code, response.get_data(as_text=True), response.headers.get("Location", "")


def errors_on(page: str) -> dict[str, str]:
    return {name: html.unescape(message) for name, message in
            re.findall(r'data-field-error="([^"]*)">([^<]*)<', page)}


def evidence_count() -> int:
    return db.session.scalar(select(func.count(Evidence.id))) or 0


def review_of(ref: str) -> HumanTask:
    instance = db.session.scalars(select(ProcessInstance).where(
        ProcessInstance.process_id == "aims_evidence_review", ProcessInstance.subject == ref)
        .order_by(ProcessInstance.id.desc())).first()
    assert instance is not None, f"no evidence review of {ref}"
    return db.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id)).one()


def test_evidence_submitted_on_its_own_then_revised_and_its_current_file_goes_into_the_audit_pack(
        app: Flask, browser: Callable[[str], Browser]) -> None:
    tomas = browser(TOMAS)
    status, _, _ = start(tomas, "aims_evidence_review", {
        "file": REPORT, "title": "Quarterly bias test of the credit model", "evidence_type": "report",
        "linked_controls": ["A.6.2.4", "A.7.4"], "owner": TOMAS, "valid_until": "2027-03-31"})
    assert status == 303
    with app.app_context():
        row = db.session.scalar(select(Evidence).where(Evidence.sha256 == REPORT.sha256))
        assert row is not None, "the uploaded file is no evidence item"
        assert (row.status, row.title, row.revision) == ("submitted", "Quarterly bias test of the credit model", 1)
        assert row.linked_controls == ["A.6.2.4", "A.7.4"] and row.owner_id == user(TOMAS).id
        assert row.valid_until is not None and row.valid_until.isoformat() == "2027-03-31"
        assert (row.size, row.media_type, row.collected_by_id) == (len(REPORT.content), "application/pdf",
                                                                   user(TOMAS).id)
        ref = row.ref
        task = review_of(ref)
        assert task.role == "aims_owner"

    # a new file for the same item: revision 2, the first kept
    status, _, _ = start(tomas, "aims_evidence_review", {
        "file": REPORT_V2, "evidence_ref": ref, "valid_until": "2027-06-30",
        "note": "Fourth quarter run with the retrained model"})
    assert status == 303
    with app.app_context():
        row = db.session.scalar(select(Evidence).where(Evidence.ref == ref))
        assert row is not None and (row.revision, row.sha256, row.status) == (2, REPORT_V2.sha256, "submitted")
        assert row.valid_until is not None and row.valid_until.isoformat() == "2027-06-30"
        kept = db.session.scalars(select(EvidenceRevision.sha256).where(EvidenceRevision.evidence_id == row.id)
                                  .order_by(EvidenceRevision.number)).all()
        assert kept == [REPORT.sha256, REPORT_V2.sha256]
    page = browser("aims_owner").get(f"/registers/evidence/{ref}").get_data(as_text=True)
    files = html.unescape(page[page.index('data-testid="revisions"'):])
    files = files[:files.index("</table>")]
    with app.app_context():
        name = user(TOMAS).name
    assert REPORT.filename in files and REPORT_V2.filename in files and files.count(name) == 2
    assert REPORT.sha256[:12] in files and REPORT_V2.sha256[:12] in files and "current" in files
    link = re.search(r'href="([^"]+)" data-testid="new-revision"', page)
    assert link is not None
    form = tomas.get(html.unescape(link.group(1))).get_data(as_text=True)
    assert f'<option value="{ref}" selected' in form, "the link does not choose the item on the start form"
    history = html.unescape(page[page.index('data-testid="history"'):])
    said = " ".join(re.sub(r"<[^>]+>", " ", history).split())
    assert f"{name} submitted a new revision of the evidence (revision 2)" in said, said[:600]
    assert "evidence revised" not in history and REPORT_V2.sha256 in history and "2027-06-30" in history

    # the reviewer accepts the new revision (the proposed validity is the default); the pack holds its file
    with app.app_context():
        ctx = engine_ctx(app)
        task = review_of(ref)
        services.complete_task(ctx, user("aims_owner"), task.id, {
            "decision": "accept", "valid_until": "2027-06-30", "linked_controls": ["A.6.2.4", "A.7.4"]})
        db.session.commit()
        pack = audit_pack.build(db.session, ctx.clock, evidence_dir=ctx.settings.evidence_dir)
    current = f"evidence/files/{ref}/{REPORT_V2.filename}"
    earlier = f"evidence/files/{ref}/revision-1/{REPORT.filename}"
    with zipfile.ZipFile(io.BytesIO(pack.data)) as zf:
        names = sorted(n for n in zf.namelist() if n.startswith(f"evidence/files/{ref}/"))
        assert names == [current, earlier]  # the earlier revision's file too
        assert (zf.read(current), zf.read(earlier)) == (REPORT_V2.content, REPORT.content)
        manifest = json.loads(zf.read("manifest.json"))
        index = [r for r in csv.DictReader(io.StringIO(zf.read("evidence/evidence_revisions.csv").decode()))
                 if r["evidence_ref"] == ref]
    sha = {f["path"]: f["sha256"] for f in manifest["files"]}
    assert (sha[current], sha[earlier]) == (REPORT_V2.sha256, REPORT.sha256)
    assert [(r["revision"], r["current"], r["sha256"], r["file_in_pack"]) for r in index] == [
        ("1", "no", REPORT.sha256, earlier), ("2", "yes", REPORT_V2.sha256, current)]


@pytest.mark.parametrize("upload, words", [
    (Upload("installer.exe", b"MZ not evidence", "application/octet-stream"),
     "installer.exe: “.exe” files are not kept as evidence"),
    (Upload("huge-scan.pdf", b"%PDF-1.4 " + b"x" * 3000, "application/pdf"),
     "huge-scan.pdf is 3 kB; the largest file kept is 2 kB"),
], ids=["wrong-kind", "too-large"])
def test_a_file_that_cannot_be_kept_is_refused_in_words_and_the_form_keeps_its_values(
        app: Flask, browser: Callable[[str], Browser], upload: Upload, words: str) -> None:
    settings = app.extensions["aimsflow.settings"]
    app.extensions["aimsflow.settings"] = replace(settings, max_evidence_bytes=2000)
    try:
        with app.app_context():
            before = evidence_count()
        status, page, _ = start(browser(TOMAS), "aims_evidence_review", {
            "file": upload, "title": "Scanned supplier attestation", "linked_controls": ["A.10.3"]})
    finally:
        app.extensions["aimsflow.settings"] = settings
    assert status == 422
    assert errors_on(page)["file"].startswith(f"File: {words}")
    assert ">Scanned supplier attestation</textarea>" in page, "the typed title is gone"
    assert "Choose the file again" in page
    with app.app_context():
        assert evidence_count() == before


def test_new_evidence_without_a_file_names_the_missing_file(app: Flask, browser: Callable[[str], Browser]) -> None:
    status, page, _ = start(browser(TOMAS), "aims_evidence_review", {"title": "Forgot the file"})
    assert status == 422
    assert "file" in errors_on(page)
    assert ">Forgot the file</textarea>" in page


def test_the_review_and_the_register_name_the_kind_of_evidence_in_words(
        app: Flask, browser: Callable[[str], Browser]) -> None:
    """The reviewer's instructions say "(Meeting minutes)", as the evidence register does, not the code."""
    minutes = Upload("ai-committee-minutes.pdf", b"%PDF-1.4 AI committee minutes\n", "application/pdf")
    status, _, _ = start(browser(TOMAS), "aims_evidence_review", {
        "file": minutes, "title": "AI committee minutes, October", "evidence_type": "minutes",
        "linked_controls": ["A.3.2"]})
    assert status == 303
    with app.app_context():
        row = db.session.scalar(select(Evidence).where(Evidence.sha256 == minutes.sha256))
        assert row is not None
        ref, task = row.ref, review_of(row.ref).id
    priya = browser("aims_owner")
    page = html.unescape(priya.get(f"/tasks/{task}").get_data(as_text=True))
    instructions = page[page.index('class="card-body instructions"'):]
    instructions = instructions[:instructions.index("</div>")]
    assert f"{ref} AI committee minutes, October (Meeting minutes), submitted by " in instructions
    record = html.unescape(priya.get(f"/registers/evidence/{ref}").get_data(as_text=True))
    assert re.search(r"<th[^>]*>Type</th>\s*<td[^>]*>Meeting minutes</td>", record), record[:3000]


def test_evidence_without_a_file_reads_as_no_file_yet_not_revision_0(
        app: Flask, browser: Callable[[str], Browser]) -> None:
    """The demo's evidence holds no file: its page and its review's record card say so; the API keeps
    the stored counter (0: no file revision yet)."""
    with app.app_context():
        row = db.session.scalar(select(Evidence).where(Evidence.revision == 0).order_by(Evidence.id))
        assert row is not None
        ref = row.ref
    priya = browser("aims_owner")
    record = html.unescape(priya.get(f"/registers/evidence/{ref}").get_data(as_text=True))
    assert re.search(r"<th[^>]*>Revision</th>\s*<td[^>]*>no file yet</td>", record), record[:3000]
    with app.app_context():
        [card] = [c for c in subject.subjects(db.session, -1, ref, {}) if c.ref == ref]
    assert dict(card.facts).get("Revision") == "no file yet"
    api = app.test_client()
    with app.app_context():
        _, secret = accounts.create_token(db.session, engine_ctx(app).clock, user("aims_owner"), "read")
        db.session.commit()
    body = api.get(f"/api/v1/registers/evidence/{ref}", headers={"Authorization": f"Bearer {secret}"}).get_json()
    assert body["values"]["revision"] == 0


def test_api_starts_the_evidence_submission_with_a_multipart_file(app: Flask) -> None:
    with app.app_context():
        _, secret = accounts.create_token(db.session, engine_ctx(app).clock, user(TOMAS), "ci")
        db.session.commit()
    proof = Upload("supplier-attestation.pdf", b"%PDF-1.4 supplier attestation\n", "application/pdf")
    response = app.test_client().post("/api/v1/instances", headers={"Authorization": f"Bearer {secret}"},
                                      content_type="multipart/form-data", data={
        "process_id": "aims_evidence_review",
        "data": json.dumps({"title": "Supplier attestation 2026", "linked_controls": ["A.10.3"]}),
        "file": (io.BytesIO(proof.content), proof.filename, proof.content_type)})
    assert response.status_code == 201, response.get_data(as_text=True)
    with app.app_context():
        row = db.session.scalar(select(Evidence).where(Evidence.sha256 == proof.sha256))
        assert row is not None and row.title == "Supplier attestation 2026" and row.revision == 1
    refused = app.test_client().post("/api/v1/instances", headers={"Authorization": f"Bearer {secret}"},
                                     content_type="multipart/form-data", data={
        "process_id": "aims_evidence_review", "data": json.dumps({"title": "A program"}),
        "file": (io.BytesIO(b"MZ"), "tool.exe", "application/octet-stream")})
    assert refused.status_code == 422
    assert "“.exe” files are not kept as evidence" in json.dumps(refused.get_json(), ensure_ascii=False)


def test_a_completed_training_with_its_certificate_completes_the_record_and_counts_for_readiness(
        app: Flask, browser: Callable[[str], Browser]) -> None:
    certificate = Upload("llm-risks-certificate.pdf", b"%PDF-1.4 certificate of completion\n", "application/pdf")
    with app.app_context():
        open_record = db.session.scalar(select(TrainingRecord).where(
            TrainingRecord.user_id == user(MEILIN).id, TrainingRecord.status == "in_progress"))
        assert open_record is not None
        ref = open_record.ref
        rate_before = readiness.run_checks(db.session, engine_ctx(app).clock, ("RC-11",)).checks[0].detail
    status, _, _ = start(browser(MEILIN), "aims_training", {
        "course": "LLM risks: hallucination and prompt injection", "requirement": "llm_risk_awareness",
        "completed_on": "2026-06-10", "certificate": certificate, "expires_on": "2028-06-10"})
    assert status == 303
    with app.app_context():
        record = db.session.scalar(select(TrainingRecord).where(TrainingRecord.ref == ref))
        assert record is not None and record.status == "completed", "the open assignment is not completed"
        assert record.completed_at is not None and record.completed_at.isoformat() == "2026-06-10"
        assert record.expires_at is not None and record.expires_at.isoformat() == "2028-06-10"
        evidence = db.session.get(Evidence, record.certificate_evidence_id)
        assert evidence is not None and evidence.sha256 == certificate.sha256
        assert (evidence.status, evidence.evidence_type, evidence.linked_clauses) == ("submitted", "certificate",
                                                                                     ["7.2"])
        assert evidence.valid_until is not None and evidence.valid_until.isoformat() == "2028-06-10"
        rate_after = readiness.run_checks(db.session, engine_ctx(app).clock, ("RC-11",)).checks[0].detail
    assert rate_before != rate_after and rate_after.startswith("training completion 100%"), (rate_before, rate_after)
    history = browser("aims_owner").get(f"/registers/training/{ref}").get_data(as_text=True)
    history = html.unescape(history[history.index('data-testid="history"'):])
    said = " ".join(re.sub(r"<[^>]+>", " ", history).split())
    assert re.search(r"recorded the training as completed with the certificate EVD-\d+", said), said[:400]
    assert "training completed" not in said and "2026-06-10" in history and "Completed on" in history


def test_only_the_aims_owner_records_someone_elses_training(app: Flask, browser: Callable[[str], Browser]) -> None:
    status, page, _ = start(browser(TOMAS), "aims_training", {
        "person": MEILIN, "course": "Bias testing", "completed_on": "2026-06-01",
        "certificate": Upload("c.pdf", b"%PDF-1.4 c\n", "application/pdf")})
    assert status == 403
    assert errors_on(page)["person"] == ("Who completed it: only the AIMS owner records someone else's training; "
                                         "leave it empty for yours")
    assert ">Bias testing</textarea>" in page, "the typed course is gone"


def test_only_those_who_may_start_the_evidence_review_are_offered_a_new_file(
        app: Flask, browser: Callable[[str], Browser]) -> None:
    status, _, _ = start(browser(TOMAS), "aims_evidence_review", {
        "file": Upload("dpia-summary.pdf", b"%PDF-1.4 dpia summary\n", "application/pdf"),
        "title": "Summary of the data protection impact assessment", "linked_controls": ["A.5.2"]})
    assert status == 303
    with app.app_context():
        ref = db.session.scalar(select(Evidence.ref).where(Evidence.title.startswith("Summary of the data")))
    for who, offered in (("aims_owner", True), (TOMAS, True), ("internal_auditor", False), ("top_management", False)):
        page = browser(who).get(f"/registers/evidence/{ref}").get_data(as_text=True)
        assert 'data-testid="revisions"' in page, f"{who} does not see the item's files"
        assert ('data-testid="new-revision"' in page) is offered, f"{who}: the new-file button is wrong"


def test_an_archived_item_takes_no_new_revision_and_a_bad_expiry_is_named(app: Flask) -> None:
    pdf = uploads.Incoming(("file",), "attestation.pdf", "application/pdf", b"%PDF-1.4 attestation\n")
    with app.app_context():
        ctx = engine_ctx(app)
        archived = db.session.scalars(select(Evidence).order_by(Evidence.id)).first()
        assert archived is not None
        archived.status = "archived"
        db.session.flush()
        with pytest.raises(ConflictError, match="is archived; submit the file as a new evidence item"):
            uploads.start(ctx, user(TOMAS), "aims_evidence_review", {"evidence_ref": archived.ref}, [pdf])
        db.session.rollback()
        certificate = uploads.Incoming(("certificate",), "c.pdf", "application/pdf", b"%PDF-1.4 c\n")
        with pytest.raises(InvalidInput, match="expires_on: the certificate expires before it was earned"):
            uploads.start(ctx, user("aims_owner"), "aims_training", {
                "person": MEILIN, "course": "Bias testing", "completed_on": "2026-06-01",
                "expires_on": "2026-05-01"}, [certificate])
        db.session.rollback()


def test_the_aims_owner_records_someone_elses_training_as_a_new_record(app: Flask) -> None:
    certificate = uploads.Incoming(("certificate",), "dpo-course.pdf", "application/pdf", b"%PDF-1.4 dpo\n")
    with app.app_context():
        ctx = engine_ctx(app)
        before = db.session.scalar(select(func.count(TrainingRecord.id)))
        outcome = uploads.start(ctx, user("aims_owner"), "aims_training", {
            "person": TOMAS, "course": "Data protection for AI teams", "provider": "IAPP",
            "completed_on": "2026-05-20"}, [certificate])
        db.session.commit()
        record = db.session.scalar(select(TrainingRecord).where(TrainingRecord.ref == outcome.instance.subject))
        assert record is not None and db.session.scalar(select(func.count(TrainingRecord.id))) == before + 1
        assert (record.user_id, record.status, record.provider) == (user(TOMAS).id, "completed", "IAPP")
        assert record.created_by_id == user("aims_owner").id and record.expires_at is None


def test_two_revisions_of_one_item_at_once_get_the_next_two_numbers(app: Flask) -> None:
    """Two owners send a new file for the same item at the same moment, five times over: every file is
    kept, numbered one after the other (the item's row is locked while a revision is added)."""
    with app.app_context():
        ctx = engine_ctx(app)
        outcome = uploads.start(ctx, user(TOMAS), "aims_evidence_review", {"title": "Model card of the scorer"},
                                [uploads.Incoming(("file",), "card-0.pdf", "application/pdf", b"%PDF card 0")])
        db.session.commit()
        ref = outcome.instance.subject
        assert ref is not None

    def revise(n: int, barrier: threading.Barrier) -> None:
        with app.app_context():
            barrier.wait()
            uploads.start(engine_ctx(app), user(TOMAS), "aims_evidence_review", {"evidence_ref": ref}, [
                uploads.Incoming(("file",), f"card-{n}.pdf", "application/pdf", f"%PDF card {n}".encode())])
            db.session.commit()

    for round_ in range(5):
        barrier = threading.Barrier(2)
        with ThreadPoolExecutor(2) as pool:
            for done in [pool.submit(revise, 2 * round_ + i + 1, barrier) for i in range(2)]:
                done.result()
    with app.app_context():
        row = db.session.scalar(select(Evidence).where(Evidence.ref == ref))
        assert row is not None and row.revision == 11
        numbers = db.session.scalars(select(EvidenceRevision.number).where(EvidenceRevision.evidence_id == row.id)
                                     .order_by(EvidenceRevision.number)).all()
        assert numbers == list(range(1, 12))


def test_a_task_form_refuses_a_file_kind_not_kept_next_to_its_field(app: Flask,
                                                                     browser: Callable[[str], Browser]) -> None:
    lucas_email = "lucas.moreau@lumenvale.example"
    with app.app_context():
        instance = services.start_process(engine_ctx(app), user("aims_owner"), "aims_action", {
            "description": "Publish the model card", "owner_id": lucas_email, "due_date": "2026-11-30",
            "requester_id": PEOPLE["aims_owner"], "needs_verification": False, "source_ref": "CERT-2026"}).instance
        db.session.commit()
        task = db.session.scalars(select(HumanTask.id).where(HumanTask.instance_id == instance.id)).one()
        before = evidence_count()
    lucas = browser(lucas_email)
    form = HtmlForm(lucas.get(f"/tasks/{task}").get_data(as_text=True), "task-form")
    for key, value in {"status": "done", "completion_note": "Published on the intranet", "completed_at": "2026-11-02",
                       "proof_files": [Upload("macro.xlsm.exe", b"MZ", "application/octet-stream")]}.items():
        form.fill(f"f.{key}", value)
    response = lucas.client.post(f"/tasks/{task}/complete", data=MultiDict(form.body() + [("action", "complete")]),
                                 content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert any("macro.xlsm.exe: “.exe” files are not kept as evidence" in m for m in errors_on(page).values())
    assert "Published on the intranet</textarea>" in page
    with app.app_context():
        assert evidence_count() == before
        assert db.session.get(HumanTask, task).state != "completed"
