"""Every approval of the shipped processes shows the record being approved on its task page
(``worklist.task_detail(...).subjects``, drawn by ``_summary.html``): its reference and title, its status
in words, its owner by name and key fields, never raw codes or ids."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.aims.registers import Evidence
from engine.app import worklist
from engine.app.subject import Subject
from engine.core import services
from engine.core.clock import FixedClock
from engine.core.models import HumanTask, ProcessInstance
from engine.core.runtime import Context
from engine.core.settings import EngineSettings

from . import cert_flow as cf
from .audit_flow import ProgrammeFlow, all_required_audits, programme_audits
from .capa_flow import CapaFlow
from .helpers import email, user
from .mr_flow import ReviewFlow, minutes
from .policy_flow import PolicyFlow, draft
from .risk_flow import RiskFlow
from .test_flow_aiia import Aiia
from .test_flow_risk import to_acceptance

pytestmark = pytest.mark.demo


def approval(ctx: Context, instance: ProcessInstance, form: str) -> HumanTask:
    [task] = [t for t in services.open_tasks(ctx, instance.id) if t.form == form]
    return task


def cards(ctx: Context, task: HumanTask, who: str, decision: bool = True) -> list[Subject]:
    """The record cards ``who`` reads on the task page (an approval's, unless ``decision`` is False: a
    verification whose outcome field is not called decision)."""
    detail = worklist.task_detail(ctx, user(ctx.session, who), task.id)
    assert (detail.decision is not None) == decision
    return detail.subjects


def card(found: list[Subject], ref: str) -> Subject:
    by_ref = {c.ref: c for c in found}
    assert ref in by_ref, f"{ref} is not among {sorted(by_ref)}"
    return by_ref[ref]


def said(c: Subject) -> str:
    return " ".join([c.noun, c.ref, c.title, c.status, c.owner or "", *(f"{k}: {v}" for k, v in c.facts)])


def words_only(c: Subject) -> None:
    text = said(c)
    assert "@" not in text and "_" not in text.replace(c.ref, ""), text


def risk_acceptance(ctx: Context) -> tuple[HumanTask, str]:
    rf = RiskFlow(ctx)
    to_acceptance(rf)
    assert rf.instance is not None
    return approval(ctx, rf.instance, "risk_accept"), "ingrid"


def policy_approval(ctx: Context) -> tuple[HumanTask, str]:
    pol = PolicyFlow(ctx)
    instance = pol.start()
    pol.complete("priya", "ut_policy_review_draft", draft("major_revision", ("privacy", "roles")))
    pol.review_all()
    return approval(ctx, instance, "policy_approve"), "grace"


def ca_plan_approval(ctx: Context, clock: FixedClock) -> tuple[HumanTask, str]:
    capa = CapaFlow(ctx, clock)
    capa.to_plan()
    capa.plan()
    return capa.task("ut_approve_ca_plan"), "ingrid"


def minutes_approval(ctx: Context) -> tuple[HumanTask, str]:
    mr = ReviewFlow(ctx)
    mr.to_meeting()
    mr.complete("priya", "ut_mr_record_minutes", minutes())
    assert mr.instance is not None
    return approval(ctx, mr.instance, "mr_approve_minutes"), "jonas"


def aiia_approval(ctx: Context) -> tuple[HumanTask, str]:
    aiia = Aiia(ctx)
    instance = aiia.to_reviews()
    aiia.clear_reviews(instance)
    return aiia.task(instance, "ut_approve_aiia"), "ingrid"


def programme_approval(ctx: Context) -> tuple[HumanTask, str]:
    pf = ProgrammeFlow(ctx)
    instance = pf.start("priya", {"period": "FY2027", "fy_start": "2027-01-01", "fy_end": "2027-12-31"})
    pf.complete("priya", "ut_draft_programme", programme_audits(*all_required_audits()))
    return approval(ctx, instance, "audit_approve_programme"), "grace"


def soa_approval(ctx: Context, clock: FixedClock, settings: EngineSettings) -> tuple[HumanTask, str]:
    cf.deploy_standins(ctx.session, settings, clock)
    cf.clear_blockers(ctx.session)
    flow = cf.CertFlow(ctx, clock)
    instance = flow.start()
    flow.complete("priya", "ut_define_cert_project", cf.project())
    flow.complete_gap_entries()
    flow.complete("priya", "ut_review_soa", {"entries_confirmed": True})
    return approval(ctx, instance, "cert_soa_approve"), "grace"


def evidence_review(ctx: Context) -> tuple[HumanTask, str]:
    instance = services.start_process(ctx, user(ctx.session, "priya"), "aims_evidence_review",
                                      {"evidence_ref": "EVD-018", "trigger": "submitted"}).instance
    return approval(ctx, instance, "evidence_review"), "priya"


def test_risk_acceptance_shows_the_risk_with_its_owner_and_scores(ctx: Context) -> None:
    task, who = risk_acceptance(ctx)
    risk = next(c for c in cards(ctx, task, who) if c.title == "Biased ranking")
    assert risk.noun == "Risk" and risk.register == "risks"
    assert (risk.owner_label, risk.owner) == ("Risk owner", "Tomás Alvarez")
    assert ("Inherent score", "25") in risk.facts and ("AI systems", "AIS-001") in risk.facts
    words_only(risk)


def test_policy_approval_shows_the_document_with_its_owner(ctx: Context) -> None:
    task, who = policy_approval(ctx)
    doc = card(cards(ctx, task, who), "DOC-POL-001")
    assert doc.noun == "Document" and doc.title and doc.register == "documents" and doc.owner
    assert any(label == "Type" for label, _ in doc.facts)
    assert doc.facts[0] == ("Version under work", "2.0 (in review)"), "the version being approved comes first"
    assert ("Review interval", "1 year") in doc.facts
    words_only(doc)


def test_corrective_action_plan_approval_shows_the_nonconformity(ctx: Context, clock: FixedClock) -> None:
    task, who = ca_plan_approval(ctx, clock)
    [nc] = [c for c in cards(ctx, task, who) if c.noun == "Nonconformity"]
    assert nc.title and nc.register == "nonconformities" and nc.owner == "Ravi Patel"
    assert ("Grade", "Minor") in nc.facts and nc.status == "Action planning"
    words_only(nc)


def test_minutes_approval_shows_the_management_review_and_its_chair(ctx: Context) -> None:
    task, who = minutes_approval(ctx)
    review = card(cards(ctx, task, who), "MR-2026-2")
    assert review.noun == "Management review" and (review.owner_label, review.owner) == ("Chair", "Jonas Weber")
    words_only(review)


def test_aiia_approval_shows_the_impact_assessment_and_the_ai_system(ctx: Context) -> None:
    task, who = aiia_approval(ctx)
    found = cards(ctx, task, who)
    row = next(c for c in found if c.noun == "Impact assessment")
    assert row.status == "Pending approval" and ("AI system", "AIS-002") in row.facts
    system = card(found, "AIS-002")
    assert system.title and system.owner == "Mei Lin Chen"
    words_only(system)
    words_only(row)


def test_audit_programme_approval_shows_the_programme(ctx: Context) -> None:
    task, who = programme_approval(ctx)
    programme = card(cards(ctx, task, who), "IAP-FY2027")
    assert programme.noun == "Audit programme" and programme.title == "FY2027"
    assert programme.status == "Pending approval"


def test_soa_approval_shows_the_soa_version_linked_to_the_soa(ctx: Context, clock: FixedClock,
                                                              settings: EngineSettings) -> None:
    task, who = soa_approval(ctx, clock, settings)
    soa = next(c for c in cards(ctx, task, who) if c.noun == "SoA version")
    assert soa.soa and soa.status == "In review"


def test_evidence_review_shows_the_evidence_item(ctx: Context) -> None:
    task, who = evidence_review(ctx)
    item = card(cards(ctx, task, who), "EVD-018")
    title = ctx.session.scalar(select(Evidence.title).where(Evidence.ref == "EVD-018"))
    assert item.title == title and item.register == "evidence" and item.status == "Submitted"
    assert dict(item.facts)["Controls"] == "A.4.4 — Tooling resources"  # controls with their titles




def test_action_verification_shows_the_action_with_its_owner(ctx: Context) -> None:
    instance = services.start_process(ctx, user(ctx.session, "priya"), "aims_action", {
        "description": "Publish the adverse-impact reporting form", "owner_id": email("lucas"),
        "due_date": "2026-11-30", "requester_id": email("priya"), "needs_verification": True,
        "source_ref": "CERT-2026"}).instance
    [work] = services.open_tasks(ctx, instance.id)
    services.complete_task(ctx, user(ctx.session, "lucas"), work.id, {
        "status": "done", "completion_note": "form is live", "completed_at": "2026-11-02",
        "evidence": ["EVD-300"]})
    [verify] = services.open_tasks(ctx, instance.id)
    action = card(cards(ctx, verify, "priya", decision=False), str(instance.subject))
    assert action.noun == "Action item" and action.title == "Publish the adverse-impact reporting form"
    assert action.owner == "Lucas Moreau"
    words_only(action)


def test_corrective_action_closure_shows_the_nonconformity_and_its_actions(ctx: Context, clock: FixedClock) -> None:
    capa = CapaFlow(ctx, clock)
    capa.to_plan()
    capa.plan()
    capa.approve()
    capa.act()
    capa.reach_check_date()
    found = cards(ctx, capa.task("ut_verify_effectiveness"), "daniel", decision=False)
    nc = next(c for c in found if c.noun == "Nonconformity")
    assert nc.ref == capa.nc().ref and nc.owner == "Ravi Patel"
    assert "Corrective action" in [c.noun for c in found]
    words_only(nc)
