"""JSON Schema forms in HTML: a schema becomes a list of :class:`Field` the templates render, and a
posted form becomes the data the engine validates.

Supported (DESIGN.md, FLOWS.md 0.8): text, textarea (``"x-widget": "textarea"`` or a long
``maxLength``), enums as a searchable picker or radio (``"x-widget": "radio"``, or four options or fewer),
multi-enums (arrays of enums) as checkboxes (a searchable multi picker beyond ``MANY_CHOICES`` options),
integers and numbers with their bounds, booleans, dates,
date-times, user pickers (``"format": "email"`` with ``"x-user-roles"``), reference pickers
(``"x-ref": "<kind>"``: a searchable picker of that kind's records; an array of them, a multi picker), lists of text
(one per line), scales (an integer with ``"x-scale": "likelihood"`` or ``"impact"``: its values as
choices with the words of the organisation's risk criteria, "3 · Possible", each with what it means
under it), choices among the items of the task data (an integer with ``"x-choices-from": {"items":
"root_causes", "label": "cause"}``: each item offered by its words, radios up to ``FEW_ITEMS`` items, else a
searchable picker; the value is the item's index), nested objects (a fieldset),
repeating groups (arrays of objects), file uploads
(``"x-file": true``, or an array of them), ``"const": true`` as a confirmation checkbox ("I confirm
...") and any other ``const`` as a fixed value. Local ``$ref`` (``#/$defs/...``) are inlined first.

Text is taken without the spaces around it, and a textarea's line breaks as ``\n`` (browsers send
``\r\n``).

HTML names are ``f.<path>`` with dots (``f.risks.0.title``); a file field keeps its already uploaded
evidence in ``keep.<path>`` so a form re-shown after an error does not lose it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from werkzeug.datastructures import FileStorage, MultiDict

from engine.core import FieldError, choices, forms, human_date, humanize, title_at

LONG_TEXT = re.compile(r"(comment|comments|rationale|description|note|notes|summary|justification|details|"
                       r"explanation|reason|narrative|conclusion|impact|impacts)$")

#: an array of choices with more options than this is a searchable multi picker instead of checkboxes
MANY_CHOICES = 12
#: a choice among the task data's items (``x-choices-from``) with more items than this is a searchable picker
FEW_ITEMS = 4

T = TypeVar("T")

#: the people a user picker offers, by the roles it asks for, as (e-mail, label)
UserOptions = Callable[[list[str]], list[tuple[str, str]]]
#: the records of a kind of reference as (reference, label)
RefOptions = Callable[[str], list[tuple[str, str]]]
#: the words of a scale (``"x-scale"``) by value: {"3": "Possible"}
ScaleWords = Callable[[str], dict[str, str]]


@dataclass
class Field:
    key: str
    path: str  # "risks/0/title": how the engine names it in errors
    name: str  # "f.risks.0.title": the HTML name
    label: str
    kind: str
    required: bool = False
    help: str | None = None
    options: list[tuple[str, str]] = field(default_factory=list)
    minimum: Any = None
    maximum: Any = None
    step: str | None = None
    max_length: int | None = None
    value: Any = None
    error: str | None = None
    #: repeating group: the child fields of each row, and a template row for "add a row"
    rows: list[list[Field]] = field(default_factory=list)
    template: list[Field] = field(default_factory=list)
    multiple: bool = False
    #: a fixed value (``const`` other than true), shown and sent as it is
    fixed: Any = None
    #: what an option means, by value (a scale's descriptions from the organisation's risk criteria)
    meanings: dict[str, str] = field(default_factory=dict)
    #: a choice among the task data's items shown without task data (the forms editor's preview): where
    #: its options will come from
    source: str | None = None

    @property
    def anchor(self) -> str:
        """The id of the control a link to this field focuses (the field's box when it has none)."""
        if self.kind in ("radio", "checkboxes") or self.as_radios:
            return f"{self.name}-1" if self.options else f"field-{self.name}"
        if self.kind == "item" and not self.options:
            return f"field-{self.name}"
        if self.kind in ("object", "group", "fixed"):
            return f"field-{self.name}"
        return self.name

    @property
    def as_radios(self) -> bool:
        """A choice among a few items of the task data is drawn as radios, one item a line."""
        return self.kind == "item" and 0 < len(self.options) <= FEW_ITEMS

    @property
    def fixed_text(self) -> str:
        return humanize(str(self.fixed)) if isinstance(self.fixed, str) else json.dumps(self.fixed)

    def is_selected(self, option: Any) -> bool:
        if isinstance(self.value, list):
            return str(option) in [str(v) for v in self.value]
        return self.value is not None and str(self.value) == str(option)

    @property
    def unknown_values(self) -> list[str]:
        """The values given that are none of the options (a reference to a record that does not exist):
        shown chosen, so the error beside the field names what was given."""
        values = self.value if isinstance(self.value, list) else [self.value]
        known = {str(v) for v, _ in self.options}
        return [str(v) for v in values if v not in (None, "") and str(v) not in known]

    @property
    def files(self) -> list[dict[str, Any]]:
        values = self.value if isinstance(self.value, list) else [self.value]
        return [v for v in values if isinstance(v, dict) and "evidence_id" in v]

    @property
    def keep_json(self) -> str:
        return json.dumps(self.files if self.multiple else (self.files[0] if self.files else None))

    @property
    def text_lines(self) -> str:
        if isinstance(self.value, list):
            return "\n".join(str(v) for v in self.value)
        return "" if self.value is None else str(self.value)


def _kind(key: str, schema: dict[str, Any]) -> str:
    widget = schema.get("x-widget")
    kind = schema.get("type")
    if schema.get("x-file"):
        return "file"
    if "const" in schema:
        return "confirm" if schema["const"] is True else "fixed"
    if kind == "array":
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        if items.get("x-file"):
            return "files"
        if items.get("x-ref"):
            return "refs"
        if options := choices(items):  # a long list (controls, clauses) is a multi picker, a short one checkboxes
            return "checkboxes" if len(options) <= MANY_CHOICES else "choices"
        if items.get("type") == "object":
            return "group"
        return "lines"
    if options := choices(schema):
        if widget in ("radio", "select"):
            return str(widget)
        return "radio" if len(options) <= 4 else "select"
    if kind == "object" or (kind is None and isinstance(schema.get("properties"), dict)):
        return "object"
    if kind == "boolean":
        return "checkbox"
    if kind == "integer" and schema.get("x-scale"):
        return "scale"
    if kind == "integer" and isinstance(schema.get("x-choices-from"), dict):
        return "item"  # one of the items of a list in the task data, by its words; the value is its index
    if kind in ("integer", "number"):
        return kind
    if schema.get("x-ref"):
        return "ref"  # a record of a register, picked by its reference
    if schema.get("format") == "email":
        return "user"  # a person: picked among active users (those holding x-user-roles, if given)
    if schema.get("format") == "date":
        return "date"
    if schema.get("format") == "date-time":
        return "datetime"
    if widget == "textarea" or (schema.get("maxLength") or 0) > 200 or (
            widget != "text" and "maxLength" not in schema and LONG_TEXT.search(key)):
        return "textarea"
    return "text"


@dataclass(frozen=True)
class Options:
    """Where pickers get their choices: people holding roles, records of a kind of reference, the words
    of a scale by value and what each value means."""

    users: UserOptions = lambda roles: []
    refs: RefOptions = lambda kind: []
    scales: ScaleWords = lambda name: {}
    meanings: ScaleWords = lambda name: {}
    #: the task's data, whose lists ``x-choices-from`` fields offer (None: no task, the forms editor's preview)
    task_data: dict[str, Any] | None = None


def build(schema: dict[str, Any] | None, values: dict[str, Any] | None, errors: dict[str, str] | None = None,
          users: UserOptions | None = None, refs: RefOptions | None = None,
          scales: ScaleWords | None = None, meanings: ScaleWords | None = None,
          task_data: dict[str, Any] | None = None) -> list[Field]:
    """The fields of ``schema`` (an object schema) filled with ``values`` and ``errors`` by path; a
    scale's options are worded by ``scales`` and described by ``meanings`` (both by scale name); a
    choice among items (``x-choices-from``) offers those of ``task_data``."""
    if not schema:
        return []
    options = Options(_once_per_roles(users or (lambda roles: [])), _once(refs or (lambda kind: [])),
                      _once(scales or (lambda name: {})), _once(meanings or (lambda name: {})), task_data)
    return _fields(forms.expanded(schema), values or {}, errors or {}, options, "", "f")


def _once(ask: Callable[[str], T]) -> Callable[[str], T]:
    """``ask`` asked once per argument for one form build: a picker in each row of a group (and in the
    row template) is offered what the first one was, without asking the database again."""
    return functools.cache(ask)


def _once_per_roles(ask: UserOptions) -> UserOptions:
    remembered = functools.cache(lambda roles: ask(list(roles)))
    return lambda roles: remembered(tuple(roles))


def _fields(schema: dict[str, Any], values: Any, errors: dict[str, str], pick: Options, path: str,
            name: str) -> list[Field]:
    required = set(schema.get("required") or [])
    values = values if isinstance(values, dict) else {}
    out = []
    for key, sub in (schema.get("properties") or {}).items():
        if not isinstance(sub, dict) or sub.get("readOnly") or sub.get("x-hidden"):
            continue
        p = f"{path}/{key}" if path else key
        f = Field(key=key, path=p, name=f"{name}.{key}", label=sub.get("title") or humanize(key),
                  kind=_kind(key, sub), required=key in required, help=sub.get("description"),
                  value=values.get(key, sub.get("default")), error=_error_at(errors, p, _kind(key, sub)))
        f.minimum, f.maximum, f.max_length = sub.get("minimum"), sub.get("maximum"), sub.get("maxLength")
        if f.kind in ("integer", "number"):
            f.step = "1" if f.kind == "integer" else "any"
        if f.kind in ("radio", "select"):
            f.options = choices(sub)
        elif f.kind == "scale":
            f.options = scale_options(sub, pick.scales(str(sub["x-scale"])))
            meanings = pick.meanings(str(sub["x-scale"]))
            f.meanings = {value: meanings[value] for value, _ in f.options if meanings.get(value)}
        elif f.kind in ("checkboxes", "choices"):
            f.options = choices(sub["items"])
        elif f.kind == "item":
            words = forms.choice_items(sub, pick.task_data)
            f.options = [(str(i), text) for i, text in enumerate(words or [])]
            if words is None:
                spec = sub["x-choices-from"]
                f.source = (f"The items of “{spec.get('items')}” in the task's data"
                            + (f", each shown by its “{spec['label']}”" if spec.get("label") else "")
                            + ". Give example task data to see them here.")
        elif f.kind == "user":
            f.options = pick.users(list(sub.get("x-user-roles") or []))
        elif f.kind == "ref":
            f.options = pick.refs(str(sub["x-ref"]))
        elif f.kind == "refs":
            f.options = pick.refs(str(sub["items"]["x-ref"]))
        elif f.kind == "fixed":
            f.fixed = sub["const"]
        elif f.kind == "files":
            f.multiple = True
        elif f.kind == "object":
            f.rows = [_fields(sub, f.value, errors, pick, p, f.name)]
        elif f.kind == "group":
            items = sub["items"]
            rows = f.value if isinstance(f.value, list) else []
            f.rows = [_fields(items, row, errors, pick, f"{p}/{i}", f"{f.name}.{i}") for i, row in enumerate(rows)]
            if not f.rows and f.required:
                f.rows = [_fields(items, {}, errors, pick, f"{p}/0", f"{f.name}.0")]
            f.template = _fields(items, {}, {}, pick, f"{p}/__i__", f"{f.name}.__i__")
        out.append(f)
    return out


def _error_at(errors: dict[str, str], path: str, kind: str) -> str | None:
    """The field's error; for a list drawn as one control (checkboxes, lines, files), its entries' too."""
    found = [errors[path]] if path in errors else []
    if kind in ("checkboxes", "choices", "refs", "lines", "files"):
        found += [m for k, m in errors.items() if k.startswith(path + "/") and k[len(path) + 1:].isdigit()]
    return " ".join(found) or None


def all_paths(fields: list[Field]) -> set[str]:
    paths = set()
    for f in fields:
        paths.add(f.path)
        for row in f.rows:
            paths |= all_paths(row)
    return paths


@dataclass(frozen=True)
class Problem:
    """One entry of the error summary at the top of a form: the message and the id of the control its
    link focuses (None when the form shows no field for it)."""

    message: str
    anchor: str | None


def summary(fields: list[Field], errors: list[Any]) -> list[Problem]:
    """The errors of a failed submit, in the order of the form, each linked to its field (or to the
    closest enclosing field shown: a row's error to its group)."""
    anchors: dict[str, str] = {}
    order: dict[str, int] = {}

    def walk(items: list[Field]) -> None:
        for f in items:
            anchors[f.path] = f.anchor
            order[f.path] = len(order)
            for row in f.rows:
                walk(row)

    walk(fields)
    problems = []
    for error in errors:
        path = error.path
        while path and path not in anchors:
            path = path.rpartition("/")[0]
        problems.append((order.get(path, len(order)), Problem(error.message, anchors.get(path))))
    return [p for _, p in sorted(problems, key=lambda item: item[0])]


_FIELD_FIRST = re.compile(r"^([a-z][a-z0-9_]*(?:/(?:\d+|[a-z][a-z0-9_]*))*): (.+)$", re.S)


def refusal(schema: dict[str, Any] | None, message: str) -> FieldError:
    """A step's refusal of the answers (``effective_from: 2026-11-02 is in the past``) as an error of
    the field it names, in the form's words ("Effective from: 2 November 2026 is in the past"), linked
    from the summary; a field of a row (``actions/0/due_date: ...``) is named with its row ("Due date
    (Actions, row 1): ..."). A refusal that names no field of the form is the form's own."""
    match = _FIELD_FIRST.match(message)
    root = forms.expanded(schema) if schema else {}
    if match:
        path, text = match.groups()
        parts: list[Any] = [int(p) if p.isdigit() else p for p in path.split("/")]
        if _names_field(root, parts):
            text = re.sub(r"\b\d{4}-\d{2}-\d{2}(T[0-9:.+Z-]+)?\b", lambda m: human_date(m.group(0)), text)
            return FieldError(path, f"{title_at(root, parts)}: {text}")
    return FieldError("", message[:1].upper() + message[1:])


def _names_field(root: dict[str, Any], parts: list[Any]) -> bool:
    """Whether ``parts`` (property names and row numbers) lead to a field of the form."""
    here: Any = root
    for part in parts:
        if not isinstance(here, dict):
            return False
        here = here.get("items") if isinstance(part, int) else (here.get("properties") or {}).get(part)
    return isinstance(here, dict)


# --------------------------------------------------------------------------- parsing a post

@dataclass
class Upload:
    path: tuple[Any, ...]
    file: FileStorage


def parse(schema: dict[str, Any] | None, form: MultiDict[str, str],
          files: MultiDict[str, FileStorage] | None = None) -> tuple[dict[str, Any], list[Upload]]:
    """The data a posted form holds, typed by the schema (values that do not convert are kept as typed,
    so validation names them and the form shows them again), and the files to store as evidence."""
    uploads: list[Upload] = []
    if not schema:
        return {}, uploads
    data = _parse_object(forms.expanded(schema), form, files or MultiDict(), "f", (), uploads)
    return data, uploads


def scale_options(schema: dict[str, Any], words: dict[str, str]) -> list[tuple[str, str]]:
    """The values of a scale field from its minimum to its maximum, each with its words ("3 · Possible")."""
    low, high = int(schema.get("minimum", 1)), int(schema.get("maximum", 5))
    return [(str(n), f"{n} · {words[str(n)]}" if words.get(str(n)) else str(n)) for n in range(low, high + 1)]


def _convert(kind: str, sub: dict[str, Any], raw: str) -> Any:
    raw = raw.replace("\r\n", "\n").strip()
    if kind in ("integer", "scale", "item"):
        return int(raw) if re.fullmatch(r"[-+]?\d+", raw.strip()) else raw
    if kind == "number":
        try:
            number = float(raw)
        except ValueError:
            return raw
        return int(number) if number.is_integer() and "." not in raw else number
    if kind in ("radio", "select"):
        for value, _ in choices(sub):
            if str(value) == raw:
                return value
    return raw


def _parse_object(schema: dict[str, Any], form: MultiDict[str, str], files: MultiDict[str, FileStorage],
                  name: str, path: tuple[Any, ...], uploads: list[Upload]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, sub in (schema.get("properties") or {}).items():
        if not isinstance(sub, dict) or sub.get("readOnly") or sub.get("x-hidden"):
            continue
        kind = _kind(key, sub)
        n = f"{name}.{key}"
        if kind == "checkbox":
            if f"{n}.present" in form or n in form:
                data[key] = n in form
        elif kind == "confirm":
            if n in form:
                data[key] = True
        elif kind == "fixed":
            if n in form:
                data[key] = sub["const"]
        elif kind == "refs":
            picked = [v.strip() for v in form.getlist(n) if v.strip()]
            if picked:
                data[key] = picked
        elif kind in ("checkboxes", "choices"):
            chosen = form.getlist(n)
            options = choices(sub["items"])
            picked = [v for v, _ in options if str(v) in chosen]
            if picked:
                data[key] = picked
        elif kind == "lines":
            lines = [line.strip() for line in form.get(n, "").splitlines() if line.strip()]
            if lines:
                data[key] = lines
        elif kind == "object":
            inner = _parse_object(sub, form, files, n, path + (key,), uploads)
            if inner:
                data[key] = inner
        elif kind == "group":
            indices = sorted({int(m.group(1)) for k in list(form.keys()) + list(files.keys())
                              if (m := re.match(re.escape(n) + r"\.(\d+)\.", k))})
            rows = []
            for i in indices:
                row = _parse_object(sub["items"], form, files, f"{n}.{i}", path + (key, len(rows)), uploads)
                if row:
                    rows.append(row)
            if rows:
                data[key] = rows
            elif f"{n}.present" in form and not sub.get("minItems"):
                data[key] = []  # the page showed earlier rows and all were removed: emptied, not left as it was
        elif kind in ("file", "files"):
            kept = _kept(form.get(f"keep.{n[2:]}"))
            new = [f for f in files.getlist(n) if f and f.filename]
            if kind == "file":
                if new:
                    uploads.append(Upload(path + (key,), new[0]))
                    data[key] = None  # filled in with the stored evidence
                elif kept:
                    data[key] = kept[0]
            else:
                start = len(kept)
                for i, f in enumerate(new):
                    uploads.append(Upload(path + (key, start + i), f))
                if kept or new:
                    data[key] = kept + [None] * len(new)
        else:
            raw = form.get(n)
            if raw is not None and raw.strip() != "":
                data[key] = _convert(kind, sub, raw)
    return data


def describe_upload(upload: Upload) -> dict[str, Any]:
    """What a file field holds for an upload that is not stored (the forms editor's preview): the
    evidence fields with ``evidence_id`` 0."""
    content = upload.file.read()
    return {"evidence_id": 0, "filename": upload.file.filename or "", "sha256": hashlib.sha256(content).hexdigest(),
            "size": len(content), "content_type": upload.file.mimetype or "application/octet-stream"}


def _kept(text: str | None) -> list[dict[str, Any]]:
    if not text:
        return []
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return []
    values = value if isinstance(value, list) else [value]
    return [v for v in values if isinstance(v, dict) and isinstance(v.get("evidence_id"), int)]


def put(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    """Set ``value`` at ``path`` inside ``data`` (the place :func:`parse` left for an upload)."""
    target: Any = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
