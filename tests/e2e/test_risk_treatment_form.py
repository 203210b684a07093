"""A risk owner fills "Plan the risk treatment" of the shipped risk assessment in chromium, choosing the
controls in their searchable pickers: a first submit without the Annex A confirmation and without the
action's owner shows the error summary (focused, its links go to the fields, the owner's to its picker)
and plain messages next to the fields; ticking "I confirm" and choosing the owner by typing part of the
name completes the task. Screenshots under test-output/e2e/<test name>/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from engine.core.models import HumanTask
from web.extensions import db

from ..web.risk_pages import plan_task
from .test_browser import Pages
from .walk import BrowserForm

OWNER = "tomas.alvarez@lumenvale.example"
ACTION_OWNER = "elena.petrova@lumenvale.example"


def test_risk_owner_plans_the_treatment_in_a_real_browser(shipped_server: tuple[str, Flask], chromium: Any,
                                                          shots: Path) -> None:
    base, app = shipped_server
    task = plan_task(app)
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    ui = Pages(page, base, shots)
    ui.login(OWNER)
    page.goto(f"{base}/tasks/{task}")
    if page.locator("[data-testid=claim]").count():
        page.click("[data-testid=claim]")
    assert page.locator("input[type=checkbox][name='f.annex_a_compared']").count() == 1  # not a text box
    assert "I confirm: Compared with Annex A" in page.inner_text("[data-field=annex_a_compared]")

    page.check("[name='f.treatment_option'][value=modify]")
    form = BrowserForm(page, shots)
    form.pick(page.locator("[name='f.planned_controls']"), ["A.6.2.6", "A.9.2"])
    chips = page.locator("[data-field=planned_controls] .ts-control .item")
    assert chips.first.inner_text().startswith("A.6.2.6 — AI system operation and monitoring")  # with its title
    page.click("[data-add-row='f.actions']")
    page.fill("[name='f.actions.0.description']", "Monitor approval rates by age group every month")
    form.pick(page.locator("[name='f.actions.0.control_ref']"), ["A.6.2.6"])
    page.fill("[name='f.actions.0.due_date']", "2026-12-15")
    page.check("[name='f.target_residual_likelihood'][value='2']")
    page.check("[name='f.target_residual_impact'][value='3']")
    page.fill("[name='f.rationale']", "Monitoring and a fairness review bring the residual within appetite")
    ui.shot("plan_filled")
    with page.expect_navigation():  # the answer loaded and its script run (it moves the focus on DOMContentLoaded)
        page.click("[data-testid=submit]")

    summary = page.locator("[data-error-summary]")
    summary.wait_for()
    assert summary.get_attribute("role") == "alert"
    assert page.evaluate("document.activeElement.hasAttribute('data-error-summary')"), "focus is on the summary"
    links = summary.locator("a[data-error-link]")
    texts = links.all_inner_texts()
    assert texts[0] == ("Compared with Annex A so that no necessary control is missed (6.1.3): please confirm "
                        "this by ticking the box")
    assert len(texts) == 2 and texts[1].startswith("Action owner (Actions, row 1): ")
    for word in ("True was expected", "does not match", "^(A", "annex_a_compared:"):
        assert word not in page.inner_text("body")
    assert page.input_value("[name='f.rationale']").startswith("Monitoring and a fairness review")  # kept
    ui.shot("plan_errors")
    assert page.input_value("[name='f.actions.0.control_ref']") == "A.6.2.6"  # the pickers' choices are kept
    links.nth(1).click()
    assert page.evaluate("document.activeElement.id") == "f.actions.0.owner_id-ts-control", "the link opens the picker"
    page.keyboard.type("elena")
    page.wait_for_selector("[id='f.actions.0.owner_id-ts-dropdown'] .option.active")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.input_value("[name='f.actions.0.owner_id']") == ACTION_OWNER
    links.nth(0).click()
    assert page.evaluate("document.activeElement.name") == "f.annex_a_compared"
    page.check("[name='f.annex_a_compared']")
    page.click("[data-testid=submit]")
    page.wait_for_selector("text=completed.")
    ui.shot("plan_completed")
    assert not ui.errors, ui.errors
    with app.app_context():
        row = db.session.get(HumanTask, task)
        assert row is not None and row.state == "completed"
        assert row.submitted["annex_a_compared"] is True
        assert row.submitted["planned_controls"] == ["A.6.2.6", "A.9.2"]
        assert row.submitted["actions"] == [{"description": "Monitor approval rates by age group every month",
                                             "control_ref": "A.6.2.6", "owner_id": ACTION_OWNER,
                                             "due_date": "2026-12-15"}]
    context.close()
