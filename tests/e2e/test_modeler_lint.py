"""The admin modeler in a real browser on a shipped process: lint as the admin edits (a broken gateway
is drawn red on the element within a second or two, publish is disabled, undo clears it), a property
edit is kept without any "Apply" button, leaving with unsaved changes asks first, and the page logs no
console error. Screenshots under test-output/e2e/<test name>/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from .test_browser import ADMIN, Pages

PROCESS = "aims_evidence_review"

# the exclusive gateway with a default flow, and that flow: deleting it leaves one conditional flow
GATEWAY_AND_DEFAULT = """() => {
  const registry = window.aimsflowModeler.get('elementRegistry');
  const gateway = registry.filter(e => e.type === 'bpmn:ExclusiveGateway' && e.businessObject.default)[0];
  return [gateway.id, gateway.businessObject.name, gateway.businessObject.default.id];
}"""


def test_modeler_lints_as_the_admin_edits_and_keeps_property_edits(shipped_server: tuple[str, Flask],
                                                                   chromium: Any, shots: Path) -> None:
    base, _app = shipped_server
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    ui = Pages(page, base, shots)
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    failed: list[str] = []
    # a request cut off because the test moved on to the next page (ERR_ABORTED) is no failure, as in Pages
    page.on("requestfailed", lambda r: failed.append(f"{r.url} ({r.failure})")
            if "ERR_ABORTED" not in (r.failure or "") else None)
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    ui.login(ADMIN)

    page.goto(f"{base}/admin/processes/{PROCESS}/modeler")
    page.wait_for_selector("#modeler-app[data-ready=true]", state="attached")
    page.wait_for_selector("#lint-status[data-checking=false]")
    assert page.get_attribute("#lint-status", "data-errors") == "0", page.inner_text("[data-testid=problems]")
    assert page.is_enabled("[data-testid=publish]")
    assert page.is_hidden("[data-testid=unsaved]")
    ui.shot("modeler_opened")

    # --- the admin deletes the gateway's default flow: red on the gateway, without clicking anything
    gateway, name, flow = page.evaluate(GATEWAY_AND_DEFAULT)
    page.evaluate("""(flow) => {
      const m = window.aimsflowModeler;
      m.get('modeling').removeElements([m.get('elementRegistry').get(flow)]);
    }""", flow)
    # bpmn-js-bpmnlint (recommended rules) answers at once, the server's lint after a pause in editing
    page.wait_for_function("() => Object.keys(window.aimsflowModeler.get('linting')._issues).length > 0",
                           timeout=1000)
    page.wait_for_selector(f"g.djs-element.lint-error[data-element-id={gateway}]", timeout=2500)
    page.wait_for_selector("#lint-status[data-checking=false]", timeout=2500)
    assert page.is_disabled("[data-testid=publish]")
    problems = page.inner_text("[data-testid=problems]")
    assert f'exclusive gateway "{name}"' in problems, problems
    assert gateway not in problems and "Traceback" not in problems
    assert page.is_visible("[data-testid=unsaved]")
    badge = page.locator(f"[data-testid=lint-badge][data-element={gateway}]")
    badge.hover()
    tip = badge.locator(".lint-tip")
    assert tip.is_visible() and name in tip.inner_text()
    ui.shot("gateway_flow_deleted")

    # the list selects the element it names
    page.click(f"[data-testid=problems] [data-element={gateway}]")
    selected = page.evaluate("() => window.aimsflowModeler.get('selection').get().map(e => e.id)")
    assert selected == [gateway]

    # --- undo clears it
    page.evaluate("() => window.aimsflowModeler.get('commandStack').undo()")
    page.wait_for_selector(f"g.djs-element.lint-error[data-element-id={gateway}]", state="detached", timeout=2500)
    page.wait_for_selector("#lint-status[data-checking=false][data-errors='0']", timeout=2500)
    assert page.is_enabled("[data-testid=publish]")
    assert page.is_hidden("[data-testid=unsaved]")
    ui.shot("undone")

    # --- a property edit is kept without "Apply": labels in words, SoD rules by their titles
    assert page.locator("[data-testid=apply]").count() == 0
    task = page.evaluate("""() => window.aimsflowModeler.get('elementRegistry')
        .filter(e => e.type === 'bpmn:UserTask')[0].id""")
    page.click(f"g[data-element-id={task}]")
    form = page.inner_text("#prop-form")
    assert "Person who does it (form field)" in form and "assignee_var" not in form
    assert "Maker-checker" in form and "Evidence" in form
    page.fill("#prop-due_in", "P7D")
    page.check("#sod-SOD-01")
    page.wait_for_function("""(task) => {
      const bo = window.aimsflowModeler.get('elementRegistry').get(task).businessObject;
      const props = bo.extensionElements.values.find(v => v.$type === 'spiffworkflow:properties');
      const get = (n) => (props.$children.find(p => p.name === n) || {}).value;
      return get('due_in') === 'P7D' && get('sod_rules') === 'SOD-01,SOD-06,SOD-08';
    }""", arg=task, timeout=2000)
    page.click("g[data-element-id=start]")  # select something else and come back: the form shows the edit
    page.click(f"g[data-element-id={task}]")
    assert page.input_value("#prop-due_in") == "P7D"
    saved = page.evaluate("() => window.aimsflowModeler.saveXML().then(r => r.xml)")
    assert 'name="due_in" value="P7D"' in saved and "instructionsForEndUser" in saved
    assert page.is_visible("[data-testid=unsaved]")
    ui.shot("property_edited")

    # --- leaving with unsaved changes asks; staying keeps the page
    dialogs: list[str] = []

    def stay(dialog: Any) -> None:
        dialogs.append(dialog.type)
        dialog.dismiss()

    page.once("dialog", stay)
    page.click("[data-testid=admin-menu]")  # the administration menu
    page.click("text=Definitions")
    page.wait_for_timeout(300)
    assert dialogs == ["beforeunload"] and page.url.endswith("/modeler")

    # saved as a draft, it leaves without asking
    page.click("[data-testid=save-draft]")
    page.wait_for_selector("text=Saved as draft")
    assert page.locator("[data-testid=modeler-messages]").is_visible()
    assert page.is_hidden("[data-testid=unsaved]")
    ui.shot("draft_saved")
    page.click("[data-testid=admin-menu]")  # the administration menu
    page.click("text=Definitions")
    page.wait_for_url(f"{base}/admin/processes")
    assert dialogs == ["beforeunload"]

    assert not console and not ui.errors, console + ui.errors
    assert not failed, failed
    context.close()
