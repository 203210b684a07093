"""Browser tests: the app served on a loopback port in a thread, driven by Playwright with Debian's
chromium (``/usr/bin/chromium``; no ``playwright install``). Each served app runs on a copy of a template
database filled once per run (``tests/databases.py``), and one chromium serves the whole run. Without
chromium the tests are skipped with that reason, and ``make test`` says so plainly; under CI (``CI`` set)
a missing chromium fails.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from engine.aims import demo
from engine.app import accounts
from engine.core import audit_trail, definitions
from engine.core.clock import FixedClock
from engine.core.models import Base
from web import create_app
from web.extensions import db

from ..databases import Template

DATA = Path(__file__).resolve().parent.parent / "data"
ROOT = Path(__file__).resolve().parent.parent.parent
CHROMIUM = os.environ.get("AIMSFLOW_CHROMIUM", "/usr/bin/chromium")


def chromium_path() -> str:
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    found = shutil.which("chromium")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail(f"chromium is not installed ({CHROMIUM}): CI must run the browser tests "
                    "(.ci/run installs the Debian package)")
    pytest.skip(f"chromium is not installed ({CHROMIUM}): the browser tests did not run")


START = "2026-11-02T09:00:00+00:00"


def app_config(url: str, tmp: Path, clock: FixedClock, shipped: bool) -> dict[str, Any]:
    where = {"FORMS_DIR": str(ROOT / "forms"), "PROCESSES_DIR": str(ROOT / "processes")} if shipped else {
        "FORMS_DIR": str(DATA / "forms"), "PROCESSES_DIR": str(DATA)}
    return {"DATABASE_URL": url, "CLOCK": clock, "SECRET_KEY": "e2e", "SESSION_COOKIE_SECURE": False,
            "REMEMBER_COOKIE_SECURE": False, "EVIDENCE_DIR": str(tmp / "evidence"), **where}


def build_template(tmp: Path, shipped: bool) -> Template:
    """The rows a served app starts with, committed once into a template database: the demo organisation
    (password ``demo``) with ``web_assessment`` of tests/data, or (``shipped``) with the shipped processes."""
    template = Template(tmp, "e2e_shipped" if shipped else "e2e")
    clock = FixedClock(START)
    app = create_app(app_config(template.url, tmp, clock, shipped))
    with app.app_context():
        Base.metadata.create_all(db.engine)
        audit_trail.ensure_head(db.session)
        demo.load(db.session, clock)
        accounts.set_demo_passwords(db.session, "demo")
        settings = app.extensions["aimsflow.settings"]
        if shipped:
            definitions.deploy_directory(db.session, settings, clock)
        else:
            definitions.deploy(db.session, [definitions.SourceFile.read(DATA / "web_assessment.bpmn")], settings,
                               clock)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return template


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[bool], Template]]:
    """``templates(shipped)``: the template database of that kind, built the first time it is asked for."""
    made: dict[bool, Template] = {}

    def get(shipped: bool) -> Template:
        if shipped not in made:
            made[shipped] = build_template(tmp_path_factory.mktemp("e2e_template"), shipped)
        return made[shipped]

    yield get
    for template in made.values():
        template.drop()


def serve(tmp: Path, template: Template, shipped: bool = False) -> Iterator[tuple[str, Flask]]:
    """The app on a loopback port in a thread, on a copy of ``template`` (the demo organisation: with
    ``web_assessment`` of tests/data, or, ``shipped``, with the shipped processes and forms), its clock at
    the demo's today."""
    url, drop = template.copy(tmp)
    app = create_app(app_config(url, tmp, FixedClock(START), shipped))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", app
    finally:
        server.shutdown()
        thread.join(timeout=10)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        drop()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, templates: Callable[[bool], Template]) -> Iterator[str]:
    for url, _app in serve(tmp_path_factory.mktemp("e2e"), templates(False)):
        yield url


@pytest.fixture(scope="module")
def shipped_server(tmp_path_factory: pytest.TempPathFactory,
                   templates: Callable[[bool], Template]) -> Iterator[tuple[str, Flask]]:
    """The shipped flows served: (address, app) — the app to set up work with the engine."""
    yield from serve(tmp_path_factory.mktemp("e2e_shipped"), templates(True), shipped=True)


@pytest.fixture
def fresh_shipped_server(tmp_path: Path, templates: Callable[[bool], Template]) -> Iterator[tuple[str, Flask]]:
    """The shipped flows served for one test alone, its clock at the demo's today: for a walk whose
    timers move the clock on."""
    yield from serve(tmp_path, templates(True), shipped=True)


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Path:
    """The test's output folder for screenshots: test-output/e2e/<test name>/."""
    folder = ROOT / "test-output" / "e2e" / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Any]:
    """One chromium for the whole run (a launch costs about a second of CPU)."""
    path = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def chromium(chromium_browser: Any) -> Iterator[Any]:
    """The browser a module's tests open their pages in; what a module left open is closed after it, so
    each module starts with no page of another, as with a browser of its own."""
    yield chromium_browser
    for context in chromium_browser.contexts:
        context.close()
