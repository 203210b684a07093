"""Bad input answers 4xx in the API's error shape, never 500; no answer carries SQL or a stack trace
(web/limits.py, web/errors.py). Each case was a 500 once."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from engine.app import accounts
from engine.core import WorkflowError
from engine.core.operators import OperatorContext, get_operator, operator
from web import create_app
from web.extensions import db
from web.limits import json_depth

from .conftest import Browser, user

LEAKS = ("SQL", "INSERT", "SELECT", "Traceback", "psycopg", "sqlite3", "sqlalche.me")


#: a CSRF token is random text: "SQL" turns up in one now and then (the meta tag and the forms' hidden field)
CSRF_TOKENS = re.compile(r'(name="csrf[-_]token" (?:content|value)=")[^"]*"')


def no_leak(response: Any) -> str:
    body = response.get_data(as_text=True)
    shown = CSRF_TOKENS.sub(r'\1"', body)
    for word in LEAKS:
        assert word not in shown, f"{word!r} in the answer: {body[:500]}"
    return body


@pytest.fixture(scope="module")
def token(app: Flask) -> str:
    with app.app_context():
        _, secret = accounts.create_token(db.session, app.extensions["aimsflow.clock"], user("assessor"), "bad")
        db.session.commit()
    return secret


@pytest.fixture
def api(app: Flask, token: str) -> Callable[..., Any]:
    client = app.test_client()

    def call(method: str, url: str, **kwargs: Any) -> Any:
        return client.open(f"/api/v1{url}", method=method, headers={"Authorization": f"Bearer {token}"}, **kwargs)

    return call


def error_of(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    no_leak(response)
    body = response.get_json()
    assert body["error"]["code"] == code and body["error"]["message"]
    return body["error"]  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- JSON depth and size

@pytest.mark.parametrize("body", ["[" * 5000, "{\"a\":" * 5000, "[" * 33 + "]" * 33],
                         ids=["open-arrays", "open-objects", "just-too-deep"])
def test_limits_deep_json_is_a_400(api: Callable[..., Any], body: str) -> None:
    for url in ("/instances", "/definitions/lint", "/tasks/1/complete"):
        response = api("POST", url, data=body, content_type="application/json")
        assert "deeper than 32" in error_of(response, 400, "bad_request")["message"]


def test_limits_deep_json_to_a_page_is_a_400(browser: Callable[[str], Browser]) -> None:
    oliver = browser("admin")
    response = oliver.client.post("/admin/processes/web_assessment/lint", data="[" * 5000,
                                  content_type="application/json", headers={"X-CSRFToken": oliver.csrf()})
    assert response.status_code == 400
    no_leak(response)


def test_limits_json_depth_within_the_limit_reaches_the_view(api: Callable[..., Any]) -> None:
    nested: Any = "x"
    for _ in range(20):
        nested = [nested]
    response = api("POST", "/instances", json={"process_id": "tiny_approval", "data": {"deep": nested}})
    assert response.status_code != 400 or "deeper" not in response.get_data(as_text=True)
    assert response.status_code < 500


def test_limits_json_body_larger_than_the_limit_is_a_413(app: Flask, api: Callable[..., Any]) -> None:
    big = "x" * (app.config["MAX_JSON_BYTES"] + 1)
    response = api("POST", "/instances", json={"process_id": "tiny_approval", "data": {"note": big}})
    assert "at most" in error_of(response, 413, "too_large")["message"]


def test_limits_json_depth_ignores_brackets_inside_strings() -> None:
    assert json_depth(b'{"a": "[[[[[[", "b": [[1]], "c": "\\"]]]"}') == 3
    assert json_depth(b"[]") == 1 and json_depth(b'"x"') == 0


# --------------------------------------------------------------------------- NUL and control characters

@pytest.mark.parametrize("body", [{"process_id": "tiny\x00approval"}, {"process_id": "tiny_approval",
                                                                        "data": {"x\x00": "y"}}],
                         ids=["process-id", "data-key"])
def test_limits_nul_in_json_is_a_400(api: Callable[..., Any], body: dict[str, Any]) -> None:
    assert "NUL" in error_of(api("POST", "/instances", json=body), 400, "bad_request")["message"]


@pytest.mark.parametrize("url", ["/registers/risks/RSK%00-1", "/instances?process=tiny%00", "/tasks?q=a%00b",
                                 "/registers/risks%0a"], ids=["path", "query", "search", "newline-in-path"])
def test_limits_control_characters_in_the_address_are_a_400(api: Callable[..., Any], url: str) -> None:
    error_of(api("GET", url), 400, "bad_request")


def test_limits_a_multipart_part_without_a_readable_name_is_a_400(api: Callable[..., Any]) -> None:
    body = b'--b\r\nContent-Disposition: form-data; name="\r"\r\n\r\n\x89PNG\r\n--b--\r\n'
    response = api("POST", "/instances", data=body, content_type="multipart/form-data; boundary=b")
    assert "no readable name" in error_of(response, 400, "bad_request")["message"]


def test_limits_nul_in_a_form_field_is_a_400(browser: Callable[[str], Browser], flows: Any) -> None:
    instance = flows.start(topic="NUL form")
    task = flows.task(instance, "ut_assess")
    sofia = browser("assessor")
    sofia.post(f"/tasks/{task}/claim")
    response = sofia.post(f"/tasks/{task}/complete", {"f.summary": "a\x00b", "action": "draft"})
    assert response.status_code == 400
    assert "NUL" in no_leak(response)


def test_limits_login_next_with_a_newline_is_a_400_not_a_500(anonymous: Browser) -> None:
    response = anonymous.client.post("/login?next=/%0a/x", data={
        "email": "sofia.rossi@lumenvale.example", "password": "demo", "csrf_token": anonymous.csrf()})
    assert response.status_code == 400
    assert "control character" in no_leak(response)


def test_limits_revoke_of_a_token_that_is_not_a_number_is_a_400(browser: Callable[[str], Browser]) -> None:
    sofia = browser("assessor")
    response = sofia.post("/account/tokens", {"revoke": "abc"})
    assert response.status_code == 400
    assert "whole number" in no_leak(response)
    assert sofia.get("/account/tokens").status_code == 200


# --------------------------------------------------------------------------- database errors stay in the log

def _app(tmp_path: Path) -> Flask:
    return create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'errors.db'}"})


def _boom(client: FlaskClient, accept: str) -> Any:
    return client.get("/boom", headers={"Accept": accept})


@pytest.mark.parametrize("accept", ["application/json", "text/html"], ids=["json", "page"])
def test_errors_a_database_error_is_logged_and_answered_without_sql(tmp_path: Path, accept: str,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    app = _app(tmp_path)

    @app.get("/boom")
    def boom() -> str:
        db.session.execute(text("INSERT INTO no_such_table VALUES (1)"))
        return "unreachable"

    response = _boom(app.test_client(), accept)
    assert response.status_code == 500
    body = no_leak(response)
    assert "server log" in body
    assert "no_such_table" in caplog.text  # the details are for the admins


@pytest.mark.parametrize("accept", ["application/json", "text/html"], ids=["json", "page"])
def test_errors_an_engine_error_caused_by_the_database_does_not_quote_it(tmp_path: Path, accept: str) -> None:
    app = _app(tmp_path)

    @app.get("/boom")
    def boom() -> str:
        cause = IntegrityError("INSERT INTO risk (title) VALUES (?)", (None,), Exception("NOT NULL"))
        raise WorkflowError(f"the engine failed: {cause}") from cause

    response = _boom(app.test_client(), accept)
    assert response.status_code == 500
    assert "risk" not in no_leak(response)


def test_operator_database_errors_become_workflow_errors_without_the_statement() -> None:
    @operator("tests.bad_insert")
    def bad_insert(ctx: OperatorContext) -> dict[str, Any]:
        raise IntegrityError("INSERT INTO risk (title) VALUES (?)", (None,), Exception("NOT NULL constraint"))

    with pytest.raises(WorkflowError) as raised:
        get_operator("tests.bad_insert")(None)
    assert raised.value.message == "operator 'tests.bad_insert' failed in the database (Exception)"
    assert isinstance(raised.value.__cause__, IntegrityError)


def test_limits_text_longer_than_its_column_is_invalid_input_on_every_database(
        browser: Callable[[str], Browser]) -> None:
    response = browser("assessor").post("/away", {"deputy": "hannah.schmidt@lumenvale.example",
                                                  "starts": "2027-03-01", "ends": "2027-03-02", "reason": "x" * 600})
    assert response.status_code == 422
    assert "at most 500 characters" in no_leak(response)


def test_a_long_typed_text_quoted_in_messages_never_overfills_the_session_cookie(
        browser: Callable[[str], Browser]) -> None:
    """Messages that quote what was typed travel in the session cookie (4 KB in browsers): they are cut
    short and few, whatever was typed."""
    sofia = browser("assessor")
    for _ in range(8):
        sofia.client.get("/tasks")
        with sofia.client.session_transaction() as s:
            s.setdefault("_flashes", []).append(("danger", "no user named " + "ü" * 3000))
        sofia.client.get("/static/app.js").close()  # a request that shows no message: they keep waiting
    with sofia.client.session_transaction() as s:
        waiting = s.get("_flashes", [])
    assert len(waiting) <= 5 and all(len(m) <= 400 for _, m in waiting)
    cookie = sofia.client.get_cookie("aimsflow_session")
    assert cookie is not None and len(cookie.value) < 4000
