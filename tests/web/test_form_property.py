"""Every shipped form, filled in the browser's way, comes back exactly as it was filled.

For each ``forms/*.schema.json`` (and the test forms of ``tests/data/forms``): the forms editor's preview
draws it with the real form builder; Hypothesis draws answers valid under the schema (every type,
enum, const, nested object and repeating group, dates, real users holding the field's roles, real
references of the demo organisation, real uploads, for a choice among items an item of the example task
data the preview is given: ``tests/form_values.py``); the answers are given
with the controls the page shows (``html_form.py``: a control or option the page lacks fails the
test) and posted as multipart form data to the preview's "Check the answers" (``POST /admin/forms/try``),
which reads them with the same parser and checks them with the same validation as a task's completion.
The data it reports must equal the answers drawn and be valid under the schema.

``AIMSFLOW_FORM_EXAMPLES`` sets the examples per form (default 8).
"""

from __future__ import annotations

import html
import json
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from werkzeug.datastructures import MultiDict

from engine.core import directory, domain
from engine.core.forms import _FORMATS
from web.extensions import db

from ..form_values import Pools, as_received, example_task_data, form_values
from .conftest import Browser
from .html_form import HtmlForm

pytestmark = pytest.mark.demo

ROOT = Path(__file__).resolve().parent.parent.parent
FORMS = sorted((ROOT / "forms").glob("*.schema.json")) + sorted((ROOT / "tests" / "data" / "forms").glob(
    "*.schema.json"))
EXAMPLES = int(os.environ.get("AIMSFLOW_FORM_EXAMPLES", "8"))


@pytest.fixture(scope="module")
def pools(app: Flask) -> Pools:
    """The demo organisation's active people by role and its records by kind of reference."""
    with app.app_context():
        by_role = {role: sorted(u.email for u in directory.users_with_role(db.session, role))
                   for role in domain.current().roles}
        business = {u for role in domain.current().business_roles for u in by_role[role]}
        refs = {kind: [value for value, _ in reference.options(db.session)]
                for kind, reference in domain.current().references.items()}
    return Pools(by_role, sorted(business), refs)


@pytest.fixture(scope="module")
def admin(app: Flask) -> Browser:
    b = Browser(app.test_client())
    assert b.login("oliver.grant@lumenvale.example").status_code == 302
    return b


def preview(admin: Browser, text: str, task_data: dict[str, Any] | None = None) -> str:
    response = admin.post("/admin/forms/preview", {"schema": text, "task_data": json.dumps(task_data or {})})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def check_answers(admin: Browser, form: HtmlForm) -> tuple[int, str]:
    response = admin.client.post("/admin/forms/try", data=MultiDict(form.body()), content_type="multipart/form-data")
    return response.status_code, response.get_data(as_text=True)


def received(page: str) -> Any:
    match = re.search(r'<pre[^>]*data-testid="form-data">(.*?)</pre>', page, re.S)
    assert match, "the preview reports no data: " + "; ".join(errors_on(page))
    return json.loads(html.unescape(match.group(1)))


def errors_on(page: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'data-field-error="[^"]*">([^<]*)<', page)]


@pytest.mark.parametrize("path", FORMS, ids=lambda p: p.name.removesuffix(".schema.json"))
def test_form_filled_in_the_browser_comes_back_as_filled(path: Path, admin: Browser, pools: Pools) -> None:
    text = path.read_text()
    schema = json.loads(text)
    task_data = example_task_data(schema)  # what the earlier steps collected: the items choices offer
    pools = replace(pools, task_data=task_data)
    page = preview(admin, text, task_data)
    validator = Draft202012Validator(schema, format_checker=_FORMATS)

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                     HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])
    @given(st.data())
    def round_trip(data: st.DataObject) -> None:
        answers = data.draw(form_values(schema, pools), label="answers")
        expected = as_received(answers)
        assert validator.is_valid(expected), list(validator.iter_errors(expected))[0].message
        form = HtmlForm(page, "preview-form")
        for key, value in answers.items():
            form.fill(f"f.{key}", value)
        status, result = check_answers(admin, form)
        assert status == 200, f"refused: {errors_on(result)}"
        got = received(result)
        assert got == expected
        assert validator.is_valid(got)

    round_trip()
