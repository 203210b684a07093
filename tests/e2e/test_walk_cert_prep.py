"""The certification preparation (``aims_cert_prep``, with its two ``aims_external_audit`` calls) done in
chromium by the people who hold each step: the AIMS owner defines the project, the control owners fill
the gaps in their SoA entries, the AIMS owner reviews the SoA and top management approves it and says
go; the AIMS owner records stage 1 and stage 2 (the interviewee confirms taking part), answers the
certification body's finding and records the certificate. And the rework branch: top management asks
for changes to the SoA, then says no-go, and the AIMS owner plans the remediation before the go.
Screenshots under test-output/e2e/<test name>/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from engine.aims.registers import CertificationCycle
from web.extensions import db

from ..engine import cert_flow as cf
from ..engine.helpers import email
from .walk import Walk, walk

pytestmark = pytest.mark.demo
PEOPLE = ("lucas", "fatima", "priya", "tomas", "meilin", "ravi")


@pytest.fixture
def cert(chromium: Any, fresh_shipped_server: tuple[str, Flask], shots: Path) -> Iterator[Walk]:
    _url, app = fresh_shipped_server
    with app.app_context():
        # the registers as the demo organisation has them just before certification (scope, assessments,
        # risk acceptances, audit cycle, management review): register work outside this process, done
        # through the engine as the flow tests do
        cf.clear_blockers(db.session)
        db.session.commit()
    yield from walk(chromium, fresh_shipped_server, shots, "aims_cert_prep")


def key_of(address: str) -> str:
    return next(k for k in PEOPLE if email(k) == address)


def fill_gaps(w: Walk) -> None:
    """Each open SoA entry answered by the control owner it went to (A.4.4 lucas, A.8.5 fatima)."""
    for task in w.open_tasks("ut_complete_soa_entry"):
        item = w.variables(task)["gap_item"]
        w.do(key_of(item["owner_id"]), "ut_complete_soa_entry", cf.soa_entry(item),
             pick=lambda t, first=task.id: t.id == first)


def audit(w: Walk, start: str, end: str, result: dict[str, Any], interviewees: list[str] | None = None) -> None:
    """One external audit: the schedule, each interviewee's confirmation, the days, the outcome."""
    w.do("priya", "ut_record_audit_schedule", cf.schedule(start, end, interviewees))
    for task in w.open_tasks("ut_confirm_participation"):
        who = w.variables(task)["interviewee"]["user_id"]
        w.do(key_of(who), "ut_confirm_participation", {"availability": "confirmed"},
             pick=lambda t, first=task.id: t.id == first)
    w.fire_timer("timer_audit_start")
    w.do("priya", "ut_log_audit_days", cf.audit_log(start, end))
    w.do("priya", "ut_record_audit_outcome", result)


def test_cert_prep_to_certification(cert: Walk) -> None:
    cert.start("priya", {"cycle_ref": "CERT-2026"})
    cert.do("priya", "ut_define_cert_project", cf.project())
    assert cert.specs() == ["ut_complete_soa_entry", "ut_complete_soa_entry"]
    fill_gaps(cert)
    cert.do("priya", "ut_review_soa", {"entries_confirmed": True})
    cert.do("grace", "ut_approve_soa", cf.APPROVE)
    cert.do("grace", "ut_readiness_decision", cf.GO)
    audit(cert, cf.STAGE1, "2027-02-16", cf.outcome("ready_for_stage2", next_audit=cf.STAGE2))
    audit(cert, cf.STAGE2, "2027-03-17", cf.outcome("recommend_after_ca", cf.finding("CB-1")), interviewees=["tomas"])
    cert.do("priya", "ut_submit_to_cb", cf.CA_PLAN)  # the finding's corrective action plan
    cert.do("priya", "ut_record_cb_response", cf.ACCEPTED)
    cert.do("priya", "ut_record_cert_decision", cf.GRANTED)
    cert.finish("completed", "E_CERTIFIED")


def test_cert_prep_soa_sent_back_and_no_go_before_remediation(cert: Walk) -> None:
    cert.start("priya", {"cycle_ref": "CERT-2026"})
    cert.do("priya", "ut_define_cert_project", cf.project())
    fill_gaps(cert)
    cert.do("priya", "ut_review_soa", {"entries_confirmed": True})
    cert.do("grace", "ut_approve_soa", {"decision": "request_changes", "comment": "justify A.4.4 better"})
    assert cert.specs() == ["ut_review_soa"]
    cert.do("priya", "ut_review_soa", {"entries_confirmed": True})
    cert.do("amara", "ut_approve_soa", cf.APPROVE)
    cert.do("amara", "ut_readiness_decision", cf.NO_GO)
    assert cert.specs() == ["ut_plan_remediation"]
    cert.do("priya", "ut_plan_remediation", {"actions": [{
        "description": "Run a second internal audit of 8.x", "owner_id": email("daniel"), "due_date": "2026-12-15"}]})
    cert.fire_timer("timer_recheck")  # readiness is checked again 14 days later
    cert.do("amara", "ut_readiness_decision", {"decision": "go_with_known_risks", "rationale": "audit is done",
                                               "known_risks": "A.8.3 form goes live in January"})
    assert "ut_record_audit_schedule" in cert.specs()  # stage 1 (and daniel's remediation action) open
    cert.finish("running")


def test_the_project_form_starts_from_what_the_register_holds(cert: Walk) -> None:
    """The register holds the cycle's certification body, contact, point of contact and target dates (as an
    import leaves them): the AIMS owner finds them in the project form, adds only what the register lacks, and
    the cycle keeps them. When that preparation is cancelled and started again for the same cycle, the form
    shows everything typed the first time."""
    with cert.app.app_context():
        cycle = db.session.scalar(select(CertificationCycle).where(CertificationCycle.ref == "CERT-2026"))
        assert cycle is not None
        cycle.certification_body, cycle.cb_contact = "Northgate Assurance Ltd", "audits@northgate.example"
        cycle.target_stage1_date, cycle.target_stage2_date = date(2027, 4, 12), date(2027, 5, 24)
        db.session.commit()
    cert.start("priya", {"cycle_ref": "CERT-2026"})
    task, = cert.open_tasks("ut_define_cert_project")
    cert.as_("priya")
    cert.page.goto(f"{cert.base}/tasks/{task.id}")
    cert.page.wait_for_selector("[data-testid=task-form]")
    shown = {name: cert.page.locator(f'[name="f.project.{name}"]').first.input_value()
             for name in ("certification_body", "cb_contact", "accreditation_body", "scope_ref",
                          "internal_point_of_contact_id", "target_stage1_date", "target_stage2_date")}
    assert shown == {"certification_body": "Northgate Assurance Ltd", "cb_contact": "audits@northgate.example",
                     "accreditation_body": "National accreditation body (IAF MLA signatory)",
                     "scope_ref": "DOC-SCOPE-001 v1.0", "internal_point_of_contact_id": email("priya"),
                     "target_stage1_date": "2027-04-12", "target_stage2_date": "2027-05-24"}
    assert cert.page.locator('[name="f.project.cb_accredited_for_42001"]').first.is_checked()
    cert.ui.shot("project_form_from_the_register")
    cert.do("priya", "ut_define_cert_project", {"project": {
        "ai_system_ids": ["AIS-001", "AIS-002"], "sites": ["London"], "headcount_in_scope": 640}})
    with cert.app.app_context():
        cycle = db.session.scalar(select(CertificationCycle).where(CertificationCycle.ref == "CERT-2026"))
        assert cycle is not None
        assert (cycle.certification_body, cycle.cb_contact, cycle.target_stage1_date) == (
            "Northgate Assurance Ltd", "audits@northgate.example", date(2027, 4, 12))
        assert cycle.details["project"]["ai_system_ids"] == ["AIS-001", "AIS-002"]
    assert cert.specs() == ["ut_complete_soa_entry", "ut_complete_soa_entry"]
    # the preparation is cancelled and started again for the same cycle: what was typed is there again
    first = cert.instance_id
    result = cert.app.test_cli_runner().invoke(args=["cancel", str(first), "--as", email("oliver"),
                                                     "--reason", "restarted with the new scope"])
    assert result.exit_code == 0, result.output
    cert.start("priya", {"cycle_ref": "CERT-2026"})
    assert cert.instance_id != first
    task, = cert.open_tasks("ut_define_cert_project")
    cert.page.goto(f"{cert.base}/tasks/{task.id}")
    cert.page.wait_for_selector("[data-testid=task-form]")
    cert.page.wait_for_load_state("load")
    assert cert.page.locator('[name="f.project.headcount_in_scope"]').input_value() == "640"
    assert cert.page.locator('[name="f.project.sites"]').input_value() == "London"
    assert cert.page.locator('[name="f.project.ai_system_ids"]').evaluate(
        "s => Array.from(s.selectedOptions).map(o => o.value)") == ["AIS-001", "AIS-002"]
    cert.ui.shot("project_form_as_typed_before")
