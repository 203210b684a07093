"""On the demo (its history played, as ``aimsflow demo load`` does), register lists, record pages and the
record cards of a finished step's page say stored statuses and choices in words (their labels in the
register's declaration), while the CSV export keeps the codes scripts rely on."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from typing import Any

import lxml.html
import pytest
from flask import Flask
from sqlalchemy import select

from engine.aims import demo_work
from engine.aims.register_specs import SPECS, RegisterSpec
from engine.aims.registers import Nonconformity
from engine.core.clock import FixedClock
from engine.core.models import HumanTask, TaskState
from web.extensions import db

from ..engine.test_register_words import CODE, coded
from .conftest import Browser, engine_ctx, shipped_app

pytestmark = pytest.mark.demo


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, clock: FixedClock) -> Iterator[Flask]:
    for app in shipped_app(tmp_path_factory.mktemp("register_words"), clock):
        with app.app_context():
            ctx = engine_ctx(app)
            assert demo_work.prepare(ctx).history
            assert all(p.error is None for p in demo_work.start_open_work(ctx))
            db.session.commit()
        yield app


def cells(page: str, label: str) -> list[str]:
    """The text of the list's cells in the column ``label``."""
    return [" ".join(td.text_content().split()) for td in
            lxml.html.fromstring(page).xpath(f'//table//td[@data-label="{label}"]')]


def values(page: str) -> dict[str, str]:
    """A record page's values: label -> the text shown."""
    return {" ".join(tr.xpath("th")[0].text_content().split()): " ".join(tr.xpath("td")[0].text_content().split())
            for tr in lxml.html.fromstring(page).xpath("//table/tbody/tr[th and td]")}


def test_evidence_register_says_statuses_in_words_and_its_export_keeps_the_codes(
        browser: Callable[[str], Browser]) -> None:
    owner = browser("aims_owner")
    page = owner.get("/registers?register=evidence").get_data(as_text=True)
    statuses = cells(page, "Status")
    assert "Submitted" in statuses and "Accepted" in statuses, statuses
    assert not {"submitted", "accepted"} & set(statuses)
    processes = {p for p in cells(page, "Process") if p}
    assert processes and all(p.startswith("Evidence review") for p in processes), processes  # not its number
    exported = list(csv.DictReader(io.StringIO(owner.get("/registers/evidence/export.csv").get_data(as_text=True))))
    assert {"submitted", "accepted"} <= {row["Status"] for row in exported}


def test_nonconformity_list_and_record_say_status_source_and_grade_in_words(
        browser: Callable[[str], Browser]) -> None:
    owner = browser("aims_owner")
    statuses = cells(owner.get("/registers?register=nonconformities").get_data(as_text=True), "Status")
    assert "Action planning" in statuses and "Root cause analysis" in statuses, statuses
    assert not [s for s in statuses if "_" in s or s[:1].islower()], statuses
    record = values(owner.get("/registers/nonconformities/NC-2026-004").get_data(as_text=True))
    assert (record["Source"], record["Grade"], record["Status"]) == ("Monitoring", "Minor", "Action planning"), record


def test_record_page_names_the_records_it_refers_to_and_lists_say_a_choice_title_in_words(
        browser: Callable[[str], Browser]) -> None:
    owner = browser("aims_owner")
    training = values(owner.get("/registers/training/TRN-001").get_data(as_text=True))
    assert training["Competence requirement"] == "iso42001_internal_auditor — ISO/IEC 42001 internal auditing"
    triggers = cells(owner.get("/registers?register=impact_assessments").get_data(as_text=True), "Trigger")
    assert "New system" in triggers and not [t for t in triggers if "_" in t], triggers  # a choice titling rows


def test_finished_step_lists_the_records_of_its_process_as_cards_in_words(
        app: Flask, browser: Callable[[str], Browser]) -> None:
    """The triage of NC-2026-004 is done: its page shows the nonconformity as the instance page's card."""
    with app.app_context():
        nc = db.session.scalar(select(Nonconformity).where(Nonconformity.ref == "NC-2026-004"))
        assert nc is not None and nc.instance_id is not None
        triage = db.session.scalar(select(HumanTask.id).where(
            HumanTask.instance_id == nc.instance_id, HumanTask.state == TaskState.COMPLETED,
            HumanTask.name == "Triage the nonconformity"))
    page = browser("aims_owner").get(f"/tasks/{triage}").get_data(as_text=True)
    assert "Records of this process" in page
    cards = lxml.html.fromstring(page).xpath('//*[@data-testid="subject"][@data-ref="NC-2026-004"]')
    assert cards, "the nonconformity has no record card"
    facts = {" ".join(dt.text_content().split()): " ".join(dt.getnext().text_content().split())
             for dt in cards[0].xpath(".//dt")}
    assert (facts["Status"], facts["Source"], facts["Grade"]) == ("Action planning", "Monitoring", "Minor"), facts
    assert facts["Owner"] == "Kwame Mensah"


@pytest.mark.parametrize("spec", list(SPECS.values()), ids=list(SPECS))
def test_every_value_the_demo_and_its_flows_stored_has_a_label(app: Flask, spec: RegisterSpec) -> None:
    """The rows the demo loaded and the flows of its history wrote hold only codes their register
    declares with a label, and no text (shown as it is) is a code."""
    undeclared: set[tuple[str, Any]] = set()
    with app.app_context():
        rows = list(db.session.scalars(select(spec.model)))
        assert rows, f"the demo has no {spec.label.lower()}"
        for row in rows:
            for f in coded(spec):
                stored = getattr(row, f.column)
                undeclared |= {(f.key, v) for v in (stored if isinstance(stored, list) else [stored])
                               if v not in (None, "") and v not in dict(f.choices)}
            for f in spec.fields:
                if f.kind in ("text", "lines"):
                    stored = getattr(row, f.column)
                    undeclared |= {(f.key, v) for v in (stored if isinstance(stored, list) else [stored])
                                   if isinstance(v, str) and CODE.fullmatch(v)}
    assert not undeclared, f"{spec.name}: values without a label: {sorted(undeclared)}"


def instructions_of(page: str) -> str:
    found = lxml.html.fromstring(page).xpath('//*[contains(@class, "instructions")]')
    assert found, "the page shows no instructions"
    return " ".join(found[0].text_content().split())


def test_task_instructions_say_codes_other_forms_collected_in_words_and_a_done_step_keeps_its_context(
        app: Flask, browser: Callable[[str], Browser]) -> None:
    """The open triage of NC-2026-006 names the source its report form collected by that form's title;
    the finished triage of NC-2026-004 still reads its instructions with the process's data."""
    with app.app_context():
        triages = {ref: db.session.scalar(select(HumanTask.id).join(Nonconformity, Nonconformity.instance_id
                                                                    == HumanTask.instance_id).where(
            Nonconformity.ref == ref, HumanTask.name == "Triage the nonconformity")) for ref in ("NC-2026-004",
                                                                                               "NC-2026-006")}
    owner = browser("aims_owner")
    open_one = instructions_of(owner.get(f"/tasks/{triages['NC-2026-006']}").get_data(as_text=True))
    assert "source Self-identified" in open_one and "self_identified" not in open_one, open_one
    done = instructions_of(owner.get(f"/tasks/{triages['NC-2026-004']}").get_data(as_text=True))
    assert done.startswith("NC-2026-004 FraudGuard alert threshold") and "source Monitoring" in done, done
    assert "{{" not in done and "(against , source )" not in done


def test_record_history_says_how_a_change_was_made_in_words(browser: Callable[[str], Browser]) -> None:
    owner = browser("aims_owner")
    added = owner.post("/registers/context_issues/new", {"description": "A new AI law applies to hiring",
                                                         "kind": "external", "status": "open"})
    assert added.status_code == 303, added.get_data(as_text=True)[:1000]
    page = owner.get(added.headers["Location"]).get_data(as_text=True)
    history = " ".join(lxml.html.fromstring(page).xpath('//*[@data-testid="history"]')[0].text_content().split())
    assert "(on the site)" in history and "(web)" not in history, history
    assert values(page)["Internal or external"] == "External" and values(page)["Status"] == "Open"
