"""Validation messages a person reads: the field's title, then what is wanted, never JSON-Schema wording
or a process variable; for every shipped form, answered wrongly in every way."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.core import forms
from engine.core.errors import ValidationError
from engine.core.form_messages import human_date, inline_refs, title_at

ROOT = Path(__file__).resolve().parent.parent.parent
FORMS = sorted((ROOT / "forms").glob("*.schema.json"))
SCHEMA_WORDING = ("is not valid under", "is a required property", "does not match", "was expected", "is not of type",
                  "is too short", "is too long", "Additional properties", "should be non-empty", "is not one of",
                  "is greater than", "is less than", "has non-unique", "is not a '", "^", "$defs", "{'")


def _wrong(schema: dict[str, Any]) -> Any:
    """A value of the wrong kind, or in the wrong form, for ``schema``."""
    if "const" in schema:
        return "yes"
    if schema.get("type") == "array":
        return [_wrong(schema["items"])] if isinstance(schema.get("items"), dict) else "x"
    if schema.get("type") == "object" or "properties" in schema:
        return {k: _wrong(v) for k, v in (schema.get("properties") or {}).items() if isinstance(v, dict)}
    if "pattern" in schema or schema.get("format"):
        return "not right"
    if schema.get("type") in ("integer", "number"):
        return "many"
    if schema.get("type") == "boolean":
        return "true"
    return 12345


def _messages(schema: dict[str, Any], data: Any) -> list[Any]:
    with pytest.raises(ValidationError) as info:
        forms.validate(schema, data, lambda email, roles: None, ref_check=lambda value, kind: None)
    return info.value.errors


@pytest.mark.parametrize("path", FORMS, ids=lambda p: p.name.removesuffix(".schema.json"))
def test_form_messages_name_the_field_and_say_what_is_wanted(path: Path) -> None:
    schema = json.loads(path.read_text())
    root = forms.expanded(schema)
    wrong = {k: _wrong(v) for k, v in root["properties"].items() if isinstance(v, dict)}
    for data in ({}, wrong):
        try:
            errors = _messages(schema, data)
        except pytest.fail.Exception:  # an empty form may be fine (nothing required)
            continue
        for error in errors:
            parts = [int(p) if p.isdigit() else p for p in error.path.split("/") if p]
            title = title_at(root, parts)
            assert error.message.startswith(title + ": "), error
            wanted = error.message[len(title) + 2:]
            assert wanted and wanted[0].islower(), error
            for words in SCHEMA_WORDING:
                assert words not in error.message, error
            assert not (parts and isinstance(parts[-1], str) and "_" in parts[-1] and parts[-1] in error.message), \
                f"a process variable is shown: {error}"


def _titles(schema: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(schema, dict):
        if isinstance(schema.get("title"), str):
            yield path or "/", schema["title"]
        for key, sub in schema.items():
            yield from _titles(sub, f"{path}/{key}")
    elif isinstance(schema, list):
        for i, sub in enumerate(schema):
            yield from _titles(sub, f"{path}/{i}")


@pytest.mark.parametrize("path", FORMS, ids=lambda p: p.name.removesuffix(".schema.json"))
def test_form_titles_are_written_as_labels_not_as_keys(path: Path) -> None:
    """A field's title is what the page and every message show: a label in words, not its key with the
    underscores taken out ("health safety public" on the impact analysis checklist)."""
    keyish = [(where, title) for where, title in _titles(json.loads(path.read_text())) if title[:1].islower()]
    assert keyish == [], f"titles that read as keys: {keyish}"


def test_form_messages_for_each_keyword() -> None:
    schema = {"type": "object", "required": ["ok", "ref", "who"], "properties": {
        "ok": {"const": True, "title": "Checked"},
        "ref": {"type": "string", "pattern": r"^RSK-\d+$", "x-ref": "risk", "title": "Risk reference",
                "examples": ["RSK-12"]},
        "who": {"type": "string", "format": "email", "x-user-roles": ["reviewer"], "title": "Reviewer"},
        "n": {"type": "integer", "minimum": 1, "maximum": 5, "title": "Likelihood"},
        "when": {"type": "string", "format": "date", "title": "Review by"},
        "text": {"type": "string", "minLength": 10, "maxLength": 12, "title": "Why"},
        "level": {"enum": ["low", "high"], "title": "Level"},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2, "uniqueItems": True, "title": "Tags"},
        "rows": {"type": "array", "items": {"type": "object", "required": ["a"], "properties": {
            "a": {"type": "string", "title": "Measure"}}}, "title": "Mitigations"},
    }}
    errors = {e.path: e.message for e in _messages(schema, {
        "ok": "yes", "ref": "R12", "n": 9, "when": "31/12/2026", "text": "short", "level": "mid",
        "tags": ["a", "a"], "rows": [{"a": "x"}, {}]})}
    assert errors == {
        "ok": "Checked: please confirm this by ticking the box",
        "ref": "Risk reference: enter a reference like RSK-12",
        "who": "Reviewer: choose a person",
        "n": "Likelihood: must be at most 5",
        "when": "Review by: enter a date (day, month and year)",
        "text": "Why: write at least 10 characters (now 5)",
        "level": "Level: choose one of Low or High",
        "tags": "Tags: each entry may appear only once",
        "rows/1/a": "Measure (Mitigations, row 2): fill this in",
    }


def test_form_bound_from_the_task_data_reads_as_a_date_in_words() -> None:
    schema = {"type": "object", "properties": {"valid_until": {"type": "string", "format": "date",
                                                               "title": "Valid until",
                                                               "x-max-from": "request.max_valid_until"}}}
    with pytest.raises(ValidationError) as info:
        forms.validate(schema, {"valid_until": "2027-07-01"}, task_data={"request": {"max_valid_until": "2027-06-05"}})
    assert [e.message for e in info.value.errors] == ["Valid until: must be on or before 5 June 2027"]


def test_form_unknown_reference_and_titles_inside_lists() -> None:
    schema = {"type": "object", "properties": {"evidence": {"type": "array", "title": "Evidence",
                                                            "items": {"type": "string", "x-ref": "evidence"}}}}
    with pytest.raises(ValidationError) as info:
        forms.validate(schema, {"evidence": ["EVD-001", "EVD-999"]},
                       ref_check=lambda value, kind: None if value == "EVD-001" else f"there is no {kind} {value}")
    assert [(e.path, e.message) for e in info.value.errors] == [
        ("evidence/1", "Evidence, entry 2: there is no evidence EVD-999")]
    assert title_at(schema, []) == "The form"


def test_form_refs_are_inlined_and_dates_read_in_words() -> None:
    schema = {"$defs": {"clause": {"enum": ["4.1", "4.2"], "title": "Clause"}},
              "properties": {"c": {"$ref": "#/$defs/clause", "description": "the clause"}}}
    assert inline_refs(schema)["properties"]["c"] == {"enum": ["4.1", "4.2"], "title": "Clause",
                                                      "description": "the clause"}
    assert human_date("2027-06-05") == "5 June 2027"
    assert human_date("2027-06-05T14:30:00+00:00") == "5 June 2027, 14:30"
    assert human_date("soon") == "soon"


def test_form_choice_among_the_task_datas_items_refuses_an_index_with_no_item_in_words() -> None:
    schema = {"type": "object", "properties": {"actions": {"type": "array", "title": "Actions", "items": {
        "type": "object", "properties": {"cause": {
            "type": "integer", "title": "Root cause it addresses",
            "x-choices-from": {"items": "root_causes", "label": "cause",
                               "what": "the root causes found in the analysis"}}}}}}}
    task_data = {"root_causes": [{"cause": "No backup"}, {"cause": "No alert"}]}
    data = {"actions": [{"cause": 1}, {"cause": 2}]}
    with pytest.raises(ValidationError) as info:
        forms.validate(schema, data, task_data=task_data)
    assert [(e.path, e.message) for e in info.value.errors] == [
        ("actions/1/cause",
         "Root cause it addresses (Actions, row 2): choose one of the root causes found in the analysis")]
    assert forms.validate(schema, {"actions": [{"cause": 1}]}, task_data=task_data)
    assert forms.validate(schema, data)  # no task data (the forms editor's preview without an example): not checked
    field = schema["properties"]["actions"]["items"]["properties"]["cause"]
    assert forms.choice_items(field, task_data) == ["No backup", "No alert"]
    assert forms.choice_words(field, 1, task_data) == "No alert" and forms.choice_words(field, 2, task_data) is None
    assert forms.schema_problems(schema) == []


def test_form_choice_among_items_must_say_where_they_are_and_keep_an_index() -> None:
    def problems(choice: dict[str, Any]) -> list[str]:
        return forms.schema_problems({"type": "object", "properties": {"c": choice}})

    assert problems({"type": "string", "x-choices-from": {"items": "causes"}}) == [
        'x-choices-from at c needs "type": "integer" (the value kept is the item\'s index)']
    assert "must be an object naming the list" in problems({"type": "integer", "x-choices-from": "causes"})[0]
