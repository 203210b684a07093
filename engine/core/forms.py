"""User-task forms: JSON Schema (draft 2020-12) files, checked at deploy time and applied to every
submission before anything changes.

A submission that does not fit raises :class:`ValidationError` listing every failing field path, each
message in plain words naming the field by its title (``form_messages``).
Fields that pick a user (``"format": "email"`` with ``"x-user-roles": [...]``) must name an active
user holding one of those roles. A top-level field with ``"x-max-from": "request.max_valid_until"`` may
not exceed the number or ISO date found at that dotted path in the task's data (a residual score no
higher than the inherent one, an acceptance no longer than its level allows). A field with
``"x-ref": "<kind>"`` names a record by its reference (``EVD-014``); ``ref_check`` says when there is
no such record, so a bad reference is an error next to its field, before anything runs.
An integer field with ``"x-choices-from": {"items": "root_causes", "label": "cause"}`` is a choice among
the items of that list in the task's data, each offered by its ``label`` (the item itself when it is
text); the value kept is the item's index. An index with no item is refused in words: "choose one of"
the keyword's ``"what"`` ("the root causes found in the analysis"; default "the options listed").
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError

from engine.core.durations import is_duration
from engine.core.errors import FieldError, ValidationError
from engine.core.form_messages import human_date, inline_refs, plain, subschema, title_at
from engine.core.properties import lookup_path

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

_FORMATS = FormatChecker(formats=())


@_FORMATS.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    if isinstance(value, str):
        date.fromisoformat(value)
    return True


@_FORMATS.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    if isinstance(value, str):
        if "T" not in value and " " not in value:
            raise ValueError("a date-time needs a time part")
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@_FORMATS.checks("email")
def _is_email(value: object) -> bool:
    return not isinstance(value, str) or ("@" in value and " " not in value.strip())


@_FORMATS.checks("duration")
def _is_duration(value: object) -> bool:
    return not isinstance(value, str) or is_duration(value)


def schema_problems(schema: Any) -> list[str]:
    """What is wrong with a form schema (empty when it is usable). Checking a schema against the
    metaschema takes tens of milliseconds and every deploy re-checks the forms it references, so the
    answer is kept per schema content."""
    if not isinstance(schema, dict):
        return ["a form schema must be a JSON object"]
    try:
        canonical = json.dumps(schema, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return _schema_problems(schema)
    return list(_checked(canonical))


@lru_cache(maxsize=512)
def _checked(canonical: str) -> tuple[str, ...]:
    return tuple(_schema_problems(json.loads(canonical)))


def _schema_problems(schema: dict[str, Any]) -> list[str]:
    problems = []
    if schema.get("$schema") not in (None, SCHEMA_DIALECT):
        problems.append(f"$schema must be {SCHEMA_DIALECT} (draft 2020-12), not {schema.get('$schema')!r}")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "(root)"
        problems.append(f"not a valid JSON Schema at {where}: {exc.message}")
    if schema.get("type") not in (None, "object"):
        problems.append("a form schema must describe an object (type: object)")
    problems.extend(_choices_problems(schema, ()))
    return problems


def _choices_problems(schema: Any, path: tuple[str, ...]) -> Iterator[str]:
    """``x-choices-from`` must say where the items are and sit on an integer field (the value is an index)."""
    if isinstance(schema, list):
        for sub in schema:
            yield from _choices_problems(sub, path)
        return
    if not isinstance(schema, dict):
        return
    if "x-choices-from" in schema:
        where = "/".join(path) or "(root)"
        spec = schema["x-choices-from"]
        if not isinstance(spec, dict) or not isinstance(spec.get("items"), str) or not spec["items"]:
            yield (f"x-choices-from at {where} must be an object naming the list in the task data: "
                   '{"items": "root_causes", "label": "cause"}')
        elif any(k in spec and not isinstance(spec[k], str) for k in ("label", "what")):
            yield f"x-choices-from at {where}: label and what must be text"
        if schema.get("type") != "integer":
            yield f"x-choices-from at {where} needs \"type\": \"integer\" (the value kept is the item's index)"
    for key, sub in schema.items():
        if key in ("properties", "$defs", "definitions", "patternProperties") and isinstance(sub, dict):
            for name, inner in sub.items():
                yield from _choices_problems(inner, path + (str(name),))
        elif key in ("items", "allOf", "anyOf", "oneOf", "then", "else", "if", "not"):
            yield from _choices_problems(sub, path)


def has_choices(schema: Any) -> bool:
    """Whether a form has a field that chooses among the task data's items (``x-choices-from``)."""
    return isinstance(schema, dict) and '"x-choices-from"' in json.dumps(schema)


def choice_items(field: dict[str, Any], task_data: dict[str, Any] | None) -> list[str] | None:
    """The words of each item an ``x-choices-from`` field offers, in order (the index is the value), read
    from ``task_data``; None without task data (the forms editor's preview), [] when it holds no such list."""
    spec = field.get("x-choices-from")
    if not isinstance(spec, dict) or task_data is None:
        return None
    items = lookup_path(task_data, str(spec.get("items") or ""))
    if not isinstance(items, list):
        return []
    label = spec.get("label")
    return [_item_words(item, label, index) for index, item in enumerate(items)]


def _item_words(item: Any, label: Any, index: int) -> str:
    if isinstance(item, dict):
        text = item.get(label) if isinstance(label, str) else None
        return str(text) if text not in (None, "") else f"Item {index + 1}"
    return str(item)


def choice_words(field: dict[str, Any], value: Any, task_data: dict[str, Any] | None) -> str | None:
    """The words of the item an ``x-choices-from`` value names (None when there is no such item)."""
    words = choice_items(field, task_data)
    if words is None or not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < len(words):
        return None
    return words[value]


def with_choice_words(schema: Any, task_data: dict[str, Any] | None) -> Any:
    """``schema`` with every ``x-choices-from`` field also offering its items the standard JSON Schema way,
    ``"oneOf": [{"const": index, "title": words}, ...]`` read from ``task_data``: what an API client or a
    generic form renderer shows (the keyword itself names a list in the task data only this engine reads).
    A field with no items to offer is left as it is; ``schema`` itself is not changed."""
    if isinstance(schema, list):
        return [with_choice_words(item, task_data) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: with_choice_words(value, task_data) for key, value in schema.items()}
    words = choice_items(schema, task_data)
    if words:
        out["oneOf"] = [{"const": index, "title": text} for index, text in enumerate(words)]
    return out


def load_form(path: Path, max_bytes: int = 500_000) -> dict[str, Any]:
    """Read one ``forms/<name>.schema.json``. Raises ValueError naming the file and the problem."""
    if not path.is_file():
        raise ValueError(f"form file {path.name} does not exist")
    raw = path.read_bytes()
    if len(raw) > max_bytes:
        raise ValueError(f"form file {path.name} is larger than {max_bytes} bytes")
    try:
        schema = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"form file {path.name} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    problems = schema_problems(schema)
    if problems:
        raise ValueError(f"form file {path.name}: " + "; ".join(problems))
    return schema


#: ``user_check(email, roles)``: why that address names no eligible user (None when it does)
UserCheck = Callable[[str, list[str]], str | None]
#: ``ref_check(value, kind)``: why there is no record of ``kind`` with that reference (None when there is)
RefCheck = Callable[[str, str], str | None]


def validate(schema: dict[str, Any], data: Any, user_check: UserCheck | None = None,
             form: str = "form", task_data: dict[str, Any] | None = None,
             ref_check: RefCheck | None = None) -> dict[str, Any]:
    """Validate ``data`` against ``schema``; return it unchanged when it fits.

    ``user_check`` and ``ref_check`` name user and reference fields whose value names nobody or no
    record; ``task_data`` resolves ``x-max-from`` bounds and ``x-choices-from`` items. Raises
    ValidationError with one FieldError per failing field, its message "Title: what is wanted".
    """
    if not isinstance(data, dict):
        raise ValidationError(f"{form}: the submission must be a JSON object",
                              [FieldError("", f"expected an object, got {type(data).__name__}")])
    validator = _validator(schema)
    root = expanded(schema)
    errors: list[FieldError] = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path))):
        errors.extend(FieldError(path, message) for path, message in plain(root, error))
    failing = {e.path for e in errors}
    if user_check is not None:
        for path, value, roles in _marked_fields(root, data, (), "x-user-roles"):
            message = None if _path(path) in failing else user_check(value, list(roles or []))
            if message:
                errors.append(FieldError(_path(path), f"{title_at(root, list(path))}: {message}"))
    if ref_check is not None:
        for path, value, kind in _marked_fields(root, data, (), "x-ref"):
            message = None if _path(path) in failing else ref_check(value, str(kind))
            if message:
                errors.append(FieldError(_path(path), f"{title_at(root, list(path))}: {message}"))
    if task_data is not None:
        errors.extend(e for e in _bound_errors(root, data, task_data) if e.path not in failing)
        errors.extend(e for e in _choice_errors(root, data, task_data) if e.path not in failing)
    if errors:
        raise ValidationError(f"{form}: the submission does not fit the form", _unique(errors))
    return data


def _unique(errors: list[FieldError]) -> list[FieldError]:
    seen: set[tuple[str, str]] = set()
    out = []
    for error in errors:
        if (error.path, error.message) not in seen:
            seen.add((error.path, error.message))
            out.append(error)
    return out


_EXPANDED: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}


def expanded(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its local ``$ref`` inlined (cached per schema object, like the validators)."""
    entry = _EXPANDED.get(id(schema))
    if entry is None or entry[0] is not schema:
        if len(_EXPANDED) > 512:
            _EXPANDED.clear()
        entry = _EXPANDED[id(schema)] = (schema, inline_refs(schema))
    return entry[1]


def _bound_errors(schema: dict[str, Any], data: dict[str, Any], task_data: dict[str, Any]) -> list[FieldError]:
    """``x-max-from`` on top-level fields: the value may not exceed the one at that path in the task data."""
    errors = []
    for key, sub in (schema.get("properties") or {}).items():
        path = sub.get("x-max-from") if isinstance(sub, dict) else None
        if not path or data.get(key) is None:
            continue
        bound = lookup_path(task_data, path)
        value = data[key]
        comparable = (isinstance(value, int | float) and isinstance(bound, int | float)
                      and not isinstance(value, bool)) or (isinstance(value, str) and isinstance(bound, str))
        if comparable and value > bound:
            title = title_at(schema, [key])
            if isinstance(bound, str):
                errors.append(FieldError(key, f"{title}: must be on or before {human_date(bound)}"))
            else:
                errors.append(FieldError(key, f"{title}: must be at most {bound}"))
    return errors


def _choice_errors(schema: dict[str, Any], data: dict[str, Any], task_data: dict[str, Any]) -> list[FieldError]:
    """``x-choices-from`` anywhere in the form: the index must name an item of the task data's list."""
    errors = []
    for path, value, spec in _marked_fields(schema, data, (), "x-choices-from", (int,)):
        words = choice_items(subschema(schema, list(path)), task_data) or []
        if isinstance(value, bool) or not 0 <= value < len(words):
            what = spec.get("what") if isinstance(spec, dict) and spec.get("what") else "the options listed"
            errors.append(FieldError(_path(path), f"{title_at(schema, list(path))}: choose one of {what}"))
    return errors


_VALIDATORS: dict[int, tuple[dict[str, Any], Draft202012Validator]] = {}


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    """A validator per schema object (deployed schemas are long-lived and never mutated)."""
    entry = _VALIDATORS.get(id(schema))
    if entry is None or entry[0] is not schema:
        if len(_VALIDATORS) > 512:
            _VALIDATORS.clear()
        entry = _VALIDATORS[id(schema)] = (schema, Draft202012Validator(schema, format_checker=_FORMATS))
    return entry[1]


def _path(parts: Any) -> str:
    return "/".join(str(p) for p in parts)


def _marked_fields(schema: Any, data: Any, path: tuple[Any, ...], mark: str,
                   types: tuple[type, ...] = (str,)) -> Iterator[tuple[tuple[Any, ...], Any, Any]]:
    """(path, value, the mark's value) for every value of ``types`` in ``data`` whose schema carries
    ``mark`` (``x-user-roles`` for user pickers, ``x-ref`` for references, ``x-choices-from`` for
    choices among the task data's items)."""
    if not isinstance(schema, dict):
        return
    if mark in schema and isinstance(data, types):
        yield path, data, schema.get(mark)
        return
    if isinstance(data, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key in data:
                yield from _marked_fields(sub, data[key], path + (key,), mark, types)
    elif isinstance(data, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(data):
            yield from _marked_fields(schema["items"], item, path + (index,), mark, types)
