"""The authorization matrix: every kind of user against every page and API endpoint.

Setup: Sofia (assessor) started an instance, holds its open task and uploaded an evidence file to it.
A user who may not see the instance gets 404 for it, its task and its evidence (ids cannot be probed);
one who may see it but not act gets 403; no one but the holder completes the task, no one but an admin
edits a definition or a user. Lucas also holds the assessor role, but Sofia has claimed the task: he
does not see it. Registers are read by everyone with a role; an account without a role reads none. Each
register is written by the roles of its definition (``REGISTER_WRITERS``, the README's table); a register
a flow owns is written by no one outside its flow.

A second instance (``tiny_authored_approval``) waits for an approver: Sofia prepared it, with an evidence
file, and named Ingrid (approver) its author, so segregation of duties (SOD-01) keeps Ingrid off the
approval. Ingrid neither acts on it nor sees it, its data or its evidence through her lane; the other
approvers may claim it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from engine.app import accounts, worklist
from engine.app.access import CERT_ROLES
from engine.core import definitions, services
from engine.core.models import ProcessVersion, RoleAssignment, User
from web.extensions import db

from .conftest import DATA, PEOPLE, Browser, Flows, engine_ctx, user

pytestmark = pytest.mark.demo

EXTERNAL = "external.auditor@cb.example"
NO_ROLE = "no.role@lumenvale.example"
ROLES = ["admin", "aims_owner", "process_owner", "assessor", "reviewer", "approver", "top_management",
         "internal_auditor", "action_owner", "external_auditor", "other_assessor", "no_role"]
#: who each row of the matrix is
EMAILS = {**PEOPLE, "external_auditor": EXTERNAL, "other_assessor": "lucas.moreau@lumenvale.example",
          "no_role": NO_ROLE}
#: who may start the web_assessment process (its assessor lane)
STARTS = {"assessor", "process_owner", "other_assessor"}
#: who may see Sofia's instance: read-all roles, Sofia, and Fatima (Sofia's line manager)
SEES_INSTANCE = {"admin", "aims_owner", "assessor", "reviewer", "top_management", "internal_auditor",
                 "external_auditor"}
MANAGERS = {"admin", "aims_owner", "approver", "top_management", "reviewer"}  # Fatima is also an approver
#: who may see the authored record's instance: read-all roles, Sofia (she started it) and Fatima (an approver
#: who may claim the approval, and Sofia's manager); not Ingrid, the approver SOD-01 excluded
SEES_AUTHORED = {"admin", "aims_owner", "assessor", "reviewer", "top_management", "internal_auditor",
                 "external_auditor"}
#: whose inbox offers the authored record's approval: the approvers SOD-01 does not exclude (Fatima, Grace)
CLAIMS_AUTHORED = {"reviewer", "top_management"}
#: register -> the matrix's rows that may add, edit and retire its rows (README "Registers")
REGISTER_WRITERS = {
    "ai_systems": {"aims_owner", "process_owner"},
    "documents": {"aims_owner"},
    "objectives": {"aims_owner", "top_management"},
    "objective_measurements": {"aims_owner", "top_management"},
    "competence": {"aims_owner"},
    "training": {"aims_owner"},
    "impact_assessments": set(), "risks": set(), "risk_treatment_actions": set(), "risk_acceptances": set(),
    "nonconformities": set(), "evidence": set(),
}
#: who may change the scope statement (and approve a draft someone else wrote)
SCOPE_WRITERS = {"aims_owner", "top_management"}
ASSESS = {"f.summary": "x", "f.risk_level": "low", "f.likelihood": "1", "f.review_by": "2026-12-01",
          "f.reviewer": PEOPLE["reviewer"], "action": "complete"}


@pytest.fixture(scope="module")
def setup(app: Flask) -> dict[str, Any]:
    with app.app_context():
        clock = app.extensions["aimsflow.clock"]
        admin = user("admin")
        accounts.create_user(db.session, clock, admin, EXTERNAL, "Erik External", ["external_auditor"], "demo")
        accounts.create_user(db.session, clock, admin, NO_ROLE, "Nora Norole", [], "demo")
        ctx = engine_ctx(app)
        outcome = services.start_process(ctx, user("assessor"), "web_assessment",
                                         {"topic": "Matrix", "ai_system_ref": "AIS-001"})
        task = outcome.new_tasks[0]
        db.session.flush()
        services.claim_task(ctx, user("assessor"), task.id)
        evidence = worklist.store_evidence(ctx, user("assessor"), task.id, "model_card", "card.txt", "text/plain",
                                           b"model card")
        definitions.deploy(db.session, [definitions.SourceFile.read(DATA / "tiny_authored_approval.bpmn")],
                           app.extensions["aimsflow.settings"], clock)
        authored = services.start_process(ctx, user("assessor"), "tiny_authored_approval",
                                          {"topic": "Authored", "author_id": PEOPLE["approver"]})
        prepare = authored.new_tasks[0]
        services.claim_task(ctx, user("assessor"), prepare.id)
        authored_evidence = worklist.store_evidence(ctx, user("assessor"), prepare.id, "minutes", "minutes.txt",
                                                    "text/plain", b"minutes")
        (approval,) = services.complete_task(ctx, user("assessor"), prepare.id, {}).new_tasks
        assert user("approver").id in approval.excluded_ids
        tokens = {}
        for role in ROLES:
            who = db.session.scalar(select(User).where(User.email == EMAILS[role]))
            assert who is not None
            _, tokens[role] = accounts.create_token(db.session, clock, who, "matrix")
        db.session.commit()
        return {"instance": outcome.instance.id, "task": task.id, "evidence": evidence.id, "tokens": tokens,
                "authored": authored.instance.id, "approval": approval.id, "authored_evidence": authored_evidence.id}


def _expect(response: Any, status: int, what: str) -> None:
    assert response.status_code == status, f"{what}: expected {status}, got {response.status_code}"


def _versions() -> int:
    return int(db.session.scalar(select(func.count()).select_from(ProcessVersion)) or 0)


@pytest.mark.parametrize("role", ROLES)
def test_pages_by_role(app: Flask, browser: Callable[[str], Browser], flows: Flows, setup: dict[str, Any],
                       role: str) -> None:
    b = browser(EMAILS[role])
    instance, task = setup["instance"], setup["task"]
    sees = role in SEES_INSTANCE
    for url in ("/tasks", "/tasks?tab=all", "/start", "/instances", "/account/tokens", "/notifications", "/away"):
        _expect(b.get(url), 200, url)
    for url in ("/registers", "/registers/risks/RSK-001", "/registers/ai_systems/export.csv"):
        _expect(b.get(url), 403 if role == "no_role" else 200, url)
    for name, writers in REGISTER_WRITERS.items():
        _expect(b.get(f"/registers/{name}/new"), 200 if role in writers else 403, f"new {name}")
        _expect(b.get(f"/registers/{name}/import"), 200 if role in writers else 403, f"import {name}")
    _expect(b.post("/registers/documents/new", {"title": f"By {role}", "doc_type": "procedure",
                                                 "classification": "internal"}),
            303 if role in REGISTER_WRITERS["documents"] else 403, "add a document")
    for url in ("/soa", "/soa/export.xlsx", "/soa/export.pdf", "/audit-pack.zip", "/readiness"):
        _expect(b.get(url), 200 if role in CERT_ROLES else 403, url)
    _expect(b.get("/team"), 200 if role in MANAGERS else 403, "/team")
    for url in (f"/instances/{instance}", f"/instances/{instance}/diagram.xml", f"/tasks/{task}",
                f"/evidence/{setup['evidence']}"):
        response = b.get(url)
        _expect(response, 200 if sees else 404, url)
        response.close()
    listed = f'href="/instances/{instance}"' in b.get("/instances").get_data(as_text=True)
    assert listed == sees, "the instance list follows the instance rule"
    _authored_pages(b, flows, setup, role)
    for url in ("/admin/processes", "/admin/processes/web_assessment", "/admin/processes/web_assessment/modeler",
                "/admin/users"):
        _expect(b.get(url), 200 if role == "admin" else 403, url)
    # the organisation page: the AIMS owner reads it for its risk criteria form, which they may save
    _expect(b.get("/admin/organisation"), 200 if role in ("admin", "aims_owner") else 403, "/admin/organisation")
    if role != "assessor":  # everyone but the holder: the task is not completed
        _expect(b.post(f"/tasks/{task}/complete", ASSESS), 403 if sees else 404, "complete")
        _expect(b.post(f"/tasks/{task}/claim"), 303 if sees else 404, "claim (refused with a message)")
        assert flows.task_state(task) == "claimed"
    with app.app_context():
        before = _versions()
    xml = (DATA / "web_assessment.bpmn").read_text().replace('value="P5D"', f'value="P{len(role) + 10}D"')
    _expect(b.post_json("/admin/processes/web_assessment/drafts", {"xml": xml}), 201 if role == "admin" else 403,
            "save draft")
    _expect(b.post("/admin/users", {"email": f"{role}.made@x.example", "name": "X", "password": "pass1234"}),
            303 if role == "admin" else 403, "create user")
    with app.app_context():
        assert _versions() == before + (1 if role == "admin" else 0)
        made = db.session.scalar(select(User).where(User.email == f"{role}.made@x.example"))
        assert (made is not None) == (role == "admin")


def _authored_pages(b: Browser, flows: Flows, setup: dict[str, Any], role: str) -> None:
    """The authored record's instance, approval and evidence by page: the excluded approver gets 404."""
    authored, approval = setup["authored"], setup["approval"]
    sees = role in SEES_AUTHORED
    for url in (f"/instances/{authored}", f"/instances/{authored}/diagram.xml", f"/tasks/{approval}",
                f"/evidence/{setup['authored_evidence']}"):
        response = b.get(url)
        _expect(response, 200 if sees else 404, url)
        response.close()
    listed = f'href="/instances/{authored}"' in b.get("/instances").get_data(as_text=True)
    assert listed == sees, "the instance list leaves out what segregation of duties keeps a role holder off"
    inbox = b.get("/tasks?tab=claimable&process=tiny_authored_approval").get_data(as_text=True)
    claims = role in CLAIMS_AUTHORED
    assert (f'href="/tasks/{approval}"' in inbox) == claims
    assert f'data-count="claimable">{1 if claims else 0}<' in inbox, "the inbox counts follow the rows"
    if role in MANAGERS:  # the team view: an approver's area is their reports' tasks and their lanes
        team = b.get("/team").get_data(as_text=True)
        assert (f'href="/tasks/{approval}"' in team) == sees, "the team view leaves out the excluded approver's"
    if not sees:
        _expect(b.post(f"/tasks/{approval}/claim"), 404, "claim the authored approval")
        assert flows.task_state(approval) == "ready"


@pytest.mark.parametrize("role", ROLES)
def test_api_by_role(app: Flask, flows: Flows, setup: dict[str, Any], role: str) -> None:
    client = app.test_client()
    headers = {"Authorization": f"Bearer {setup['tokens'][role]}"}
    instance, task = setup["instance"], setup["task"]
    sees = role in SEES_INSTANCE

    def call(method: str, url: str, body: Any = None) -> Any:
        return client.open(f"/api/v1{url}", method=method, json=body, headers=headers)

    for url in ("/tasks", "/instances", "/definitions", "/registers"):
        _expect(call("GET", url), 200, url)
    for url in ("/registers/risks", "/registers/risks/RSK-001"):
        _expect(call("GET", url), 403 if role == "no_role" else 200, url)
    for name, writers in REGISTER_WRITERS.items():
        refs = [r["ref"] for r in call("GET", f"/registers/{name}").get_json()] if role != "no_role" else []
        if refs:
            _expect(call("PATCH", f"/registers/{name}/{refs[0]}", {"values": {}}), 200 if role in writers else 403,
                    f"edit {name}")
    _expect(call("POST", "/registers/objectives", {"values": {"title": f"By {role}", "kind": "aims",
                                                              "theme": "safety", "status": "draft"}}),
            201 if role in REGISTER_WRITERS["objectives"] else 403, "add an objective")
    _expect(call("GET", "/scope"), 403 if role == "no_role" else 200, "read the scope statement")
    # a writer gets past the role check to the stale version it named (409, nothing changes)
    _expect(call("PUT", "/scope", {"text": f"By {role}", "based_on": 0}),
            409 if role in SCOPE_WRITERS else 403, "change the scope statement")
    assert any(i["id"] == instance for i in call("GET", "/instances").get_json()) == sees
    _expect(call("GET", f"/instances/{instance}"), 200 if sees else 404, "instance")
    _expect(call("GET", f"/tasks/{task}"), 200 if sees else 404, "task")
    authored, approval = setup["authored"], setup["approval"]
    sees_authored = role in SEES_AUTHORED
    assert any(i["id"] == authored for i in call("GET", "/instances").get_json()) == sees_authored
    _expect(call("GET", f"/instances/{authored}"), 200 if sees_authored else 404, "authored instance")
    _expect(call("GET", f"/tasks/{approval}"), 200 if sees_authored else 404, "authored approval")
    claimable = [t["id"] for t in call("GET", "/tasks?tab=claimable").get_json()]
    assert (approval in claimable) == (role in CLAIMS_AUTHORED)
    if not sees_authored:
        _expect(call("POST", f"/tasks/{approval}/claim"), 404, "claim the authored approval")
        _expect(call("POST", f"/tasks/{approval}/complete", {"data": {"decision": "approve"}}), 404,
                "complete the authored approval")
        assert flows.task_state(approval) == "ready"
    if role != "assessor":
        _expect(call("POST", f"/tasks/{task}/complete", {"data": {}}), 403 if sees else 404, "complete")
        _expect(call("POST", f"/tasks/{task}/claim"), 409 if sees else 404, "claim")
        assert flows.task_state(task) == "claimed"
    xml = (DATA / "web_assessment.bpmn").read_text().replace('value="P5D"', f'value="P{len(role) + 30}D"')
    with app.app_context():
        before = _versions()
    _expect(call("POST", "/definitions", {"xml": xml, "status": "draft"}), 201 if role == "admin" else 403, "deploy")
    with app.app_context():
        assert _versions() == before + (1 if role == "admin" else 0)
    starts = role in STARTS
    started = call("POST", "/instances", {"process_id": "web_assessment",
                                          "data": {"topic": "By API", "ai_system_ref": "AIS-001"}})
    _expect(started, 201 if starts else 403, "start")


def test_matrix_roles_are_what_the_demo_says(app: Flask, setup: dict[str, Any]) -> None:
    """Guard the matrix's assumptions about the demo organisation."""
    with app.app_context():
        assert user("reviewer").manager_id is not None
        assert user("assessor").manager_id == user("reviewer").id
        roles = {r.role for r in db.session.scalars(select(RoleAssignment).where(
            RoleAssignment.user_id == user("approver").id))}
        assert roles == {"approver"}
