"""One word list for codes shown where nothing gave them a title: the same code reads the same on every
page, in every form message and register."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from engine.aims.register_fields import Field
from engine.app.summary import _choices
from engine.core import form_messages
from engine.core.words import choices, humanize

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("code", "words"), [
    ("ai_system", "AI system"),
    ("internal_point_of_contact_id", "Internal point of contact"),
    ("ai_system_ids", "AI system"),
    ("cb_accredited_for_42001", "Certification body accredited for ISO/IEC 42001"),
    ("recommend_after_ca", "Recommend after corrective action"),
    ("awaiting_cb_review", "Awaiting certification body review"),
    ("soa_gap", "SoA gap"),
    ("", ""),
    ("_", "_"),
])
def test_a_code_in_words(code: str, words: str) -> None:
    assert humanize(code) == words


def test_choices_take_titles_and_word_the_rest() -> None:
    assert choices({"enum": ["in_progress", "nc_raised"]}) == [
        ("in_progress", "In progress"), ("nc_raised", "NC raised")]
    assert choices({"oneOf": [{"const": "go", "title": "Go ahead"}, {"const": "no_go"}]}) == [
        ("go", "Go ahead"), ("no_go", "No go")]
    assert choices({"type": "string"}) == []


def test_a_register_a_form_message_and_a_page_say_a_code_alike() -> None:
    schema = {"type": "object", "properties": {"decision": {
        "title": "Decision", "type": "string", "enum": ["recommend_after_ca", "not_recommended"]}}}
    error = next(Draft202012Validator(schema).iter_errors({"decision": "maybe"}))
    assert dict(form_messages.plain(schema, error)) == {
        "decision": "Decision: choose one of Recommend after corrective action or Not recommended"}
    assert Field(key="decision", label="Decision", kind="choice").choice_label("recommend_after_ca") == (
        "Recommend after corrective action")
    assert _choices(schema["properties"]["decision"])["recommend_after_ca"] == "Recommend after corrective action"


def test_register_choices_read_the_domains_words_before_it_is_installed() -> None:
    """The register specs word their choices when they are imported, which may come before start-up
    installs the domain: "SoA" and "CEO" still, not "Soa" and "Ceo"."""
    script = ("from engine.core import domain\n"
              "import engine.aims.register_specs as r\n"
              "assert domain._installed is None, 'the domain was installed on import'\n"
              "print(r.SPECS['documents'].field('doc_type').choice_label('soa'),"
              " r.SPECS['risk_acceptances'].field('required_authority').choice_label('ceo'), sep='|')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == "SoA|CEO"
