"""The choices of the shipped forms read as words people use: every list of options a form shows gives
each option its title (never a code turned into words, "Recommend after ca", "Ofi", "Lt 100"), and a
field naming a control is a picker of the controls with their titles ("A.6.2.5 — AI system deployment")."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from engine.aims.references import REFERENCES
from engine.core import forms
from tests.people import add_user

ROOT = Path(__file__).resolve().parent.parent.parent
FORMS = sorted((ROOT / "forms").glob("*.schema.json"))
CONTROL = re.compile(r"^A\.\d")


def _shown(schema: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every sub-schema a person sees (the ``if`` of a condition only tests answers)."""
    if isinstance(schema, dict):
        yield path, schema
        for key, sub in schema.items():
            if key != "if":
                yield from _shown(sub, f"{path}/{key}")
    elif isinstance(schema, list):
        for i, sub in enumerate(schema):
            yield from _shown(sub, f"{path}/{i}")


@pytest.mark.parametrize("path", FORMS, ids=lambda p: p.name.removesuffix(".schema.json"))
def test_every_option_a_form_shows_has_its_own_title(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    untitled = [where for where, sub in _shown(schema) if "enum" in sub]
    assert not untitled, f"options without titles (use oneOf of const and title): {untitled}"
    for where, sub in _shown(schema):
        for branch in sub.get("oneOf") or sub.get("anyOf") or []:
            if isinstance(branch, dict) and "const" in branch:
                title = branch.get("title")
                assert isinstance(title, str) and title.strip(), f"{where}: {branch['const']!r} has no title"
                assert "_" not in title, f"{where}: {title!r} is a code, not words"
                if isinstance(branch["const"], str) and CONTROL.match(branch["const"]):
                    assert " — " in title, f"{where}: control {branch['const']} shown without its title"


@pytest.mark.parametrize("path", FORMS, ids=lambda p: p.name.removesuffix(".schema.json"))
def test_every_control_field_is_a_picker_of_the_controls(path: Path) -> None:
    root = forms.expanded(json.loads(path.read_text(encoding="utf-8")))
    for where, sub in _shown(root):
        if "ORG-" in str(sub.get("pattern", "")):
            assert sub.get("x-ref") == "control", f"{where} names a control but is typed by hand"


def test_controls_are_offered_with_their_titles_in_the_standards_order(session: Session) -> None:
    control = REFERENCES["control"]
    options = control.options(session)
    assert ("A.6.2.5", "A.6.2.5 — AI system deployment") in options
    ids = [ref for ref, _ in options]
    assert len(ids) == 38 and ids.index("A.2.2") < ids.index("A.6.2.5") < ids.index("A.10.4")
    assert control.exists(session, "A.6.2.5")
    assert not control.exists(session, "A.99.1")


def test_a_records_controls_read_with_their_titles() -> None:
    from engine.aims.register_specs import SPECS
    from engine.app import register_edit

    shown = {f.key: text for f, text in register_edit.display(
        SPECS["risks"], {"title": "Drift", "planned_controls": ["A.6.2.5", "ORG-07"]})}
    assert shown["planned_controls"] == "A.6.2.5 — AI system deployment; ORG-07"
    shown = {f.key: text for f, text in register_edit.display(
        SPECS["risk_treatment_actions"], {"control_ref": "A.6.2.5", "description": "Gate the release"})}
    assert shown["control_ref"] == "A.6.2.5 — AI system deployment"
    assert shown["description"] == "Gate the release"


def test_a_records_people_read_by_name_and_durations_in_words(session: Session) -> None:
    from engine.aims.register_specs import SPECS
    from engine.app import register_edit

    add_user(session, "mei@example.org", "Mei Lin Chen", [], datetime(2026, 1, 5, tzinfo=UTC))
    shown = {f.key: text for f, text in register_edit.display(
        SPECS["objectives"], {"title": "Fewer incidents", "owner": "mei@example.org", "measurement_frequency": "P3M"},
        session)}
    assert shown["owner"] == "Mei Lin Chen"
    assert shown["measurement_frequency"] == "3 months"
    shown = {f.key: text for f, text in register_edit.display(SPECS["competence"], {"refresh_interval": "P1Y6M"})}
    assert shown["refresh_interval"] == "1 year 6 months"


def test_a_records_people_are_looked_up_by_the_e_mails_it_shows_only(session: Session) -> None:
    """However many people the organisation has, showing a record asks for the e-mails it holds: one
    statement; an address no user has stays as typed."""
    from sqlalchemy import event

    from engine.aims.register_specs import SPECS
    from engine.app import register_edit

    when = datetime(2026, 1, 5, tzinfo=UTC)
    for n in range(30):
        add_user(session, f"person{n}@example.org", f"Person {n}", [], when)
    add_user(session, "mei@example.org", "Mei Lin Chen", [], when)
    sent: list[Any] = []

    def count(conn: object, cursor: object, statement: str, parameters: Any, *args: object) -> None:
        sent.append(parameters)

    bind = session.get_bind()
    event.listen(bind, "before_cursor_execute", count)
    try:
        known = {f.key: text for f, text in register_edit.display(
            SPECS["objectives"], {"title": "Fewer incidents", "owner": "Mei@Example.org"}, session)}
        unknown = {f.key: text for f, text in register_edit.display(
            SPECS["objectives"], {"title": "Fewer incidents", "owner": "dpo@supplier.example"}, session)}
    finally:
        event.remove(bind, "before_cursor_execute", count)
    assert known["owner"] == "Mei Lin Chen" and unknown["owner"] == "dpo@supplier.example"
    assert [set(p.values() if isinstance(p, dict) else p) for p in sent] == [
        {"mei@example.org"}, {"dpo@supplier.example"}]


def test_every_kind_of_evidence_the_forms_name_has_the_words_the_register_shows() -> None:
    """The evidence review's start form titles its kinds as the register words them, and every kind a
    form files its proofs as (``x-evidence``) has words too."""
    from engine.aims.register_specs import EVIDENCE_TYPES

    words = dict(EVIDENCE_TYPES)
    start = json.loads((ROOT / "forms" / "evidence_review_start.schema.json").read_text())
    offered = {c["const"]: c["title"] for c in start["properties"]["evidence_type"]["oneOf"]}
    assert offered == {code: words[code] for code in offered}
    filed = {code for path in (ROOT / "forms").glob("*.schema.json")
             for code in re.findall(r'"evidence_type":\s*"(\w+)"', path.read_text())}
    assert filed and filed <= set(words)
