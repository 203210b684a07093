"""A step that refuses the answers (the shipped policy review: an effective date in the past) names the
field in the form's words, next to the field and in the error summary, and keeps what was typed; it
never shows the answer's key (``effective_from:``) or an ISO date."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from engine.core import services
from engine.core.clock import FixedClock
from engine.core.models import HumanTask
from web.extensions import db

from ..engine.policy_flow import draft
from .conftest import Browser, engine_ctx, shipped_app, user
from .html_form import HtmlForm

pytestmark = pytest.mark.demo


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, clock: FixedClock) -> Iterator[Flask]:
    yield from shipped_app(tmp_path_factory.mktemp("refusals"), clock)


def test_a_refused_answer_is_named_at_its_field_in_words(app: Flask, browser: Callable[[str], Browser]) -> None:
    with app.app_context():
        outcome = services.start_process(engine_ctx(app), user("aims_owner"), "aims_policy_review",
                                         {"trigger": "management_review"})
        db.session.commit()
        task = db.session.scalars(select(HumanTask.id).where(HumanTask.instance_id == outcome.instance.id)).one()
    priya = browser("aims_owner")
    form = HtmlForm(priya.get(f"/tasks/{task}").get_data(as_text=True), "task-form")
    for key, value in draft(effective_from="2026-10-01").items():
        form.fill(f"f.{key}", value)
    body = MultiDict(form.body() + [("action", "complete")])
    response = priya.client.post(f"/tasks/{task}/complete", data=body, content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    summary = re.search(r"data-error-summary.*?</div>", page, re.S)
    assert summary, "no error summary"
    assert "Effective from: 1 October 2026 is in the past" in summary.group(0)
    assert 'href="#f.effective_from"' in summary.group(0)
    assert "effective_from:" not in page and "2026-10-01 is in" not in page
    assert "Adds generative-AI acceptable use rules" in page  # the typed change summary is kept
    with app.app_context():
        assert db.session.get(HumanTask, task).state in ("ready", "claimed")
