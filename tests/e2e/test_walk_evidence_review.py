"""The evidence review (``aims_evidence_review``) done in chromium by the people who hold each step: the
control owner who collected EVD-018 asks for its review, and the AIMS owner accepts it with its validity
and the controls it proves; and the rejection branch, where the AIMS owner rejects it with the reason
(the submitter may resubmit). Screenshots under test-output/e2e/<test name>/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from .walk import Walk, walk

pytestmark = pytest.mark.demo
SUBMITTED = {"evidence_ref": "EVD-018", "trigger": "submitted"}  # collected by lucas


@pytest.fixture
def evidence(chromium: Any, fresh_shipped_server: tuple[str, Flask], shots: Path) -> Iterator[Walk]:
    yield from walk(chromium, fresh_shipped_server, shots, "aims_evidence_review")


def test_evidence_review_accepts_with_validity_and_controls(evidence: Walk) -> None:
    evidence.start("lucas", SUBMITTED)
    evidence.do("priya", "ut_review_evidence", {"decision": "accept", "valid_until": "2027-11-01",
                                                "linked_controls": ["A.4.4", "A.4.5"]})
    evidence.finish("completed", "E_EVIDENCE_ACCEPTED")


def test_evidence_review_rejects_with_the_reason(evidence: Walk) -> None:
    evidence.start("lucas", SUBMITTED)
    evidence.do("priya", "ut_review_evidence", {"decision": "reject", "linked_controls": ["A.4.4"],
                                                "comment": "screenshot unreadable"})
    evidence.finish("completed", "E_EVIDENCE_REJECTED")
