"""The task, instance and inbox pages of the shipped risk assessment speak people's words: the process
data as a labelled summary (form titles, people by name, records with their titles, choices by their
titles), never raw variables, element ids or e-mail addresses where a name belongs; the timeline in
step names; what happens next after a step; deadlines relative; role names in the navbar."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import lxml.html
import pytest
from flask import Flask
from lxml import etree
from sqlalchemy import select

from engine.app.worklist import NextStep, WhatNext, what_next
from engine.core import services
from engine.core.clock import FixedClock
from engine.core.models import HumanTask
from engine.core.settings import PROJECT_ROOT
from web.extensions import db
from web.pages import relative

from ..engine import capa_flow
from .conftest import PEOPLE, Browser, engine_ctx, shipped_app, user
from .risk_pages import identify_task, plan_task

pytestmark = pytest.mark.demo

CHECKLIST = ("complexity_of_environment", "lack_of_transparency_explainability", "level_of_automation",
             "machine_learning", "hardware", "life_cycle_issues", "technology_readiness")
#: raw process variables of the risk assessment that scripts keep for themselves
INTERNAL = ("Qa rework", "Ceo", "Criteria", "Existing risks", "Risk to treat", "To treat", "Treatment rework",
            "existing_risks", "risk_to_treat", "qa_rework")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, clock: FixedClock) -> Iterator[Flask]:
    yield from shipped_app(tmp_path_factory.mktemp("words"), clock)


def section(page: str, testid: str) -> str:
    """The HTML of the element with ``data-testid=testid``."""
    found = lxml.html.fromstring(page).xpath(f'//*[@data-testid="{testid}"]')
    assert found, f"the page has no {testid}"
    return str(lxml.html.tostring(found[0], encoding="unicode"))


def words(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def instance_of(app: Flask, task: int) -> int:
    with app.app_context():
        row = db.session.get(HumanTask, task)
        assert row is not None
        return row.instance_id


def test_task_page_summarises_the_work_in_peoples_words(app: Flask, browser: Callable[[str], Browser]) -> None:
    task = plan_task(app)
    page = browser("process_owner").get(f"/tasks/{task}").get_data(as_text=True)
    summary = section(page, "summary")
    said = words(summary)
    for label, value in (("Scope", "AI system"), ("Trigger", "Periodic"), ("Assessor", "Sofia Rossi"),
                         ("Risk owner", "Tomás Alvarez"), ("Risk source (ISO/IEC 42001 Annex C)", "Machine learning"),
                         ("Annex C risk sources considered", "Considered relevant"),
                         ("Lack of transparency and explainability", "Considered relevant"),
                         ("System hardware issues", "Considered relevant")):
        assert label in said and value in said, (label, value)
    assert "Lack of transparency explainability" not in said and "Hardware" not in said
    assert re.search(r"RSK-\d+ — Scoring drift", said), "the risk is named with its title"
    assert "@lumenvale.example" not in said
    for raw in INTERNAL:
        assert f">{raw}<" not in summary, raw
    assert 'data-testid="technical"' not in page  # the raw data is for admins only
    assert 'data-testid="records"' in page and "Scoring drift" in section(page, "records")
    card = words(section(page, "records"))
    assert re.search(r"Risk RSK-\d+ — Scoring drift \d+ Status Analysed Risk owner Tomás Alvarez", card), card
    assert 'href="/registers/risks/RSK-' in section(page, "records")
    head = words(page[page.index('data-testid="task-name"'):page.index("Instructions")])
    assert "Risk assessment and risk acceptance · AIS-001" in head and "due in 10 days" in head
    assert 'title="12 Nov 2026, 09:00 UTC"' in page  # the absolute time, made local by app.js


def test_a_user_in_tokyo_reads_deadlines_in_tokyo_time(app: Flask, browser: Callable[[str], Browser]) -> None:
    task = plan_task(app)
    b = browser("process_owner")
    assert b.post("/time-zone", {"time_zone": "Asia/Tokyo"}).status_code == 303
    try:
        page = b.get(f"/tasks/{task}").get_data(as_text=True)
        inbox = b.get("/tasks").get_data(as_text=True)
    finally:
        b.post("/time-zone", {"time_zone": "UTC"})
    head = words(page[page.index('data-testid="task-name"'):page.index("Instructions")])
    assert "due in 10 days" in head and "12 Nov 2026, 18:00 JST" in head  # 09:00 UTC
    assert "12 Nov 2026, 18:00 JST" in words(inbox)
    assert "09:00 UTC" not in words(inbox)


def test_relative_day_counts_from_the_users_own_today() -> None:
    evening_utc = datetime(2026, 11, 2, 20, 0, tzinfo=UTC)  # already 3 November in Tokyo
    assert relative(date(2026, 11, 3), evening_utc, "due", "Asia/Tokyo") == "due today"
    assert relative(date(2026, 11, 3), evening_utc, "due") == "due in 1 day"


def test_admins_keep_the_raw_data_in_a_technical_section(app: Flask, browser: Callable[[str], Browser]) -> None:
    task = plan_task(app)
    page = browser("admin").get(f"/tasks/{task}").get_data(as_text=True)
    technical = page[page.index('data-testid="technical"'):]
    assert "QA rework" in technical and "Risk to treat" in technical


def test_instance_page_timeline_names_steps_and_people(app: Flask, browser: Callable[[str], Browser]) -> None:
    task = plan_task(app)
    page = browser("process_owner").get(f"/instances/{instance_of(app, task)}").get_data(as_text=True)
    timeline = words(section(page, "timeline"))
    assert "Priya Raman started the process" in timeline
    assert "Sofia Rossi completed Identify risks" in timeline
    assert "Sofia Rossi claimed Analyse and evaluate the risk" in timeline
    assert "Priya Raman opened the risk assessment" in timeline and "Sofia Rossi analysed the risks" in timeline
    assert "risk assessment opened" not in timeline and "risks analysed" not in timeline
    assert "ut_" not in timeline and "@lumenvale.example" not in timeline
    said = words(section(page, "summary"))
    assert "Assessor Sofia Rossi" in said and "Scope reference AIS-001" in said
    for raw in INTERNAL:
        assert f" {raw} " not in said, raw
    assert "Current data" not in page and 'data-testid="technical"' not in page
    tasks = words(page[page.index("<h2 class=\"h5\">Tasks</h2>"):page.index("Timeline")])
    assert "Plan the risk treatment ready Tomás Alvarez due in 10 days" in tasks


def test_instance_page_shows_the_records_it_touched_as_cards(app: Flask, browser: Callable[[str], Browser]) -> None:
    """The records a flow wrote read as on the approval pages: reference and title, status in words,
    the owner by name, linked to the register."""
    task = plan_task(app)
    page = browser("process_owner").get(f"/instances/{instance_of(app, task)}").get_data(as_text=True)
    records = section(page, "records")
    card = words(records)
    assert re.search(r"Risk RSK-\d+ — Scoring drift \d+ Status Analysed Risk owner Tomás Alvarez", card), card
    assert 'data-testid="subject"' in records and 'href="/registers/risks/RSK-' in records
    assert "(analysed)" not in card and "@lumenvale.example" not in card


def test_completing_a_step_says_what_happens_next_and_who_holds_it(app: Flask,
                                                                   browser: Callable[[str], Browser]) -> None:
    task = identify_task(app)
    sofia = browser("assessor")
    page = words(sofia.get(f"/tasks/{task}").get_data(as_text=True))
    assert "existing_risks" not in page and "risk_id" not in page
    assert re.search(r"Risks already in the register for this scope: RSK-\d+ \S", page)
    form = {"f.risks.0.title": "Opaque scoring", "f.risks.0.description": "Applicants cannot see why they are refused",
            "f.risks.0.source_category": "lack_of_transparency_explainability",
            "f.risks.0.consequences_org": "complaints", "f.risks.0.consequences_individuals": "no recourse",
            "f.risks.0.consequences_society": "none identified", "f.risks.0.owner_id": PEOPLE["process_owner"],
            "action": "complete", **{f"f.risk_sources_checklist.{name}": "considered_relevant" for name in CHECKLIST}}
    done = sofia.post(f"/tasks/{task}/complete", form, follow_redirects=True).get_data(as_text=True)
    assert "“Identify risks” completed. Next: “Analyse and evaluate the risk”, which is yours." in done


def test_what_next_reads_as_a_sentence() -> None:
    waiting = WhatNext("running", [NextStep(1, "Approve the plan", None, "Manager / approver"),
                                   NextStep(2, "Review", "Fatima Al-Sayed", "Specialist reviewer")])
    assert waiting.sentence() == ("Next: “Approve the plan”, for anyone with the role Manager / approver to claim; "
                                  "“Review”, held by Fatima Al-Sayed.")
    assert WhatNext("completed", []).sentence() == "The process has finished."


def test_inbox_names_processes_and_people_and_the_navbar_names_roles(app: Flask,
                                                                     browser: Callable[[str], Browser]) -> None:
    plan_task(app)
    page = browser("process_owner").get("/tasks?tab=mine").get_data(as_text=True)
    table = words(section(page, "inbox"))
    assert "Risk assessment and risk acceptance · AIS-001" in table and "Tomás Alvarez" in table
    assert "aims_risk_assessment" not in table and "@lumenvale.example" not in table
    assert "aims_risk_assessment</option>" not in page
    whoami = page[page.index('data-testid="whoami"'):]
    whoami = whoami[:whoami.index("</span>")]
    assert "process_owner" not in whoami and "Control owner, Process owner" in whoami


def _instruction_texts() -> Iterator[tuple[str, str]]:
    for path in sorted(Path(PROJECT_ROOT / "processes").glob("*.bpmn")):
        for el in etree.parse(str(path)).iter("{*}instructionsForEndUser"):
            yield path.name, el.text or ""


@pytest.mark.parametrize("name,text", list(_instruction_texts()), ids=lambda v: v[:40] if isinstance(v, str) else "")
def test_shipped_instructions_name_no_variables(name: str, text: str) -> None:
    shown = re.sub(r"\{\{.*?\}\}|\{%.*?%\}", "", text, flags=re.S)
    assert not re.findall(r"\b[a-z]+(?:_[a-z0-9]+)+\b", shown), f"{name}: {text}"


def test_what_next_lists_the_open_tasks_of_the_instance(app: Flask) -> None:
    instance = instance_of(app, plan_task(app))
    with app.app_context():
        after = what_next(db.session, instance)
        assert [s.name for s in after.steps] == list(db.session.scalars(select(HumanTask.name).where(
            HumanTask.instance_id == instance, HumanTask.state.in_(("ready", "claimed")))))
        assert after.steps[0].holder == "Tomás Alvarez" and after.status == "running"


def test_instance_page_timeline_says_what_the_flow_did_in_words(app: Flask, browser: Callable[[str], Browser]) -> None:
    """The nonconformity's own events (written by its operators) read as sentences, not as their codes."""
    with app.app_context():
        ctx = engine_ctx(app)
        instance = services.start_process(ctx, user("process_owner"), "aims_nc_capa", capa_flow.report()).instance
        triage = db.session.scalars(select(HumanTask.id).where(HumanTask.instance_id == instance.id,
                                                               HumanTask.task_spec == "ut_triage_nc")).one()
        services.complete_task(ctx, user("aims_owner"), triage, capa_flow.triage(severity="major"))
        db.session.commit()
        instance_id, ref = instance.id, instance.subject
    page = browser("process_owner").get(f"/instances/{instance_id}").get_data(as_text=True)
    timeline = words(section(page, "timeline"))
    assert "Tomás Alvarez reported the nonconformity" in timeline
    assert "Priya Raman completed Triage" in timeline
    assert "Priya Raman triaged the nonconformity as major" in timeline
    assert "nc reported" not in timeline and "nc triaged" not in timeline and "_" not in timeline
    assert ref and ref.startswith("NC-") and ref not in timeline, "the page is about the NC: it is not named again"
    record = browser("process_owner").get(f"/registers/nonconformities/{ref}").get_data(as_text=True)
    history = words(section(record, "history"))
    assert "Priya Raman triaged the nonconformity as major ·" in history
    assert "Tomás Alvarez reported the nonconformity ·" in history and "nc reported" not in history
