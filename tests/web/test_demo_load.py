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
