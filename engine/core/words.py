"""Codes in words: what a page says where it only has a code (a field's key, a stored choice, a step id)
and nothing gave it a title. One word list for every page, form message and register, so the same code
reads the same everywhere: ``ai_system`` -> "AI system", ``risk_owner_id`` -> "Risk owner". The
installed domain adds the words of its own codes (``Domain.words``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.core import domain

#: words of a code said otherwise than in lower case, whatever the domain
WORDS = {"ai": "AI", "ml": "ML", "llm": "LLM", "iso": "ISO", "iec": "IEC", "kpi": "KPI", "gdpr": "GDPR",
         "qa": "QA", "url": "URL", "api": "API"}

_merged: tuple[object, dict[str, str]] = (None, WORDS)


def _words() -> Mapping[str, str]:
    """The core's words and the installed domain's (merged once per domain)."""
    global _merged
    try:
        installed = domain.current()
    except RuntimeError:  # no domain yet: the core's words alone
        return WORDS
    if _merged[0] is not installed:
        _merged = (installed, {**WORDS, **installed.words})
    return _merged[1]


def humanize(code: str, domain_words: Mapping[str, str] | None = None) -> str:
    """``code`` in words: a reference to a person or record (``_id``, ``_ids``) by what it names, each
    word of the code as the word lists say it (the installed domain's, or ``domain_words`` for words
    wanted before a domain is installed), the first letter capitalised. A code of no words comes back
    as it is."""
    known = _words() if domain_words is None else {**WORDS, **domain_words}
    words = [known.get(w.lower(), w) for w in code.removesuffix("_ids").removesuffix("_id").split("_") if w]
    if not words:
        return code
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])


def choices(schema: dict[str, Any]) -> list[tuple[Any, str]]:
    """(value, words) of each choice a JSON Schema offers: an ``enum`` (each value in words) or a
    ``oneOf``/``anyOf`` of ``const`` (its ``title``, else the value in words); none otherwise."""
    if isinstance(schema.get("enum"), list):
        return [(v, humanize(str(v))) for v in schema["enum"]]
    branches = schema.get("oneOf") or schema.get("anyOf")
    if isinstance(branches, list) and all(isinstance(b, dict) and "const" in b for b in branches):
        return [(b["const"], str(b.get("title") or humanize(str(b["const"])))) for b in branches]
    return []
