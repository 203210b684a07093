"""Every stored code a register page shows has words: each register's status and each choice field
declare a label for every value they allow (``tests/web/test_register_words_pages.py`` checks that the
values the demo and the flows of its history stored are among them). Pages say the label; exports,
imports and the API keep the code."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from engine.aims.register_fields import Field
from engine.aims.register_specs import SPECS, RegisterSpec
from engine.core.settings import PROJECT_ROOT

#: what a stored code looks like (``action_planning``, ``rejected_not_nc``)
CODE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+")


def coded(spec: RegisterSpec) -> list[Field]:
    """The fields of ``spec`` whose values are codes: its status and its choice fields."""
    return [spec.status_field, *(f for f in spec.fields if f.kind in ("choice", "choices") and f.key != "status")]


CHOICES = [pytest.param(spec, f, code, label, id=f"{spec.name}.{f.key}={code}")
           for spec in SPECS.values() for f in coded(spec) for code, label in f.choices]


@pytest.mark.parametrize("spec", list(SPECS.values()), ids=list(SPECS))
def test_register_declares_the_statuses_its_rows_take(spec: RegisterSpec) -> None:
    status = spec.status_field
    assert status.kind == "choice" and status.choices, f"{spec.name}: its status has no choices with labels"
    if spec.flow is None:  # rows added by hand or by import start in it (a flow's rows: in the flow's first)
        assert spec.initial_status in dict(status.choices), f"{spec.name}: a new row's status has no label"
    for f in coded(spec):
        assert f.choices, f"{spec.name}.{f.key}: a choice field without choices"
        codes = [code for code, _ in f.choices]
        assert len(codes) == len(set(codes)), f"{spec.name}.{f.key}: a code is declared twice"


@pytest.mark.parametrize(("spec", "field", "code", "label"), CHOICES)
def test_register_choice_has_a_label_in_words(spec: RegisterSpec, field: Field, code: str, label: str) -> None:
    assert label.strip() == label and label, "an empty label"
    assert label != code and "_" not in label, f"the label is the code: {label!r}"
    assert label[:1].isupper() or label[:1].isdigit(), f"a label starts with a capital: {label!r}"
    assert field.choice_label(code) == label


def test_an_undeclared_code_still_reads_in_words() -> None:
    """A code a flow writes before its register declares it reads in words, not as the code."""
    assert SPECS["nonconformities"].status_words("awaiting_cb_review") == "Awaiting certification body review"
    assert SPECS["evidence"].status_words("submitted") == "Submitted"
    assert SPECS["competence"].status_words("active") == "Active"


#: (register, field, the shipped form that collects the value, its property there): the register says
#: a code with the words the form offered it in
COLLECTED = [("nonconformities", "source", "nc_report", "source"),
             ("nonconformities", "severity", "nc_triage", "severity"),
             ("risks", "source_category", "risk_identify", "source_category"),
             ("risks", "treatment_option", "risk_plan_treatment", "treatment_option"),
             ("impact_assessments", "trigger", "aiia_start", "trigger"),
             ("impact_assessments", "overall_conclusion", "aiia_impact_analysis", "proposed_conclusion"),
             ("evidence", "evidence_type", "evidence_review_start", "evidence_type")]


def _offered(node: Any, key: str) -> dict[str, str]:
    """The titled choices a form offers for the property ``key``, anywhere in it."""
    if isinstance(node, list):
        return {k: v for item in node for k, v in _offered(item, key).items()}
    if not isinstance(node, dict):
        return {}
    found: dict[str, str] = {}
    own = (node.get("properties") or {}).get(key)
    if isinstance(own, dict):
        choices = own.get("oneOf") or (own.get("items") or {}).get("oneOf") or []
        found |= {c["const"]: c["title"] for c in choices if isinstance(c, dict) and "title" in c}
    for value in node.values():
        found |= _offered(value, key)
    return found


@pytest.mark.parametrize(("register", "key", "form", "prop"), COLLECTED, ids=[f"{r}.{k}" for r, k, _, _ in COLLECTED])
def test_register_says_a_collected_code_as_its_form_offered_it(register: str, key: str, form: str, prop: str) -> None:
    offered = _offered(json.loads((PROJECT_ROOT / "forms" / f"{form}.schema.json").read_text()), prop)
    assert offered, f"{form} offers no titled {prop}"
    declared = dict(SPECS[register].field(key).choices)
    assert {code: declared.get(code) for code in offered} == offered
