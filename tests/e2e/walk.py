"""``Walk``: a shipped process done in chromium by the people who hold each step, through the pages they
use: the start page ("Start a process"), their inbox, the task page (claim where the task waits in a
lane, answer the form with the controls it shows, submit), and the instance page at the end. A
screenshot per page under ``test-output/e2e/<test name>/``.

The answers are the same data the flow tests give the services (``tests/engine/*_flow.py``); the
browser gives them with the page's own controls (``BrowserForm``): a control or option the page lacks
fails the walk, and so does a submit the page refuses (its error summary is quoted). Timers (the
clock's part of a flow) are fired through the worker's tick, as in the flow tests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

from engine.core import runtime, services, timers
from engine.core.clock import FixedClock, parse_datetime
from engine.core.models import OPEN_STATES, HumanTask, ProcessInstance
from engine.core.runtime import Context
from web.extensions import db

from ..engine.helpers import email, user
from .test_browser import Pages

PERSON = re.compile(r"^[a-z]+$")
#: how long a POST and the page it answers with may take (CI runs two browsers on two cores)
SEND_TIMEOUT_MS = 60_000
#: how long a click has to start the form's request before it counts as not taken
CLICK_TAKEN_MS = 10_000


class BrowserForm:
    """The form on the page, answered with its controls (``f.<field>`` names, as the form builder
    draws them): text boxes typed, boxes ticked, options picked, rows added with "Add a row"."""

    def __init__(self, page: Any, files: Path):
        self.page, self.files = page, files
        #: the options chosen among radios, by control name: the words of each option's label (a root
        #: cause given by its index in the answers is picked as the option of that index, read by its words)
        self.picked: dict[str, str] = {}

    def _named(self, name: str) -> Any:
        return self.page.locator(f'[name="{name}"]')

    def fill(self, prefix: str, value: Any) -> None:
        controls = self._named(prefix)
        count = controls.count()
        if isinstance(value, dict) and not count:
            for key, sub in value.items():
                self.fill(f"{prefix}.{key}", sub)
            return
        add = self.page.locator(f'[data-add-row="{prefix}"]')
        if isinstance(value, list) and not count and add.count():
            self._rows(prefix, value, add)
            return
        assert count, f"the page has no control for {prefix!r} (answer {value!r})"
        tag, kind = controls.first.evaluate("e => [e.tagName.toLowerCase(), (e.type || '').toLowerCase()]")
        if kind == "file":
            names = value if isinstance(value, list) else [value]
            paths = []
            for n in names:
                path = self.files / str(n).replace("/", "_")
                path.write_text(f"evidence: {n}\n")
                paths.append(str(path))
            controls.first.set_input_files(paths)
        elif kind == "checkbox" and count == 1 and not isinstance(value, list):
            self._tick(controls.first, value is True)
        elif kind in ("checkbox", "radio"):
            wanted = [_typed(v) for v in (value if isinstance(value, list) else [value])]
            offered = [controls.nth(i).get_attribute("value") for i in range(count)]
            missing = [w for w in wanted if w not in offered]
            assert not missing, f"{prefix} offers no option {missing} (offers {offered})"
            for i in range(count):
                box = controls.nth(i)
                if box.get_attribute("value") in wanted:
                    self._tick(box, True)
                    if kind == "radio":
                        label = self.page.locator(f'label[for="{box.get_attribute("id")}"]')
                        self.picked[prefix] = label.first.inner_text().strip() if label.count() else ""
                elif kind == "checkbox":
                    self._tick(box, False)
        elif tag == "select":
            wanted = [_typed(v) for v in (value if isinstance(value, list) else [value])]
            offered = controls.first.evaluate("e => Array.from(e.options).map(o => o.value)")
            missing = [w for w in wanted if w not in offered]
            assert not missing, f"{prefix} offers no option {missing} (offers {offered})"
            if controls.first.get_attribute("data-picker") is not None:
                self.pick(controls.first, wanted)
            else:
                controls.first.select_option(wanted)
        elif kind == "hidden":
            pass  # a fixed value: nothing to type
        elif kind == "datetime-local":  # the browser's control holds a wall time: the value's, in UTC
            when = parse_datetime(str(value)).astimezone(UTC)
            controls.first.fill(when.strftime("%Y-%m-%dT%H:%M"))
        elif tag == "textarea" and isinstance(value, list):
            controls.first.fill("\n".join(_typed(v) for v in value))
        else:
            controls.first.fill(_typed(value))

    def pick(self, select: Any, wanted: list[str]) -> None:
        """Choose ``wanted`` in a searchable picker as a person does: drop the chips not wanted (a multi
        picker), then for each option type part of its words into the picker's box and choose it from
        the matches with the keyboard."""
        sid = select.get_attribute("id")
        box = self.page.locator(f'[id="{sid}-ts-control"]')
        chosen = select.evaluate("e => Array.from(e.selectedOptions).map(o => o.value).filter(v => v)")
        if chosen == wanted:
            return
        multiple = select.evaluate("e => e.multiple")
        for value in chosen if multiple else []:  # a single picker's new choice replaces the old
            if value not in wanted:
                self.page.locator(f'[id="{sid}-ts-control"]').locator("xpath=..").locator(
                    f'.item[data-value="{value}"] .remove').click()
        for value in wanted:
            if value in select.evaluate("e => Array.from(e.selectedOptions).map(o => o.value)"):
                continue
            words = select.evaluate("(e, v) => Array.from(e.options).find(o => o.value === v).text", value)
            box.focus()  # as Tab does (a long row of chips can push the box out of sight)
            box.fill(words.split(" — ")[0][:40])  # a reference ("AIS-001"), a name, the first words of a title
            option = self.page.locator(f'[id="{sid}-ts-dropdown"] [data-value="{value}"]')
            option.wait_for()
            for _ in range(select.evaluate("e => e.options.length")):
                if "active" in (option.get_attribute("class") or "").split():
                    break
                box.press("ArrowDown")
            box.press("Enter")
        dropdown = self.page.locator(f'[id="{sid}-ts-dropdown"]')
        if dropdown.is_visible():  # a multi picker stays open for more: close it
            box.press("Escape")
        dropdown.wait_for(state="hidden")
        got = select.evaluate("e => Array.from(e.selectedOptions).map(o => o.value).filter(v => v)")
        assert sorted(got) == sorted(wanted), f"{select.get_attribute('name')} holds {got}, not {wanted}"

    def _tick(self, box: Any, on: bool) -> None:
        """Tick or clear a box as a person does: on its label where the label is what shows (the
        decision buttons)."""
        if box.is_checked() == on:
            return
        label = self.page.locator(f'label[for="{box.get_attribute("id")}"]')
        for _ in range(2):  # a click chromium now and then takes without effect (see _send): once more
            if label.count():
                label.first.click()
            else:
                box.set_checked(on)
            if box.is_checked() == on:
                break
        assert box.is_checked() == on, f"{box.get_attribute('name')} could not be {'ticked' if on else 'cleared'}"

    def _add_row(self, add: Any, prefix: str, index: int) -> None:
        """"Add a row" clicked for row ``index``; a click chromium took without effect (see ``Walk._send``: the
        button's next index is still ``index``, the page's script counts every row it adds) is clicked once more,
        never a taken one (that would add an empty row)."""
        for _ in range(2):
            add.click()
            if add.get_attribute("data-next-index") != str(index):
                break
        self.page.wait_for_selector(f'[name="{prefix}.{index}"], [name^="{prefix}.{index}."]', state="attached")

    def _rows(self, prefix: str, rows: list[Any], add: Any) -> None:
        shown = self.page.evaluate(
            """p => [...new Set(Array.from(document.querySelectorAll('[name^="' + p + '."]'))
                 .map(e => e.name.slice(p.length + 1).split('.')[0]).filter(s => /^\\d+$/.test(s)))]""", prefix)
        indexes = sorted(int(s) for s in shown)
        for i, row in enumerate(rows):
            if i < len(indexes):
                index = indexes[i]
            else:
                index = int(add.get_attribute("data-next-index") or 0)
                self._add_row(add, prefix, index)
            self.fill(f"{prefix}.{index}", row)
        for extra in indexes[len(rows):]:  # rows the page showed that are not needed: "Remove"
            self.page.locator(f'[name^="{prefix}.{extra}."]').first.locator(
                "xpath=ancestor::div[contains(@class,'repeat-row')]").locator("[data-remove-row]").click()


def _typed(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


class Walk:
    """One instance of a shipped process walked in the browser. People are named by their short key
    (``priya``, ``jonas``: ``tests/people.py``)."""

    def __init__(self, chromium: Any, server: tuple[str, Flask], shots: Path, process_id: str):
        self.base, self.app = server
        self.process_id, self.shots = process_id, shots
        self.context = chromium.new_context(viewport={"width": 1366, "height": 900})
        self.page = self.context.new_page()
        self.ui = Pages(self.page, self.base, shots)
        self.form = BrowserForm(self.page, shots)
        self.who: str | None = None
        self.lapsed = False  # the clock moved on: the browser's login has expired
        self.instance_id: int | None = None
        self.done: list[str] = []

    def close(self) -> None:
        assert not self.ui.errors, f"errors on the pages: {self.ui.errors}"
        self.context.close()

    # ------------------------------------------------------------------ people and pages

    def as_(self, key: str) -> None:
        if self.who != key or self.lapsed:
            self.ui.login(email(key))
            self.who, self.lapsed = key, False

    def _answer(self, data: dict[str, Any]) -> None:
        for key, value in data.items():
            self.form.fill(f"f.{key}", value)

    def _refused(self) -> str:
        summary = self.page.locator("[data-error-summary]")
        if summary.count():
            return summary.inner_text()
        alerts = self.page.locator(".alert-danger, .alert-warning")
        return " / ".join(alerts.all_inner_texts())

    def _send(self, button: str) -> None:
        """Click the form's ``button`` and wait for the page the POST answers with (not the form page still
        showing while the answer is on its way). Now and then chromium takes a click and sends nothing (the
        button is focused, no request leaves); as a person who sees nothing happen, click once more when no
        request has left after a while. A request that left is never sent twice."""
        with self.page.expect_navigation(timeout=SEND_TIMEOUT_MS):
            for attempt in (1, 2):
                try:
                    with self.page.expect_request(lambda r: r.method == "POST" and r.is_navigation_request(),
                                                  timeout=CLICK_TAKEN_MS):
                        self.page.click(button)
                    return
                except PlaywrightTimeoutError:
                    if attempt == 2:
                        raise

    def start(self, key: str, data: dict[str, Any]) -> int:
        """``key`` starts the process from "Start a process" with the start form's answers."""
        self.as_(key)
        self.page.click("text=Start a process")
        self.page.wait_for_selector("[data-testid=startable]")
        self.page.locator(f'[data-testid=startable] a[href$="/start/{self.process_id}"]').click()
        self.page.wait_for_selector("[data-testid=start-form]")
        self.page.wait_for_load_state("load")  # the pickers drawn (DOMContentLoaded) before anything is clicked
        self._answer(data)
        self.ui.shot(f"start_{self.process_id}")
        self._send("[data-testid=start]")
        with self.app.app_context():
            row = db.session.scalar(select(ProcessInstance).where(
                ProcessInstance.process_id == self.process_id, ProcessInstance.parent_instance_id.is_(None))
                .order_by(ProcessInstance.id.desc()))
            assert row is not None and row.started_by_id is not None, f"not started: {self._refused()}"
            self.instance_id = row.id
        self.ui.shot("started")
        return self.instance_id

    def open_tasks(self, spec: str | None = None) -> list[HumanTask]:
        """Open tasks of the instance and of the instances it called."""
        with self.app.app_context():
            ids = self._family()
            rows = list(db.session.scalars(select(HumanTask).where(
                HumanTask.instance_id.in_(ids), HumanTask.state.in_(OPEN_STATES)).order_by(HumanTask.id)))
            db.session.expunge_all()
        return [t for t in rows if spec is None or t.task_spec == spec]

    def specs(self) -> list[str]:
        return sorted(t.task_spec for t in self.open_tasks())

    def item(self, task: HumanTask, *names: str) -> dict[str, Any]:
        """The multi-instance item a task works on (the first of ``names`` its data holds as a record):
        to pick, among several open tasks of one step, the one about a given risk or action."""
        with self.app.app_context():
            ctx = Context(db.session, self.app.extensions["aimsflow.clock"], self.app.extensions["aimsflow.settings"])
            instance = db.session.get(ProcessInstance, task.instance_id)
            assert instance is not None
            data = runtime.spiff_task(runtime.restore(ctx, instance).workflow, task).data
            db.session.rollback()
        return next((dict(data[n]) for n in names if isinstance(data.get(n), dict)), {})

    def _family(self) -> list[int]:
        assert self.instance_id is not None
        ids, frontier = [self.instance_id], [self.instance_id]
        while frontier:
            frontier = list(db.session.scalars(select(ProcessInstance.id).where(
                ProcessInstance.parent_instance_id.in_(frontier))))
            ids += frontier
        return ids

    def variables(self, task: HumanTask) -> dict[str, Any]:
        """The process data ``task`` sees, read through the engine (not shown to anyone): to tell apart
        several open tasks of one step, e.g. one per item of a multi-instance step."""
        with self.app.app_context():
            ctx = Context(db.session, self.app.extensions["aimsflow.clock"], self.app.extensions["aimsflow.settings"])
            instance = db.session.get(ProcessInstance, task.instance_id)
            assert instance is not None
            data = dict(runtime.spiff_task(runtime.restore(ctx, instance).workflow, task).data)
            db.session.rollback()
        return data

    def do(self, key: str, spec: str, data: dict[str, Any], pick: Any = None) -> None:
        """``key`` opens the ``spec`` task from their inbox (the one ``pick`` chooses among several),
        claims it when it waits in a lane, answers and submits it."""
        tasks = self.open_tasks(spec)
        if pick is not None:
            tasks = [t for t in tasks if pick(t)]
        assert tasks, f"no open {spec}; open: {self.specs()}"
        with self.app.app_context():
            me = user(db.session, key).id
        mine = [t for t in tasks if t.assignee_id == me]
        task = (mine or tasks)[0]
        self.as_(key)
        self.page.goto(f"{self.base}/")
        link = self.page.locator(f'[data-testid=inbox] a[href$="/tasks/{task.id}"]')
        if link.count():
            self.ui.shot(f"inbox_{key}")
            link.first.click()
        else:  # a lane task not on the first tab: the page it links to from the instance
            self.page.goto(f"{self.base}/tasks/{task.id}")
        self.page.wait_for_selector("[data-testid=task-name]")
        self.page.wait_for_load_state("load")  # the pickers drawn (DOMContentLoaded) before anything is clicked
        if self.page.locator("[data-testid=claim]").count():
            self.page.click("[data-testid=claim]")
            self.page.wait_for_selector("[data-testid=task-form]")
        self._answer(data)
        self.ui.shot(f"{spec}_{key}")
        self._send("[data-testid=submit]")
        with self.app.app_context():
            row = db.session.get(HumanTask, task.id)
            assert row is not None
            state = row.state
        assert state == "completed", f"{spec} by {key} was refused: {self._refused()}"
        self.done.append(spec)
        self.ui.shot(f"{spec}_done")

    def fire_timer(self, bpmn_id: str) -> None:
        """Move the clock just past the waiting timer ``bpmn_id`` and let the worker's tick fire it."""
        with self.app.app_context():
            clock = self.app.extensions["aimsflow.clock"]
            assert isinstance(clock, FixedClock)
            ctx = Context(db.session, clock, self.app.extensions["aimsflow.settings"])
            for instance_id in self._family():
                instance = db.session.get(ProcessInstance, instance_id)
                if instance is None or instance.status != "running":
                    continue
                workflow = runtime.restore(ctx, instance).workflow
                due = {t.task_spec.bpmn_id: when for t, when in timers.waiting_timers(workflow)}
                if bpmn_id in due:
                    when = parse_datetime(due[bpmn_id].isoformat()) + timedelta(seconds=1)
                    if when > clock.now():
                        clock.set(when.isoformat())
                        self.lapsed = True  # a session ends after SESSION_HOURS of the app's clock
                    runtime.clear_caches()
                    services.wake_instance(ctx, instance_id)
                    db.session.commit()
                    return
            raise AssertionError(f"no instance waits on {bpmn_id}")

    def called_end_events(self, process_id: str) -> list[str | None]:
        """The end event each call of ``process_id`` (a call activity, run inside the walked instance's
        workflow) reached, in the order they were called; None for a call still running."""
        with self.app.app_context():
            ctx = Context(db.session, self.app.extensions["aimsflow.clock"], self.app.extensions["aimsflow.settings"])
            instance = db.session.get(ProcessInstance, self.instance_id)
            assert instance is not None
            workflow = runtime.restore(ctx, instance).workflow
            ends: list[str | None] = []
            for sub in workflow.subprocesses.values():
                if sub.spec.name != process_id:
                    continue
                reached = [t.task_spec.bpmn_id for t in sub.get_tasks(state=TaskState.COMPLETED)
                           if t.workflow is sub and type(t.task_spec).__name__ == "EndEvent"]
                ends.append(reached[-1] if sub.is_completed() and reached else None)
            return ends

    def finish(self, status: str = "completed", end_event: str | None = None) -> None:
        """The instance page at the end: the status in words, the timeline, the diagram."""
        assert self.instance_id is not None
        with self.app.app_context():
            row = db.session.get(ProcessInstance, self.instance_id)
            assert row is not None
            got = (row.status, row.end_event)
        assert got[0] == status, f"instance is {got}, open tasks: {self.specs()}"
        if end_event is not None:
            assert got[1] == end_event, got
        if self.who is not None:
            self.as_(self.who)
        self.page.goto(f"{self.base}/instances/{self.instance_id}")
        self.page.wait_for_selector("#diagram[data-rendered=true]")
        self.ui.shot("instance_end")


def walk(chromium: Any, server: tuple[str, Flask], shots: Path, process_id: str) -> Iterator[Walk]:
    w = Walk(chromium, server, shots, process_id)
    yield w
    w.close()
