"""Task instructions read in people's words: the data they quote (lists, records, booleans, nothing)
never shows in Python's notation."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select

from engine.core import User
from web import instruction_text
from web.extensions import db
from web.tasks import instructions_html

from .conftest import PEOPLE

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


def test_people_in_instructions_read_by_name_asking_only_for_the_e_mails_shown(app: Flask) -> None:
    """The instructions name the people they show by e-mail with one question for those e-mails only
    (not for others in the data, nor for every user); an e-mail no user has stays as typed."""
    reviewer, assessor = PEOPLE["reviewer"], PEOPLE["assessor"]
    sent: list[Any] = []

    def count(conn: object, cursor: object, statement: str, parameters: Any, *args: object) -> None:
        sent.append(parameters)

    with app.test_request_context():
        db.session.scalar(select(1))
        names = {u.email: u.name for u in db.session.scalars(select(User).where(User.email.in_([reviewer, assessor])))}
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            html = str(instructions_html(
                "Submitted by {{ by }}; reviewers {{ r }}; contact {{ other }}; note {{ note }}",
                {"by": assessor.upper(), "r": [reviewer, assessor], "other": "dpo@supplier.example",
                 "note": "no address here", "unused": PEOPLE["admin"]}))
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
    assert html == (f"Submitted by {names[assessor]}; reviewers {names[reviewer]}, {names[assessor]}; "
                    "contact dpo@supplier.example; note no address here")
    assert [set(p.values() if isinstance(p, dict) else p) for p in sent] == [
        {reviewer, assessor, "dpo@supplier.example"}]
