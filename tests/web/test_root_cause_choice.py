"""A corrective action names the root cause it addresses by the cause's words: the plan step offers the
causes found in the analysis as its options (the index is what is kept), refuses a plan in words, and
the approval page, the completed step (whose answers hold only the index) and the forms editor's
preview read the causes, never 0 or 1."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from engine.aims.registers import CorrectiveAction
from engine.app import accounts
from engine.core import directory
from engine.core.clock import FixedClock
from engine.core.models import ProcessInstance
from web.extensions import db

from ..engine.capa_flow import RCA, CapaFlow, plan
from ..engine.helpers import email
from .conftest import Browser, engine_ctx, shipped_app
from .html_form import HtmlForm

pytestmark = pytest.mark.demo

FIRST, SECOND = (c["cause"] for c in RCA["root_causes"])
CHOICE = "f.actions.0.addresses_root_cause"
#: the choice in the row "Add a row" adds
NEW_ROW = "f.actions.__i__.addresses_root_cause"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, clock: FixedClock) -> Iterator[Flask]:
    yield from shipped_app(tmp_path_factory.mktemp("root_causes"), clock)


def to_plan(app: Flask, clock: FixedClock) -> tuple[int, int]:
    """A new NC analysed (two root causes): its flow's instance and the open plan task."""
    with app.app_context():
        flow = CapaFlow(engine_ctx(app), clock)
        instance = flow.to_plan() or flow.instance
        assert instance is not None
        task = flow.task("ut_plan_ca").id
        db.session.commit()
        return instance.id, task


def flow_of(app: Flask, clock: FixedClock, instance_id: int) -> CapaFlow:
    """The flow of that instance, in the app context the caller opened."""
    return CapaFlow(engine_ctx(app), clock, db.session.get(ProcessInstance, instance_id))


def options(page: str, name: str) -> dict[str, str]:
    """The options a choice offers: value -> the words of its label."""
    found = {}
    for control_id, value in re.findall(rf'<input[^>]*type="radio"[^>]*id="([^"]+)"[^>]*name="{re.escape(name)}"'
                                        rf'[^>]*value="([^"]*)"', page):
        found[control_id] = value
    out = {}
    for control_id, value in found.items():
        label = re.search(rf'<label[^>]*for="{re.escape(control_id)}"[^>]*>(.*?)</label>', page, re.S)
        out[value] = html.unescape(label.group(1).strip()) if label else ""
    return out


def submit(b: Browser, task: int, answers: dict[str, Any]) -> Any:
    form = HtmlForm(b.get(f"/tasks/{task}").get_data(as_text=True), "task-form")
    for key, value in answers.items():
        form.fill(f"f.{key}", value)
    return b.client.post(f"/tasks/{task}/complete", data=MultiDict(form.body() + [("action", "complete")]),
                         content_type="multipart/form-data")


def error_summary(page: str) -> str:
    found = re.search(r"data-error-summary.*?</div>", page, re.S)
    assert found, "no error summary"
    return html.unescape(found.group(0))


def field_error(page: str, path: str) -> str:
    found = re.search(rf'data-field-error="{re.escape(path)}">([^<]*)<', page)
    assert found, f"no error next to {path}"
    return html.unescape(found.group(1))


def test_plan_step_offers_the_causes_by_their_words_and_keeps_the_index(
        app: Flask, clock: FixedClock, browser: Callable[[str], Browser]) -> None:
    instance, task = to_plan(app, clock)
    ravi = browser(email("ravi"))
    page = ravi.get(f"/tasks/{task}").get_data(as_text=True)
    assert options(page, NEW_ROW) == {"0": FIRST, "1": SECOND}
    # no box to type 0 or 1 into
    assert not re.search(r'type="number"[^>]*name="f\.actions\.[^"]*addresses_root_cause"', page)
    answers = plan()
    answers["actions"][0]["addresses_root_cause"], answers["actions"][1]["addresses_root_cause"] = 1, 0
    response = submit(ravi, task, answers)
    assert response.status_code == 303, error_summary(response.get_data(as_text=True))
    with app.app_context():
        nc = flow_of(app, clock, instance).nc()
        actions = list(db.session.scalars(select(CorrectiveAction).where(CorrectiveAction.nc_id == nc.id)
                                          .order_by(CorrectiveAction.id)))
        assert [(a.description, a.addresses_root_cause) for a in actions] == [
            ("Action 0 for cause 0", 1), ("Action 1 for cause 1", 0)]
        assert [a.root_cause for a in actions] == [SECOND, FIRST]


def test_a_cause_no_action_addresses_is_named_by_its_words_next_to_the_actions(
        app: Flask, clock: FixedClock, browser: Callable[[str], Browser]) -> None:
    _instance, task = to_plan(app, clock)
    answers = plan()
    for action in answers["actions"]:
        action["addresses_root_cause"] = 0
    response = submit(browser(email("ravi")), task, answers)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    said = f"Actions: no action addresses the root cause “{SECOND}”: add an action for it"
    assert said in error_summary(page)
    assert field_error(page, "actions") == said
    assert "root cause(s)" not in page and "have no action" not in page
    assert options(page, CHOICE) == {"0": FIRST, "1": SECOND}  # the form is shown again with the causes
    assert 'value="0" checked' in page.split(f'name="{CHOICE}"', 2)[1][:40]  # and what was chosen


def test_an_index_with_no_cause_is_refused_in_words(app: Flask, clock: FixedClock,
                                                    browser: Callable[[str], Browser]) -> None:
    _instance, task = to_plan(app, clock)
    ravi = browser(email("ravi"))
    form = HtmlForm(ravi.get(f"/tasks/{task}").get_data(as_text=True), "task-form")
    for key, value in plan().items():
        form.fill(f"f.{key}", value)
    body = [(k, "5" if k == CHOICE else v) for k, v in form.body()]  # a crafted post: no sixth cause
    response = ravi.client.post(f"/tasks/{task}/complete", data=MultiDict(body + [("action", "complete")]),
                                content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    said = "Root cause it addresses (Actions, row 1): choose one of the root causes found in the analysis"
    assert field_error(page, "actions/0/addresses_root_cause") == said
    assert said in error_summary(page)


def test_approval_page_and_the_done_plan_read_the_causes_words(app: Flask, clock: FixedClock,
                                                               browser: Callable[[str], Browser]) -> None:
    instance, task = to_plan(app, clock)
    ravi = browser(email("ravi"))
    assert submit(ravi, task, plan()).status_code == 303
    with app.app_context():
        flow = flow_of(app, clock, instance)
        approval = flow.task("ut_approve_ca_plan").id
        refs = [a.ref for a in flow.actions()]
    page = browser(email("ingrid")).get(f"/tasks/{approval}").get_data(as_text=True)
    for ref, cause in zip(refs, (FIRST, SECOND), strict=True):
        card = re.search(rf'data-testid="subject" data-ref="{ref}">(.*?)</dl>', page, re.S)
        assert card, f"no record card for {ref}"
        facts = dict(re.findall(r"<dt>([^<]*)</dt><dd>([^<]*)</dd>", html.unescape(card.group(1))))
        assert facts.get("Root cause it addresses") == cause, facts
        assert "Addresses root cause" not in card.group(1)
    said = re.findall(r'<dt data-key="addresses_root_cause">([^<]*)</dt><dd>([^<]*)</dd>', html.unescape(page))
    assert said == [("Root cause it addresses", FIRST), ("Root cause it addresses", SECOND)]  # the summary
    done = ravi.get(f"/tasks/{task}").get_data(as_text=True)  # the plan as it was sent, read later
    said = re.findall(r'<dt data-key="addresses_root_cause">[^<]*</dt><dd>([^<]*)</dd>', html.unescape(done))
    assert said == [FIRST, SECOND]


def test_forms_editor_preview_says_where_the_choices_come_from_and_shows_example_items(
        browser: Callable[[str], Browser]) -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "forms" / "nc_plan_ca.schema.json").read_text()
    admin = browser("admin")
    bare = admin.post("/admin/forms/preview", {"schema": text}).get_data(as_text=True)
    note = re.search(r"data-choices-source>([^<]*)<", bare)
    assert note and "root_causes" in html.unescape(note.group(1)) and "cause" in html.unescape(note.group(1))
    example = '{"root_causes": [{"cause": "Nobody else could run the report"}, {"cause": "No alert"}]}'
    page = admin.post("/admin/forms/preview", {"schema": text, "task_data": example}).get_data(as_text=True)
    assert options(page, NEW_ROW) == {"0": "Nobody else could run the report", "1": "No alert"}
    broken = admin.post("/admin/forms/preview", {"schema": text, "task_data": "{root"}).get_data(as_text=True)
    assert "The example task data is not valid JSON" in html.unescape(broken)


def test_nonconformity_record_lists_each_root_cause_with_the_actions_that_address_it(
        browser: Callable[[str], Browser]) -> None:
    """The demo's NC-2026-002: two causes, the backup owner for the first, the scheduled pipeline for
    the second."""
    page = browser("aims_owner").get("/registers/nonconformities/NC-2026-002").get_data(as_text=True)
    section = re.search(r'data-testid="root-causes">(.*?)</ol>', page, re.S)
    assert section, "no root causes on the record"
    causes = []
    for item in re.findall(r'data-testid="root-cause">(.*?)</li>\s*(?=<li|$)', section.group(1) + "<li", re.S):
        words = html.unescape(re.sub(r"<[^>]+>", "", re.search(r'fw-semibold">(.*?)</div>', item, re.S).group(1)))
        refs = re.findall(r'data-testid="corrective-action" data-ref="([^"]+)"', item)
        causes.append((" ".join(words.split()), refs))
    assert causes == [("Report built manually by one analyst; no backup during leave (People)", ["CA-004"]),
                      ("No scheduled job or deadline alert (Technology)", ["CA-003"])]


def test_the_api_offers_the_causes_by_their_words_and_takes_the_index(app: Flask, clock: FixedClock) -> None:
    """An API client reads the plan step's form with each cause as a standard choice (``oneOf`` of the index
    and the cause's words), completes it with indexes, and the actions name the causes chosen."""
    instance, task = to_plan(app, clock)
    with app.app_context():
        _, secret = accounts.create_token(db.session, clock, directory.user_by_email(db.session, email("ravi")),
                                          "plan client")
        db.session.commit()
    client, auth = app.test_client(), {"Authorization": f"Bearer {secret}"}
    read = client.get(f"/api/v1/tasks/{task}", headers=auth)
    assert read.status_code == 200
    field = read.get_json()["form_schema"]["properties"]["actions"]["items"]["properties"]["addresses_root_cause"]
    assert field["oneOf"] == [{"const": 0, "title": FIRST}, {"const": 1, "title": SECOND}]
    answers = plan()
    answers["actions"][0]["addresses_root_cause"], answers["actions"][1]["addresses_root_cause"] = 1, 0
    done = client.post(f"/api/v1/tasks/{task}/complete", json={"data": answers}, headers=auth)
    assert done.status_code == 200, done.get_json()
    with app.app_context():
        nc = flow_of(app, clock, instance).nc()
        assert [a.root_cause for a in db.session.scalars(select(CorrectiveAction).where(
            CorrectiveAction.nc_id == nc.id).order_by(CorrectiveAction.id))] == [SECOND, FIRST]
