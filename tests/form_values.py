"""Hypothesis strategies for the answers a person can give in a form built from a JSON Schema
(``forms/*.schema.json``), valid under that schema: every type, enum, const, nested object and
repeating group, dates and date-times, user fields (real users holding the field's roles), reference
fields (real records), choices among the task data's items (``x-choices-from``: an index of the
example task data's list, ``example_task_data``) and files (real uploads).

Only answers a form can express are drawn: text without spaces around it and not blank (the form
trims text and drops an empty field), one-line text for text inputs, booleans always present (a
checkbox is always sent), checkbox lists in the order of their options, rows that are not empty.

``allOf`` / ``if`` / ``then`` / ``else`` / ``anyOf`` / ``not`` are met by drawing the object, then
repairing it: a ``then`` (or ``else``) that applies adds its required fields and narrows its
properties, which are drawn again, until the object is valid or the draw is given up
(``hypothesis.assume``).

(hypothesis-jsonschema would be the obvious tool; its last release does not run on the Hypothesis
this project uses, and it knows nothing of people, references or uploads.)
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from engine.core.forms import _FORMATS, expanded
from engine.core.properties import lookup_path


@dataclass(frozen=True)
class Upload:
    """A file to upload: what the browser sends, and what the task receives once it is stored."""

    filename: str
    content: bytes
    content_type: str = "text/plain"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass
class Pools:
    """The real people (e-mail by role) and records (references by kind) values are drawn from."""

    users_by_role: dict[str, list[str]] = field(default_factory=dict)
    all_users: list[str] = field(default_factory=list)
    refs: dict[str, list[str]] = field(default_factory=dict)
    #: the task's data, whose lists ``x-choices-from`` fields choose among (``example_task_data``)
    task_data: dict[str, Any] = field(default_factory=dict)

    def users(self, roles: list[str]) -> list[str]:
        if not roles:
            return self.all_users
        return sorted({u for role in roles for u in self.users_by_role.get(role, [])})


# what a person types: letters, digits, punctuation, symbols and spaces of the Basic Multilingual Plane
# (a browser counts maxlength in UTF-16 units; the schema in code points), no control characters
_LETTERS = st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs"), max_codepoint=0xFFFF)


def _text(schema: dict[str, Any], multiline: bool) -> st.SearchStrategy[str]:
    low = max(int(schema.get("minLength") or 0), 1)
    high = int(schema.get("maxLength") or max(low, 40))
    high = max(low, min(high, low + 60))
    alphabet = st.one_of(_LETTERS, st.just("\n")) if multiline else _LETTERS
    return st.text(alphabet, min_size=low, max_size=high).map(
        lambda s: s.strip() if not multiline else "\n".join(line.rstrip() for line in s.strip().split("\n"))
    ).filter(lambda s: low <= len(s) <= high and s.strip() != "")


def _string(schema: dict[str, Any], pools: Pools, multiline: bool) -> st.SearchStrategy[Any]:
    fmt = schema.get("format")
    if schema.get("x-ref"):
        refs = pools.refs.get(str(schema["x-ref"])) or []
        assume(refs)
        return st.sampled_from(refs)
    if "x-user-roles" in schema or fmt == "email":
        people = pools.users(list(schema.get("x-user-roles") or []))
        assume(people)
        return st.sampled_from(people)
    if fmt == "date":
        return st.dates(date(2000, 1, 1), date(2099, 12, 31)).map(date.isoformat)
    if fmt == "date-time":  # what <input type="datetime-local"> sends
        return st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31)).map(lambda d: d.strftime("%Y-%m-%dT%H:%M"))
    if fmt == "duration":
        return st.integers(1, 400).map(lambda n: f"P{n}D")
    if "pattern" in schema:
        low, high = int(schema.get("minLength") or 1), int(schema.get("maxLength") or 200)
        # what a person types on a keyboard: ASCII (the patterns' \\d would also take other scripts' digits)
        return st.from_regex(schema["pattern"], fullmatch=True, alphabet=st.characters(codec="ascii")).filter(
            lambda s: s == s.strip() and "\n" not in s and "\r" not in s and low <= len(s) <= high
            and all(c.isprintable() for c in s))
    return _text(schema, multiline)


def _enum_values(schema: dict[str, Any]) -> list[Any] | None:
    if isinstance(schema.get("enum"), list):
        return list(schema["enum"])
    branches = schema.get("oneOf") or schema.get("anyOf")
    if isinstance(branches, list) and branches and all(isinstance(b, dict) and "const" in b for b in branches):
        return [b["const"] for b in branches]
    return None


def _multiline(key: str, schema: dict[str, Any]) -> bool:
    from web.formfields import _kind  # the widget decides whether a line break can be typed

    return _kind(key, schema) in ("textarea",)


@st.composite
def value_for(draw: st.DrawFn, schema: dict[str, Any], pools: Pools, key: str = "") -> Any:
    """One value a form field described by ``schema`` can hold."""
    if "const" in schema:
        return schema["const"]
    options = _enum_values(schema)
    if options is not None:
        return draw(st.sampled_from(options))
    if schema.get("x-file"):
        return draw(st.builds(Upload, st.from_regex(r"[a-z]{1,10}\.txt", fullmatch=True),
                              st.binary(min_size=1, max_size=200)))
    kind = schema.get("type")
    if isinstance(schema.get("x-choices-from"), dict):  # one of the task data's items, by its index
        items = lookup_path(pools.task_data, str(schema["x-choices-from"].get("items")))
        assume(isinstance(items, list) and items)
        return draw(st.integers(0, len(items) - 1))
    if kind == "boolean":
        return draw(st.booleans())
    if kind in ("integer", "number"):
        low, high = schema.get("minimum"), schema.get("maximum")
        if kind == "integer":
            return draw(st.integers(low if low is not None else -1000, high if high is not None else 1000))
        return draw(st.floats(low if low is not None else -1e6, high if high is not None else 1e6,
                              allow_nan=False, allow_infinity=False).map(lambda x: round(x, 3)).filter(
            lambda x: (low is None or x >= low) and (high is None or x <= high)))
    if kind == "array":
        return draw(_array(schema, pools, key))
    if kind == "object" or isinstance(schema.get("properties"), dict):
        return draw(object_for(schema, pools))
    return draw(_string(schema, pools, _multiline(key, schema)))


@st.composite
def _array(draw: st.DrawFn, schema: dict[str, Any], pools: Pools, key: str) -> list[Any]:
    items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
    low = max(int(schema.get("minItems") or 0), 1)  # an empty list is not sent: the field is left out
    high = int(schema.get("maxItems") if schema.get("maxItems") is not None else max(low, 3))
    high = min(high, max(low, 3))
    options = _enum_values(items)
    if options is not None or items.get("x-ref"):  # checkboxes: a subset, in the order of the options
        pool = options if options is not None else (pools.refs.get(str(items["x-ref"])) or [])
        assume(len(pool) >= low)
        chosen = draw(st.sets(st.sampled_from(pool), min_size=low, max_size=min(high, len(pool))) if pool
                      else st.just(set()))
        ordered = [v for v in pool if v in chosen]
        if "contains" in schema and isinstance(schema["contains"], dict) and "const" in schema["contains"]:
            assume(schema["contains"]["const"] in ordered)
        return ordered
    unique = bool(schema.get("uniqueItems"))
    element = value_for(items, pools, key)
    if items.get("type") == "object" or items.get("x-file"):
        return draw(st.lists(element, min_size=low, max_size=high))
    # one entry per line: each entry one line of text
    return draw(st.lists(element, min_size=low, max_size=high, unique=unique))


def _merge(target: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``target`` narrowed by ``extra`` (the ``then`` of a condition): required fields added,
    property constraints merged in (an enum intersected)."""
    out = copy.deepcopy(target)
    out["required"] = sorted(set(out.get("required") or []) | set(extra.get("required") or []))
    for name, sub in (extra.get("properties") or {}).items():
        if name not in (out.get("properties") or {}):
            continue
        merged = {**out["properties"][name], **sub}
        if "enum" in sub and isinstance(out["properties"][name].get("enum"), list):
            merged["enum"] = [v for v in out["properties"][name]["enum"] if v in sub["enum"]]
        out["properties"][name] = merged
    return out


@st.composite
def object_for(draw: st.DrawFn, schema: dict[str, Any], pools: Pools) -> dict[str, Any]:
    """An object valid under ``schema``, with at least one field (an empty row is not sent)."""
    validator = Draft202012Validator(schema, format_checker=_FORMATS)
    shape = {k: v for k, v in schema.items() if k not in ("allOf", "if", "then", "else", "anyOf", "not")}
    conditions = list(schema.get("allOf") or [])
    if "if" in schema:
        conditions.append({k: schema[k] for k in ("if", "then", "else") if k in schema})
    if "anyOf" in schema:
        conditions.append({"anyOf": schema["anyOf"]})
    # an anyOf of "fill in one of these": pick one branch up front
    for condition in conditions:
        if "anyOf" in condition:
            shape = _merge(shape, draw(st.sampled_from(condition["anyOf"])))
    data = draw(_fields(shape, pools, {}))
    for _ in range(6):
        if validator.is_valid(as_received(data)) and data:  # a file is checked as the server receives it
            return data
        narrowed = shape
        forbidden: set[str] = set()
        for condition in conditions:
            if "if" not in condition:
                continue
            branch = condition.get("then") if _holds(condition["if"], data) else condition.get("else")
            if not isinstance(branch, dict):
                continue
            if isinstance(branch.get("not"), dict):
                forbidden |= set(branch["not"].get("required") or [])
            narrowed = _merge(narrowed, branch)
        for name in forbidden:
            data.pop(name, None)
        forbidden |= {name for name, sub in (narrowed.get("properties") or {}).items()
                      if isinstance(sub, dict) and sub.get("maxItems") == 0}
        redo = {name for name in (narrowed.get("properties") or {})
                if name not in forbidden and (narrowed["properties"][name] != (shape.get("properties") or {}).get(name)
                                              or (name in (narrowed.get("required") or []) and name not in data))}
        data = draw(_fields(narrowed, pools, {k: v for k, v in data.items() if k not in redo}, skip=forbidden))
    assume(validator.is_valid(as_received(data)) and bool(data))
    return data


def _holds(condition: dict[str, Any], data: dict[str, Any]) -> bool:
    return Draft202012Validator(condition, format_checker=_FORMATS).is_valid(data)


@st.composite
def _fields(draw: st.DrawFn, schema: dict[str, Any], pools: Pools, keep: dict[str, Any],
            skip: set[str] | frozenset[str] = frozenset()) -> dict[str, Any]:
    required = set(schema.get("required") or [])
    data = dict(keep)
    for name, sub in (schema.get("properties") or {}).items():
        if name in data or name in skip or not isinstance(sub, dict) or sub.get("readOnly") or sub.get("x-hidden"):
            continue
        if sub.get("maxItems") == 0:  # no entry allowed: the field is left out
            continue
        always = name in required or _always_sent(sub) or "default" in sub  # a default is shown filled in
        if always or draw(st.booleans()):
            data[name] = draw(value_for(sub, pools, name))
    if not data and schema.get("properties"):  # a row with nothing in it is not sent: fill one field
        name = draw(st.sampled_from(sorted(k for k in schema["properties"] if k not in skip)))
        data[name] = draw(value_for(schema["properties"][name], pools, name))
    return data


def _always_sent(schema: dict[str, Any]) -> bool:
    """A checkbox is always sent (ticked or not), and so is the fieldset around it."""
    if schema.get("type") == "boolean" and "const" not in schema:
        return True
    if schema.get("type") == "object" and not schema.get("x-file"):
        return any(isinstance(sub, dict) and _always_sent(sub) for sub in (schema.get("properties") or {}).values())
    return False


def example_task_data(schema: Any, count: int = 3) -> dict[str, Any]:
    """Task data holding ``count`` items for each list a field of ``schema`` chooses among
    (``x-choices-from``), each item with its words under the field's ``label``."""
    data: dict[str, Any] = {}

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for sub in node:
                walk(sub)
        elif isinstance(node, dict):
            spec = node.get("x-choices-from")
            if isinstance(spec, dict) and isinstance(spec.get("items"), str):
                *parents, last = spec["items"].split(".")
                target = data
                for part in parents:
                    target = target.setdefault(part, {})
                label = spec.get("label")
                target[last] = [{label: f"Example {last} {i + 1}: the words a person reads"} if label
                                else f"Example {last} {i + 1}" for i in range(count)]
            for sub in node.values():
                walk(sub)

    walk(schema)
    return data


def form_values(schema: dict[str, Any], pools: Pools) -> st.SearchStrategy[dict[str, Any]]:
    """Answers to the whole form ``schema`` (local ``$ref`` inlined), valid under it."""
    return object_for(expanded(schema), pools)


def as_received(value: Any, stored: dict[str, Any] | None = None) -> Any:
    """``value`` as the task receives it: each :class:`Upload` as the evidence record the server made of
    it (``stored``: sha256 -> record), or as the preview describes it (evidence id 0)."""
    if isinstance(value, Upload):
        if stored is not None:
            return stored[value.sha256]
        return {"evidence_id": 0, "filename": value.filename, "sha256": value.sha256, "size": len(value.content),
                "content_type": value.content_type}
    if isinstance(value, dict):
        return {k: as_received(v, stored) for k, v in value.items()}
    if isinstance(value, list):
        return [as_received(v, stored) for v in value]
    return value
