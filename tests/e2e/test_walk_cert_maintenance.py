"""The certificate's upkeep (``aims_cert_maintenance``, with its ``aims_external_audit`` call) done in
chromium by the people who hold each step: the AIMS owner starts the first surveillance of a certified
cycle; 90 days before it, top management says go; the AIMS owner records the audit (the interviewee
confirms taking part) and the certificate is kept. And the rework branch: top management says no-go,
the AIMS owner plans the remediation, top management says go, the certification body suspends the
certificate, the AIMS owner plans the reinstatement and the body's letter reinstates it.
Screenshots under test-output/e2e/<test name>/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from engine.core import messaging
from engine.core.runtime import Context
from web.extensions import db

from ..engine import cert_flow as cf
from ..engine.cert_flow import CertFlow
from ..engine.helpers import email, user
from ..engine.test_flow_cert import certified
from .test_walk_cert_prep import audit
from .walk import Walk, walk

pytestmark = pytest.mark.demo
SURVEILLANCE_1 = {"cycle_ref": "CERT-2026", "audit_type": "surveillance", "audit_no": 1}


@pytest.fixture
def upkeep(chromium: Any, fresh_shipped_server: tuple[str, Flask], shots: Path) -> Iterator[Walk]:
    _url, app = fresh_shipped_server
    with app.app_context():
        # CERT-2026 certified on 2027-04-10 with an approved SoA and the registers in order in January
        # 2028: the certification preparation's outcome, set through the engine as the flow tests do
        clock = app.extensions["aimsflow.clock"]
        certified(CertFlow(Context(db.session, clock, app.extensions["aimsflow.settings"]), clock),
                  date(2028, 1, 10))
        db.session.commit()
    yield from walk(chromium, fresh_shipped_server, shots, "aims_cert_maintenance")


def test_cert_maintenance_surveillance_keeps_the_certificate(upkeep: Walk) -> None:
    upkeep.start("priya", SURVEILLANCE_1)
    assert upkeep.specs() == []
    upkeep.fire_timer("timer_window")  # 90 days before surveillance 1 is due
    upkeep.do("grace", "ut_m_readiness_decision", cf.GO)
    audit(upkeep, "2028-03-01", "2028-03-02", cf.outcome("recommend"), interviewees=["tomas"])
    upkeep.finish("completed", "E_MAINTAINED")


def test_cert_maintenance_no_go_then_suspended_and_reinstated(upkeep: Walk) -> None:
    upkeep.start("priya", SURVEILLANCE_1)
    upkeep.fire_timer("timer_window")
    upkeep.do("grace", "ut_m_readiness_decision", cf.NO_GO)
    assert upkeep.specs() == ["ut_m_plan_remediation"]
    upkeep.do("priya", "ut_m_plan_remediation", {"actions": [{
        "description": "Refresh the supplier assessments", "owner_id": email("fatima"), "due_date": "2028-02-15"}]})
    upkeep.do("grace", "ut_m_readiness_decision", cf.GO)
    audit(upkeep, "2028-03-01", "2028-03-02", cf.outcome("suspend"), interviewees=["tomas"])
    upkeep.do("priya", "ut_reinstatement_plan", {"plan": {
        "actions": "close the major NC on event logging", "target_date": "2028-05-01", "cb_contacted": True}})
    with upkeep.app.app_context():
        # the certification body's letter arrives as a message (the events command or an integration
        # sends it; no page takes it)
        clock = upkeep.app.extensions["aimsflow.clock"]
        ctx = Context(db.session, clock, upkeep.app.extensions["aimsflow.settings"])
        messaging.correlate_message(ctx, user(db.session, "priya"), "msg_cb_reinstated", {"cycle_ref": "CERT-2026"},
                                    {"letter": "EVD-301"})
        db.session.commit()
    upkeep.finish("completed", "E_MAINTAINED")
