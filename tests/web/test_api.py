"""The REST API /api/v1: token auth, tasks, instances, definitions, registers, and JSON errors with
stable codes (401, 403, 404, 409, 422)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from engine.app import accounts
from web.extensions import db

from .conftest import DATA, PEOPLE, Flows, user

pytestmark = pytest.mark.demo

Api = Callable[..., Any]


@pytest.fixture(scope="module")
def tokens(app: Flask) -> dict[str, str]:
    out = {}
    with app.app_context():
        for key in PEOPLE:
            _, out[key] = accounts.create_token(db.session, app.extensions["aimsflow.clock"], user(key), "tests")
        db.session.commit()
    return out


@pytest.fixture
def api(app: Flask, tokens: dict[str, str]) -> Api:
    client = app.test_client()

    def call(who: str, method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        sent = {"Authorization": f"Bearer {tokens[who]}"} if who else {}
        return client.open(f"/api/v1{url}", method=method, json=body, headers={**sent, **(headers or {})})

    return call


def test_openapi_document_describes_the_api(app: Flask) -> None:
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    for path in ("/api/v1/tasks", "/api/v1/tasks/{task_id}/complete", "/api/v1/instances",
                 "/api/v1/definitions/lint", "/api/v1/registers/{name}"):
        assert path in doc["paths"], path
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_api_an_id_beyond_32_bits_is_a_plain_404(api: Api) -> None:
    response = api("assessor", "GET", "/tasks/216855339092")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


def test_api_needs_a_token(api: Api) -> None:
    response = api("", "GET", "/tasks")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_api_rejects_a_revoked_token(app: Flask, api: Api) -> None:
    with app.app_context():
        row, secret = accounts.create_token(db.session, app.extensions["aimsflow.clock"], user("reviewer"), "x")
        accounts.revoke_token(db.session, app.extensions["aimsflow.clock"], user("reviewer"), row.id)
        db.session.commit()
    response = app.test_client().get("/api/v1/tasks", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 401


def test_api_start_claim_complete_and_read(api: Api) -> None:
    started = api("assessor", "POST", "/instances", {"process_id": "web_assessment",
                                                     "data": {"topic": "API run", "ai_system_ref": "AIS-003"}})
    assert started.status_code == 201, started.get_json()
    outcome = started.get_json()
    instance_id = outcome["instance"]["id"]
    task_id = outcome["new_tasks"][0]["id"]
    listed = api("assessor", "GET", "/tasks?tab=claimable").get_json()
    assert task_id in [t["id"] for t in listed]
    claimed = api("assessor", "POST", f"/tasks/{task_id}/claim")
    assert claimed.status_code == 200 and claimed.get_json()["assignee"] == PEOPLE["assessor"]
    detail = api("assessor", "GET", f"/tasks/{task_id}").get_json()
    assert detail["form_schema"]["title"] == "Assess the AI system" and detail["data"]["topic"] == "API run"
    done = api("assessor", "POST", f"/tasks/{task_id}/complete", {"data": {
        "summary": "ok", "risk_level": "low", "likelihood": 1, "review_by": "2026-12-01",
        "reviewer": PEOPLE["reviewer"]}})
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["new_tasks"][0]["task_spec"] == "ut_approve"
    read = api("approver", "GET", f"/instances/{instance_id}").get_json()
    assert read["data"]["summary"] == "ok" and read["active"] == ["ut_approve"]
    assert instance_id in [i["id"] for i in api("approver", "GET", "/instances").get_json()]


def test_api_errors_carry_stable_codes(api: Api, flows: Flows) -> None:
    instance = flows.start(topic="API errors")
    task = flows.task(instance, "ut_assess")
    invalid = api("assessor", "POST", f"/tasks/{task}/complete", {"data": {"likelihood": 7}})
    assert invalid.status_code == 422
    body = invalid.get_json()["error"]
    assert body["code"] == "validation_error"
    assert {"path": "likelihood", "message": "Likelihood (1 to 5): must be at most 5"} in body["errors"]
    assert api("action_owner", "GET", f"/tasks/{task}").get_json()["error"]["code"] == "not_found"
    assert api("action_owner", "GET", f"/tasks/{task}").status_code == 404
    assert api("approver", "POST", f"/tasks/{task}/claim").status_code == 404  # not theirs to see
    forbidden = api("internal_auditor", "POST", f"/tasks/{task}/claim")  # sees everything, may not claim
    assert forbidden.status_code == 403 and forbidden.get_json()["error"]["code"] == "forbidden"
    assert api("assessor", "POST", f"/tasks/{task}/claim").status_code == 200
    conflict = api("assessor2", "POST", f"/tasks/{task}/claim")
    assert conflict.status_code == 409 and conflict.get_json()["error"]["code"] == "conflict"
    bad_body = api("assessor", "POST", f"/tasks/{task}/complete", {"nodata": 1})
    assert bad_body.status_code == 422 and bad_body.get_json()["error"]["code"] == "invalid_input"


def test_api_sod_violation_is_403_with_its_rule(app: Flask, api: Api, flows: Flows) -> None:
    instance = flows.start(topic="API SoD")
    approve = flows.assess(instance)
    with app.app_context():
        from engine.core.models import RoleAssignment

        db.session.add(RoleAssignment(user_id=user("assessor").id, role="approver"))
        db.session.commit()
    try:
        response = api("assessor", "POST", f"/tasks/{approve}/complete", {"data": {"decision": "approve"}})
        assert response.status_code == 403
        body = response.get_json()["error"]
        assert body["code"] == "sod_violation" and body["rule"] == "SOD-01"
    finally:
        with app.app_context():
            from engine.core.models import RoleAssignment

            db.session.execute(RoleAssignment.__table__.delete().where(
                RoleAssignment.user_id == user("assessor").id, RoleAssignment.role == "approver"))
            db.session.commit()


def test_api_stale_complete_is_409_naming_who(api: Api, flows: Flows) -> None:
    instance = flows.start(topic="API stale")
    approve = flows.assess(instance)
    assert api("approver", "POST", f"/tasks/{approve}/complete", {"data": {"decision": "approve"}}).status_code == 200
    again = api("approver", "POST", f"/tasks/{approve}/complete", {"data": {"decision": "approve"}})
    assert again.status_code == 409
    assert "already completed by Ingrid Larsen" in again.get_json()["error"]["message"]


def test_api_a_change_since_the_version_read_is_409_saying_what_happened(api: Api, flows: Flows) -> None:
    instance = flows.start(topic="API versions")
    task = flows.task(instance, "ut_assess")
    read = api("assessor2", "GET", f"/tasks/{task}")  # Hannah reads the task ...
    version = read.get_json()["version"]
    assert read.headers["ETag"] == f'"{version}"'
    taken = api("assessor", "POST", f"/tasks/{task}/claim", {"version": version})  # ... Sofia claims it
    assert taken.status_code == 200 and taken.get_json()["version"] == version + 1
    stale = api("assessor2", "POST", f"/tasks/{task}/claim", headers={"If-Match": f'"{version}"'})
    assert stale.status_code == 409
    assert re.search(r"was claimed by Sofia Rossi at .* meanwhile; reload it and try again",
                     stale.get_json()["error"]["message"])
    released = api("assessor", "POST", f"/tasks/{task}/release", {"version": version})  # Sofia's old copy
    assert released.status_code == 409 and flows.task_state(task) == "claimed"
    body = {"data": {"summary": "x", "risk_level": "low", "likelihood": 1, "review_by": "2026-12-20",
                     "reviewer": PEOPLE["reviewer"]}, "version": version}
    assert api("assessor", "POST", f"/tasks/{task}/complete", body).status_code == 409
    assert flows.task_state(task) == "claimed"  # nothing completed
    bad = api("assessor", "POST", f"/tasks/{task}/release", headers={"If-Match": "yesterday"})
    assert bad.status_code == 422 and "version must be the whole number" in bad.get_json()["error"]["message"]
    wrong_type = api("assessor", "POST", f"/tasks/{task}/release", {"version": "2"})
    assert wrong_type.status_code == 422
    assert api("assessor", "POST", f"/tasks/{task}/release", {"version": version + 1}).status_code == 200


def test_api_lint_and_deploy(app: Flask, api: Api) -> None:
    xml = (DATA / "web_assessment.bpmn").read_text()
    ok = api("assessor", "POST", "/definitions/lint", {"xml": xml}).get_json()
    assert ok == {"ok": True, "process_id": "web_assessment", "problems": []}
    broken = xml.replace('value="P5D"', 'value="soon"')
    bad = api("assessor", "POST", "/definitions/lint", {"xml": broken}).get_json()
    assert bad["ok"] is False and bad["problems"][0]["element"] == "ut_assess"
    assert api("assessor", "POST", "/definitions", {"xml": xml}).status_code == 403
    refused = api("admin", "POST", "/definitions", {"xml": broken})
    assert refused.status_code == 422 and refused.get_json()["error"]["code"] == "definition_error"
    draft = api("admin", "POST", "/definitions", {"xml": xml.replace('value="P5D"', 'value="P7D"'),
                                                  "status": "draft"})
    assert draft.status_code == 201 and draft.get_json()["version"]["status"] == "draft"
    listed = api("internal_auditor", "GET", "/definitions").get_json()
    web = next(d for d in listed if d["process_id"] == "web_assessment")
    assert any(v["status"] == "draft" for v in web["versions"])


def test_api_registers(api: Api) -> None:
    names = [r["name"] for r in api("reviewer", "GET", "/registers").get_json()]
    assert "risks" in names and "ai_systems" in names
    rows = api("reviewer", "GET", "/registers/ai_systems").get_json()
    assert "AIS-001" in [r["ref"] for r in rows]
    row = api("reviewer", "GET", "/registers/ai_systems/AIS-001").get_json()
    assert row["ref"] == "AIS-001" and row["values"]["name"] and row["version"] >= 1
    assert api("reviewer", "GET", "/registers/nothing").status_code == 404
    assert api("reviewer", "GET", "/registers/risks/RSK-999").get_json()["error"]["code"] == "not_found"
