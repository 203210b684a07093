"""A form on a page, filled in and sent the way a browser does: the controls the page renders (with the
rows a repeating group's "Add a row" template adds), what a person types, ticks and picks, and the
multipart body the browser posts (hidden fields, ticked boxes, the chosen options, typed text with
``\\r\\n`` line breaks in textareas, files).

Filling a control the page does not have, or picking an option it does not offer, fails the test: the
page must let a person give the answer.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from tests.form_values import Upload


@dataclass
class Control:
    tag: str  # input, select, textarea
    type: str  # text, hidden, checkbox, radio, file, select, select-multiple, textarea, number, date, ...
    name: str
    value: str = ""
    checked: bool = False
    options: list[str] = field(default_factory=list)
    files: list[Upload] = field(default_factory=list)
    #: a multi picker's chosen options
    chosen: list[str] = field(default_factory=list)


class _Parser(HTMLParser):
    def __init__(self, selector: str) -> None:
        super().__init__(convert_charrefs=True)
        self.selector = selector
        self.depth_in_form = 0
        self.template_depth = 0
        self.template_for: str | None = None
        self.controls: list[Control] = []
        self.templates: dict[str, list[Control]] = {}
        self._select: Control | None = None
        self._option: str | None = None
        self._textarea: Control | None = None
        self.action: str | None = None

    def _sink(self) -> list[Control] | None:
        if not self.depth_in_form:
            return None
        if self.template_for is not None:
            return self.templates.setdefault(self.template_for, [])
        return self.controls

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            if self.depth_in_form or a.get("data-testid") == self.selector:
                self.depth_in_form += 1
                self.action = self.action or a.get("action")
            return
        sink = self._sink()
        if sink is None:
            return
        if tag == "template":
            self.template_for = a.get("data-template-for")
            return
        if "disabled" in a or "name" not in a:
            if tag == "option" and self._select is not None:
                self._option = a.get("value", "")
                self._select.options.append(self._option)
                if "selected" in a:
                    self._select.value = self._option
                    self._select.chosen.append(self._option)
            return
        if tag == "input":
            kind = a.get("type", "text")
            sink.append(Control("input", kind, a["name"], a.get("value", "" if kind not in ("checkbox", "radio")
                                                                     else "on"), "checked" in a))
        elif tag == "select":
            self._select = Control("select", "select-multiple" if "multiple" in a else "select", a["name"])
            sink.append(self._select)
        elif tag == "textarea":
            self._textarea = Control("textarea", "textarea", a["name"])
            sink.append(self._textarea)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.depth_in_form:
            self.depth_in_form -= 1
        elif tag == "template":
            self.template_for = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea.value += data


class HtmlForm:
    """The form ``data-testid=<selector>`` of a page."""

    def __init__(self, html: str, selector: str):
        parser = _Parser(selector)
        parser.feed(html)
        assert parser.controls or parser.templates, f"the page has no form {selector!r}"
        self.controls = parser.controls
        self.templates = parser.templates
        self.action = parser.action
        for c in self.controls:  # an HTML parser drops the newline right after <textarea>
            if c.tag == "textarea" and c.value.startswith("\n"):
                c.value = c.value[1:]
        self.rows: dict[str, int] = {}

    def named(self, name: str) -> list[Control]:
        return [c for c in self.controls if c.name == name]

    def add_row(self, group: str) -> int:
        """Press the group's "Add a row": its template's controls, numbered."""
        assert group in self.templates, f"the page has no 'Add a row' for {group}"
        index = self.rows.get(group, 0)
        self.rows[group] = index + 1
        for c in self.templates[group]:
            self.controls.append(Control(c.tag, c.type, c.name.replace("__i__", str(index), 1), c.value, c.checked,
                                         list(c.options), chosen=list(c.chosen)))
        for name, controls in list(self.templates.items()):  # a nested group's template inside the row
            if name.startswith(group + ".__i__."):
                self.templates[name.replace("__i__", str(index), 1)] = controls
        return index

    # ------------------------------------------------------------------ filling in

    def fill(self, prefix: str, value: Any) -> None:
        """Give ``value`` to the field ``prefix`` (``f.actions``) as a person would with the controls
        the page shows for it."""
        controls = self.named(prefix)
        if isinstance(value, dict) and not controls:
            for key, sub in value.items():
                self.fill(f"{prefix}.{key}", sub)
            return
        if isinstance(value, list) and not controls and prefix in self.templates:
            shown = sorted({int(c.name[len(prefix) + 1:].split(".")[0]) for c in self.controls
                            if c.name.startswith(prefix + ".") and c.name[len(prefix) + 1:].split(".")[0].isdigit()})
            self.rows[prefix] = (shown[-1] + 1) if shown else 0
            for i, row in enumerate(value):
                self.fill(f"{prefix}.{shown[i] if i < len(shown) else self.add_row(prefix)}", row)
            for extra in shown[len(value):]:  # "Remove" on the rows the page showed and are not needed
                self.controls = [c for c in self.controls if not c.name.startswith(f"{prefix}.{extra}.")]
            return
        assert controls, f"the page has no control named {prefix!r}"
        first = controls[0]
        if isinstance(value, Upload) or (isinstance(value, list) and value and isinstance(value[0], Upload)):
            assert first.type == "file", f"{prefix} is not a file input"
            first.files = value if isinstance(value, list) else [value]
        elif first.type == "checkbox" and len(controls) == 1 and not isinstance(value, list):
            first.checked = value is True
        elif first.type in ("checkbox", "radio"):
            wanted = [str(v) for v in (value if isinstance(value, list) else [value])]
            offered = [c.value for c in controls]
            missing = [w for w in wanted if w not in offered]
            assert not missing, f"{prefix} offers no option {missing} (offers {offered})"
            for c in controls:
                c.checked = c.value in wanted
        elif first.type == "select-multiple":
            chosen = [str(v) for v in (value if isinstance(value, list) else [value])]
            missing = [w for w in chosen if w not in first.options]
            assert not missing, f"{prefix} offers no option {missing} (offers {first.options})"
            first.chosen = chosen
        elif first.type == "select":
            wanted = str(value)
            assert wanted in first.options, f"{prefix} offers no option {wanted!r} (offers {first.options})"
            first.value = wanted
        elif first.type == "hidden":
            pass  # a fixed value: nothing to type
        elif first.tag == "textarea" and isinstance(value, list):
            first.value = "\r\n".join(str(v) for v in value)
        elif first.tag == "textarea":
            first.value = str(value).replace("\n", "\r\n")  # browsers send a textarea's line breaks as CRLF
        else:
            first.value = _typed(value)

    # ------------------------------------------------------------------ sending

    def body(self) -> list[tuple[str, Any]]:
        """The multipart fields the browser sends, in document order."""
        out: list[tuple[str, Any]] = []
        for c in self.controls:
            if c.type in ("checkbox", "radio"):
                if c.checked:
                    out.append((c.name, c.value))
            elif c.type == "select-multiple":
                out.extend((c.name, v) for v in c.chosen)
            elif c.type == "file":
                for f in c.files:
                    out.append((c.name, (io.BytesIO(f.content), f.filename, f.content_type)))
            elif c.type not in ("submit", "button", "reset"):
                out.append((c.name, c.value))
        return out


def _typed(value: Any) -> str:
    """What a person types into a text box for ``value``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)
