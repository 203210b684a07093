"""Every stored code a register page shows has words: each register's status and each choice field
declare a label for every value they allow (``tests/web/test_register_words_pages.py`` checks that the
values the demo and the flows of its history stored are among them). Pages say the label; exports,
imports and the API keep the code."""

from __future__ import annotations

import re

import pytest

from engine.aims.register_fields import Field
from engine.aims.register_specs import SPECS, RegisterSpec

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
    assert SPECS["nonconformities"].status_words("awaiting_cb_review") == "Awaiting cb review"
    assert SPECS["evidence"].status_words("submitted") == "Submitted"
    assert SPECS["competence"].status_words("active") == "Active"
