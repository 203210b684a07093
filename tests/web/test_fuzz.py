"""A hypothesis fuzz of the REST API and the pages' forms with what schemathesis' happy schemas do not send:
deep nesting, NUL and other control characters, huge strings, wrong types, made-up fields. Whatever comes
in, the answer is not a 5xx and carries no SQL or stack trace (web/limits.py, web/errors.py). Runs on the
suite's database: SQLite, or PostgreSQL with ``AIMSFLOW_TEST_DATABASE_URL``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.app import accounts
from web.extensions import db

from .conftest import Browser, Flows, user
from .test_bad_input import no_leak

pytestmark = pytest.mark.demo

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))

NASTY = st.sampled_from(["\x00", "\x01", "\t", "\n", "\r", "\x1b", "\x7f", "\u2028", "\ufeff", "'", '"', "<script>",
                         "%00", "%0a", "\\", "{{ 7*7 }}", "☃", "𝔘", "../", "; DROP TABLE risk;--", " "])
TEXT = st.one_of(
    st.text(max_size=40),
    st.lists(st.one_of(NASTY, st.text(max_size=4)), max_size=12).map("".join),
    st.builds(lambda n, c: c * n, st.integers(150, 300_000), st.sampled_from(["x", "é", "\n", "["])),
)
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), TEXT)
JSON = st.recursive(SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                    st.dictionaries(st.text(max_size=12), inner, max_size=4)),
                    max_leaves=12)
#: a raw body: valid JSON of any type, or brackets opened n deep (never closed, or closed)
DEEP = st.builds(lambda n, closed, c: c[0] * n + (c[1] * n if closed else ""), st.integers(1, 6000), st.booleans(),
                 st.sampled_from(["[]", "{}"]).map(lambda p: p if p == "[]" else ('{"a":', "}")))
BODY = st.one_of(JSON.map(json.dumps), DEEP, st.builds(lambda d: json.dumps(d), st.fixed_dictionaries(
    {}, optional={"process_id": st.one_of(TEXT, SCALAR), "data": JSON, "xml": st.one_of(TEXT, SCALAR),
                  "filename": st.one_of(TEXT, SCALAR), "status": st.one_of(TEXT, SCALAR)})))


@pytest.fixture(scope="module")
def real(app: Flask) -> dict[str, Any]:
    """Tokens of an assessor and an admin, and an instance with an open task to aim at."""
    flows = Flows(app)
    instance = flows.start(topic="Fuzz target")
    with app.app_context():
        clock = app.extensions["aimsflow.clock"]
        _, assessor = accounts.create_token(db.session, clock, user("assessor"), "fuzz")
        _, admin = accounts.create_token(db.session, clock, user("admin"), "fuzz-admin")
        db.session.commit()
    return {"assessor": assessor, "admin": admin, "instance": instance, "task": flows.task(instance, "ut_assess")}


def answered(response: Any) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)[:800]
    no_leak(response)


API_POSTS = ["/instances", "/tasks/{task}/complete", "/tasks/{task}/claim", "/tasks/{task}/release",
             "/definitions/lint", "/definitions"]


@FUZZ
@given(url=st.sampled_from(API_POSTS), body=BODY, who=st.sampled_from(["assessor", "admin"]),
       content_type=st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain"]))
def test_fuzz_api_bodies_never_answer_5xx(app: Flask, real: dict[str, Any], url: str, body: str, who: str,
                                          content_type: str) -> None:
    response = app.test_client().post("/api/v1" + url.format(**real), data=body, content_type=content_type,
                                      headers={"Authorization": f"Bearer {real[who]}"})
    answered(response)
    if response.status_code >= 400:
        assert response.get_json()["error"]["code"]


API_GETS = ["/tasks?{q}", "/instances?{q}", "/instances/{seg}", "/tasks/{seg}", "/registers/{seg}",
            "/registers/risks/{seg}", "/registers/{seg}/{seg}", "/definitions?{q}"]


@FUZZ
@given(url=st.sampled_from(API_GETS), seg=st.one_of(TEXT, st.integers().map(str)),
       query=st.dictionaries(st.sampled_from(["tab", "q", "process", "x", "\x00"]), TEXT, max_size=3))
def test_fuzz_api_addresses_never_answer_5xx(app: Flask, real: dict[str, Any], url: str, seg: str,
                                             query: dict[str, str]) -> None:
    path = "/api/v1" + url.format(seg=quote(seg[:2000], safe=""), q=urlencode(query))
    answered(app.test_client().get(path, headers={"Authorization": f"Bearer {real['assessor']}"}))


@pytest.fixture(scope="module")
def sofia(app: Flask, real: dict[str, Any]) -> Browser:
    b = Browser(app.test_client())
    assert b.login("sofia.rossi@lumenvale.example").status_code == 302
    assert b.post(f"/tasks/{real['task']}/claim").status_code == 303
    return b


FORM_FIELDS = ["f.summary", "f.risk_level", "f.likelihood", "f.review_by", "f.reviewer", "f.description",
               "f.affected_parties", "f.mitigations.0.measure", "f.mitigations.99999999999.owner",
               "f.personal_data", "f.personal_data.present", "action", "name", "revoke", "id", "email_mode",
               "deputy", "starts", "ends", "reason", "to", "back", "\x00"]
PAGES = ["/tasks/{task}/complete", "/tasks/{task}/reassign", "/account/tokens", "/notifications/read",
         "/notifications/preferences", "/away", "/away/{seg}/revoke"]


@FUZZ
@given(url=st.sampled_from(PAGES), seg=st.integers(-5, 2**40).map(str),
       form=st.dictionaries(st.sampled_from(FORM_FIELDS), st.one_of(TEXT, st.lists(TEXT, max_size=3)), max_size=6))
def test_fuzz_form_posts_never_answer_5xx(sofia: Browser, real: dict[str, Any], url: str, seg: str,
                                          form: dict[str, Any]) -> None:
    if form.get("action") == "complete":
        form["action"] = "draft"  # keep the task open for the next example
    answered(sofia.post(url.format(seg=seg, **real), form))


@FUZZ
@given(path=st.sampled_from(["/login", "/tasks", "/tasks/{task}", "/notifications", "/away", "/account/tokens"]),
       query=st.dictionaries(st.sampled_from(["next", "tab", "q", "process", "unread", "past"]), TEXT, max_size=3))
def test_fuzz_page_addresses_never_answer_5xx(sofia: Browser, real: dict[str, Any], path: str,
                                              query: dict[str, str]) -> None:
    answered(sofia.get(path.format(**real) + "?" + urlencode(query)))


@FUZZ
@given(email=TEXT, password=TEXT, nxt=TEXT)
def test_fuzz_login_never_answers_5xx(app: Flask, email: str, password: str, nxt: str) -> None:
    anonymous = Browser(app.test_client())
    answered(anonymous.client.post("/login?" + urlencode({"next": nxt}), data={
        "email": email, "password": password, "csrf_token": anonymous.csrf()}))


def test_fuzz_form_fixtures_reach_the_views(sofia: Browser, real: dict[str, Any],
                                            browser: Callable[[str], Browser]) -> None:
    """The fuzzed posts get past login and CSRF (else the fuzz would only test those)."""
    response = sofia.post(f"/tasks/{real['task']}/complete", {"f.summary": "draft", "action": "draft"})
    assert response.status_code == 303


#: forms that pass every check but one: hypothesis spoils one field at a time
VALID_FORMS: dict[str, dict[str, str]] = {
    "/away": {"deputy": "hannah.schmidt@lumenvale.example", "starts": "2027-03-01", "ends": "2027-03-02",
              "reason": "holiday"},
    "/account/tokens": {"name": "nightly export"},
    "/tasks/{task}/complete": {"f.summary": "Tone", "f.risk_level": "medium", "f.likelihood": "3",
                               "f.review_by": "2026-12-01", "f.reviewer": "fatima.alsayed@lumenvale.example",
                               "action": "draft"},
    "/notifications/preferences": {"email_mode": "daily"},
    "/tasks/{task}/reassign": {"to": "hannah.schmidt@lumenvale.example", "reason": "workload"},
}


@FUZZ
@given(data=st.data(), url=st.sampled_from(sorted(VALID_FORMS)), value=TEXT)
def test_fuzz_one_spoilt_field_never_answers_5xx(sofia: Browser, real: dict[str, Any], data: st.DataObject,
                                                 url: str, value: str) -> None:
    form = dict(VALID_FORMS[url])
    form[data.draw(st.sampled_from(sorted(form)))] = value
    answered(sofia.post(url.format(**real), form))
