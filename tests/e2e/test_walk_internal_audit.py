"""The internal audit (``aims_internal_audit``) done in chromium by the people who hold each step: the
AIMS owner (priya) opens an unplanned audit of Ask Lumi and appoints daniel as lead auditor; daniel
declares his independence and prepares the plan; the auditee (meilin) confirms she is ready; on the
planned start day daniel does the fieldwork, drafts the findings (an observation and a positive one) and
meilin accepts hers; daniel writes the report and priya issues it, which closes the audit. The rework
branch: priya returns the report to daniel, who revises it before she issues it. Screenshots under
test-output/e2e/<test name>/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from engine.aims.registers import Audit
from engine.core.models import ProcessInstance
from web.extensions import db

from ..engine.audit_flow import CONFIRMED, DECLARE, finding, findings, plan, report, results, unplanned
from ..engine.helpers import email
from .walk import Walk, walk

pytestmark = pytest.mark.demo


@pytest.fixture
def audit(chromium: Any, fresh_shipped_server: tuple[str, Flask], shots: Path) -> Iterator[Walk]:
    yield from walk(chromium, fresh_shipped_server, shots, "aims_internal_audit")


def checklist(w: Walk) -> list[dict[str, Any]]:
    """The checklist the plan made (the register row the fieldwork form answers item by item)."""
    with w.app.app_context():
        instance = db.session.get(ProcessInstance, w.instance_id)
        assert instance is not None
        row = db.session.scalar(select(Audit).where(Audit.ref == instance.subject))
        assert row is not None
        return list(row.checklist)


def to_report(w: Walk) -> str:
    """From the start to the report being written: priya opens the audit and appoints daniel, who
    declares, plans and (on the planned start day) does the fieldwork and drafts the findings; meilin
    prepares and answers the observation. Returns the audit's reference."""
    w.start("priya", {"unplanned": unplanned()})
    w.do("priya", "ut_appoint_audit_team", {"lead_auditor_id": email("daniel"), "scope_confirmed": True})
    w.do("daniel", "ut_auditor_declaration", DECLARE)
    w.do("daniel", "ut_prepare_audit_plan", plan())
    w.do("meilin", "ut_auditee_prepare", CONFIRMED)
    w.fire_timer("tm_planned_start")
    w.do("daniel", "ut_fieldwork", results(checklist(w)))
    w.do("daniel", "ut_draft_findings", findings(finding("observation", "8.2"), finding("positive", "8.1")))
    with w.app.app_context():
        instance = db.session.get(ProcessInstance, w.instance_id)
        assert instance is not None and instance.subject is not None
        ref = instance.subject
    w.do("meilin", "ut_auditee_response", {"responses": [{"finding_ref": f"{ref}-F1", "response": "accept"}]})
    return ref


def test_internal_audit_planned_done_reported_and_closed(audit: Walk) -> None:
    to_report(audit)
    audit.do("daniel", "ut_write_report", report(conformity="conforms"))
    audit.do("priya", "ut_review_report", {"decision": "issue"})
    audit.finish("completed", "E_CLOSED")


def test_internal_audit_report_returned_to_the_auditor_and_revised(audit: Walk) -> None:
    to_report(audit)
    audit.do("daniel", "ut_write_report", report(conformity="conforms"))
    audit.do("priya", "ut_review_report", {"decision": "return_to_auditor", "comment": "say what was sampled"})
    assert audit.specs() == ["ut_write_report"]
    audit.do("daniel", "ut_write_report", report(conformity="conforms"))
    audit.do("priya", "ut_review_report", {"decision": "issue"})
    audit.finish("completed", "E_CLOSED")
