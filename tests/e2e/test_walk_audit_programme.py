"""The internal audit programme (``aims_audit_programme``) done in chromium by the people who hold each
step: the AIMS owner (priya) opens the programme for FY2027 and drafts two audits that cover every
clause and Annex A control; top management (grace) approves it, which plans the audits; at the end of
the year the programme closes. The rework branch: top management (amara) asks for changes and priya
drafts it again before amara approves. Screenshots under test-output/e2e/<test name>/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from ..engine.audit_flow import all_required_audits, programme_audits
from .walk import Walk, walk

pytestmark = pytest.mark.demo
YEAR = {"period": "FY2027", "fy_start": "2027-01-01", "fy_end": "2027-12-31"}


@pytest.fixture
def programme(chromium: Any, fresh_shipped_server: tuple[str, Flask], shots: Path) -> Iterator[Walk]:
    yield from walk(chromium, fresh_shipped_server, shots, "aims_audit_programme")


def test_audit_programme_drafted_approved_and_completed_at_year_end(programme: Walk) -> None:
    programme.start("priya", YEAR)
    programme.do("priya", "ut_draft_programme", programme_audits(*all_required_audits()))
    programme.do("grace", "ut_approve_programme", {"decision": "approve"})
    assert programme.specs() == []
    programme.fire_timer("tm_year_end")
    programme.finish("completed", "E_PROG_DONE")


def test_audit_programme_changes_requested_then_approved(programme: Walk) -> None:
    programme.start("priya", YEAR | {"cert_target_stage1": "2027-04-01"})
    programme.do("priya", "ut_draft_programme", programme_audits(*all_required_audits()))
    programme.do("amara", "ut_approve_programme", {"decision": "request_changes",
                                                   "comment": "finish before stage 1"})
    assert programme.specs() == ["ut_draft_programme"]
    programme.do("priya", "ut_draft_programme", programme_audits(*all_required_audits()))
    programme.do("amara", "ut_approve_programme", {"decision": "approve"})
    programme.fire_timer("tm_year_end")
    programme.finish("completed", "E_PROG_DONE")
