"""Training completion (``aims_training``) done in chromium: a process owner who tries to record a
colleague's training is refused in words next to "Who completed it", the form keeping what was typed;
Mei Lin then records her own assigned training from the start page (the assignment, the competence
chosen in the searchable pickers, the certificate PDF uploaded); the training record's page shows it
completed with the certificate's evidence item, and the AIMS owner accepts the certificate in the
evidence review the worker starts for it. Screenshots under test-output/e2e/<test name>/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from engine.aims import date_triggers
from engine.aims.registers import Evidence, TrainingRecord
from engine.core.models import ProcessInstance
from engine.core.runtime import Context
from web.extensions import db

from ..engine.helpers import user
from .walk import Walk, walk

pytestmark = pytest.mark.demo
COURSE = "LLM risks: hallucination and prompt injection"


@pytest.fixture
def training(chromium: Any, fresh_shipped_server: tuple[str, Flask], shots: Path) -> Iterator[Walk]:
    yield from walk(chromium, fresh_shipped_server, shots, "aims_training")


def started() -> int:
    return db.session.scalar(select(func.count(ProcessInstance.id))
                             .where(ProcessInstance.process_id == "aims_training")) or 0


def test_a_training_recorded_with_its_certificate_completes_the_record_and_the_certificate_is_accepted(
        training: Walk) -> None:
    page = training.page
    # Tomás (a process owner, not the AIMS owner) may not record Mei Lin's training: told why, form kept
    training.as_("tomas")
    page.goto(f"{training.base}/start/aims_training")
    training.form.fill("f.person", "meilin.chen@lumenvale.example")
    training.form.fill("f.course", "Bias testing for ML models")
    training.form.fill("f.completed_on", "2026-10-30")
    training.form.fill("f.certificate", "bias-testing-certificate.pdf")
    page.click("[data-testid=start]")
    page.wait_for_selector("[data-testid=start-form]")
    training.ui.shot("refused_someone_elses_training")
    error = page.locator('[data-field-error="person"]')
    assert "only the AIMS owner records someone else's training" in error.inner_text()
    assert error.inner_text().startswith("Who completed it:")
    assert page.locator('[name="f.course"]').input_value() == "Bias testing for ML models"
    with training.app.app_context():
        assert started() == 0

    # Mei Lin records her own assigned training with its certificate
    with training.app.app_context():
        assigned = db.session.scalar(select(TrainingRecord).where(
            TrainingRecord.user_id == user(db.session, "meilin").id, TrainingRecord.status == "in_progress"))
        assert assigned is not None
        ref = assigned.ref
    training.start("meilin", {"training_ref": ref, "course": COURSE, "requirement": "llm_risk_awareness",
                              "provider": "Lumenvale Academy", "completed_on": "2026-10-30",
                              "certificate": "llm-risks-certificate.pdf", "expires_on": "2028-10-30"})
    training.finish("completed", "E_TRAINING_RECORDED")
    with training.app.app_context():
        record = db.session.scalar(select(TrainingRecord).where(TrainingRecord.ref == ref))
        assert record is not None and record.status == "completed"
        certificate = db.session.get(Evidence, record.certificate_evidence_id)
        assert certificate is not None and certificate.status == "submitted"
        evidence_ref = certificate.ref
    page.goto(f"{training.base}/registers/training/{ref}")
    training.ui.shot("training_record_completed")
    shown = page.locator("table").first.inner_text()
    assert "Status\tCompleted" in shown and "Completed on\t2026-10-30" in shown and COURSE in shown
    assert f"Certificate\t{evidence_ref}" in shown, shown
    history = page.locator("[data-testid=history]").inner_text()
    assert "recorded the training as completed" in history and "Status\tIn progress\tCompleted" in history, history
    page.goto(f"{training.base}/registers/evidence/{evidence_ref}")
    assert "llm-risks-certificate.pdf" in page.locator("[data-testid=revisions]").inner_text()
    training.ui.shot("certificate_evidence")

    # the worker starts the certificate's evidence review; the AIMS owner accepts it from her inbox
    with training.app.app_context():
        ctx = Context(db.session, training.app.extensions["aimsflow.clock"],
                      training.app.extensions["aimsflow.settings"])
        date_triggers.run(ctx, [k for k in date_triggers.KINDS if k.name == "submitted_evidence"])
        review = db.session.scalar(select(ProcessInstance.id).where(
            ProcessInstance.process_id == "aims_evidence_review", ProcessInstance.subject == evidence_ref))
        assert review is not None, f"no evidence review of {evidence_ref}"
    training.instance_id = review
    training.do("priya", "ut_review_evidence", {"decision": "accept", "valid_until": "2028-10-30",
                                                "linked_controls": ["A.4.6"]})
    training.finish("completed", "E_EVIDENCE_ACCEPTED")
    with training.app.app_context():
        accepted = db.session.scalar(select(Evidence).where(Evidence.ref == evidence_ref))
        assert accepted is not None and accepted.status == "accepted"
