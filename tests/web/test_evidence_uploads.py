"""A file given as proof on a step becomes evidence: the action owner attaches a file to "Complete the
action" on its page; the register holds a ``submitted`` evidence item with the file's sha256; the
worker starts its evidence review; once the reviewer accepts it, the audit pack contains the file
itself, listed in the manifest with the same sha256."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from engine.aims import audit_pack
from engine.aims.registers import Evidence
from engine.core import services, worker
from engine.core.clock import FixedClock
from engine.core.models import HumanTask, ProcessInstance
from web.extensions import db

from ..form_values import Upload
from .conftest import Browser, engine_ctx, shipped_app, user
from .html_form import HtmlForm

pytestmark = pytest.mark.demo
LUCAS = "lucas.moreau@lumenvale.example"
PROOF = Upload("reporting-form-live.pdf", b"%PDF-1.4 the adverse-impact form, published\n", "application/pdf")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, clock: FixedClock) -> Iterator[Flask]:
    yield from shipped_app(tmp_path_factory.mktemp("evidence_uploads"), clock)


def test_a_proof_file_becomes_reviewed_evidence_and_goes_into_the_audit_pack(
        app: Flask, browser: Callable[[str], Browser]) -> None:
    with app.app_context():
        ctx = engine_ctx(app)
        instance = services.start_process(ctx, user("aims_owner"), "aims_action", {
            "description": "Publish the adverse-impact reporting form", "owner_id": LUCAS,
            "due_date": "2026-11-30", "requester_id": "priya.raman@lumenvale.example",
            "needs_verification": False, "source_ref": "CERT-2026"}).instance
        db.session.commit()
        action_ref = instance.subject
        task = db.session.scalars(select(HumanTask.id).where(HumanTask.instance_id == instance.id)).one()
    lucas = browser(LUCAS)
    form = HtmlForm(lucas.get(f"/tasks/{task}").get_data(as_text=True), "task-form")
    for key, value in {"status": "done", "completion_note": "The form is live on the intranet",
                       "completed_at": "2026-11-02", "evidence": ["intranet page"], "proof_files": [PROOF]}.items():
        form.fill(f"f.{key}", value)
    response = lucas.client.post(f"/tasks/{task}/complete", data=MultiDict(form.body() + [("action", "complete")]),
                                 content_type="multipart/form-data")
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]

    with app.app_context():
        ctx = engine_ctx(app)
        row = db.session.scalar(select(Evidence).where(Evidence.sha256 == PROOF.sha256))
        assert row is not None, "no evidence item for the uploaded proof"
        assert (row.status, row.size, row.media_type) == ("submitted", len(PROOF.content), "application/pdf")
        assert action_ref in row.title and PROOF.filename in row.title and row.linked_clauses == ["10.2"]
        assert row.collected_by_id == user(LUCAS).id
        ref = row.ref
        # the worker starts the evidence review of what was submitted, once
        for _ in range(2):
            report = worker.run_pass(db.session, ctx.clock, ctx.settings)
            assert report.failures == []
        reviews = list(db.session.scalars(select(ProcessInstance).where(
            ProcessInstance.process_id == "aims_evidence_review", ProcessInstance.subject == ref)))
        assert len(reviews) == 1
        review = db.session.scalars(select(HumanTask).where(HumanTask.instance_id == reviews[0].id)).one()
        services.complete_task(ctx, user("aims_owner"), review.id, {
            "decision": "accept", "valid_until": "2027-11-01", "linked_controls": ["A.8.3"]})
        db.session.commit()
        assert db.session.get(Evidence, row.id).status == "accepted"

        pack = audit_pack.build(db.session, ctx.clock, evidence_dir=ctx.settings.evidence_dir)
    path = f"evidence/files/{ref}/{PROOF.filename}"
    with zipfile.ZipFile(io.BytesIO(pack.data)) as zf:
        assert zf.read(path) == PROOF.content
        manifest = json.loads(zf.read("manifest.json"))
        index = list(csv.DictReader(io.StringIO(zf.read("evidence/evidence_index.csv").decode())))
    assert {f["path"]: f["sha256"] for f in manifest["files"]}[path] == hashlib.sha256(PROOF.content).hexdigest()
    assert next(r for r in index if r["ref"] == ref)["file_in_pack"] == path
