"""The full cycle on the demo organisation, through the services and the shipped flows (no stand-ins):

an internal audit of Ask Lumi raises two nonconformities; both go through ``aims_nc_capa`` (triage,
containment, root cause, an approved corrective-action plan whose actions run in ``aims_action``,
effectiveness verified by the lead auditor) and the audit closes when the second NC closes. Then
``aims_cert_prep``: the SoA gaps are filled by the control owners and the SoA approved by top management,
go/no-go, stage 1 and stage 2 (``aims_external_audit``) with one certification-body finding handled
through ``aims_nc_capa``, and the certificate is granted. At the end the SoA, the audit pack and the audit
chain are checked.

What the demo organisation still has to do before certification beyond this story (assess AIS-004, accept
three risks, hold the management review after the audit cycle, ...) is done in the registers by
``cert_flow.clear_blockers``, as the certification-flow tests do.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select

from engine.aims import audit_pack, catalogue, exports, soa
from engine.aims.registers import ExternalFinding, Nonconformity, ReadinessReview
from engine.core import audit_trail
from engine.core.clock import FixedClock
from engine.core.runtime import Context

from . import capa_flow as capa
from . import cert_flow as cf
from .audit_flow import AuditFlow, finding, findings, report
from .capa_flow import CapaFlow
from .cert_flow import CertFlow
from .helpers import email, user

pytestmark = pytest.mark.demo

STAGE1, STAGE2 = "2027-06-14", "2027-07-12"
#: the SoA at the end: every control implemented except these (the demo's, and A.4.4 whose owner answered its
#: gap with work in progress)
END_STATUSES = {"A.4.4": "in_progress", "A.4.6": "in_progress", "A.6.2.7": "in_progress", "A.7.5": "in_progress",
                "A.8.3": "in_progress", "A.8.5": "planned", "A.10.3": "in_progress"}


def act_on_nc(nc: CapaFlow, owner: str, approver: str) -> None:
    """Triage, contain, analyse, plan two actions due in three weeks, approve; both owners report them done."""
    nc.triage(owner=owner, approver=approver)
    nc.contain(owner)
    nc.root_cause(owner)
    due = nc.clock.now().date() + timedelta(days=21)
    nc.plan(capa.plan(owners=("lucas", "elena"), due=due.isoformat()), who=owner)
    nc.approve(who=approver)
    nc.act()  # done today: the effectiveness check is 30 days on (the plan's check delay)
    assert nc.nc().status == "effectiveness_review"
    assert nc.nc().effectiveness_check_at == nc.clock.now().date() + timedelta(days=30)


def verify_nc(nc: CapaFlow) -> None:
    """At the effectiveness check date, daniel (neither the NC owner nor an action owner: SOD-03) verifies."""
    nc.reach_check_date()
    nc.verify()
    assert nc.nc().status == "closed"


def test_internal_audit_to_certification(ctx: Context, clock: FixedClock) -> None:
    # ---------------------------------------------------------------- internal audit with two NCs
    af = AuditFlow(ctx)
    af.to_fieldwork()  # an unplanned audit of Ask Lumi, daniel leads, meilin is the auditee
    af.fieldwork(A_8_2="minor_nc", A_8_3="minor_nc")
    af.complete("daniel", "ut_draft_findings", findings(finding("minor_nc", "A.8.2"), finding("minor_nc", "A.8.3")))
    af.complete("meilin", "ut_auditee_response", {"responses": [
        {"finding_ref": f"{af.ref}-F1", "response": "accept"}, {"finding_ref": f"{af.ref}-F2", "response": "accept"}]})
    af.complete("daniel", "ut_write_report", report())
    af.complete("priya", "ut_review_report", {"decision": "issue"})
    nc_instances = af.children("aims_nc_capa")
    assert len(nc_instances) == 2 and af.audit().status == "follow_up"

    ncs_flows = ncs = [CapaFlow(ctx, clock, instance) for instance in nc_instances]
    for nc in ncs:
        act_on_nc(nc, "meilin", "grace")
    verify_nc(ncs[0])
    assert af.instance is not None and af.instance.status == "running"  # still waits for the second NC
    verify_nc(ncs[1])

    for nc in ncs:
        row = nc.nc()
        assert (row.status, row.source, row.effectiveness_result) == ("closed", "internal_audit", "effective")
        assert row.verifier_id == user(ctx.session, "daniel").id
        assert [(a.status, a.owner_id) for a in row.actions] == [
            ("verified", user(ctx.session, "lucas").id), ("verified", user(ctx.session, "elena").id)]
    assert (af.instance.status, af.instance.end_event) == ("completed", "E_CLOSED")
    assert af.audit().status == "closed"
    assert [(f.type, f.status) for f in af.findings()] == [("minor_nc", "closed"), ("minor_nc", "closed")]

    # ---------------------------------------------------------------- certification preparation
    # two weeks on: the management review after the audit cycle was held (clear_blockers: 12 days before)
    today = clock.now().date() + timedelta(days=14)
    clock.set(f"{today.isoformat()}T09:00:00+00:00")
    audit_end = af.audit().actual_end
    cf.clear_blockers(ctx.session, as_of=today)
    af.audit().actual_end = audit_end  # clear_blockers dates every audit; ours keeps its real end
    cert = CertFlow(ctx, clock)
    instance = cert.start()
    cert.complete("priya", "ut_define_cert_project", cf.project(STAGE1, STAGE2))
    assert cert.specs() == ["ut_complete_soa_entry", "ut_complete_soa_entry"]
    cert.complete_gap_entries()
    cert.complete("priya", "ut_review_soa", {"entries_confirmed": True})
    cert.complete("grace", "ut_approve_soa", cf.APPROVE)
    approved = soa.approved_version(ctx.session)
    assert approved is not None and approved.version == "1.0" and cert.cycle().soa_version_id == approved.id
    review = ctx.session.scalar(select(ReadinessReview).where(ReadinessReview.instance_id == instance.id))
    assert review is not None
    assert (review.blockers_count, [c["id"] for c in review.checks if c["result"] == "fail"]) == (0, [])
    assert cert.specs() == ["ut_readiness_decision"]
    cert.complete("grace", "ut_readiness_decision", cf.GO)

    # ---------------------------------------------------------------- stage 1, stage 2 and the CB finding
    cert.run_audit(STAGE1, "2027-06-15", cf.outcome("ready_for_stage2", next_audit=STAGE2))
    cert.run_audit(STAGE2, "2027-07-14", cf.outcome("recommend_after_ca", cf.finding("CB-1", due="2027-10-29")),
                   interviewees=["tomas"])
    [external_nc] = cert.children("aims_nc_capa")
    assert cert.data(external_nc)["source"] == "external_audit_stage2"
    cert.complete("priya", "ut_submit_to_cb", {"submission": {
        "submission_type": "ca_plan", "package_file": "EVD-203 CA plan.pdf", "submitted_at": "2027-07-20"}})
    cert.complete("priya", "ut_record_cb_response", cf.ACCEPTED)
    cb_nc = CapaFlow(ctx, clock, external_nc)
    act_on_nc(cb_nc, "tomas", "grace")
    verify_nc(cb_nc)
    assert cert.specs() == ["ut_record_cert_decision"]
    cert.complete("priya", "ut_record_cert_decision", {"cert_decision": {
        "decision": "granted", "decision_date": clock.now().date().isoformat(), "certificate_number": "AIMS-0042",
        "certificate_file": "EVD-207 certificate.pdf"}})

    assert (instance.status, instance.end_event) == ("completed", "E_CERTIFIED")
    cycle = cert.cycle()
    assert (cycle.status, cycle.certificate_number) == ("certified", "AIMS-0042")
    assert [(a.type, a.status, a.outcome) for a in cert.external_audits()] == [
        ("stage1", "closed", "ready_for_stage2"), ("stage2", "closed", "recommend_after_ca")]
    [cb_finding] = ctx.session.scalars(select(ExternalFinding))
    assert (cb_finding.cb_ref, cb_finding.type) == ("CB-1", "minor_nc")
    external_row = ctx.session.scalar(select(Nonconformity).where(Nonconformity.instance_id == external_nc.id))
    assert external_row is not None and (external_row.status, external_row.source_ref) == ("closed", cb_finding.ref)

    # ---------------------------------------------------------------- the SoA at the end
    statement = soa.compute(ctx.session, clock)
    assert (statement.version_ref, statement.version, statement.version_status) == ("SOA-001", "1.0", "approved")
    assert statement.approved_by == email("grace") and statement.hard_gaps == []
    statuses = {r.control_id: r.status for r in statement.rows}
    assert list(statuses) == catalogue.control_ids() and len(statuses) == 38
    assert statuses == {c: END_STATUSES.get(c, "implemented") for c in catalogue.control_ids()}
    assert statement.counts() == {"implemented": 31, "in_progress": 6, "planned": 1, "not_started": 0,
                                  "not_applicable": 0}
    # the internal audit's findings rated the two controls it found lacking
    assert {c: statement.row(c).effectiveness for c in ("A.8.2", "A.8.3")} == {
        "A.8.2": "partially_effective", "A.8.3": "partially_effective"}
    assert statement.row("A.4.4").target_date == date(2027, 1, 31)  # the control owner's answer to the gap

    # ---------------------------------------------------------------- the audit pack
    pack = audit_pack.build(ctx.session, clock)
    with zipfile.ZipFile(io.BytesIO(pack.data)) as zf:
        files = {name: zf.read(name) for name in zf.namelist()}
    assert {"soa/statement_of_applicability.xlsx", "soa/statement_of_applicability.pdf", "policy/ai_policy.json",
            "audit/internal_audits.json", "nonconformities/nonconformities.json", "certification/certification.json",
            "management_review/minutes.json", "evidence/evidence_index.csv", "audit_trail/verification.json",
            "manifest.json"} <= set(files)
    sheet = load_workbook(io.BytesIO(files["soa/statement_of_applicability.xlsx"]))["SoA"]
    header = [c.value for c in sheet[exports.HEADER_ROW]]
    rows = [r for r in sheet.iter_rows(min_row=exports.HEADER_ROW + 1, values_only=True) if r[0]]
    assert {r[0]: r[header.index("Status")] for r in rows} == statuses
    assert sheet["A2"].value.startswith("SOA-001 version 1.0 (approved), approved ")
    pdf = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(files["soa/statement_of_applicability.pdf"]))
                    .pages)
    assert "Controls by status: implemented 31, in_progress 6, planned 1, not_started 0, not_applicable 0" in pdf
    assert all(c in pdf for c in catalogue.control_ids())
    assert [(v["ref"], v["version"], v["status"]) for v in json.loads(files["soa/versions.json"])] == [
        ("SOA-001", "1.0", "approved")]

    audits = {a["ref"]: a for a in json.loads(files["audit/internal_audits.json"])["audits"]}
    ours = audits[af.ref]
    assert ours["status"] == "closed" and [(f["type"], f["status"]) for f in ours["findings"]] == [
        ("minor_nc", "closed"), ("minor_nc", "closed")]
    ncs = {n["ref"]: n for n in json.loads(files["nonconformities/nonconformities.json"])}
    story = [nc.nc().ref for nc in ncs_flows] + [external_row.ref]
    assert [(ncs[r]["source"], ncs[r]["status"], ncs[r]["effectiveness_result"], len(ncs[r]["corrective_actions"]))
            for r in story] == [("internal_audit", "closed", "effective", 2)] * 2 + [
        ("external_audit_stage2", "closed", "effective", 2)]
    [cycle_json] = json.loads(files["certification/certification.json"])
    assert (cycle_json["status"], cycle_json["certificate_number"]) == ("certified", "AIMS-0042")
    assert [(a["type"], [f["cb_ref"] for f in a["findings"]]) for a in cycle_json["external_audits"]] == [
        ("stage1", []), ("stage2", ["CB-1"])]
    assert cycle_json["readiness_reviews"][-1]["decision"] == "go"
    index = list(csv.DictReader(io.StringIO(files["evidence/evidence_index.csv"].decode())))
    assert index and all(e["sha256"] is not None for e in index)
    manifest = json.loads(files["manifest.json"])
    assert all(hashlib.sha256(files[m["path"]]).hexdigest() == m["sha256"] for m in manifest["files"])

    # ---------------------------------------------------------------- the audit chain
    verification = json.loads(files["audit_trail/verification.json"])
    assert verification["ok"] is True and verification["problem"] is None
    assert verification["events"] == len(files["audit_trail/events.jsonl"].decode().splitlines())
    result = audit_trail.verify(ctx.session)
    assert result.ok and result.count == verification["events"]
