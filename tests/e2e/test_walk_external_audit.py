"""The external certification audit (``aims_external_audit``) done in chromium by the people who hold
each step. It runs only as a call of the certification preparation (``aims_cert_prep``), so the
preparation up to stage 2 (project, SoA, go decision, a stage 1 audit ready for stage 2) is brought
about through the engine's services, as in the flow tests; the stage 2 audit is then walked in the
browser: the AIMS owner (priya) records the certification body's schedule, the interviewee (tomas)
confirms he takes part, on the first audit day priya logs the days and records the outcome with a minor
nonconformity, submits the corrective-action plan and records that the certification body accepted it,
which closes the audit. The rework branch: the certification body rejects what was submitted and priya
submits again. Screenshots under test-output/e2e/<test name>/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from engine.core.clock import FixedClock
from engine.core.runtime import Context
from web.extensions import db

from ..engine import cert_flow as cf
from .walk import Walk, walk

pytestmark = pytest.mark.demo
STAGE2_END = "2027-03-17"


@pytest.fixture
def external(chromium: Any, fresh_shipped_server: tuple[str, Flask], shots: Path) -> Iterator[Walk]:
    yield from walk(chromium, fresh_shipped_server, shots, "aims_cert_prep")


def to_stage2(w: Walk) -> None:
    """The certification preparation up to the stage 2 call, through the services: the registers cleared
    of the demo's readiness blockers (no page does all of that), the project defined, the SoA completed
    and approved, go for stage 1, and stage 1 found ready for stage 2."""
    with w.app.app_context():
        clock = w.app.extensions["aimsflow.clock"]
        assert isinstance(clock, FixedClock)
        cf.clear_blockers(db.session)
        flow = cf.CertFlow(Context(db.session, clock, w.app.extensions["aimsflow.settings"]), clock)
        flow.to_stage1()
        flow.run_audit(cf.STAGE1, "2027-02-16", cf.outcome("ready_for_stage2", next_audit=cf.STAGE2))
        assert flow.instance is not None
        w.instance_id = flow.instance.id
        db.session.commit()
    assert w.specs() == ["ut_record_audit_schedule"]
    assert w.called_end_events("aims_external_audit") == ["E_AUDIT_CLOSED", None]


def test_external_audit_stage2_with_a_minor_nc_answered_and_closed(external: Walk) -> None:
    to_stage2(external)
    external.do("priya", "ut_record_audit_schedule", cf.schedule(cf.STAGE2, STAGE2_END, ["tomas"]))
    external.do("tomas", "ut_confirm_participation", {"availability": "confirmed"})
    external.fire_timer("timer_audit_start")
    external.do("priya", "ut_log_audit_days", cf.audit_log(cf.STAGE2, STAGE2_END))
    external.do("priya", "ut_record_audit_outcome", cf.outcome("recommend_after_ca", cf.finding("CB-1")))
    external.do("priya", "ut_submit_to_cb", cf.CA_PLAN)
    external.do("priya", "ut_record_cb_response", cf.ACCEPTED)
    assert external.called_end_events("aims_external_audit") == ["E_AUDIT_CLOSED", "E_AUDIT_CLOSED"]
    external.finish("running")  # the preparation goes on to the certification decision


def test_external_audit_submission_rejected_by_the_certification_body_and_submitted_again(external: Walk) -> None:
    to_stage2(external)
    external.do("priya", "ut_record_audit_schedule", cf.schedule(cf.STAGE2, STAGE2_END, ["tomas"]))
    external.do("tomas", "ut_confirm_participation", {"availability": "confirmed"})
    external.fire_timer("timer_audit_start")
    external.do("priya", "ut_log_audit_days", cf.audit_log(cf.STAGE2, STAGE2_END))
    external.do("priya", "ut_record_audit_outcome", cf.outcome("recommend_after_ca", cf.finding("CB-M1", "major_nc")))
    external.do("priya", "ut_submit_to_cb", cf.EVIDENCE)
    external.do("priya", "ut_record_cb_response", cf.REJECTED)
    assert "ut_submit_to_cb" in external.specs()
    external.do("priya", "ut_submit_to_cb", cf.EVIDENCE)
    external.do("priya", "ut_record_cb_response", cf.ACCEPTED)
    assert external.called_end_events("aims_external_audit") == ["E_AUDIT_CLOSED", "E_AUDIT_CLOSED"]
    external.finish("running")  # the preparation goes on to the certification decision
