"""The shipped flows' forms in the browser's way: a bad reference is an error next to its field with the
typed answers kept (start and task forms), and "Plan the risk treatment" is completed from its page
with answers Hypothesis draws from its schema (the confirmation ticked, actions added as rows)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterator
from datetime import date

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from engine.aims import risk_criteria
from engine.aims.registers import Evidence
from engine.app import accounts, worklist
from engine.core import directory, domain
from engine.core.clock import FixedClock
from engine.core.models import HumanTask, ProcessInstance
from web.extensions import db

from ..engine.risk_flow import ANNEX_C
from ..form_values import Pools, as_received, form_values
from .conftest import PEOPLE, Browser, shipped_app, user
from .html_form import HtmlForm
from .risk_pages import identify_task, plan_task

pytestmark = pytest.mark.demo


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, clock: FixedClock) -> Iterator[Flask]:
    yield from shipped_app(tmp_path_factory.mktemp("form_refs"), clock)


def errors_on(page: str) -> dict[str, str]:
    return {path: html.unescape(message) for path, message in
            re.findall(r'data-field-error="([^"]*)">([^<]*)<', page)}


def summary_of(page: str) -> list[tuple[str, str]]:
    start = page.index("data-error-summary")
    block = page[start:page.index("</div>", start)]
    links = re.findall(r'<a href="#([^"]+)" data-error-link>([^<]*)</a>', block)
    return [(anchor, html.unescape(text)) for anchor, text in links]


def instances(app: Flask, process_id: str) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(ProcessInstance).where(
            ProcessInstance.process_id == process_id)) or 0


def test_start_form_with_an_unknown_evidence_reference_keeps_the_form(
        app: Flask, browser: Callable[[str], Browser]) -> None:
    priya = browser("aims_owner")
    page = priya.get("/start/aims_evidence_review").get_data(as_text=True)
    assert '<option value="EVD-001"' in page, "the evidence field offers the register's evidence"
    assert re.search(r'<select [^>]*name="f.evidence_ref" data-picker', page), "a searchable picker"
    before = instances(app, "aims_evidence_review")
    refused = priya.post("/start/aims_evidence_review", {"f.evidence_ref": "EVD-999", "f.trigger": "expired"})
    assert refused.status_code == 422
    body = refused.get_data(as_text=True)
    message = "Evidence: there is no evidence item EVD-999; choose one from the list"
    assert errors_on(body) == {"evidence_ref": message}
    assert summary_of(body) == [("f.evidence_ref", message)]
    assert 'role="alert"' in body and "data-error-summary" in body
    # what was given stays chosen in the picker, marked, with the error beside it
    assert '<option value="EVD-999" selected>EVD-999 — not found</option>' in body
    assert re.search(r'name="f.evidence_ref" data-picker[^>]*\s+aria-invalid="true" '
                     r'aria-describedby="f.evidence_ref-error"', body)
    assert re.search(r'value="expired"\s+checked', body)
    assert instances(app, "aims_evidence_review") == before
    for word in ("evidence_ref:", "Traceback", "NotFound", "is not valid under", "does not match"):
        assert word not in body
    with app.app_context():
        real = db.session.scalars(select(Evidence.ref).order_by(Evidence.ref)).first()
    ok = priya.post("/start/aims_evidence_review", {"f.evidence_ref": real, "f.trigger": "expired"})
    assert ok.status_code == 303
    assert instances(app, "aims_evidence_review") == before + 1


def test_task_form_with_an_unknown_risk_reference_keeps_the_form(
        app: Flask, browser: Callable[[str], Browser]) -> None:
    task = identify_task(app)
    sofia = browser("assessor")
    sofia.post(f"/tasks/{task}/claim")
    form = {"f.risks.0.title": "Drift of the scoring model", "f.risks.0.risk_id": "RSK-999",
            "f.risks.0.description": "The model drifts as applicants change", "f.risks.0.source_category":
            "machine_learning", "f.risks.0.consequences_org": "rework", "f.risks.0.consequences_individuals": "unfair",
            "f.risks.0.consequences_society": "none", "f.risks.0.owner_id": PEOPLE["process_owner"],
            "f.risks.0.ai_system_ids": ["AIS-001", "AIS-404"], "action": "complete",
            **{f"f.risk_sources_checklist.{name}": "considered_relevant" for name in ANNEX_C}}
    refused = sofia.post(f"/tasks/{task}/complete", form)
    assert refused.status_code == 422
    body = refused.get_data(as_text=True)
    errors = errors_on(body)
    assert errors["risks/0/risk_id"] == ("Existing risk (when updating one) (Risks, row 1): there is no risk RSK-999; "
                                         "choose one from the list")
    assert errors["risks/0/ai_system_ids"].endswith("there is no AI system AIS-404; choose one from the list")
    assert "value=\"Drift of the scoring model\"" in body
    assert [anchor for anchor, _ in summary_of(body)] == ["f.risks.0.risk_id", "f.risks.0.ai_system_ids"]
    # the multi picker keeps both choices, the unknown one marked
    assert re.search(r'<select [^>]*name="f.risks.0.ai_system_ids" data-picker\s+multiple', body)
    assert '<option value="AIS-001" selected>' in body
    assert '<option value="AIS-404" selected>AIS-404 — not found</option>' in body
    with app.app_context():
        assert db.session.get(HumanTask, task).state == "claimed"


def test_api_start_with_an_unknown_evidence_reference_is_an_error_of_its_field(app: Flask) -> None:
    """What the picker offers is checked the same way when the id is typed into the API."""
    with app.app_context():
        _, token = accounts.create_token(db.session, app.extensions["aimsflow.clock"], user("aims_owner"), "tests")
        db.session.commit()
    before = instances(app, "aims_evidence_review")
    refused = app.test_client().post("/api/v1/instances", headers={"Authorization": f"Bearer {token}"}, json={
        "process_id": "aims_evidence_review", "data": {"evidence_ref": "EVD-999", "trigger": "expired"}})
    assert refused.status_code == 422
    error = refused.get_json()["error"]
    assert error["code"] == "validation_error"
    assert {"path": "evidence_ref",
            "message": "Evidence: there is no evidence item EVD-999; choose one from the list"} in error["errors"]
    assert instances(app, "aims_evidence_review") == before


# --------------------------------------------------------------------------- Plan the risk treatment

@pytest.fixture(scope="module")
def pools(app: Flask) -> Pools:
    with app.app_context():
        by_role = {role: sorted(u.email for u in directory.users_with_role(db.session, role))
                   for role in domain.current().roles}
        refs = {kind: [v for v, _ in r.options(db.session)] for kind, r in domain.current().references.items()}
    business = sorted({u for role in domain.current().business_roles for u in by_role[role]})
    return Pools(by_role, business, refs)


def test_plan_the_risk_treatment_is_completed_from_its_page(
        app: Flask, browser: Callable[[str], Browser], pools: Pools) -> None:
    with app.app_context():
        schema = json.loads((app.extensions["aimsflow.settings"].forms_dir /
                                           "risk_plan_treatment.schema.json").read_text())
    tomas = browser("process_owner")

    @settings(max_examples=3, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                     HealthCheck.function_scoped_fixture])
    @given(st.data())
    def complete(data: st.DataObject) -> None:
        answers = data.draw(form_values(schema, pools), label="answers")
        for action in answers.get("actions", []):  # a due date the engine accepts: not in the past
            action["due_date"] = max(action["due_date"], date(2026, 12, 1).isoformat())
        task = plan_task(app)
        page = tomas.get(f"/tasks/{task}").get_data(as_text=True)
        assert 'type="checkbox" id="f.annex_a_compared" name="f.annex_a_compared" value="true"' in page
        assert "I confirm: Compared with Annex A" in page
        form = HtmlForm(page, "task-form")
        for key, value in answers.items():
            form.fill(f"f.{key}", value)
        body = MultiDict(form.body() + [("action", "complete")])
        response = tomas.client.post(f"/tasks/{task}/complete", data=body, content_type="multipart/form-data")
        said = response.get_data(as_text=True)
        assert response.status_code == 303, (errors_on(said), re.findall(r'class="alert[^"]*"[^>]*>(.*?)<', said, re.S))
        with app.app_context():
            row = db.session.get(HumanTask, task)
            assert row.state == "completed"
            assert row.submitted == as_received(answers)

    complete()


def test_plan_the_risk_treatment_unconfirmed_says_so(app: Flask, browser: Callable[[str], Browser]) -> None:
    task = plan_task(app)
    tomas = browser("process_owner")
    refused = tomas.post(f"/tasks/{task}/complete", {
        "f.treatment_option": "retain", "f.target_residual_likelihood": "5", "f.target_residual_impact": "5",
        "f.rationale": "within appetite after review", "action": "complete"})
    assert refused.status_code == 422
    body = refused.get_data(as_text=True)
    assert errors_on(body) == {"annex_a_compared": "Compared with Annex A so that no necessary control is missed "
                                                   "(6.1.3): please confirm this by ticking the box"}
    assert "True was expected" not in body


def test_plan_the_risk_treatment_scales_say_what_each_value_means(
        app: Flask, browser: Callable[[str], Browser]) -> None:
    """The target likelihood and impact are the organisation's scales: each value named and described."""
    with app.app_context():
        meanings = risk_criteria.descriptions(worklist.risk_criteria_in_force(db.session), "impact")
    page = html.unescape(browser("process_owner").get(f"/tasks/{plan_task(app)}").get_data(as_text=True))
    five = re.search(r'<input[^>]*id="f\.target_residual_impact-5"[^>]*>', page)
    assert five is not None and 'aria-describedby="f.target_residual_impact-5-meaning"' in five.group(0)
    assert f'id="f.target_residual_impact-5-meaning">{meanings["5"]}<' in page
    assert re.search(r'for="f\.target_residual_likelihood-3">3 · \w', page)


def test_start_refused_by_its_first_step_keeps_the_form(app: Flask, browser: Callable[[str], Browser]) -> None:
    """A closed audit is a real reference the first service task refuses: the form stays, saying why."""
    priya = browser("aims_owner")
    before = instances(app, "aims_internal_audit")
    refused = priya.post("/start/aims_internal_audit", {"f.audit_ref": "IA-2026-01"})
    assert refused.status_code == 409
    body = refused.get_data(as_text=True)
    assert "Audit IA-2026-01 is closed" in body[body.index("data-error-summary"):]
    assert '<option value="IA-2026-01" selected' in body
    assert instances(app, "aims_internal_audit") == before
