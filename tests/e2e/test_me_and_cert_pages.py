"""A real browser over the user's own pages and the certification pages: the bell and
/notifications, out of office, the Statement of Applicability and the readiness dashboard, whose
charts must draw under the CSP ('self' only). Screenshots under test-output/e2e/<test name>/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from .conftest import ROOT
from .test_browser import ADMIN, Pages

AIMS_OWNER = "priya.raman@lumenvale.example"
DEPUTY = "grace.nwosu@lumenvale.example"


def test_notifications_away_soa_and_readiness_in_a_real_browser(live_server: str, chromium: Any,
                                                                 shots: Path) -> None:
    assert (ROOT / "web" / "static" / "vendor" / "chart.umd.min.js").exists(), \
        "the front-end packages are missing: run make install"
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    ui = Pages(page, live_server, shots)
    ui.login(AIMS_OWNER)

    page.click("[data-testid=bell]")
    page.wait_for_selector("[data-testid=preferences]")
    page.check("#mode-digest")
    page.click("[data-testid=preferences] button[type=submit]")
    page.wait_for_selector("text=Your e-mail preference is saved.")
    assert page.is_checked("#mode-digest")
    assert "/calendar/" in page.input_value("[data-testid=feed-url]")
    page.fill("#time_zone", "Mars/Olympus Mons")
    page.click("[data-testid=time-zone-form] button[type=submit]")
    assert "is not a time zone we know" in page.inner_text("[data-testid=time-zone-error]")
    assert page.input_value("#time_zone") == "Mars/Olympus Mons"
    ui.shot("time_zone_refused")
    page.fill("#time_zone", "Asia/Tokyo")
    page.click("[data-testid=time-zone-form] button[type=submit]")
    page.wait_for_selector("text=Dates and deadlines are now shown in the time zone Asia/Tokyo.")
    ui.shot("notifications")

    page.click("text=Out of office")
    page.select_option("#deputy", DEPUTY)
    page.fill("#starts", "2026-11-09")
    page.fill("#ends", "2026-11-13")
    page.fill("#reason", "Annual leave")
    page.click("[data-testid=away-form] button[type=submit]")
    page.wait_for_selector("text=stands in for you")
    assert "Annual leave" in page.inner_text("[data-testid=delegations]")
    ui.shot("away")

    # the deputy hears of it: the bell counts one unread notification until it is marked read
    ui.login(DEPUTY)
    assert page.inner_text("[data-testid=unread]") == "1"
    page.click("[data-testid=bell]")
    assert "You stand in for Priya Raman" in page.inner_text("[data-testid=notifications]")
    ui.shot("notifications_deputy")
    page.click("[data-testid=notifications] button:has-text('Mark read')")
    page.wait_for_selector("text=1 notification marked read.")
    assert page.inner_text("[data-testid=unread]") == "0"
    ui.login(AIMS_OWNER)

    page.click("nav >> text=SoA")
    page.wait_for_selector("[data-testid=soa]")
    assert page.locator("[data-testid=soa] tbody tr[data-control]").count() == 38
    ui.shot("soa")
    with page.expect_download() as info:
        page.click("[data-testid=xlsx]")
    assert info.value.suggested_filename.endswith(".xlsx")

    page.click("nav >> text=Readiness")
    page.wait_for_selector("#chart-status")
    try:  # the charts are drawn by a deferred script: wait for it rather than race it
        page.wait_for_function("() => Boolean(window.Chart && Chart.getChart('chart-status')"
                               " && Chart.getChart('chart-ncs'))", timeout=15_000)
    except PlaywrightTimeoutError:
        raise AssertionError("the readiness charts did not draw") from None
    ui.shot("readiness")
    # each check's findings link to the register record: the unassessed supplier, then its SoA line
    finding = page.locator("[data-testid=checks] tr[data-check=RC-18] a", has_text="SUP-002")
    finding.click()
    page.wait_for_selector("h1:has-text('SUP-002')")
    page.goto(f"{live_server}/soa/controls/A.10.3")
    records = page.locator("[data-testid=control-records]")
    assert "SUP-002" in records.inner_text() and "Party requirements" in records.inner_text()
    ui.shot("soa_control_records")
    assert not ui.errors, ui.errors
    assert not [m for m in console if "Content Security Policy" in m], console


#: a phone, a tablet and a laptop
WIDTHS = (390, 768, 1366)


def test_pages_reflow_at_phone_tablet_and_laptop_widths(live_server: str, chromium: Any, shots: Path) -> None:
    """The inbox, the team view, a register list, the SoA and an instance page never scroll sideways;
    below the navbar's breakpoint the menu folds behind a button that opens it. The assessor's browser is
    in Tokyo: the first page saves that zone as hers, and the server says her deadlines in it."""
    assessor = chromium.new_context(viewport={"width": 1366, "height": 900}, timezone_id="Asia/Tokyo").new_page()
    mine = Pages(assessor, live_server, shots)
    mine.login("sofia.rossi@lumenvale.example")
    assessor.click("text=Start a process")
    assessor.click("text=Web assessment")
    assessor.fill("[name='f.topic']", "Layout check")
    assessor.select_option("[name='f.ai_system_ref']", "AIS-002")
    assessor.click("[data-testid=start]")
    assessor.wait_for_selector("#diagram[data-rendered=true]")
    instance = assessor.url.removeprefix(live_server)
    owner = chromium.new_context(viewport={"width": 1366, "height": 900}).new_page()
    theirs = Pages(owner, live_server, shots)
    theirs.n = 50  # the AIMS owner's screenshots after the assessor's
    theirs.login(AIMS_OWNER)
    visits = ((mine, "inbox", "/tasks?tab=all"), (mine, "instance", instance),
              (mine, "register", "/registers?register=ai_systems"), (theirs, "team", "/team"), (theirs, "soa", "/soa"))
    for width in WIDTHS:
        for ui, name, path in visits:
            page = ui.page
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(f"{live_server}{path}")
            page.wait_for_load_state("load")
            ui.shot(f"{name}_{width}")
            wide = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
            assert wide[0] <= wide[1], f"{name} at {width} px scrolls sideways: {wide[0]} px wide"
            if name == "inbox":  # the browser's time zone became the assessor's on the first page
                assert "7 Nov 2026, 18:00 JST" in page.inner_text("[data-testid=inbox]")
        toggle, registers = owner.locator("[data-testid=menu-toggle]"), owner.locator("#main-menu >> text=Registers")
        if width == 390:
            assert toggle.is_visible() and not registers.is_visible(), "the menu is folded behind a button on a phone"
            toggle.click()
            registers.wait_for(state="visible")
            theirs.shot("menu_open_390")
        if width == 1366:
            assert not toggle.is_visible() and registers.is_visible()
    # at 1366 px the bar is one line for the AIMS owner and for the admin (whose pages sit in a menu)
    admin = chromium.new_context(viewport={"width": 1366, "height": 900}).new_page()
    Pages(admin, live_server, shots).login(ADMIN)
    for page in (owner, admin):
        page.goto(f"{live_server}/tasks")
        assert page.evaluate("() => document.querySelector('nav.navbar').getBoundingClientRect().height") < 70
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    admin.click("[data-testid=admin-menu]")
    admin.click("text=Users")
    admin.wait_for_url("**/admin/users")
    assert not mine.errors and not theirs.errors, mine.errors + theirs.errors
