"""The fields of a register definition and what each kind of field does: its marshmallow field (which
accepts the typed value an API client sends as well as the text a form or a spreadsheet cell holds), how
its value reads as text in a CSV or XLSX cell, and its rule in words (the import template).

A field's *plain* value is what people and API clients see and send: text, a choice's code, a list of
codes, yes/no, a date, a number, a user's e-mail address, another row's reference. The register
definition (``register_specs``) maps plain values to the stored columns (user ids, row ids).

Messages name the field by its label and say what is wrong in plain words ("Due date: must be a date
like 2027-03-31"), never a column name or a schema keyword.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import marshmallow as ma

from engine.core.words import humanize

#: what separates the items of a list in one cell or one form line
LIST_SEPARATOR = "; "
_SPLIT = re.compile(r"[;\n]")
_YES = {"yes", "y", "true", "1", "x", "on"}
_NO = {"no", "n", "false", "0", "off", ""}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Field:
    """One field of a register as people see it.

    ``key`` names it in the API and is accepted as a column heading; ``label`` is its name on the pages
    and the heading of export columns. ``attr`` is the model attribute (default: ``key``). ``editable``
    False: shown and exported, set by the flows (an import leaves it alone). ``choices`` are
    ``(code, label)``; ``target`` names the register a ``ref``/``refs`` field points at. ``past_only``: a
    date that cannot be in the future (what was measured or done). ``zero``: what a stored 0 means, in
    the words pages show instead of the number (an evidence item's revision 0: "no file yet"); exports
    and the API keep the 0."""

    key: str
    label: str
    kind: str = "text"
    attr: str | None = None
    required: bool = False
    choices: tuple[tuple[str, str], ...] = ()
    max_length: int | None = None
    target: str | None = None
    editable: bool = True
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    past_only: bool = False
    zero: str | None = None

    @property
    def column(self) -> str:
        return self.attr or self.key

    @property
    def many(self) -> bool:
        return self.kind in MANY_KINDS

    def choice_label(self, code: Any) -> str:
        """A stored choice in words: its label, or (a code no choice declares) the code in words. Pages
        say this; exports, imports and the API keep the code."""
        if code is None or code == "":
            return ""
        return dict(self.choices).get(code) or humanize(str(code))


MANY_KINDS = frozenset({"choices", "refs", "lines"})


# --------------------------------------------------------------------------- marshmallow fields

def _text_of(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _items(value: Any) -> list[str]:
    """A list from a list, or from text separated by ``;`` or new lines; blanks dropped."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        parts = [_text_of(v) for v in value]
    else:
        parts = [p.strip() for p in _SPLIT.split(_text_of(value))]
    return [p for p in parts if p]


class _Base(ma.fields.Field):
    def __init__(self, spec: Field, **kwargs: Any):
        self.spec = spec
        messages: dict[str, Any] = {"required": "is required", "null": "is required", "invalid": "is not valid"}
        super().__init__(allow_none=not spec.required, error_messages=messages, **kwargs)

    def fail(self, message: str) -> ma.ValidationError:
        return ma.ValidationError(message)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        return self.parse(value)

    def parse(self, value: Any) -> Any:  # pragma: no cover - every kind overrides it
        raise NotImplementedError


class TextField(_Base):
    def parse(self, value: Any) -> str:
        if isinstance(value, list | dict):
            raise self.fail("must be text")
        text = _text_of(value)
        if self.spec.max_length and len(text) > self.spec.max_length:
            raise self.fail(f"must be at most {self.spec.max_length} characters (it has {len(text)})")
        return text


class ChoiceField(_Base):
    def parse(self, value: Any) -> str | None:
        text = _text_of(value)
        if not text:
            return None
        return _choice(self.spec, text, self.fail)


def _choice(spec: Field, text: str, fail: Any) -> str:
    """The code of ``text`` (a code or a label, any case)."""
    for code, label in spec.choices:
        if text.lower() in (code.lower(), label.lower()):
            return code
    allowed = ", ".join(label for _, label in spec.choices)
    raise fail(f"{text!r} is not one of the choices ({allowed})")


class ChoicesField(_Base):
    def parse(self, value: Any) -> list[str]:
        return [_choice(self.spec, item, self.fail) for item in _items(value)]


class LinesField(_Base):
    def parse(self, value: Any) -> list[str]:
        items = _items(value)
        for item in items:
            if self.spec.max_length and len(item) > self.spec.max_length:
                raise self.fail(f"each entry must be at most {self.spec.max_length} characters")
        return items


class BoolField(_Base):
    def parse(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        text = _text_of(value).lower()
        if text in _YES:
            return True
        if text in _NO:
            return False
        raise self.fail(f"must be yes or no, not {_text_of(value)!r}")


class DateField(_Base):
    def parse(self, value: Any) -> date | None:
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        text = _text_of(value)
        if not text:
            return None
        try:
            return date.fromisoformat(text[:10]) if re.match(r"^\d{4}-\d{2}-\d{2}([T ].*)?$", text) else _bad()
        except ValueError:
            raise self.fail(f"must be a date like 2027-03-31, not {text!r}") from None


def _bad() -> date:
    raise ValueError


class NumberField(_Base):
    def parse(self, value: Any) -> float | int | None:
        if isinstance(value, bool):
            raise self.fail("must be a number")
        text = _text_of(value)
        if not text:
            return None
        try:
            number: float | int = int(text) if self.spec.kind == "integer" else float(text.replace(",", "."))
        except ValueError:
            word = "a whole number" if self.spec.kind == "integer" else "a number"
            raise self.fail(f"must be {word}, not {text!r}") from None
        if isinstance(number, float) and not math.isfinite(number):
            raise self.fail("must be a finite number")
        if self.spec.minimum is not None and number < self.spec.minimum:
            raise self.fail(f"must be at least {_text_of(self.spec.minimum)}")
        if self.spec.maximum is not None and number > self.spec.maximum:
            raise self.fail(f"must be at most {_text_of(self.spec.maximum)}")
        return number


class UserField(_Base):
    def parse(self, value: Any) -> str | None:
        text = _text_of(value).lower()
        if not text:
            return None
        if not _EMAIL.match(text):
            raise self.fail(f"must be a person's e-mail address, not {_text_of(value)!r}")
        return text


class RefField(_Base):
    def parse(self, value: Any) -> str | None:
        text = _text_of(value)
        return text or None


class RefsField(_Base):
    def parse(self, value: Any) -> list[str]:
        return _items(value)


#: kind -> its marshmallow field, and its rule in words (the import template)
KINDS: dict[str, tuple[type[_Base], str]] = {
    "text": (TextField, "text"),
    "longtext": (TextField, "text (may be long)"),
    "choice": (ChoiceField, "one of: {choices}"),
    "choices": (ChoicesField, "any of: {choices}; several separated by ;"),
    "lines": (LinesField, "a list; entries separated by ;"),
    "bool": (BoolField, "yes or no"),
    "date": (DateField, "a date like 2027-03-31"),
    "number": (NumberField, "a number"),
    "integer": (NumberField, "a whole number"),
    "user": (UserField, "the e-mail address of an active user"),
    "ref": (RefField, "the reference of a row of {target}"),
    "refs": (RefsField, "references of rows of {target}, separated by ;"),
}


def rule(spec: Field, target_label: str = "") -> str:
    """The field's rule in words: ``required; one of: Low, Medium, High``."""
    words = KINDS[spec.kind][1].format(choices=", ".join(label for _, label in spec.choices),
                                       target=target_label or spec.target or "")
    if spec.max_length and spec.kind in ("text", "longtext"):
        words += f", at most {spec.max_length} characters"
    if spec.minimum is not None or spec.maximum is not None:
        words += f" from {_text_of(spec.minimum)}" if spec.minimum is not None else ""
        words += f" to {_text_of(spec.maximum)}" if spec.maximum is not None else ""
    if not spec.editable:
        return f"set by the flows; {words} (an import leaves it alone)"
    return ("required; " if spec.required else "optional; ") + words + (f". {spec.help}" if spec.help else "")


def schema_for(fields: list[Field]) -> ma.Schema:
    """A marshmallow schema over the editable fields (``partial`` loads take only the keys given)."""
    declared: dict[str, Any] = {f.key: KINDS[f.kind][0](f, required=f.required) for f in fields if f.editable}
    return ma.Schema.from_dict(declared)()


# --------------------------------------------------------------------------- text in cells

def to_text(spec: Field, value: Any) -> str:
    """A plain value as it reads in a cell or a form input: lists joined by ``; ``, yes/no, ISO dates."""
    if value is None:
        return ""
    if spec.many:
        return LIST_SEPARATOR.join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return _text_of(value)


def same(spec: Field, a: Any, b: Any) -> bool:
    """Whether two plain values of ``spec`` are the same (blank text equals none; numbers by value)."""
    if spec.kind in ("number", "integer") and a is not None and b is not None:
        return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=0.0)
    return to_text(spec, a) == to_text(spec, b)
