"""The instance page (diagram markers, timeline, data, tasks), starting a process with its start form,
the instance list and the registers."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask

from engine.core.clock import FixedClock

from .conftest import Browser, Flows

pytestmark = pytest.mark.demo


def text(response) -> str:  # type: ignore[no-untyped-def]
    return str(response.get_data(as_text=True))


def markers(page: str) -> dict[str, set[str]]:
    out = {}
    for kind in ("completed", "active", "overdue"):
        match = re.search(rf'data-{kind}="([^"]*)"', page)
        assert match, kind
        out[kind] = set(filter(None, match.group(1).split(",")))
    return out


def test_instance_page_marks_completed_active_and_overdue_elements(browser: Callable[[str], Browser], flows: Flows,
                                                                   clock: FixedClock) -> None:
    instance = flows.start(topic="Markers")
    flows.assess(instance)
    ingrid = browser("approver")
    page = text(ingrid.get(f"/instances/{instance}"))
    m = markers(page)
    assert {"start", "ut_assess"} <= m["completed"]
    assert m["active"] == {"ut_approve"} and m["overdue"] == set()
    assert "bpmn-navigated-viewer.production.min.js" in page
    clock.advance(days=4)  # the approval is due in P3D
    m = markers(text(browser("approver").get(f"/instances/{instance}")))
    assert m["overdue"] == {"ut_approve"} and "ut_approve" not in m["active"]


def test_instance_page_shows_timeline_data_and_tasks(browser: Callable[[str], Browser], flows: Flows) -> None:
    instance = flows.start(topic="Timeline")
    flows.assess(instance)
    page = text(browser("assessor").get(f"/instances/{instance}"))
    timeline = page[page.index('data-testid="timeline"'):]
    assert timeline.index("started the process") < timeline.index("claimed") < timeline.index("completed")
    assert "Sofia Rossi</strong> completed Assess the AI system" in timeline
    assert "sofia.rossi@lumenvale.example" not in timeline and "ut_assess" not in timeline
    assert "Tone of the replies" in page  # what has been collected
    assert "Approve the assessment" in page


def test_instance_diagram_xml_is_served_to_those_who_may_see_it(browser: Callable[[str], Browser],
                                                                flows: Flows) -> None:
    instance = flows.start(topic="Diagram")
    ok = browser("assessor").get(f"/instances/{instance}/diagram.xml")
    assert ok.status_code == 200 and b"bpmndi:BPMNDiagram" in ok.data
    # the lanes read as roles in words; the engine keeps reading the role codes from the stored XML
    assert b'name="Assessor"' in ok.data and b'name="assessor"' not in ok.data
    assert browser("action_owner").get(f"/instances/{instance}/diagram.xml").status_code == 404


def test_an_instance_a_user_may_not_see_answers_404(browser: Callable[[str], Browser], flows: Flows) -> None:
    instance = flows.start(topic="Private")
    task = flows.task(instance, "ut_assess")
    elena = browser("action_owner")
    assert elena.get(f"/instances/{instance}").status_code == 404
    assert elena.get(f"/tasks/{task}").status_code == 404
    assert elena.get("/instances/999999").status_code == 404  # the same answer as for a missing one
    assert f"/instances/{instance}\"" not in text(elena.get("/instances"))
    assert f"/instances/{instance}\"" in text(browser("internal_auditor").get("/instances"))


def test_start_page_lists_what_my_roles_may_start(browser: Callable[[str], Browser]) -> None:
    assessor = text(browser("assessor").get("/start"))
    assert "Web assessment" in assessor and "Tiny approval" not in assessor
    owner = text(browser("process_owner").get("/start"))
    assert "Web assessment" in owner and "Tiny approval" in owner
    assert "may not start any process" in text(browser("internal_auditor").get("/start"))
    assert browser("internal_auditor").get("/start/web_assessment").status_code == 403


def test_start_form_validates_and_starts(browser: Callable[[str], Browser]) -> None:
    sofia = browser("assessor")
    form = text(sofia.get("/start/web_assessment"))
    assert 'name="f.topic"' in form and 'name="f.ai_system_ref"' in form
    bad = sofia.post("/start/web_assessment", {"f.topic": "ab"})
    assert bad.status_code == 422
    page = text(bad)
    assert 'data-field-error="topic">What is assessed: write at least 3 characters (now 2)<' in page
    assert 'data-field-error="ai_system_ref">AI system: choose one<' in page
    assert 'value="ab"' in page
    ok = sofia.post("/start/web_assessment", {"f.topic": "Fraud model", "f.ai_system_ref": "AIS-001"})
    assert ok.status_code == 303 and "/instances/" in ok.headers["Location"]
    assert "Fraud model" in text(sofia.get(ok.headers["Location"]))


def test_start_of_an_unknown_process_is_404(browser: Callable[[str], Browser]) -> None:
    response = browser("assessor").get("/start/no_such_process")
    assert response.status_code == 404
    assert "no published process" in text(response)


def test_registers_list_and_row(browser: Callable[[str], Browser]) -> None:
    b = browser("internal_auditor")
    systems = text(b.get("/registers?register=ai_systems"))
    assert "AIS-001" in systems
    risks = text(b.get("/registers?register=risks"))
    assert "RSK-001" in risks
    row = b.get("/registers/risks/RSK-001")
    assert row.status_code == 200 and "Inherent score" in text(row)
    assert b.get("/registers/risks/RSK-999").status_code == 404
    assert b.get("/registers?register=nothing").status_code == 404


def test_pages_need_a_login(app: Flask) -> None:
    client = app.test_client()
    for url in ("/tasks", "/team", "/start", "/instances", "/registers", "/admin/processes", "/account/tokens"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url


def test_instance_page_shows_the_workers_last_failure_until_a_timer_fires(
        app: Flask, browser: Callable[[str], Browser], flows: Flows, clock: FixedClock) -> None:
    from engine.core import audit_trail
    from web.extensions import db

    instance = flows.start(topic="Runaway")
    error = ("st_runaway: the script ran longer than its time budget of 5 s "
             "(setting script_time_limit, AIMSFLOW_SCRIPT_TIME_LIMIT)")

    def append(action: str, data: dict[str, object]) -> None:
        with app.app_context():
            audit_trail.append(db.session, clock, action, actor=None, instance_id=instance, data=data)
            db.session.commit()

    append("timer_failed", {"error": error, "retry_at": "2026-11-02T10:00:00+00:00"})
    page = text(browser("assessor").get(f"/instances/{instance}"))
    banner = page[page.index('data-testid="instance-failure"'):page.index('id="diagram"')]
    assert "time budget of 5 s" in banner and "AIMSFLOW_SCRIPT_TIME_LIMIT" in banner
    assert "2026-11-02T10:00:00+00:00" in banner
    timeline = page[page.index('data-testid="timeline"'):]
    assert "could not run the process on" in timeline and "“st_runaway: the script ran longer" in timeline

    append("timer", {"fired": ["tm_wait"], "status": "running"})
    assert 'data-testid="instance-failure"' not in text(browser("assessor").get(f"/instances/{instance}"))
