"""A real browser over what names a root cause by its words outside a walk: the forms editor's preview of
"Plan the corrective action" (without example task data it says where the choices come from; with
it, it offers the example's causes) and a nonconformity's record page (each root cause with the
corrective actions that address it). Screenshots under test-output/e2e/<test name>/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import Flask

from .test_browser import Pages

ADMIN = "oliver.grant@lumenvale.example"
AIMS_OWNER = "priya.raman@lumenvale.example"


def test_forms_editor_preview_offers_the_example_causes_and_the_nc_record_lists_them(
        shipped_server: tuple[str, Flask], chromium: Any, shots: Path) -> None:
    base, _app = shipped_server
    page = chromium.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    ui = Pages(page, base, shots)
    ui.login(ADMIN)
    page.goto(f"{base}/admin/processes/aims_nc_capa")
    page.locator("a", has_text="nc_plan_ca").first.click()
    page.wait_for_selector("[data-testid=preview-form]")
    page.click("[data-testid=preview-form] [data-add-row]")  # a row of "Actions", as an admin would try it
    note = page.locator("#preview [data-choices-source]").first
    assert "root_causes" in note.inner_text() and "Give example task data" in note.inner_text()
    ui.shot("preview_without_task_data")
    causes = ["Nobody else could run the report", "No alert when it is late"]
    page.fill("#example-data", json.dumps({"root_causes": [{"cause": c, "category": "people"} for c in causes]}))
    page.wait_for_function(  # the preview drawn again: its "Add a row" row offers the example's causes
        "() => [...document.querySelectorAll('#preview template')].some(t => t.content.querySelector('.item-options'))")
    page.click("[data-testid=preview-form] [data-add-row]")
    labels = page.locator("#preview .repeat-row .item-options label").all_inner_texts()
    assert labels == causes
    ui.shot("preview_with_example_causes")

    ui.login(AIMS_OWNER)
    page.goto(f"{base}/registers/nonconformities/NC-2026-002")
    section = page.inner_text("[data-testid=root-causes]")
    assert "No scheduled job or deadline alert" in section and "CA-003" in section and "CA-004" in section
    ui.shot("nc_record_root_causes")
    assert not ui.errors, ui.errors
