"""The management review (``aims_management_review``) done in chromium by the people who hold each
step: the AIMS owner (priya) opens MR-2026-2 and schedules it with the CEO (jonas) in the chair; the
input providers (tomas, fatima, daniel) each give their 9.3.2 input; priya compiles the pack, and after
the meeting records the minutes, which the chair approves (the decisions then go on to actions and a
policy review). The rework branch: the chair sends the minutes back and priya records them again.
Screenshots under test-output/e2e/<test name>/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from ..engine.mr_flow import PACK, PROVIDERS, minutes, provided, schedule
from .walk import Walk, walk

pytestmark = pytest.mark.demo


@pytest.fixture
def review(chromium: Any, fresh_shipped_server: tuple[str, Flask], shots: Path) -> Iterator[Walk]:
    yield from walk(chromium, fresh_shipped_server, shots, "aims_management_review")


def to_meeting(w: Walk) -> None:
    """priya opens and schedules MR-2026-2, each provider gives their input, priya issues the pack and
    the meeting day comes."""
    w.start("priya", {"review_ref": "MR-2026-2"})
    w.do("priya", "ut_mr_schedule", schedule())
    for category, key in PROVIDERS.items():
        w.do(key, "ut_mr_provide_input", provided(category))
    w.do("priya", "ut_mr_compile_pack", PACK)
    w.fire_timer("tm_meeting")


def test_management_review_held_minuted_and_approved(review: Walk) -> None:
    to_meeting(review)
    review.do("priya", "ut_mr_record_minutes", minutes())
    review.do("jonas", "ut_mr_approve_minutes", {"decision": "approve"})
    review.finish("completed", "E_DONE")


def test_management_review_minutes_sent_back_by_the_chair(review: Walk) -> None:
    to_meeting(review)
    review.do("priya", "ut_mr_record_minutes", minutes())
    review.do("jonas", "ut_mr_approve_minutes", {"decision": "request_changes", "comment": "add the budget figure"})
    assert "ut_mr_record_minutes" in review.specs()
    review.do("priya", "ut_mr_record_minutes", minutes(decisions=[
        {"type": "no_change", "description": "Keep the AIMS as it is", "rationale": "stable"}], actions=[]))
    review.do("jonas", "ut_mr_approve_minutes", {"decision": "approve"})
    review.finish("completed", "E_DONE")
