"""The instructions of the shipped processes' tasks, as the task page renders them (a Jinja template over
the task data): each one is a valid template, and a returned action tells its owner why it came back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment
from lxml import etree

from web.tasks import instructions_html

ROOT = Path(__file__).resolve().parent.parent.parent
SPIFF = "{http://spiffworkflow.org/bpmn/schema/1.0/core}"


def instructions(path: Path) -> dict[str, str]:
    """Task id -> its instructions text."""
    tree = etree.parse(str(path))
    return {node.getparent().getparent().get("id"): node.text or ""
            for node in tree.iter(f"{SPIFF}instructionsForEndUser")}


@pytest.mark.parametrize("path", sorted((ROOT / "processes").glob("*.bpmn")), ids=lambda p: p.stem)
def test_shipped_instructions_are_valid_templates(path: Path) -> None:
    for task, text in instructions(path).items():  # a syntax error would show the raw template to people
        try:
            SandboxedEnvironment().parse(text)
        except TemplateSyntaxError as error:
            pytest.fail(f"{task}: {error}")


def test_returned_action_says_why_it_came_back() -> None:
    text = instructions(ROOT / "processes" / "aims_action.bpmn")["ut_complete_action"]
    data = {"description": "Publish the form", "source_ref": "CERT-2026", "due_date": "2026-11-30"}
    first = str(instructions_html(text, data))
    assert first.startswith("Publish the form (for CERT-2026, due 2026-11-30)") and "Returned" not in first
    again = str(instructions_html(text, data | {"result": "returned", "comment": "the link is broken"}))
    assert again.startswith("Returned by the requester: the link is broken. Publish the form")


def test_management_review_instructions_name_the_categories_by_their_titles() -> None:
    """The input a person is asked for, and the inputs the system compiles, read as the forms title them."""
    steps = instructions(ROOT / "processes" / "aims_management_review.bpmn")
    provide = json.loads((ROOT / "forms" / "mr_provide_input.schema.json").read_text())
    facts = {"context_changes": "2 context issues added"}
    shown = str(instructions_html(steps["ut_mr_provide_input"], {
        "input_request": {"category": "context_changes", "due": "2026-12-01"}, "review_ref": "MR-2026-02",
        "system_inputs": {"register_facts": facts}}, provide))
    assert shown.startswith("Provide the input “Changes of context” for MR-2026-02, due 2026-12-01.")
    assert "From the registers: 2 context issues added" in shown and "context_changes" not in shown
    schedule = json.loads((ROOT / "forms" / "mr_schedule.schema.json").read_text())
    plan = str(instructions_html(steps["ut_mr_schedule"], {
        "review_ref": "MR-2026-02", "opened": {"period_start": "2026-01-01",
                                               "system_categories": ["prev_actions_status", "risk_status"]}},
                                 schedule))
    assert "Compiled by the system: Status of actions from previous reviews, " in plan and "_status" not in plan
