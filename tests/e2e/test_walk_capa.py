"""The nonconformity and corrective action flow (``aims_nc_capa``) done in chromium by the people who
hold each step: a process owner reports a nonconformity, the AIMS owner triages it and names its owner,
the NC owner contains it, finds the root causes and plans corrective actions, an approver approves the
plan, each action owner completes their action (an ``aims_action`` instance each), and on the check date
the internal auditor verifies that the actions worked; and the rejection branch, where the approver
rejects the plan and the NC owner plans again. Screenshots under test-output/e2e/<test name>/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from ..engine.capa_flow import CONTAIN, RCA, done, plan, report, triage, verify
from ..engine.helpers import email
from .walk import Walk, walk

pytestmark = pytest.mark.demo


@pytest.fixture
def capa(chromium: Any, fresh_shipped_server: tuple[str, Flask], shots: Path) -> Iterator[Walk]:
    yield from walk(chromium, fresh_shipped_server, shots, "aims_nc_capa")


def to_plan(w: Walk) -> None:
    """Reported, triaged (minor, owned by Ravi, the plan approved by Ingrid), contained and analysed."""
    w.start("tomas", report())
    w.do("priya", "ut_triage_nc", triage())
    w.do("ravi", "ut_contain_correct", CONTAIN)
    w.do("ravi", "ut_root_cause", RCA)


def act_and_verify(w: Walk, owners: tuple[str, ...]) -> None:
    """Each action owner reports their action done; on the check date the internal auditor verifies."""
    for owner in owners:
        w.do(owner, "ut_complete_action", done())
    assert w.specs() == []  # waiting for the effectiveness check date
    w.fire_timer("timer_check")
    w.do("daniel", "ut_verify_effectiveness", verify())
    w.finish("completed", "E_CLOSED")


def chosen_causes(w: Walk) -> list[str]:
    """The root causes the plan's actions were given, as the page offered them: their words."""
    return [words for name, words in sorted(w.form.picked.items()) if name.endswith(".addresses_root_cause")]


def test_capa_reported_triaged_corrected_and_closed_as_effective(capa: Walk) -> None:
    to_plan(capa)
    capa.do("ravi", "ut_plan_ca", plan(("lucas", "elena")))  # action i addresses root cause i % 2
    assert chosen_causes(capa) == [c["cause"] for c in RCA["root_causes"]]
    capa.do("ingrid", "ut_approve_ca_plan", {"decision": "approve"})
    assert capa.specs() == ["ut_complete_action", "ut_complete_action"]
    act_and_verify(capa, ("lucas", "elena"))


def test_capa_approver_rejects_the_plan_and_the_owner_plans_again(capa: Walk) -> None:
    to_plan(capa)
    capa.do("ravi", "ut_plan_ca", plan(("lucas", "elena")))
    capa.do("ingrid", "ut_approve_ca_plan", {"decision": "reject",
                                             "comment": "actions do not address the people cause"})
    assert capa.specs() == ["ut_plan_ca"]
    capa.do("ravi", "ut_plan_ca", plan(("lucas", "lucas")) | {"actions": [
        {"description": "Name and train a backup analyst", "addresses_root_cause": 0, "owner_id": email("lucas"),
         "due_date": "2026-12-01"},
        {"description": "Schedule the report with an alert", "addresses_root_cause": 1,
         "owner_id": email("lucas"), "due_date": "2026-12-01"}]})
    capa.do("ingrid", "ut_approve_ca_plan", {"decision": "approve"})
    act_and_verify(capa, ("lucas", "lucas"))
