"""A real browser over the registers: the AIMS owner adds an AI system, then imports a CSV of AI
systems, sees the preview of what will change and applies it. Screenshots under
test-output/e2e/<test name>/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .test_browser import Pages

AIMS_OWNER = "priya.raman@lumenvale.example"
PROCESS_OWNER = "tomas.alvarez@lumenvale.example"


def test_aims_owner_adds_an_ai_system_and_imports_a_csv_in_a_real_browser(live_server: str, chromium: Any,
                                                                           shots: Path, tmp_path: Path) -> None:
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    ui = Pages(page, live_server, shots)
    ui.login(AIMS_OWNER)

    page.click("nav >> text=Registers")
    page.wait_for_selector("[data-testid=add]")
    ui.shot("ai_systems")
    page.click("[data-testid=add]")
    page.fill("#name", "")
    page.click("[data-testid=save]")  # first without a name: the page says what is missing
    page.wait_for_selector("[data-field-error=name]")
    assert "Name: is required" in page.inner_text("[data-field-error=name]")
    ui.shot("add_missing_name")
    page.fill("#name", "Claims triage assistant")
    page.fill("#intended_purpose", "Sorts incoming insurance claims by urgency for a handler to review.")
    page.select_option("#system_owner", PROCESS_OWNER)
    page.select_option("#ai_technique", "classical_ml")
    page.check("#org_roles-2")
    page.select_option("#personal_data", "personal")
    page.fill("#affected_parties", "claimants\nclaims handlers")
    page.click("[data-testid=save]")
    page.wait_for_selector("text=Added AI system")
    body = page.inner_text("main")
    assert "Claims triage assistant" in body and "Tomás Alvarez" in body  # people by name
    assert PROCESS_OWNER not in body and "claimants; claims handlers" in body
    assert "Priya Raman created the record ·" in page.inner_text("[data-testid=history]")
    ui.shot("added")
    ref = page.url.rsplit("/", 1)[-1]

    csv_file = tmp_path / "systems.csv"
    csv_file.write_text("Reference,Name,Governance status,Personal data,System owner\r\n"
                        f"{ref},Claims triage assistant v2,in_development,personal,{PROCESS_OWNER}\r\n"
                        "AIS-050,Contract clause finder,proposed,none,\r\n", encoding="utf-8")
    page.click("text=Back to the list")
    page.click("[data-testid=import]")
    page.set_input_files("[data-testid=file]", str(csv_file))
    ui.shot("import_form")
    page.click("[data-testid=preview]")
    page.wait_for_selector("[data-testid=preview-table]")
    assert "1 added, 1 changed, 0 unchanged" in page.inner_text("[data-testid=summary]")
    preview = page.inner_text("[data-testid=preview-table]")
    assert "Claims triage assistant v2" in preview and "Contract clause finder" in preview
    ui.shot("import_preview")
    page.click("[data-testid=apply]")
    page.wait_for_selector("text=1 added, 1 changed, 0 unchanged.")
    listed = page.inner_text("main")
    assert "Claims triage assistant v2" in listed and "AIS-050" in listed
    ui.shot("imported")
    page.click(f"text={ref}")
    history = page.inner_text("[data-testid=history]")
    assert "(imported from a spreadsheet on the site)" in history
    assert "Claims triage assistant v2" in history and "In development" in history
    ui.shot("history")
    assert not ui.errors, ui.errors


def test_objective_owner_sees_the_chart_and_records_a_measurement_in_a_real_browser(live_server: str, chromium: Any,
                                                                                   shots: Path) -> None:
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    ui = Pages(page, live_server, shots)
    ui.login(PROCESS_OWNER)  # owns OBJ-01, fair shortlisting
    page.goto(f"{live_server}/registers/objectives/OBJ-01")
    page.wait_for_selector("#objective-chart")
    page.wait_for_function("() => window.Chart && Chart.getChart('objective-chart') !== undefined")
    drawn = page.evaluate("() => Chart.getChart('objective-chart').data.datasets.map(d => d.label)")
    assert drawn == ["Measured", "Target 0.85", "Baseline 0.72"]
    assert "target not met" in page.inner_text("[data-testid=results-summary]")
    ui.shot("objective_chart")
    page.fill("#m-day", "2026-10-30")
    page.fill("#m-value", "high")
    page.fill("#m-note", "Q3 shortlist audit")
    page.click("[data-testid=record-measurement] button[type=submit]")
    page.wait_for_selector("#m-value-error")
    assert "Value: must be a number" in page.inner_text("#m-value-error")
    assert page.input_value("#m-note") == "Q3 shortlist audit"
    ui.shot("measurement_refused")
    page.fill("#m-value", "0.86")
    page.click("[data-testid=record-measurement] button[type=submit]")
    page.wait_for_selector("text=Recorded measurement")
    assert "target met" in page.inner_text("[data-testid=results-summary]")
    assert "Q3 shortlist audit" in page.inner_text("[data-testid=measurements]")
    # the page after the POST shows its text before its scripts have run: wait for the chart it draws
    page.wait_for_function("() => Boolean(window.Chart && Chart.getChart('objective-chart')"
                           " && Chart.getChart('objective-chart').data.datasets[0].data.length === 5)")
    ui.shot("measurement_recorded")
    page.goto(f"{live_server}/registers/scope")
    page.wait_for_selector("[data-testid=scope-in-force]")
    ui.shot("scope")
    assert not ui.errors, ui.errors
