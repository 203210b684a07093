"""How a value of the process data reads inside a task's instructions (the BPMN's
``instructionsForEndUser``, a Jinja template over the task data): lists as lists, records as labelled
pairs, yes/no for booleans, date-times as the pages show them; never Python's own notation
(``{'clauses': ['8.1']}``, ``True``, ``None``) nor a raw timestamp (``2027-03-15T00:00:00+00:00``);
people by name, not by the e-mail address the data holds them by; a code the task's form offers as a
titled choice by its title (``context_changes`` -> "Changes of context").
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from flask import g, has_request_context
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import select

from engine.core import User, zone

NOTHING = "none"
MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


def label(key: Any) -> str:
    """A data key as a label: ``ai_systems`` -> ``AI systems``."""
    words = str(key).replace("_", " ").strip()
    words = words[:1].upper() + words[1:]
    return words.replace("Ai ", "AI ").replace(" ai ", " AI ")


def plain(value: Any) -> Any:
    """``value`` as people read it; strings and numbers as they are."""
    if value is None:
        return NOTHING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        pairs = [f"{label(k)}: {_inner(v)}" for k, v in value.items() if v not in (None, "", [], {})]
        return "; ".join(pairs) or NOTHING
    if isinstance(value, list | tuple | set):
        items = [_record(v) if isinstance(v, dict) else _inner(v) for v in value]
        if not items:
            return NOTHING
        return "; ".join(items) if any(isinstance(v, dict) for v in value) else ", ".join(items)
    if isinstance(value, str) and MOMENT.fullmatch(value):
        return moment(value)
    if isinstance(value, str) and EMAIL.fullmatch(value):
        return _names().get(value.lower(), value)
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


def _names() -> dict[str, str]:
    """E-mail -> name of the organisation's people, read once per request (outside one: none)."""
    if not has_request_context():
        return {}
    if "instruction_names" not in g:
        from .extensions import db

        g.instruction_names = {email: name for email, name in db.session.execute(select(User.email, User.name))
                               if name}
    return dict(g.instruction_names)


def _inner(value: Any) -> str:
    if isinstance(value, list | tuple | set):
        return ", ".join(_inner(v) for v in value) or NOTHING
    if isinstance(value, dict):
        return _record(value)
    return str(plain(value))


def _record(row: dict[Any, Any]) -> str:
    """A record inside a list (a checklist item, a finding): its filled values, dash-separated."""
    return " — ".join(_inner(v) for v in row.values() if v not in (None, "", [], {})) or NOTHING


def code_titles(schema: Any) -> dict[str, str]:
    """The title of every code a form offers as a titled choice (``oneOf``/``anyOf`` of ``const`` with a
    ``title``), anywhere in ``schema``: {"context_changes": "Changes of context"}."""
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


def environment(titles: dict[str, str] | None = None) -> SandboxedEnvironment:
    """The sandbox the instructions render in, every ``{{ value }}`` through ``plain`` (its codes among
    ``titles`` first read as their titles)."""
    if not titles:
        return SandboxedEnvironment(autoescape=True, finalize=plain)
    known = dict(titles)
    return SandboxedEnvironment(autoescape=True, finalize=lambda value: plain(titled(value, known)))
