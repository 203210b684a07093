"""Admin pages: process definitions, the modeler's endpoints (lint, properties, drafts, publish),
compare, XML download, the forms editor with its preview, users and roles."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from flask import Flask
from sqlalchemy import select

from engine.app import process_admin, version_diff
from engine.core.models import AuditEvent, ProcessVersion, User
from web.extensions import db

from .conftest import DATA, PEOPLE, Browser


def text(response) -> str:  # type: ignore[no-untyped-def]
    return str(response.get_data(as_text=True))


XML = (DATA / "web_assessment.bpmn").read_text()


def published(app: Flask, process_id: str = "web_assessment") -> ProcessVersion:
    with app.app_context():
        version = db.session.scalar(select(ProcessVersion).where(ProcessVersion.process_id == process_id,
                                                                 ProcessVersion.status == "published")
                                    .order_by(ProcessVersion.version.desc()))
        assert version is not None
        version.bpmn_xml, version.forms  # noqa: B018 (load the deferred columns before detaching)
        db.session.expunge(version)
        return version


def test_definitions_list_shows_versions_and_instance_counts(browser: Callable[[str], Browser]) -> None:
    page = text(browser("admin").get("/admin/processes"))
    assert "Web assessment" in page and "Tiny approval" in page and "Open in modeler" in page


def test_modeler_page_loads_the_bpmn_js_modeler_and_the_properties_form(browser: Callable[[str], Browser]) -> None:
    page = text(browser("admin").get("/admin/processes/web_assessment/modeler"))
    assert "bpmn-modeler.production.min.js" in page and "modeler-lint.js" in page and "modeler.js" in page
    for name in ("form", "assignee_var", "due_in", "escalation_profile", "sod_rules"):
        assert f'name="{name}"' in page
    # labelled in words: SoD rules by their titles, ladders by what they do
    assert "Person who does it (form field)" in page and ">assignee_var<" not in page
    assert 'value="SOD-01"' in page and "Maker-checker" in page and "may not approve it" in page
    assert 'value="APPROVAL"' in page and "the top-management sponsor 5 days late" in page


def test_lint_names_the_element_and_the_fix(browser: Callable[[str], Browser]) -> None:
    admin = browser("admin")
    ok = admin.post_json("/admin/processes/web_assessment/lint", {"xml": XML})
    assert ok.get_json() == {"ok": True, "problems": []}
    bad_xml = XML.replace('name="due_in" value="P3D"', 'name="due_in" value="three days"')
    bad = admin.post_json("/admin/processes/web_assessment/lint", {"xml": bad_xml}).get_json()
    assert bad["ok"] is False
    assert bad["problems"][0]["element"] == "ut_approve"
    assert "not an ISO 8601 duration" in bad["problems"][0]["message"]


def test_properties_form_changes_one_task_and_keeps_the_rest(browser: Callable[[str], Browser]) -> None:
    admin = browser("admin")
    response = admin.post_json("/admin/processes/web_assessment/properties", {
        "xml": XML, "element": "ut_approve", "name": "Approve it",
        "values": {"due_in": "P4D", "form": "web_approve", "assignee_var": "", "escalation_profile": "APPROVAL",
                   "due_at_var": "", "sod_rules": "SOD-01,SOD-08"}})
    assert response.status_code == 200
    patched = response.get_json()["xml"]
    info = {e.id: e for e in process_admin.elements(patched)}
    assert info["ut_approve"].properties["due_in"] == "P4D" and info["ut_approve"].name == "Approve it"
    assert info["ut_assess"].properties["due_in"] == "P5D"
    assert "instructionsForEndUser" in patched and "bpmndi:BPMNDiagram" in patched
    missing = admin.post_json("/admin/processes/web_assessment/properties",
                              {"xml": XML, "element": "nope", "values": {"due_in": "P1D"}})
    assert missing.status_code == 404


def test_draft_then_publish_then_compare(app: Flask, browser: Callable[[str], Browser]) -> None:
    admin = browser("admin")
    before = published(app)
    changed = XML.replace('name="due_in" value="P5D"', 'name="due_in" value="P6D"')
    saved = admin.post_json("/admin/processes/web_assessment/drafts", {"xml": changed})
    assert saved.status_code == 201
    draft = saved.get_json()
    assert draft["problems"] == [] and draft["version"] == before.version + 1
    assert published(app).id == before.id  # a draft changes nothing for new instances
    again = admin.post_json("/admin/processes/web_assessment/drafts", {"xml": changed})
    assert again.status_code == 409 and "nothing changed" in again.get_json()["error"]["message"]
    result = admin.client.post(f"/admin/versions/{draft['version_id']}/publish", json={},
                               headers={"X-CSRFToken": admin.csrf(), "Accept": "application/json"})
    assert result.status_code == 200 and result.get_json()["status"] == "published"
    assert published(app).id == draft["version_id"]
    diff = text(admin.get(f"/admin/processes/web_assessment/compare?a={before.id}&b={draft['version_id']}"))
    assert "User task &#39;Assess the AI system&#39;" in diff and "property due in" in diff
    assert "P5D" in diff and "P6D" in diff and "ut_assess" not in diff
    xml = admin.get(f"/admin/versions/{draft['version_id']}/bpmn")
    assert xml.status_code == 200 and b'value="P6D"' in xml.data
    assert "attachment" in xml.headers["Content-Disposition"]


def test_compare_shows_structural_changes_in_words_not_a_line_diff() -> None:
    changed = (XML.replace('decision == "reject"', 'decision in ("reject", "withdraw")')
               .replace('name="Approve the assessment"', 'name="Approve the impact assessment"')
               .replace('<bpmn:sequenceFlow id="f_rework" name="changes" sourceRef="gw_decision" '
                        'targetRef="ut_assess" />', '')
               .replace('default="f_rework"', ''))
    moved = re.sub(r'x="(\d+)"', lambda m: f'x="{int(m.group(1)) + 40}"', changed)  # shapes moved too
    head, *lines = moved.splitlines()
    reindented = "\n".join([head, *("  " + line for line in lines)])  # and whitespace everywhere
    diff = version_diff.structural_diff(XML, reindented)
    elements = {c.label: c for c in diff.elements}
    approve = elements["User task 'Approve the impact assessment'"]
    assert approve.status == "changed" and ("name", "Approve the assessment", "Approve the impact assessment") \
        in approve.facets
    gateway = elements["Exclusive gateway 'Decision?'"]
    assert gateway.facets == [("default flow", "'changes'", "")]
    flows = {c.label: c for c in diff.flows}
    assert flows["Flow 'changes' from 'Decision?' to 'Assess the AI system'"].status == "removed"
    reject = flows["Flow 'reject' from 'Decision?' to 'Rejected'"]
    assert reject.facets == [("condition", 'decision == "reject"', 'decision in ("reject", "withdraw")')]
    assert diff.layout_changed
    assert len(diff.elements) == 2 and len(diff.flows) == 2  # nothing else: whitespace is not a change
    first, *rest = XML.splitlines()
    same = version_diff.structural_diff(XML, "\n".join([first, *("    " + line for line in rest)]))
    assert same.empty


def test_an_earlier_version_is_published_again_as_a_new_version(app: Flask, browser: Callable[[str], Browser]) -> None:
    admin = browser("admin")
    first = published(app)
    changed = XML.replace('name="due_in" value="P5D"', 'name="due_in" value="P9D"')
    draft = admin.post_json("/admin/processes/web_assessment/drafts", {"xml": changed}).get_json()
    admin.post(f"/admin/versions/{draft['version_id']}/publish")
    assert published(app).id == draft["version_id"]
    page = text(admin.get("/admin/processes/web_assessment"))
    assert f'data-testid="republish-v{first.version}"' in page
    assert f'data-testid="republish-v{draft["version"]}"' not in page  # the current one is not offered
    back = admin.post(f"/admin/versions/{first.id}/republish", follow_redirects=True)
    assert f"v{first.version} is published again as v{draft['version'] + 1}" in text(back)
    now = published(app)
    assert now.version == draft["version"] + 1 and now.id not in (first.id, draft["version_id"])
    with app.app_context():
        again = db.session.get(ProcessVersion, now.id)
        original = db.session.get(ProcessVersion, first.id)
        assert again is not None and original is not None and again.bpmn_xml == original.bpmn_xml
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "republish")
                                 .order_by(AuditEvent.seq.desc()).limit(1)).data["from_version"] == first.version
    twice = admin.post(f"/admin/versions/{now.id}/republish", follow_redirects=True)
    assert "already the published version" in text(twice)
    diff = text(admin.get(f"/admin/processes/web_assessment/compare?a={draft['version_id']}&b={now.id}"))
    assert "P9D" in diff and "property due in" in diff  # what the rollback undid
    assert browser("approver").post(f"/admin/versions/{first.id}/republish").status_code == 403


def test_a_draft_failing_lint_is_kept_but_cannot_be_published(app: Flask, browser: Callable[[str], Browser]) -> None:
    admin = browser("admin")
    before = published(app)
    broken = XML.replace('name="escalation_profile" value="APPROVAL"', 'name="escalation_profile" value="NOPE"')
    saved = admin.post_json("/admin/processes/web_assessment/drafts", {"xml": broken}).get_json()
    assert saved["problems"][0]["element"] == "ut_approve"
    refused = admin.post(f"/admin/versions/{saved['version_id']}/publish", follow_redirects=True)
    assert "Not published" in text(refused) and "escalation_profile &#39;NOPE&#39; is not defined" in text(refused)
    assert published(app).id == before.id
    with app.app_context():
        row = db.session.get(ProcessVersion, saved["version_id"])
        assert row is not None and row.status == "draft"


def test_a_draft_must_keep_the_process_id(browser: Callable[[str], Browser]) -> None:
    admin = browser("admin")
    renamed = XML.replace('id="web_assessment"', 'id="other_process"').replace(
        'processRef="web_assessment"', 'processRef="other_process"')
    response = admin.post_json("/admin/processes/web_assessment/drafts", {"xml": renamed})
    assert response.status_code == 422
    assert "keep the process id" in response.get_json()["error"]["message"]
    assert admin.post_json("/admin/processes/web_assessment/drafts", {"xml": "<not xml"}).status_code == 422


def test_forms_editor_previews_and_saves_a_draft_with_the_edited_form(app: Flask,
                                                                      browser: Callable[[str], Browser]) -> None:
    admin = browser("admin")
    version = published(app)
    page = text(admin.get(f"/admin/versions/{version.id}/forms/web_approve"))
    assert "Live preview" in page and "hx-post" in page and "Request changes" in page
    preview = text(admin.post("/admin/forms/preview", {"schema": '{"type": "object", "properties": '
                                                                 '{"why": {"type": "string", "title": "Why"}}}'}))
    assert 'name="f.why"' in preview
    problems = text(admin.post("/admin/forms/preview", {"schema": '{"type": "object",'}))
    assert "not valid JSON (line 1" in problems
    schema = json.loads((DATA / "forms" / "web_approve.schema.json").read_text())
    schema["properties"]["comment"]["title"] = "Your reasons"
    saved = admin.post(f"/admin/versions/{version.id}/forms/web_approve", {"schema": json.dumps(schema)})
    assert saved.status_code == 303
    with app.app_context():
        newest = db.session.scalar(select(ProcessVersion).where(ProcessVersion.process_id == "web_assessment")
                                   .order_by(ProcessVersion.version.desc()))
        assert newest is not None and newest.status == "draft"
        assert newest.forms["web_approve"]["properties"]["comment"]["title"] == "Your reasons"
    invalid = admin.post(f"/admin/versions/{version.id}/forms/web_approve", {"schema": '{"type": "strin"}'})
    assert invalid.status_code == 422 and "not a valid JSON Schema" in text(invalid)


def test_users_create_assign_roles_and_deactivate(app: Flask, browser: Callable[[str], Browser]) -> None:
    admin = browser("admin")
    created = admin.post("/admin/users", {"email": "New.Person@lumenvale.example", "name": "New Person",
                                          "password": "pass1234", "roles": ["assessor"]}, follow_redirects=True)
    assert "New Person can log in now with new.person@lumenvale.example" in text(created)
    duplicate = admin.post("/admin/users", {"email": "new.person@lumenvale.example", "name": "Again",
                                            "password": "pass1234"}, follow_redirects=True)
    assert "already exists" in text(duplicate)
    newcomer = Browser(app.test_client())
    assert newcomer.login("new.person@lumenvale.example", "pass1234").status_code == 302
    with app.app_context():
        person = db.session.scalar(select(User).where(User.email == "new.person@lumenvale.example"))
        assert person is not None
        person_id = person.id
    roles = admin.post(f"/admin/users/{person_id}/roles", {"roles": ["assessor", "reviewer"]}, follow_redirects=True)
    assert "roles are now Assessor, Specialist reviewer" in text(roles)
    unknown = admin.post(f"/admin/users/{person_id}/roles", {"roles": ["wizard"]}, follow_redirects=True)
    assert "unknown role(s) wizard" in text(unknown)
    admin.post(f"/admin/users/{person_id}/active", {"active": "0"})
    assert newcomer.get("/tasks").status_code == 302


def test_an_admin_cannot_lock_themselves_out(app: Flask, browser: Callable[[str], Browser]) -> None:
    admin = browser("admin")
    with app.app_context():
        me = db.session.scalar(select(User).where(User.email == PEOPLE["admin"]))
        assert me is not None
        my_id = me.id
    response = admin.post(f"/admin/users/{my_id}/active", {"active": "0"}, follow_redirects=True)
    assert "cannot deactivate yourself" in text(response)
    response = admin.post(f"/admin/users/{my_id}/roles", {"roles": ["reviewer"]}, follow_redirects=True)
    assert "cannot remove your own admin role" in text(response)
    assert admin.get("/admin/users").status_code == 200


def test_modeler_keeps_the_multi_instance_references_bpmn_js_drops(app: Flask,
                                                                   browser: Callable[[str], Browser]) -> None:
    """bpmn-js cannot resolve SpiffWorkflow's loopDataInputRef (a variable name, not an element id) and
    leaves it out when it saves; the server puts it back from the version the modeler opened."""
    admin = browser("admin")
    base = published(app, "tiny_multi_review")
    dropped = re.sub(r"\s*<bpmn:loopData(Input|Output)Ref>[^<]*</bpmn:loopData(Input|Output)Ref>", "",
                     base.bpmn_xml)
    assert "loopDataInputRef" not in dropped
    broken = admin.post_json("/admin/processes/tiny_multi_review/lint", {"xml": dropped}).get_json()
    assert broken["ok"] is False and "multi-instance" in broken["problems"][0]["message"]
    fixed = admin.post_json("/admin/processes/tiny_multi_review/lint",
                            {"xml": dropped, "base_version_id": base.id}).get_json()
    assert fixed["ok"] is True and {p["severity"] for p in fixed["problems"]} <= {"warning"}
    changed = dropped.replace('name="due_in" value="P2D"', 'name="due_in" value="P3D"')
    saved = admin.post_json("/admin/processes/tiny_multi_review/drafts", {"xml": changed, "base_version_id": base.id})
    assert saved.status_code == 201 and all(p["severity"] == "warning" for p in saved.get_json()["problems"])
    with app.app_context():
        row = db.session.get(ProcessVersion, saved.get_json()["version_id"])
        assert row is not None
        assert "<bpmn:loopDataInputRef>requests</bpmn:loopDataInputRef>" in row.bpmn_xml
        assert "<bpmn:loopDataOutputRef>reviews</bpmn:loopDataOutputRef>" in row.bpmn_xml


def _delete_flows(xml: str, *flow_ids: str) -> str:
    """``xml`` with the sequence flows ``flow_ids`` deleted as the modeler deletes them: the flow, the
    references to it and, if it was the gateway's default, the default."""
    for flow in flow_ids:
        xml = re.sub(rf'\s*<bpmn:sequenceFlow id="{flow}".*?(/>|</bpmn:sequenceFlow>)', "", xml, flags=re.S)
        xml = re.sub(rf"\s*<bpmn:(incoming|outgoing)>{flow}</bpmn:(incoming|outgoing)>", "", xml)
        xml = re.sub(rf'\s*<bpmndi:BPMNEdge id="[^"]*" bpmnElement="{flow}">.*?</bpmndi:BPMNEdge>', "", xml,
                     flags=re.S)
        xml = xml.replace(f' default="{flow}"', "")
    return xml


def test_publish_refuses_a_gateway_left_with_one_conditional_flow_with_the_words_on_the_page(
        app: Flask, browser: Callable[[str], Browser]) -> None:
    """The issue's case: the outgoing flows of an exclusive gateway deleted but one conditional flow; the
    next instance would have failed with a 500 ("No conditions satisfied")."""
    admin = browser("admin")
    before = published(app)
    broken = _delete_flows(XML, "f_no", "f_rework")
    saved = admin.post_json("/admin/processes/web_assessment/drafts", {"xml": broken}).get_json()
    errors = {(p["rule"], p["element"]) for p in saved["problems"] if p["severity"] == "error"}
    assert ("gateway-choice", "gw_decision") in errors and ("no-disconnected", "end_rejected") in errors

    page = text(admin.post(f"/admin/versions/{saved['version_id']}/publish", follow_redirects=True))
    assert "Not published" in page and "the published version stays" in page
    assert "exclusive gateway &#34;Decision?&#34; [gw_decision]" in page
    assert ("its only outgoing flow has a condition and it has no default flow: when the condition is false "
            "(for example when decision is &#39;request_changes&#39;), the instance stops with an error") in page
    assert "remove the condition, or add a default flow for the other case" in page
    assert "end event &#34;Rejected&#34; [end_rejected]" in page
    assert published(app).id == before.id


def test_publish_records_warnings_and_the_versions_page_shows_them(app: Flask,
                                                                  browser: Callable[[str], Browser]) -> None:
    admin = browser("admin")
    risky = _delete_flows(XML, "f_rework")
    saved = admin.post_json("/admin/processes/web_assessment/drafts", {"xml": risky}).get_json()
    assert [(p["severity"], p["rule"], p["element"]) for p in saved["problems"]] == [
        ("warning", "gateway-exhaustive", "gw_decision")]
    lint = admin.post_json("/admin/processes/web_assessment/lint", {"xml": risky}).get_json()
    assert lint["ok"] is True and lint["problems"][0]["label"] == 'exclusive gateway "Decision?"'

    published_page = text(admin.post(f"/admin/versions/{saved['version_id']}/publish", follow_redirects=True))
    assert "is published" in published_page
    assert published(app).id == saved["version_id"]
    versions = text(admin.get("/admin/processes/web_assessment"))
    assert f'data-testid="lint-v{saved["version"]}"' in versions and "1 warning" in versions
    assert "for example when decision is &#39;request_changes&#39;" in versions
