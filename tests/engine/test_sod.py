"""Each segregation-of-duties rule (DOMAIN.md 2.1) on its own: one attempt it blocks, one it allows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from engine.aims.sod_rules import RULES
from engine.core.sod import DoneTask, SodContext, check

ALICE = "alice@example.org"
BOB = "bob@example.org"
CAROL = "carol@example.org"
CEO = "ceo@example.org"


def done(spec: str, by: str, role: str = "process_owner", rules: tuple[str, ...] = ()) -> DoneTask:
    return DoneTask(spec, spec.replace("_", " ").capitalize(), role, rules, by)


@dataclass(frozen=True)
class Case:
    rule: str
    email: str = ALICE
    roles: tuple[str, ...] = ("approver",)
    task_role: str = "approver"
    task_spec: str = "ut_approve"
    data: dict[str, Any] = field(default_factory=dict)
    history: tuple[DoneTask, ...] = ()
    delegator: str | None = None
    manager_email: str | None = None

    def context(self) -> SodContext:
        return SodContext(email=self.email, roles=frozenset(self.roles), task_spec=self.task_spec,
                          task_role=self.task_role, data=self.data, history=list(self.history),
                          delegator=self.delegator, manager_email=self.manager_email, facts={"ceo_email": CEO})


# (case, words the user must read in the message)
BLOCKED = {
    "SOD-01-completed-the-submission": (
        Case("SOD-01", history=(done("ut_submit", ALICE),)), "you completed 'Ut submit'"),
    "SOD-01-named-as-author": (
        Case("SOD-01", data={"author_id": "Alice@Example.org "}), "you authored or submitted this record"),
    "SOD-02-auditee": (
        Case("SOD-02", roles=("internal_auditor",), task_role="internal_auditor",
             data={"auditee_ids": [BOB, ALICE]}), "you own or operate what is being audited"),
    "SOD-03-action-owner": (
        Case("SOD-03", roles=("internal_auditor",), data={"nc_owner_id": BOB, "action_owner_ids": [ALICE]}),
        "you own this nonconformity or one of its actions"),
    "SOD-04-assessor": (
        Case("SOD-04", data={"assessor_id": ALICE}), "you performed the risk assessment"),
    "SOD-04-authority-too-low": (
        Case("SOD-04", roles=("approver",), data={"request": {"authority": "top_management"}}),
        "needs a top-management member"),
    "SOD-04-critical-needs-ceo": (
        Case("SOD-04", roles=("top_management",), data={"authority": "ceo"}), "only be accepted by the CEO"),
    "SOD-05-reviewer-is-assessor": (
        Case("SOD-05", roles=("reviewer",), task_role="reviewer", data={"assessor_id": ALICE}),
        "you assessed this AI system or own it"),
    "SOD-05-approver-reviewed": (
        Case("SOD-05", history=(done("ut_review", ALICE, "reviewer", ("SOD-05",)),),
             data={"assessor_id": BOB}), "you reviewed this impact assessment"),
    "SOD-05-high-tier-needs-top-management": (
        Case("SOD-05", data={"assessor_id": BOB, "impact_tier": "high"}), "must be approved by top management"),
    "SOD-06-submitter": (
        Case("SOD-06", data={"submitted_by_id": ALICE}), "you submitted this evidence"),
    "SOD-07-minute-taker": (
        Case("SOD-07", roles=("top_management",), data={"minute_taker_id": ALICE, "chair_id": BOB}),
        "you took these minutes"),
    "SOD-07-not-chair": (
        Case("SOD-07", roles=("aims_owner",), data={"minute_taker_id": CAROL, "chair_id": BOB}),
        "approved by the chair"),
    "SOD-08-admin": (
        Case("SOD-08", roles=("admin", "approver")), "administrators configure and reassign but never complete"),
    "SOD-09-direct-report": (
        Case("SOD-09", delegator=BOB, manager_email=BOB), f"{ALICE} reports to {BOB}"),
    "SOD-09-author": (
        Case("SOD-09", delegator=BOB, manager_email=CAROL, data={"author_id": ALICE}),
        "authored this record and cannot receive its approval"),
    "SOD-10-not-top-management": (
        Case("SOD-10", roles=("aims_owner",)), "belongs to top management"),
    "SOD-10-prepared-the-pack": (
        Case("SOD-10", roles=("top_management", "aims_owner"), data={"prepared_by_id": ALICE}),
        "you prepared the readiness pack"),
}

ALLOWED = {
    "SOD-01-someone-else-submitted": Case("SOD-01", history=(done("ut_submit", BOB),),
                                          data={"author_id": BOB}),
    "SOD-01-own-earlier-check-is-no-maker": Case("SOD-01", history=(done("ut_check", ALICE, rules=("SOD-06",)),)),
    "SOD-01-earlier-round-of-same-task": Case("SOD-01", history=(done("ut_approve", ALICE, "approver"),)),
    "SOD-02-independent-auditor": Case("SOD-02", roles=("internal_auditor",), data={"auditee_ids": [BOB]}),
    "SOD-03-independent-verifier": Case("SOD-03", data={"nc_owner_id": BOB, "action_owner_ids": [CAROL]}),
    "SOD-04-approver-within-authority": Case("SOD-04", data={"assessor_id": BOB, "authority": "approver"}),
    "SOD-04-ceo-accepts-critical": Case("SOD-04", email=CEO, roles=("top_management",),
                                        data={"authority": "ceo"}),
    "SOD-05-independent-reviewer": Case("SOD-05", roles=("reviewer",), task_role="reviewer",
                                        data={"assessor_id": BOB, "system_owner_id": CAROL}),
    "SOD-05-top-management-approves-high": Case("SOD-05", roles=("top_management",),
                                                data={"assessor_id": BOB, "impact_tier": "high",
                                                      "system_owner_id": CAROL}),
    "SOD-06-someone-else-submitted": Case("SOD-06", data={"submitted_by_id": BOB}),
    "SOD-07-chair-approves": Case("SOD-07", roles=("aims_owner",), data={"minute_taker_id": BOB,
                                                                         "chair_id": ALICE}),
    "SOD-08-business-role-only": Case("SOD-08", roles=("approver", "top_management")),
    "SOD-09-no-delegation": Case("SOD-09", manager_email=BOB),
    "SOD-09-to-a-peer": Case("SOD-09", delegator=BOB, manager_email=CAROL, data={"author_id": CAROL}),
    "SOD-10-other-top-management": Case("SOD-10", roles=("top_management",), data={"prepared_by_id": BOB},
                                        history=(done("ut_prepare_pack", BOB, "aims_owner"),)),
}


@pytest.mark.parametrize(("case", "words"), list(BLOCKED.values()), ids=list(BLOCKED))
def test_sod_check_blocks_with_rule_and_readable_message(case: Case, words: str) -> None:
    violations = check(case.context(), [case.rule])

    assert [v.rule for v in violations] == [case.rule]
    assert words in violations[0].message
    assert str(violations[0]).startswith(f"{case.rule} {RULES[case.rule].name}: ")


@pytest.mark.parametrize("case", list(ALLOWED.values()), ids=list(ALLOWED))
def test_sod_check_allows_an_independent_user(case: Case) -> None:
    assert check(case.context(), [case.rule]) == []


def test_sod_check_covers_every_rule_both_ways() -> None:
    assert {c.rule for c, _ in BLOCKED.values()} == set(RULES)
    assert {c.rule for c in ALLOWED.values()} == set(RULES)


def test_sod_check_applies_only_the_rules_asked_for() -> None:
    context = Case("SOD-08", roles=("admin",), data={"submitted_by_id": ALICE}).context()

    assert [v.rule for v in check(context, ["SOD-08", "SOD-06", "SOD-99"])] == ["SOD-08", "SOD-06"]
    assert check(context, ["SOD-03"]) == []
    assert check(context, []) == []
