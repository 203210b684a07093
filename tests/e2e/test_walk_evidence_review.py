"""The evidence review (``aims_evidence_review``) done in chromium by the people who hold each step: a
process owner submits a file as new evidence on the start form (title, controls, owner, validity), and
the AIMS owner accepts it with its validity and the controls it proves; and the rejection branch of
EVD-018, which its collector asks to be reviewed, where the AIMS owner rejects it with the reason
(the submitter may resubmit). Screenshots under test-output/e2e/<test name>/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from engine.aims.registers import Evidence
from engine.core.models import EvidenceFile
from web.extensions import db

from .walk import Walk, walk

pytestmark = pytest.mark.demo
SUBMITTED = {"evidence_ref": "EVD-018", "trigger": "submitted"}  # collected by lucas


@pytest.fixture
def evidence(chromium: Any, fresh_shipped_server: tuple[str, Flask], shots: Path) -> Iterator[Walk]:
    yield from walk(chromium, fresh_shipped_server, shots, "aims_evidence_review")


def test_evidence_submitted_with_a_file_is_accepted_with_validity_and_controls(evidence: Walk) -> None:
    instance_id = evidence.start("tomas", {
        "file": "bias-test-report-q3.pdf", "title": "Quarterly bias test of the credit model",
        "linked_controls": ["A.6.2.4", "A.7.4"], "owner": "tomas.alvarez@lumenvale.example",
        "valid_until": "2027-03-31"})
    with evidence.app.app_context():
        row = db.session.scalar(select(Evidence).where(Evidence.instance_id == instance_id))
        assert row is not None and row.revision == 1 and row.title == "Quarterly bias test of the credit model"
        assert db.session.get(EvidenceFile, int(row.content_ref.removeprefix("upload:"))).filename \
            == "bias-test-report-q3.pdf"
        ref = row.ref
    evidence.page.goto(f"{evidence.base}/registers/evidence/{ref}")  # the item's page lists its file
    files = evidence.page.locator("[data-testid=revisions]")
    assert "bias-test-report-q3.pdf" in files.inner_text() and "current" in files.inner_text()
    evidence.ui.shot("evidence_item_files")
    evidence.do("priya", "ut_review_evidence", {"decision": "accept", "valid_until": "2027-03-31",
                                                "linked_controls": ["A.6.2.4", "A.7.4"]})
    evidence.finish("completed", "E_EVIDENCE_ACCEPTED")


def test_evidence_review_rejects_with_the_reason(evidence: Walk) -> None:
    evidence.start("lucas", SUBMITTED)
    evidence.do("priya", "ut_review_evidence", {"decision": "reject", "linked_controls": ["A.4.4"],
                                                "comment": "screenshot unreadable"})
    evidence.finish("completed", "E_EVIDENCE_REJECTED")
