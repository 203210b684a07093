"""JSON Schema -> fields -> posted form -> data, without an app: every kind of field, and the real
forms of forms/ build without errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import render_template_string
from werkzeug.datastructures import MultiDict

from web import formfields

ROOT = Path(__file__).resolve().parent.parent.parent
SCHEMA = {
    "type": "object",
    "required": ["name", "checklist"],
    "properties": {
        "name": {"type": "string", "maxLength": 50},
        "rationale": {"type": "string"},
        "level": {"enum": [1, 2, 3]},
        "kind": {"enum": ["a", "b", "c", "d", "e"]},
        "tags": {"type": "array", "items": {"enum": ["x", "y", "z"]}},
        "count": {"type": "integer", "minimum": 0},
        "ratio": {"type": "number"},
        "ok": {"type": "boolean"},
        "when": {"type": "string", "format": "date"},
        "who": {"type": "string", "format": "email", "x-user-roles": ["reviewer"]},
        "notes": {"type": "array", "items": {"type": "string"}},
        "checklist": {"type": "object", "properties": {"hardware": {"enum": ["relevant", "not_relevant"]},
                                                       "privacy": {"enum": ["relevant", "not_relevant"]}}},
        "rows": {"type": "array", "items": {"type": "object", "properties": {"title": {"type": "string"}}}},
        "card": {"type": "object", "x-file": True},
        "cards": {"type": "array", "items": {"type": "object", "x-file": True}},
    },
}


def test_build_picks_a_widget_for_every_kind() -> None:
    fields = {f.key: f for f in formfields.build(SCHEMA, {}, {}, lambda roles: [("r@x.example", "R")])}
    kinds = {k: f.kind for k, f in fields.items()}
    assert kinds == {"name": "text", "rationale": "textarea", "level": "radio", "kind": "select", "tags": "checkboxes",
                     "count": "integer", "ratio": "number", "ok": "checkbox", "when": "date", "who": "user",
                     "notes": "lines", "checklist": "object", "rows": "group", "card": "file", "cards": "files"}
    assert fields["who"].options == [("r@x.example", "R")]
    assert [c.name for c in fields["checklist"].rows[0]] == ["f.checklist.hardware", "f.checklist.privacy"]
    assert fields["name"].required and not fields["ratio"].required


def test_parse_types_the_values_and_keeps_what_does_not_convert() -> None:
    form = MultiDict([
        ("f.name", "Ann"), ("f.rationale", ""), ("f.level", "2"), ("f.kind", "c"), ("f.tags", "z"), ("f.tags", "x"),
        ("f.count", "12"), ("f.ratio", "0.5"), ("f.ok.present", "1"), ("f.when", "2026-01-02"),
        ("f.notes", "one\n\n two \n"), ("f.checklist.hardware", "relevant"), ("f.rows.4.title", "later"),
        ("f.rows.1.title", "first"), ("f.rows.2.title", ""),
    ])
    data, uploads = formfields.parse(SCHEMA, form)
    assert data == {"name": "Ann", "level": 2, "kind": "c", "tags": ["x", "z"], "count": 12, "ratio": 0.5,
                    "ok": False, "when": "2026-01-02", "notes": ["one", "two"],
                    "checklist": {"hardware": "relevant"}, "rows": [{"title": "first"}, {"title": "later"}]}
    assert uploads == []
    bad, _ = formfields.parse(SCHEMA, MultiDict([("f.count", "twelve"), ("f.ratio", "1e")]))
    assert bad == {"count": "twelve", "ratio": "1e"}


def test_errors_land_on_their_fields_inside_groups_and_objects() -> None:
    fields = formfields.build(SCHEMA, {"rows": [{"title": ""}]},
                              {"rows/0/title": "too short", "checklist/privacy": "Privacy: choose one"})
    by_key = {f.key: f for f in fields}
    assert by_key["rows"].rows[0][0].error == "too short"
    assert by_key["checklist"].rows[0][1].error == "Privacy: choose one"
    assert {"rows/0/title", "checklist/privacy"} <= formfields.all_paths(fields)


@pytest.mark.parametrize("path", sorted((ROOT / "forms").glob("*.schema.json")) +
                         sorted((ROOT / "tests" / "data" / "forms").glob("*.schema.json")), ids=lambda p: p.name)
def test_every_shipped_form_builds_and_parses_an_empty_post(path: Path) -> None:
    schema = json.loads(path.read_text())
    fields = formfields.build(schema, {}, {}, lambda roles: [])
    assert fields, f"{path.name} shows no field"
    data, _ = formfields.parse(schema, MultiDict())
    assert isinstance(data, dict)


def test_a_scale_is_a_choice_of_its_values_in_the_organisations_words() -> None:
    schema = {"type": "object", "properties": {"likelihood": {"type": "integer", "minimum": 1, "maximum": 5,
                                                              "x-scale": "likelihood", "title": "Likelihood"}}}
    words = {"1": "Rare", "2": "Unlikely", "3": "Possible", "4": "Likely", "5": "Almost certain"}
    [field] = formfields.build(schema, {"likelihood": 3}, refs=lambda kind: [("R-1", "a risk")],
                               scales=lambda name: words if name == "likelihood" else {})
    assert field.kind == "scale"
    assert field.options == [("1", "1 · Rare"), ("2", "2 · Unlikely"), ("3", "3 · Possible"), ("4", "4 · Likely"),
                             ("5", "5 · Almost certain")]
    assert field.is_selected("3") and not field.is_selected("4")
    data, _ = formfields.parse(schema, MultiDict({"f.likelihood": "4"}))
    assert data == {"likelihood": 4}
    [bare] = formfields.build(schema, {}, refs=lambda kind: [("3", "Possible")])  # no scale words: numbers alone
    assert bare.options == [(str(n), str(n)) for n in range(1, 6)]


GROUP = {"type": "object", "properties": {
    "actions": {"type": "array", "items": {"type": "object", "properties": {"what": {"type": "string"}}}},
    "rows": {"type": "array", "minItems": 1, "items": {"type": "object", "properties": {"what": {"type": "string"}}}}}}


def test_group_with_every_row_removed_is_posted_empty() -> None:
    """A list filled in before (the minutes sent back) and emptied on the page replaces the old rows; a
    list that may not be empty, or one that had no rows on the page (the marker is drawn only over
    earlier rows), is left out."""
    drawn = MultiDict([("f.actions.present", "1"), ("f.rows.present", "1")])
    assert formfields.parse(GROUP, drawn)[0] == {"actions": []}
    assert formfields.parse(GROUP, MultiDict())[0] == {}
    assert formfields.parse(GROUP, MultiDict([("f.actions.present", "1"), ("f.actions.0.what", "x")]))[0] == {
        "actions": [{"what": "x"}]}
    page = formfields.build(GROUP, {"actions": [{"what": "x"}]})
    assert [f.kind for f in page] == ["group", "group"]


def test_group_marks_only_rows_given_before(app: Any) -> None:
    """The page marks a list whose rows came from earlier answers (so removing them all empties it),
    not a list the person starts from nothing."""
    from flask import render_template_string

    page = '{% from "_fields.html" import field %}{% for f in fields %}{{ field(f) }}{% endfor %}'
    with app.test_request_context():
        before = render_template_string(page, fields=formfields.build(GROUP, {"actions": [{"what": "x"}]}))
        fresh = render_template_string(page, fields=formfields.build(GROUP, {}))
    assert 'name="f.actions.present"' in before and 'name="f.rows.present"' not in before
    assert ".present" not in fresh


def test_a_long_list_of_choices_is_a_multi_picker_with_titles(app: Any) -> None:
    """The Annex A controls an evidence item supports: 38 options, chosen in a searchable multi picker
    that shows each with its title and sends the chosen ones."""
    schema = json.loads((ROOT / "forms" / "evidence_review.schema.json").read_text(encoding="utf-8"))
    field = next(f for f in formfields.build(schema, {"linked_controls": ["A.6.2.5"]}) if f.key == "linked_controls")
    assert field.kind == "choices" and len(field.options) == 38
    assert ("A.6.2.5", "A.6.2.5 — AI system deployment") in field.options
    with app.test_request_context():
        html = render_template_string('{% from "_fields.html" import field %}{{ field(f) }}', f=field)
    assert 'name="f.linked_controls" data-picker' in html and "multiple" in html
    assert '<option value="A.6.2.5" selected>A.6.2.5 — AI system deployment</option>' in html
    assert 'type="checkbox"' not in html
    data, _ = formfields.parse(schema, MultiDict([("f.linked_controls", "A.6.2.5"), ("f.linked_controls", "A.7.4")]))
    assert data["linked_controls"] == ["A.6.2.5", "A.7.4"]


CHOICE = {"type": "object", "properties": {"cause": {
    "type": "integer", "title": "Root cause it addresses",
    "x-choices-from": {"items": "analysis.causes", "label": "cause"}}}}


def test_a_choice_among_many_items_of_the_task_data_is_a_picker_of_their_words(app: Any) -> None:
    """More than a few items: a searchable picker, each item by its words, the value its index (parsed
    back as a number)."""
    causes = [{"cause": f"Cause number {n}"} for n in range(1, 7)]
    field = formfields.build(CHOICE, {"cause": 4}, task_data={"analysis": {"causes": causes}})[0]
    assert field.kind == "item" and not field.as_radios
    assert field.options == [(str(i), f"Cause number {i + 1}") for i in range(6)]
    with app.test_request_context():
        html = render_template_string('{% from "_fields.html" import field %}{{ field(f) }}', f=field)
    assert 'name="f.cause" data-picker' in html and '<option value="4" selected>Cause number 5</option>' in html
    assert 'type="number"' not in html
    assert formfields.parse(CHOICE, MultiDict([("f.cause", "4")]))[0] == {"cause": 4}


def test_a_choice_among_items_with_none_to_offer_says_so(app: Any) -> None:
    """Task data without the list: nothing to choose from yet; no task data (the forms editor's
    preview): where the items will come from."""
    empty = formfields.build(CHOICE, {}, task_data={})[0]
    preview = formfields.build(CHOICE, {})[0]
    with app.test_request_context():
        page = '{% from "_fields.html" import field %}{{ field(f) }}'
        assert "There is nothing to choose from yet." in render_template_string(page, f=empty)
        said = render_template_string(page, f=preview)
    assert "analysis.causes" in said and "cause" in said and "example task data" in said.lower()
    assert preview.anchor == "field-f.cause"


def test_a_refusal_naming_a_field_of_a_row_lands_on_it_in_words() -> None:
    schema = {"type": "object", "properties": {"actions": {"type": "array", "title": "Actions", "items": {
        "type": "object", "properties": {"due_date": {"type": "string", "format": "date", "title": "Due date"}}}}}}
    error = formfields.refusal(schema, "actions/1/due_date: 2026-10-01 must be between today and 2027-01-31")
    assert (error.path, error.message) == (
        "actions/1/due_date", "Due date (Actions, row 2): 1 October 2026 must be between today and 31 January 2027")
    assert formfields.refusal(schema, "actions/0/nothing: no").path == ""
