"""A second domain plugs into the core without editing it: the roles lanes may name, the SoD rules, the
ladder recipients, the decision words and the worker's extra phases all come from the installed Domain."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from engine.core import decisions, domain, escalation, ladders, worker
from engine.core.clock import FixedClock
from engine.core.domain import Domain, NamedRecipient, OrganisationPeople, SodRule, WorkerPhase
from engine.core.errors import DefinitionError
from engine.core.models import HumanTask
from engine.core.settings import EngineSettings

from .helpers import DATA, deploy_tiny, user

#: a ladder file that names the other domain's recipient
PROFILES = {
    "STD": {"reminders": ["-P1D"], "overdue_notice": ["assignee"],
            "levels": [{"after_due": "P2D", "to": "duty_officer"}]},
    "APPROVAL": {"reminders": [], "overdue_notice": ["assignee"],
                 "levels": [{"after_due": "P1D", "to": "duty_officer"}]},
}


@dataclass
class Tally:
    """A worker phase's result: how many passes it saw."""

    seen: int = 0
    failures: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"{self.seen} tally pass(es)"


def other_domain(roles: dict[str, str], duty_officer_id: int | None = None) -> Domain:
    """A small help-desk domain: its own role labels, two SoD rules, a duty officer, its own words."""
    return Domain(
        name="help desk",
        roles=roles,
        business_roles=frozenset(roles),
        manager_roles=frozenset({"approver"}),
        sod_rules={"SOD-01": SodRule("four eyes", lambda c: None, checker=True),
                   "SOD-08": SodRule("no admins", lambda c: "admins configure only" if "admin" in c.roles else None)},
        recipients={"duty_officer": NamedRecipient("the desk's duty officer", "duty")},
        organisation_people=lambda session: OrganisationPeople(people={"duty": duty_officer_id}),
        rejections=frozenset({"decline"}),
        positive_decisions=frozenset({"grant"}),
        worker_phases=(WorkerPhase("tally", lambda ctx: Tally(1), Tally),),
    )


@pytest.fixture
def plug(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Install another domain for one test (the ISO/IEC 42001 one comes back afterwards)."""
    aims = domain.current()

    def install(other: Domain) -> None:
        monkeypatch.setattr(domain, "_installed", other)

    yield install
    monkeypatch.undo()
    assert domain.current() is aims


def profiles_in(folder: Path) -> EngineSettings:
    """Settings whose escalation profiles are :data:`PROFILES` (a folder per domain: profiles read once are
    kept per file)."""
    folder.mkdir()
    (folder / "escalation_profiles.json").write_text(json.dumps(PROFILES))
    return EngineSettings(forms_dir=DATA / "forms", processes_dir=folder)


@pytest.fixture
def desk_settings(tmp_path: Path) -> EngineSettings:
    return profiles_in(tmp_path / "desk")


def test_domain_other_roles_and_recipients_deploy_a_diagram_the_aims_domain_refuses(
        plug, session: Session, clock: FixedClock, desk_settings: EngineSettings, tmp_path: Path) -> None:
    with pytest.raises(DefinitionError) as refused:
        deploy_tiny(session, profiles_in(tmp_path / "aims"), clock, "tiny_approval")
    assert "'duty_officer' is not a recipient" in str(refused.value.to_dict())
    plug(other_domain({"process_owner": "Requester", "approver": "Desk lead"}))
    deploy_tiny(session, desk_settings, clock, "tiny_approval")
    assert set(ladders.recipients()) == {*ladders.BASE_RECIPIENTS, "duty_officer"}


def test_domain_lane_outside_the_installed_roles_is_refused_naming_it(
        plug, session: Session, clock: FixedClock, desk_settings: EngineSettings) -> None:
    plug(other_domain({"process_owner": "Requester"}))
    with pytest.raises(DefinitionError) as refused:
        deploy_tiny(session, desk_settings, clock, "tiny_approval")
    assert "lane 'approver' is not a known role" in json.dumps(refused.value.to_dict())


def test_domain_recipient_resolves_to_the_domains_named_person(plug, session: Session, clock: FixedClock) -> None:
    lead = user(session, "ingrid")
    plug(other_domain({"approver": "Desk lead"}, duty_officer_id=lead.id))
    task = HumanTask(role="approver", assignee_id=None, excluded_ids=[])
    people = escalation.People(session, clock.now())
    assert [p.email for p in people.resolve("duty_officer", task)] == [lead.email]
    assert people.resolve("aims_owner", task) == []


def test_domain_decision_words_are_the_installed_domains(plug) -> None:
    assert decisions.is_rejection("reject") and not decisions.needs_comment("approve")
    plug(other_domain({"approver": "Desk lead"}))
    assert decisions.is_rejection("decline") and not decisions.is_rejection("reject")
    assert decisions.needs_comment("approve") and not decisions.needs_comment("grant")


def test_domain_worker_phase_runs_in_every_pass_and_joins_the_summary(
        plug, session: Session, clock: FixedClock, desk_settings: EngineSettings) -> None:
    plug(other_domain({"approver": "Desk lead"}))
    clock.advance(timedelta(minutes=1))
    report = worker.run_pass(session, clock, desk_settings)
    assert report.phases["tally"].seen == 1 and report.tally.seen == 1
    assert "1 tally pass(es)" in report.summary() and "review(s) started by due dates" not in report.summary()
    assert "tally" in report.timings
    with pytest.raises(AttributeError):
        _ = report.due


def test_domain_install_refuses_a_second_different_domain(plug) -> None:
    plug(other_domain({"approver": "Desk lead"}))
    with pytest.raises(RuntimeError, match="one domain per process"):
        domain.install(Domain(name="yet another"))
