"""Process data in people's words: the labelled summary the task and instance pages show of what the
steps of an instance collected.

Labels are the ``title`` of the field in the process's forms (``forms/*.schema.json``); values are
written for people: a person by name, a record by its reference and title, a choice by its title, a
date as a moment the page shows relative and local, a yes/no for booleans, a file as its evidence
link. Keys that no form of the process names (what scripts keep for themselves: loop variables,
counters, criteria, flags) are left out; the raw data stays for admins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.core import domain, forms
from engine.core.models import ProcessVersion, User
from engine.core.words import choices, humanize

#: a text longer than this reads as a paragraph (kept on its lines, wrapped)
LONG_TEXT = 120
#: what a record's reference looks like (RSK-003, AIS-001): a free-text field holding one shows its title
#: a record's reference (``AIS-001``) or a control's id (``A.6.2.5``) in a free-text field
REFERENCE = re.compile(r"^([A-Z]{2,5}-\d{1,6}|A\.\d+(\.\d+)+)$")


@dataclass(frozen=True)
class Value:
    """One value as people read it. ``kind`` says how a page draws it:

    - ``text``: ``text``; ``long``: ``text`` as a paragraph;
    - ``moment``: ``at`` (``date_only`` for a day), ``text`` the readable fallback;
    - ``file``: ``text`` the file name, ``evidence_id`` its download;
    - ``list``: ``items``; ``record``: ``records[0]``, labelled; ``records``: one labelled row each.
    """

    text: str = ""
    kind: str = "text"
    at: datetime | date | None = None
    date_only: bool = False
    evidence_id: int | None = None
    items: tuple[Value, ...] = ()
    records: tuple[tuple[Item, ...], ...] = ()


@dataclass(frozen=True)
class Item:
    """A field of the summary: its key, its label (the form's title) and its value."""

    key: str
    label: str
    value: Value


def summarize(session: Session, version: ProcessVersion, data: dict[str, Any] | None,
              form_order: Sequence[str] = (), items_from: dict[str, Any] | None = None) -> list[Item]:
    """The fields of ``data`` that the forms of ``version`` name, labelled and formatted, in the order
    of the forms (start forms, then ``form_order``: the forms of the instance's steps as they came,
    then the others) and of their fields. Empty values and keys no form names are left out. A choice
    among items (``x-choices-from``: the index of a root cause) reads as the item's words, found in
    ``items_from`` (default ``data``)."""
    if not data:
        return []
    schemas = dict(version.forms or {})
    names = list(dict.fromkeys(sorted(n for n in schemas if n.endswith("_start"))
                               + [n for n in form_order if n in schemas] + sorted(schemas)))
    return _Writer(session, [schemas[n] for n in names], items_from if items_from is not None else data
                   ).items(data, None)


def _choices(schema: dict[str, Any]) -> dict[Any, str]:
    return {v: words for v, words in choices(schema) if isinstance(v, str | int | bool)}


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


class _Writer:
    """Formats values by their schema, looking people and records up once each."""

    def __init__(self, session: Session, schemas: Iterable[dict[str, Any]], items_from: dict[str, Any]):
        self.session = session
        self.items_from = items_from
        self.top: dict[str, dict[str, Any]] = {}
        #: a field's schema wherever a form names it: labels the keys a step adds to a record (a score)
        self.anywhere: dict[str, dict[str, Any]] = {}
        for schema in schemas:
            whole = forms.expanded(schema) if isinstance(schema, dict) else {}
            for key, sub in (whole.get("properties") or {}).items():
                if isinstance(sub, dict):
                    self.top.setdefault(key, sub)
            self._collect(whole)
        self.people: dict[str, str] = {}
        self.records: dict[str, dict[str, str]] = {}

    def _collect(self, schema: Any) -> None:
        if not isinstance(schema, dict):
            return
        for key, sub in (schema.get("properties") or {}).items():
            if isinstance(sub, dict):
                if sub.get("title"):
                    self.anywhere.setdefault(key, sub)
                self._collect(sub)
        self._collect(schema.get("items"))

    def items(self, data: dict[str, Any], schema: dict[str, Any] | None) -> list[Item]:
        """The labelled fields of ``data`` (an object of ``schema``; the top of the process data for
        None), schema order first."""
        props = self.top if schema is None else {k: v for k, v in (schema.get("properties") or {}).items()
                                                  if isinstance(v, dict)}
        keys = [k for k in props if k in data]
        if schema is not None:
            keys += [k for k in data if k not in props and k in self.anywhere]
        out = []
        for key in keys:
            sub = props.get(key) or self.anywhere[key]
            if sub.get("x-hidden") or _empty(data[key]):
                continue
            out.append(Item(key, str(sub.get("title") or humanize(key)), self.value(key, data[key], sub)))
        return out

    def value(self, key: str, value: Any, schema: dict[str, Any]) -> Value:
        if isinstance(value, dict) and "evidence_id" in value and "sha256" in value:
            return Value(str(value.get("filename") or "file"), "file", evidence_id=value.get("evidence_id"))
        if isinstance(value, list):
            found = schema.get("items")
            items: dict[str, Any] = found if isinstance(found, dict) else {}
            if value and all(isinstance(v, dict) for v in value) and not items.get("x-file"):
                return Value(f"{len(value)}", "records", records=tuple(tuple(self.items(v, items)) for v in value))
            return Value(", ".join(str(v) for v in value), "list",
                         items=tuple(self.value(key, v, items) for v in value if not _empty(v)))
        if isinstance(value, dict):
            return Value("", "record", records=(tuple(self.items(value, schema)),))
        if isinstance(value, bool):
            return Value("Yes" if value else "No")
        if isinstance(schema.get("x-choices-from"), dict) and isinstance(value, int):
            words = forms.choice_words(schema, value, self.items_from)
            return Value(words if words is not None else f"no longer listed (item {value + 1})",
                         "long" if words is not None and len(words) > LONG_TEXT else "text")
        choices = _choices(schema)
        if value in choices:
            return Value(choices[value])
        if isinstance(value, str):
            return self._text(key, value, schema)
        return Value(str(value))

    def _text(self, key: str, value: str, schema: dict[str, Any]) -> Value:
        if schema.get("format") == "email" or key.endswith("_email"):
            return Value(self._person(value))
        if schema.get("x-ref"):
            return Value(self._record(str(schema["x-ref"]), value))
        if key == "role" or key.endswith("_role"):
            return Value(domain.current().roles.get(value, value))
        if schema.get("format") == "date":
            try:
                return Value(value, "moment", at=date.fromisoformat(value), date_only=True)
            except ValueError:
                return Value(value)
        if schema.get("format") == "date-time":
            try:
                return Value(value, "moment", at=datetime.fromisoformat(value))
            except ValueError:
                return Value(value)
        if REFERENCE.match(value):  # a free-text field holding a record's reference (a scope: AIS-001)
            return Value(self._any_record(value))
        return Value(value, "long" if len(value) > LONG_TEXT or "\n" in value else "text")

    def _person(self, email: str) -> str:
        if email not in self.people:
            name = self.session.scalar(select(User.name).where(User.email == email))
            self.people[email] = name or email
        return self.people[email]

    def _any_record(self, ref: str) -> str:
        for kind in domain.current().references:
            label = self._record(kind, ref)
            if label != ref:
                return label
        return ref

    def _record(self, kind: str, ref: str) -> str:
        if kind not in self.records:
            reference = domain.current().references.get(kind)
            self.records[kind] = dict(reference.options(self.session)) if reference is not None else {}
        return self.records[kind].get(ref, ref)
