"""``aimsflow demo load`` on the shipped processes, then what ``make run`` prints: the demo history is played
once, and every demo login of the welcome text is told what waits for them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from engine.aims import demo_work
from web import create_app, welcome
from web.extensions import db

from ..databases import database_url
from .test_cli import Cli, upgrade


@pytest.fixture
def env_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """An app configured like ``make run``'s (environment only: the shipped processes, the real clock)."""
    url, drop = database_url(tmp_path, "demo_load")
    monkeypatch.setenv("AIMSFLOW_DATABASE_URL", url)
    monkeypatch.setenv("AIMSFLOW_SECRET_KEY", "demo-load-test")
    monkeypatch.delenv("AIMSFLOW_DEMO_PASSWORD", raising=False)
    app = create_app()
    try:
        yield app
    finally:
        with app.app_context():
            db.engine.dispose()
        drop()


def test_demo_load_plays_the_history_once_and_every_login_finds_work(env_app: Flask,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    cli = Cli(env_app)
    upgrade(cli)
    first = cli.ok("demo", "load")
    assert "could not" not in first.output
    played = [line for line in first.output.splitlines() if line.startswith("open work: ")]
    assert len(played) == len(demo_work.OPEN_WORK)
    assert all(line.startswith(f"open work: {s.title}: aims_") for line, s in zip(played, demo_work.OPEN_WORK,
                                                                                   strict=True))
    assert "admin's work: aims_evidence_review v2 saved as a draft to publish" in first.output

    again = cli.ok("demo", "load")
    assert "no demo history played: processes have run already" in again.output
    assert "open work" not in again.output and "admin's work" not in again.output

    capsys.readouterr()
    welcome.main(["--port", "5079"])
    printed = capsys.readouterr().out
    for role, email in welcome.DEMO_LOGINS:
        block = re.search(rf"^  {re.escape(role)} +{re.escape(email)} .*\n((?:      .*\n)+)", printed, re.M)
        assert block is not None, f"nothing listed under {email}:\n{printed}"
        assert "nothing waiting yet" not in block.group(1), block.group(1)
    assert re.search(r"Contain and correct \(NC-2026-\d+\) — 3 days overdue, escalated", printed)
    assert "Definitions: Evidence review (shared) version 2 is a draft" in printed


def test_demo_load_has_the_context_registers_and_a_soa_that_reads_like_a_real_one(tmp_path: Path) -> None:
    from sqlalchemy import select

    from engine.aims.registers import (
        ContextIssue,
        DataResource,
        InterestedParty,
        Organisation,
        PartyRequirement,
        SoAEntry,
        Supplier,
    )

    url, drop = database_url(tmp_path, "demo_context")
    app = create_app({"TESTING": True, "DATABASE_URL": url})
    cli = Cli(app)
    upgrade(cli)
    loaded = cli.ok("demo", "load").output
    assert "4 context issues, 7 interested parties, 3 suppliers, 3 data resources" in loaded
    with app.app_context():
        session = db.session
        issues = {c.ref: c for c in session.scalars(select(ContextIssue))}
        assert sorted(issues) == ["CI-01", "CI-02", "CI-03", "CI-04"]
        assert issues["CI-04"].category == "climate" and len(issues["CI-04"].ai_system_ids) == 2
        parties = {p.ref: p for p in session.scalars(select(InterestedParty))}
        assert parties["IP-03"].name == "Financial services regulator" and parties["IP-03"].party_type == "regulator"
        requirements = list(session.scalars(select(PartyRequirement)))
        assert len(requirements) == 8
        not_addressed = [r for r in requirements if not r.addressed_by_aims]
        assert [r.how_addressed for r in not_addressed] == ["Handled by the HR consultation procedure; the AIMS "
                                                            "links to it."]
        nimbus = session.scalar(select(Supplier).where(Supplier.ref == "SUP-001"))
        assert nimbus is not None and nimbus.last_assessment_result == "approved_with_conditions"
        assert nimbus.conditions and nimbus.trains_on_our_data == "no"
        data = {d.ref: d for d in session.scalars(select(DataResource))}
        assert data["DS-003"].provenance.startswith("Partial")  # type: ignore[union-attr]
        assert all(d.intended_use and d.retention and d.quality_requirements for d in data.values())
        entries = list(session.scalars(select(SoAEntry)))
        assert len(entries) == 38
        justified = {e.control.control_id: e.justification for e in entries if e.justification}
        assert len(set(justified.values())) == len(justified) == 37  # each its own words
        assert "A.8.5" not in justified  # the demo's intentional gap G1
        assert len({e.implementation_description for e in entries}) == 38 and all(e.implementation_description
                                                                                 for e in entries)
        org = session.scalar(select(Organisation))
        assert org is not None and org.details["scope_statement"].startswith("The AI management system of Lumenvale")
    cli.ok("demo", "load")  # again: the same rows
    with app.app_context():
        assert len(list(db.session.scalars(select(PartyRequirement)))) == 8
    with app.app_context():
        db.engine.dispose()
    drop()
