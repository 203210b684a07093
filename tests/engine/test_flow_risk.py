"""``aims_risk_assessment`` end to end through the services (FLOWS.md (f)): every gateway branch, and
the register rows each path leaves behind."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from engine.aims import roles
from engine.aims.registers import AISystem, Approval, Risk, RiskAcceptance
from engine.core import runtime, services
from engine.core.errors import Forbidden, NotFound, SodViolation, ValidationError
from engine.core.models import ProcessInstance
from engine.core.runtime import Context

from .helpers import email, events, grant, user
from .risk_flow import (
    ACCEPT,
    ESCALATE,
    QA_OK,
    QA_RETURN,
    REFUSE,
    RiskFlow,
    confirm,
    decision,
    done,
    plan,
    risk_item,
)

pytestmark = pytest.mark.demo


@pytest.fixture
def rf(ctx: Context) -> RiskFlow:
    return RiskFlow(ctx)


def to_acceptance(rf: RiskFlow, likelihood: int = 3, impact: int = 3, **start: Any) -> None:
    """Start, identify one high risk and plan it down to ``likelihood x impact``; QA passes."""
    rf.start(**start)
    rf.identify(risk_item("Biased ranking"))
    rf.analyse({"Biased ranking": (5, 5)})
    rf.complete("tomas", "ut_plan_treatment", plan(likelihood=likelihood, impact=impact))
    rf.complete("priya", "ut_risk_qa", QA_OK)


def approvals(rf: RiskFlow) -> list[tuple[str, str, str | None]]:
    rows = rf.ctx.session.scalars(select(Approval).where(Approval.instance_id == rf.instance.id)  # type: ignore[union-attr]
                                  .order_by(Approval.id))
    return [(a.decision, a.actor_role or "", _email(rf, a.actor_id)) for a in rows]


def _email(rf: RiskFlow, uid: int | None) -> str | None:
    from engine.core import directory

    return directory.email_of(rf.ctx.session, uid)


# --------------------------------------------------------------------------- paths to the end


def test_happy_path_treats_accepts_and_monitors(rf: RiskFlow) -> None:
    instance = rf.start()
    assert instance.subject == "AIS-001"
    assert rf.specs() == ["ut_identify_risks"]
    assert rf.tasks()[0].assignee_id == user(rf.ctx.session, "sofia").id
    assert rf.data()["criteria"]["appetite_max_score"] == 6
    rf.identify(risk_item("Biased ranking"), risk_item("Stale model"))
    assert rf.specs() == ["ut_analyse_evaluate", "ut_analyse_evaluate"]
    rf.analyse({"Biased ranking": (4, 4), "Stale model": (1, 2)})

    risks = rf.risks()
    assert {t: (r.status, r.inherent_score, r.inherent_level) for t, r in risks.items()} == {
        "Biased ranking": ("analysed", 16, "high"), "Stale model": ("analysed", 2, "low")}
    assert rf.specs() == ["ut_plan_treatment"]  # only the risk above appetite
    assert rf.tasks()[0].assignee_id == user(rf.ctx.session, "tomas").id
    rf.complete("tomas", "ut_plan_treatment", plan(likelihood=3, impact=3))
    rf.complete("priya", "ut_risk_qa", QA_OK)

    # the low risk was accepted by its owner at once; the medium residual waits for an approver
    assert rf.specs() == ["ut_accept_risk"]
    biased, stale = rf.risks()["Biased ranking"], rf.risks()["Stale model"]
    assert (biased.status, biased.residual_score, biased.residual_level) == ("pending_acceptance", 9, "medium")
    requested, auto = rf.acceptances()
    assert (auto.risk_id, auto.status, auto.required_authority) == (stale.id, "granted", "risk_owner")
    assert auto.acceptor_id == user(rf.ctx.session, "tomas").id
    assert (requested.risk_id, requested.status, requested.required_authority) == (biased.id, "requested", "approver")

    rf.complete("ingrid", "ut_accept_risk", decision(valid_until="2027-06-30"))
    requested = rf.acceptances()[0]
    assert (requested.status, requested.acceptor_authority_level, str(requested.valid_until)) == \
        ("granted", "approver", "2027-06-30")
    assert rf.risks()["Biased ranking"].status == "in_treatment"
    assert rf.risks()["Stale model"].status == "monitoring"
    assert [(a.status, a.control_ref) for a in rf.actions()] == [("planned", "A.6.2.6")]

    assert rf.specs() == ["ut_implement_treatment"]
    assert rf.tasks()[0].assignee_id == user(rf.ctx.session, "lucas").id
    assert rf.tasks()[0].due_at is not None and rf.tasks()[0].due_at.date().isoformat() == "2026-12-15"
    rf.complete("lucas", "ut_implement_treatment", done())
    assert [(a.status, a.evidence) for a in rf.actions()] == [("done", ["EVD-101 dashboard"])]
    rf.complete("tomas", "ut_confirm_residual", confirm())

    assert rf.specs() == []
    assert rf.instance is not None and (rf.instance.status, rf.instance.end_event) == ("completed", "E_DONE")
    risks = rf.risks()
    assert {t: r.status for t, r in risks.items()} == {"Biased ranking": "monitoring", "Stale model": "monitoring"}
    assert str(risks["Biased ranking"].next_review_at) == "2027-11-02"  # medium: reviewed yearly
    assert risks["Biased ranking"].actual_residual_likelihood == 3
    assert [a.status for a in rf.actions()] == ["verified"]
    assert approvals(rf) == [("accept", "risk_owner", email("tomas")), ("accept", "approver", email("ingrid"))]
    snapshot = events(rf.ctx.session, rf.instance.id, "risk_assessment_snapshot")
    assert len(snapshot) == 1 and snapshot[0].data["sha256"] == risks["Stale model"].details["last_assessment"][
        "snapshot_sha256"]
    system = rf.ctx.session.scalar(select(AISystem).where(AISystem.ref == "AIS-001"))
    assert system is not None and str(system.last_risk_assessment_at) == "2026-11-02"


def test_all_risks_within_appetite_are_retained_and_accepted_by_their_owners(rf: RiskFlow) -> None:
    rf.start()
    rf.identify(risk_item("Typo in help text"), risk_item("Slow responses"))
    rf.analyse({"Typo in help text": (1, 2), "Slow responses": (2, 3)})
    assert rf.specs() == ["ut_risk_qa"]  # no treatment to plan
    rf.complete("priya", "ut_risk_qa", QA_OK)

    assert rf.instance is not None and rf.instance.end_event == "E_ACCEPTED"
    assert {r.treatment_option for r in rf.risks().values()} == {"retain"}
    assert [(a.status, a.required_authority) for a in rf.acceptances()] == [("granted", "risk_owner")] * 2
    assert {r.status for r in rf.risks().values()} == {"monitoring"}


def test_the_organisations_own_levels_rate_the_scores(rf: RiskFlow) -> None:
    """Levels moved on the organisation page (low up to 2, medium up to 5, high up to 12) rate a score of 6
    high in the diagram's scripts and the acceptance operator alike."""
    org = roles.organisation(rf.ctx.session)
    assert org is not None
    org.risk_criteria = {**org.risk_criteria, "levels": {"low": [1, 2], "medium": [3, 5], "high": [6, 12],
                                                         "critical": [13, 25]}}
    rf.start()
    rf.identify(risk_item("Typo in help text"), risk_item("Slow responses"))
    rf.analyse({"Typo in help text": (1, 2), "Slow responses": (2, 3)})
    rf.complete("priya", "ut_risk_qa", QA_OK)
    risks = rf.risks()
    assert {t: (r.inherent_level, r.residual_level) for t, r in risks.items()} == {
        "Typo in help text": ("low", "low"), "Slow responses": ("high", "high")}
    validity = {a.risk_id: a.valid_until for a in rf.acceptances()}
    # a high risk's acceptance lasts 6 months, a low one's 12 (the criteria's acceptance_validity)
    assert validity[risks["Slow responses"].id] < validity[risks["Typo in help text"].id]


def test_avoiding_every_risk_ends_with_a_change_request(rf: RiskFlow) -> None:
    rf.start()
    rf.identify(risk_item("Automated rejection"))
    rf.analyse({"Automated rejection": (4, 5)})
    rf.complete("tomas", "ut_plan_treatment", plan("avoid", likelihood=1, impact=1))
    rf.complete("priya", "ut_risk_qa", QA_OK)

    assert rf.instance is not None and rf.instance.end_event == "E_AVOIDED"
    assert rf.actions() == []
    change = events(rf.ctx.session, rf.instance.id, "change_requested")
    assert [e.subject for e in change] == [rf.risks()["Automated rejection"].ref]


# --------------------------------------------------------------------------- QA


def test_qa_return_goes_back_to_identification_without_duplicating_risks(rf: RiskFlow) -> None:
    rf.start()
    rf.identify(risk_item("Typo in help text"))
    rf.analyse({"Typo in help text": (1, 2)})
    rf.complete("priya", "ut_risk_qa", QA_RETURN)

    assert rf.specs() == ["ut_identify_risks"]
    assert rf.data()["qa_rework"] == 1
    rf.identify(risk_item("Typo in help text", description="Typo in help text: now with the consequence"))
    assert len(rf.risks()) == 1
    assert rf.risks()["Typo in help text"].description.endswith("now with the consequence")


def test_qa_returning_a_fourth_time_records_the_dissent_and_goes_on(rf: RiskFlow) -> None:
    rf.start()
    for _ in range(3):
        rf.identify(risk_item("Typo in help text"))
        rf.analyse({"Typo in help text": (1, 2)})
        rf.complete("priya", "ut_risk_qa", QA_RETURN)
    assert rf.data()["qa_rework"] == 3
    rf.identify(risk_item("Typo in help text"))
    rf.analyse({"Typo in help text": (1, 2)})
    rf.complete("priya", "ut_risk_qa", QA_RETURN)

    assert rf.instance is not None and rf.instance.end_event == "E_ACCEPTED"
    dissent = events(rf.ctx.session, rf.instance.id, "risk_dissent_recorded")
    assert [e.data["reason"] for e in dissent] == ["qa_rework_limit"]
    assert email("grace") in dissent[0].data["notify"]


# --------------------------------------------------------------------------- acceptance authority


def test_high_residual_needs_top_management_and_an_approver_cannot_take_it(rf: RiskFlow) -> None:
    to_acceptance(rf, likelihood=3, impact=4)  # 12: high
    assert rf.specs() == ["ut_accept_risk_top"]
    with pytest.raises(Forbidden, match="role Top management"):
        rf.complete("ingrid", "ut_accept_risk_top", decision(valid_until="2027-03-01"))
    rf.complete("grace", "ut_accept_risk_top", decision(valid_until="2027-03-01"))
    acceptance = rf.acceptances()[0]
    assert (acceptance.status, acceptance.level, acceptance.acceptor_authority_level) == \
        ("granted", "high", "top_management")


def test_critical_residual_goes_to_the_ceo_who_must_inform_the_board(rf: RiskFlow) -> None:
    to_acceptance(rf, likelihood=4, impact=5)  # 20: critical
    assert rf.specs() == ["ut_accept_risk_ceo"]
    task = rf.tasks()[0]
    assert task.assignee_id == user(rf.ctx.session, "jonas").id
    with pytest.raises(Forbidden, match="assigned to"):
        rf.complete("grace", "ut_accept_risk_ceo", decision(valid_until="2027-01-15", board=True))
    with pytest.raises(ValidationError) as info:
        rf.complete("jonas", "ut_accept_risk_ceo", decision(valid_until="2027-01-15"))
    assert [e.path for e in info.value.errors] == ["board_informed"]
    rf.complete("jonas", "ut_accept_risk_ceo", decision(valid_until="2027-01-15", board=True))
    assert rf.acceptances()[0].acceptor_authority_level == "ceo"


def test_acceptance_longer_than_the_level_allows_is_refused_naming_the_field(rf: RiskFlow) -> None:
    to_acceptance(rf, likelihood=3, impact=4)  # high: at most six months
    task = rf.tasks()[0]
    with pytest.raises(ValidationError) as info:
        rf.complete("grace", "ut_accept_risk_top", decision(valid_until="2027-12-31"))
    assert [e.path for e in info.value.errors] == ["valid_until"]
    assert info.value.errors[0].message == "Acceptance valid until: must be on or before 2 May 2027"
    assert rf.tasks()[0].id == task.id and rf.acceptances()[0].status == "requested"


def test_escalation_moves_the_request_up_one_level(rf: RiskFlow) -> None:
    to_acceptance(rf)  # 9: approver
    rf.complete("ingrid", "ut_accept_risk", decision(ESCALATE))
    assert rf.specs() == ["ut_accept_risk_top"]
    assert rf.acceptances()[0].required_authority == "top_management"
    rf.complete("grace", "ut_accept_risk_top", decision(ACCEPT))
    assert approvals(rf) == [("escalate", "approver", email("ingrid")), ("accept", "top_management", email("grace"))]
    assert rf.specs() == ["ut_implement_treatment"]
    assert len(events(rf.ctx.session, rf.instance.id, "risk_acceptance_escalated")) == 1  # type: ignore[union-attr]


def test_refused_acceptance_sends_the_risk_back_to_treatment_planning(rf: RiskFlow) -> None:
    to_acceptance(rf)
    rf.complete("ingrid", "ut_accept_risk", decision(REFUSE))
    assert rf.acceptances()[0].status == "refused"
    assert rf.risks()["Biased ranking"].status == "treatment_planned"
    assert rf.specs() == ["ut_plan_treatment"]
    assert rf.data()["treatment_rework"] == 1
    rf.complete("tomas", "ut_plan_treatment", plan(likelihood=2, impact=3))  # 6: within appetite now
    rf.complete("priya", "ut_risk_qa", QA_OK)
    assert [(a.status, a.required_authority) for a in rf.acceptances()] == [("refused", "approver"),
                                                                              ("granted", "risk_owner")]
    assert rf.specs() == ["ut_implement_treatment"]


def test_third_refusal_is_reported_to_top_management_and_the_flow_goes_on(rf: RiskFlow) -> None:
    to_acceptance(rf)
    for _ in range(2):
        rf.complete("ingrid", "ut_accept_risk", decision(REFUSE))
        rf.complete("tomas", "ut_plan_treatment", plan(likelihood=3, impact=3))
        rf.complete("priya", "ut_risk_qa", QA_OK)
    rf.complete("ingrid", "ut_accept_risk", decision(REFUSE))

    dissent = events(rf.ctx.session, rf.instance.id, "risk_dissent_recorded")  # type: ignore[union-attr]
    assert [e.data["reason"] for e in dissent] == ["acceptance_refused_twice"]
    assert rf.risks()["Biased ranking"].status == "treatment_planned"  # stays unaccepted
    assert rf.specs() == ["ut_implement_treatment"]
    rf.complete("lucas", "ut_implement_treatment", done())
    rf.complete("tomas", "ut_confirm_residual", confirm())
    assert rf.instance is not None and rf.instance.end_event == "E_DONE"
    assert rf.risks()["Biased ranking"].status == "treatment_planned"  # not moved to monitoring unaccepted


def test_refusal_counts_even_when_an_earlier_assessment_accepted_the_risk(rf: RiskFlow) -> None:
    """RSK-002 holds a granted acceptance (RA-004) from the demo organisation; refusing it here still
    replans, and the old acceptance stays as it was."""
    rf.start(risk_refs=["RSK-002"])
    rf.identify(risk_item("Chatbot gives wrong fee information", risk_id="RSK-002"))
    rf.analyse({"Chatbot gives wrong fee information": (5, 5)})
    rf.complete("tomas", "ut_plan_treatment", plan())
    rf.complete("priya", "ut_risk_qa", QA_OK)
    rf.complete("ingrid", "ut_accept_risk", decision(REFUSE))
    assert rf.specs() == ["ut_plan_treatment"]
    old = rf.ctx.session.scalar(select(RiskAcceptance).where(RiskAcceptance.ref == "RA-004"))
    assert old is not None and old.status == "granted"
    assert [a.ref for a in rf.acceptances()] == ["RA-006"]


# --------------------------------------------------------------------------- implementation and residual


def test_blocked_action_sends_its_risk_back_to_planning(rf: RiskFlow) -> None:
    to_acceptance(rf)
    rf.complete("ingrid", "ut_accept_risk", decision())
    rf.complete("lucas", "ut_implement_treatment", done("blocked"))
    assert rf.actions()[0].status == "blocked" and rf.actions()[0].blocker == "vendor has no API yet"
    assert rf.specs() == ["ut_plan_treatment"]


def test_ineffective_treatment_is_planned_again(rf: RiskFlow) -> None:
    to_acceptance(rf)
    rf.complete("ingrid", "ut_accept_risk", decision())
    rf.complete("lucas", "ut_implement_treatment", done())
    rf.complete("tomas", "ut_confirm_residual", confirm(effectiveness="ineffective"))
    assert rf.specs() == ["ut_plan_treatment"]
    assert rf.actions()[0].status == "done"  # not verified


def test_residual_above_the_accepted_one_asks_for_acceptance_again(rf: RiskFlow) -> None:
    to_acceptance(rf)  # accepted at 9
    rf.complete("ingrid", "ut_accept_risk", decision())
    rf.complete("lucas", "ut_implement_treatment", done())
    rf.complete("tomas", "ut_confirm_residual", confirm(likelihood=3, impact=4, effectiveness="partially_effective"))

    assert rf.specs() == ["ut_accept_risk_top"]  # 12 is high
    first, second = rf.acceptances()
    assert (second.status, second.residual_score_at_acceptance, second.required_authority) == \
        ("requested", 12, "top_management")
    rf.complete("grace", "ut_accept_risk_top", decision(valid_until="2027-03-01"))
    first, second = rf.acceptances()
    assert (first.status, second.status) == ("superseded", "granted")
    assert rf.instance is not None and rf.instance.end_event == "E_DONE"


# --------------------------------------------------------------------------- segregation of duties


def test_the_assessor_cannot_accept_the_residual_risk(rf: RiskFlow) -> None:
    grant(rf.ctx.session, "fatima", "assessor")
    rf.start(assessor="fatima")
    rf.identify(risk_item("Biased ranking"), key="fatima")
    rf.analyse({"Biased ranking": (5, 5)}, key="fatima")
    rf.complete("tomas", "ut_plan_treatment", plan())
    rf.complete("priya", "ut_risk_qa", QA_OK)
    with pytest.raises(SodViolation, match="SOD-04"):
        rf.complete("fatima", "ut_accept_risk", decision())
    assert rf.acceptances()[0].status == "requested"
    rf.complete("ingrid", "ut_accept_risk", decision())


def test_the_risk_owner_who_planned_the_treatment_cannot_accept_it(rf: RiskFlow) -> None:
    rf.start()
    rf.identify(risk_item("Biased ranking", owner="ingrid"))
    rf.analyse({"Biased ranking": (5, 5)})
    rf.complete("ingrid", "ut_plan_treatment", plan())
    rf.complete("priya", "ut_risk_qa", QA_OK)
    with pytest.raises(SodViolation, match="Plan the risk treatment"):
        rf.complete("ingrid", "ut_accept_risk", decision())
    rf.complete("fatima", "ut_accept_risk", decision())


def test_an_admin_can_neither_do_qa_nor_accept(rf: RiskFlow) -> None:
    grant(rf.ctx.session, "oliver", "aims_owner")
    rf.start()
    rf.identify(risk_item("Typo in help text"))
    rf.analyse({"Typo in help text": (1, 2)})
    with pytest.raises(SodViolation, match="SOD-08"):
        rf.complete("oliver", "ut_risk_qa", QA_OK)


# --------------------------------------------------------------------------- bad input


def test_unknown_ai_system_is_refused_and_nothing_is_stored(rf: RiskFlow) -> None:
    before = rf.ctx.session.scalar(select(ProcessInstance.id).order_by(ProcessInstance.id.desc()).limit(1))
    with pytest.raises(NotFound, match="AIS-999"):
        rf.start(scope="AIS-999")
    rf.ctx.session.rollback()
    after = rf.ctx.session.scalar(select(ProcessInstance.id).order_by(ProcessInstance.id.desc()).limit(1))
    assert after == before


def test_incomplete_identification_names_every_missing_field(rf: RiskFlow) -> None:
    rf.start()
    task = rf.tasks()[0]
    with pytest.raises(ValidationError) as info:
        services.complete_task(rf.ctx, user(rf.ctx.session, "sofia"), task.id,
                               {"risks": [{"title": "x"}]})
    paths = {e.path for e in info.value.errors}
    assert {"risks/0/title", "risks/0/description", "risks/0/owner_id", "risk_sources_checklist"} <= paths
    assert rf.risks() == {} and rf.specs() == ["ut_identify_risks"]


def test_target_residual_above_the_inherent_rating_is_refused(rf: RiskFlow) -> None:
    rf.start()
    rf.identify(risk_item("Biased ranking"))
    rf.analyse({"Biased ranking": (3, 4)})
    with pytest.raises(ValidationError) as info:
        rf.complete("tomas", "ut_plan_treatment", plan(likelihood=4, impact=3))
    assert [e.path for e in info.value.errors] == ["target_residual_likelihood"]


def test_modify_without_controls_or_actions_is_refused(rf: RiskFlow) -> None:
    rf.start()
    rf.identify(risk_item("Biased ranking"))
    rf.analyse({"Biased ranking": (3, 4)})
    bad = plan() | {"annex_a_compared": False}
    del bad["planned_controls"], bad["actions"]
    with pytest.raises(ValidationError) as info:
        rf.complete("tomas", "ut_plan_treatment", bad)
    assert {e.path for e in info.value.errors} == {"annex_a_compared", "planned_controls", "actions"}


# --------------------------------------------------------------------------- persistence


def test_restoring_mid_acceptance_from_the_database_continues_identically(rf: RiskFlow) -> None:
    to_acceptance(rf)
    rf.complete("ingrid", "ut_accept_risk", decision(ESCALATE))
    before = rf.data()
    runtime.clear_caches()
    assert rf.data() == before
    rf.complete("grace", "ut_accept_risk_top", decision())
    rf.complete("lucas", "ut_implement_treatment", done())
    runtime.clear_caches()
    rf.complete("tomas", "ut_confirm_residual", confirm())
    assert rf.instance is not None and rf.instance.end_event == "E_DONE"


def test_started_for_existing_register_risks_it_loads_them(rf: RiskFlow) -> None:
    rf.start(risk_refs=["RSK-001"], trigger="aiia")
    existing = {r["risk_id"] for r in rf.data()["existing_risks"]}
    assert "RSK-001" in existing
    rf.identify(risk_item("Ranking disadvantages applicants", risk_id="RSK-001"))
    row = rf.ctx.session.scalar(select(Risk).where(Risk.ref == "RSK-001"))
    assert row is not None and (row.status, row.title) == ("identified", "Ranking disadvantages applicants")
