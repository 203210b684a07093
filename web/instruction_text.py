"""How a value of the process data reads inside a task's instructions (the BPMN's
``instructionsForEndUser``, a Jinja template over the task data): lists as lists, records as labelled
pairs, yes/no for booleans, date-times as the pages show them; never Python's own notation
(``{'clauses': ['8.1']}``, ``True``, ``None``) nor a raw timestamp (``2027-03-15T00:00:00+00:00``);
people by name, not by the e-mail address the data holds them by; a code the task's form offers as a
titled choice by its title (``context_changes`` -> "Changes of context").
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from typing import Any

from flask import has_request_context
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import escape

from engine.core import directory, zone

NOTHING = "none"
MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


def label(key: Any) -> str:
    """A data key as a label: ``ai_systems`` -> ``AI systems``."""
    words = str(key).replace("_", " ").strip()
    words = words[:1].upper() + words[1:]
    return words.replace("Ai ", "AI ").replace(" ai ", " AI ")


class People:
    """The e-mail addresses one rendering of instructions shows. ``plain`` writes each as a mark;
    ``named`` then looks them all up at once (those addresses only) and puts each person's name, or the
    address as typed when no user has it, in place of its mark."""

    def __init__(self) -> None:
        self.emails: list[str] = []
        self._nonce = secrets.token_hex(4)  # the data cannot forge a mark

    def mark(self, email: str) -> str:
        self.emails.append(email)
        return f"\x00{self._nonce}:{len(self.emails) - 1}\x00"

    def named(self, rendered: str) -> str:
        """``rendered`` (escaped HTML) with every mark as the person's name, escaped."""
        if not self.emails:
            return rendered
        names = _names(self.emails)

        def name(match: re.Match[str]) -> str:
            typed = self.emails[int(match.group(1))]
            return str(escape(names.get(directory.normalise_email(typed), typed)))

        return re.sub(f"\x00{self._nonce}:(\\d+)\x00", name, rendered)


def plain(value: Any, people: People | None = None) -> Any:
    """``value`` as people read it; strings and numbers as they are; an e-mail address as ``people``'s
    mark for it (as typed without ``people``)."""
    if value is None:
        return NOTHING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        pairs = [f"{label(k)}: {_inner(v, people)}" for k, v in value.items() if v not in (None, "", [], {})]
        return "; ".join(pairs) or NOTHING
    if isinstance(value, list | tuple | set):
        items = [_record(v, people) if isinstance(v, dict) else _inner(v, people) for v in value]
        if not items:
            return NOTHING
        return "; ".join(items) if any(isinstance(v, dict) for v in value) else ", ".join(items)
    if isinstance(value, str) and MOMENT.fullmatch(value):
        return moment(value)
    if isinstance(value, str) and people is not None and EMAIL.fullmatch(value):
        return people.mark(value)
    return value


def moment(text: str) -> str:
    """An ISO date-time as the pages show times, in the reader's time zone: ``2027-03-15 10:00 UTC``
    (``2027-03-15 19:00 JST`` in Tokyo), or the date alone at midnight UTC."""
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    if (when.hour, when.minute) == (0, 0):
        return when.strftime("%Y-%m-%d")
    return when.astimezone(zone(_reader_zone())).strftime("%Y-%m-%d %H:%M %Z")


def _reader_zone() -> str | None:
    if not has_request_context():
        return None
    from .pages import my_zone

    return my_zone()


def _names(emails: list[str]) -> dict[str, str]:
    """The names of the users among ``emails`` by normalised address, in one query (outside a request:
    none)."""
    if not has_request_context():
        return {}
    from .extensions import db

    return directory.names_by_email(db.session, emails)


def _inner(value: Any, people: People | None) -> str:
    if isinstance(value, list | tuple | set):
        return ", ".join(_inner(v, people) for v in value) or NOTHING
    if isinstance(value, dict):
        return _record(value, people)
    return str(plain(value, people))


def _record(row: dict[Any, Any], people: People | None) -> str:
    """A record inside a list (a checklist item, a finding): its filled values, dash-separated."""
    return " — ".join(_inner(v, people) for v in row.values() if v not in (None, "", [], {})) or NOTHING


def code_titles(schema: Any) -> dict[str, str]:
    """The title of every code a form offers as a titled choice (``oneOf``/``anyOf`` of ``const`` with a
    ``title``), anywhere in ``schema`` (a form, or a list of forms: a code two offer has the first's title):
    {"context_changes": "Changes of context"}."""
    titles: dict[str, str] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for choice in (node.get("oneOf") or []) + (node.get("anyOf") or []):
                if isinstance(choice, dict) and isinstance(choice.get("const"), str) and choice.get("title"):
                    titles.setdefault(choice["const"], str(choice["title"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return titles


def titled(value: Any, titles: dict[str, str]) -> Any:
    """``value`` with every string that is a code of ``titles`` as its title, inside lists and records too."""
    if isinstance(value, str):
        return titles.get(value, value)
    if isinstance(value, list | tuple):
        return [titled(v, titles) for v in value]
    if isinstance(value, dict):
        return {k: titled(v, titles) for k, v in value.items()}
    return value


def environment(titles: dict[str, str] | None = None, people: People | None = None) -> SandboxedEnvironment:
    """The sandbox one rendering of instructions runs in, every ``{{ value }}`` through ``plain`` (its
    codes among ``titles`` first read as their titles, its e-mail addresses marked for ``people``)."""
    known = dict(titles or {})
    return SandboxedEnvironment(autoescape=True, finalize=lambda value: plain(titled(value, known), people))
