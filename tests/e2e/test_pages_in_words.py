"""The task page and the instance page of the shipped risk assessment, read in chromium: the work in
people's words (a labelled summary, names, records with titles), the timeline in step names, deadlines
relative with the local time in the tooltip, the navbar's role names; and after a step, what happens
next. Screenshots under test-output/e2e/<test name>/."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask import Flask

from engine.core.models import HumanTask
from web.extensions import db

from ..web.risk_pages import identify_task, plan_task
from .test_browser import Pages
from .walk import BrowserForm

OWNER = "tomas.alvarez@lumenvale.example"
ASSESSOR = "sofia.rossi@lumenvale.example"


def test_task_and_instance_pages_read_in_peoples_words(shipped_server: tuple[str, Flask], chromium: Any,
                                                       shots: Path) -> None:
    base, app = shipped_server
    task = plan_task(app)
    with app.app_context():
        row = db.session.get(HumanTask, task)
        assert row is not None
        instance = row.instance_id
    context = chromium.new_context(viewport={"width": 1366, "height": 900}, timezone_id="Europe/Berlin")
    page = context.new_page()
    ui = Pages(page, base, shots)
    ui.login(OWNER)

    page.goto(f"{base}/tasks/{task}")
    summary = page.locator("[data-testid=summary]")
    text = summary.inner_text()
    for words in ("Assessor", "Sofia Rossi", "Risk owner", "Tomás Alvarez", "Scope", "AI system", "Machine learning"):
        assert words in text, words
    assert re.search(r"RSK-\d+ — Scoring drift", text)
    for raw in ("@lumenvale.example", "Qa rework", "Risk to treat", "Ceo"):
        assert raw not in page.inner_text("main"), raw
    due = page.locator("[data-due] time").first
    assert due.inner_text() == "due in 10 days"
    assert "CET" in (due.get_attribute("title") or "") or "GMT+1" in (due.get_attribute("title") or ""), \
        "the tooltip gives the time in the browser's zone"
    assert "Process owner" in page.inner_text("[data-testid=whoami]")
    ui.shot("task_page")

    page.goto(f"{base}/instances/{instance}")
    page.wait_for_selector("#diagram[data-rendered=true]")
    timeline = page.inner_text("[data-testid=timeline]")
    assert "Sofia Rossi completed Identify risks" in timeline and "ut_" not in timeline
    started = page.locator("[data-testid=timeline] time").first
    assert "10:00" in started.inner_text(), "the timeline is in the browser's zone (09:00 UTC is 10:00 in Berlin)"
    assert "Assessor" in page.inner_text("[data-testid=summary]")
    # the wide risk assessment opens on its current step at a readable size, not as a thin strip
    opened = float(page.get_attribute("#diagram", "data-zoom-level") or 0)
    assert opened >= 0.7, f"the diagram opened at {opened:.0%}"
    ui.shot("instance_page")
    page.click("[data-testid=zoom-fit]")
    page.wait_for_function(f"Number(document.querySelector('#diagram').dataset.zoomLevel) < {opened}")
    ui.shot("instance_whole_process")

    page.goto(f"{base}/tasks")
    row = page.locator("[data-testid=inbox] tbody tr", has_text="Plan the risk treatment").first
    assert "Risk assessment and risk acceptance · AIS-001" in row.inner_text()
    assert "Tomás Alvarez" in row.inner_text() and "@" not in row.inner_text()
    ui.shot("inbox")

    # after a step: what happens next, and who holds it
    identify = identify_task(app)
    ui.login(ASSESSOR)
    page.goto(f"{base}/tasks/{identify}")
    if not page.locator("[name='f.risks.0.title']").count():
        page.click("[data-add-row='f.risks']")
    page.fill("[name='f.risks.0.title']", "Opaque scoring")
    page.fill("[name='f.risks.0.description']", "Applicants cannot see why they are refused")
    form = BrowserForm(page, shots)  # the pickers, as a person uses them
    form.pick(page.locator("[name='f.risks.0.source_category']"), ["lack_of_transparency_explainability"])
    page.fill("[name='f.risks.0.consequences_org']", "complaints")
    page.fill("[name='f.risks.0.consequences_individuals']", "no recourse")
    page.fill("[name='f.risks.0.consequences_society']", "none identified")
    form.pick(page.locator("[name='f.risks.0.owner_id']"), [OWNER])
    for radio in page.locator("input[type=radio][value=considered_relevant]").all():
        radio.check()
    ui.shot("identify_filled")
    page.click("[data-testid=submit]")
    page.wait_for_selector("text=completed.")
    assert "Next: “Analyse and evaluate the risk”, which is yours." in page.inner_text("main")
    ui.shot("after_identify")
    assert not ui.errors, ui.errors
    context.close()
