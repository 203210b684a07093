"""Task instructions read in people's words: the data they quote (lists, records, booleans, nothing)
never shows in Python's notation."""

from __future__ import annotations

import pytest

from web import instruction_text
from web.tasks import instructions_html

SCOPE = {"clauses": ["8.1", "8.2"], "controls": ["A.8.2"], "ai_systems": ["AIS-002"], "processes": []}
CHECKLIST = [{"item_ref": "8.1", "question": "Is 8.1 implemented?"}, {"item_ref": "A.8.2", "question": "<b>?"}]


@pytest.mark.parametrize(("template", "data", "shown"), [
    ("Scope {{ s }}.", {"s": SCOPE}, "Scope Clauses: 8.1, 8.2; Controls: A.8.2; AI systems: AIS-002."),
    ("Items: {{ c }}", {"c": CHECKLIST}, "Items: 8.1 — Is 8.1 implemented?; A.8.2 — &lt;b&gt;?"),
    ("Late: {{ late }}; slots: {{ slots }}; who: {{ who }}", {"late": True, "slots": [], "who": None},
     "Late: yes; slots: none; who: none"),
    ("{{ n }} audits, {{ xs | length }} items", {"n": 2, "xs": [1, 2, 3]}, "2 audits, 3 items"),
    ("From {{ a }}, meeting {{ b }}, due {{ c }}",
     {"a": "2027-03-15T00:00:00+00:00", "b": "2026-12-15T11:00:00+01:00", "c": "2027-01-31"},
     "From 2027-03-15, meeting 2026-12-15 10:00 UTC, due 2027-01-31"),
], ids=["record", "list-of-records", "bool-empty-none", "numbers-and-filters", "date-times"])
def test_instructions_render_data_in_words(template: str, data: dict[str, object], shown: str) -> None:
    html = str(instructions_html(template, data))
    assert html == shown
    assert not any(mark in html for mark in ("{'", "['", "True", "None", "&#39;", "+00:00"))


def test_instruction_date_times_are_in_the_readers_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(instruction_text, "_reader_zone", lambda: "Asia/Tokyo")
    html = str(instructions_html("Meeting {{ b }}, from {{ a }}",
                                 {"b": "2026-12-15T11:00:00+01:00", "a": "2027-03-15T00:00:00+00:00"}))
    assert html == "Meeting 2026-12-15 19:00 JST, from 2027-03-15"


def test_people_in_instructions_read_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(instruction_text, "_names", lambda: {"meilin.chen@lumenvale.example": "Mei Lin Chen"})
    html = str(instructions_html("Submitted by {{ by }}; reviewers {{ r }}; contact {{ other }}",
                                 {"by": "meilin.chen@lumenvale.example", "r": ["meilin.chen@lumenvale.example"],
                                  "other": "dpo@supplier.example"}))
    assert html == "Submitted by Mei Lin Chen; reviewers Mei Lin Chen; contact dpo@supplier.example"
