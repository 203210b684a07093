"""What a form's validation errors say to the person filling it in: the field by its title, then what is
wanted, in plain words ("Risk reference: enter a reference like RSK-12", "Valid until: must be on or
before 5 June 2027"). Never JSON-Schema wording, process variables or element ids.

One small function per JSON Schema keyword (:data:`MESSAGES`); a keyword without one says that the
answer is not accepted, naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any

from engine.core.words import choices, humanize

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")

LOCAL_REF = re.compile(r"^#/\$defs/([^/]+)$")


def inline_refs(schema: Any, root: dict[str, Any] | None = None, depth: int = 0) -> Any:
    """``schema`` with every local ``{"$ref": "#/$defs/name"}`` replaced by that definition (merged with
    the keywords beside it), so widgets, titles and messages see what the reference stands for."""
    root = schema if root is None else root
    if depth > 20:  # a definition that refers to itself: leave the rest as it is
        return schema
    if isinstance(schema, list):
        return [inline_refs(item, root, depth + 1) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    ref = schema.get("$ref")
    match = LOCAL_REF.match(ref) if isinstance(ref, str) else None
    if match and isinstance(root.get("$defs"), dict) and match.group(1) in root["$defs"]:
        out.update(inline_refs(root["$defs"][match.group(1)], root, depth + 1))
    for key, value in schema.items():
        if key == "$ref" and match:
            continue
        if key in ("enum", "const", "examples", "default", "required"):
            out[key] = value
        else:
            out[key] = inline_refs(value, root, depth + 1)
    return out


def subschema(root: dict[str, Any], parts: list[Any]) -> dict[str, Any]:
    """The schema that describes the data at ``parts`` (property names and row numbers) below ``root``;
    an empty dict where the schema says nothing."""
    node: Any = root
    for part in parts:
        if not isinstance(node, dict):
            return {}
        if isinstance(part, int):
            node = node.get("items")
        else:
            node = (node.get("properties") or {}).get(part)
    return node if isinstance(node, dict) else {}


def title_at(root: dict[str, Any], parts: list[Any]) -> str:
    """The field's title as the form shows it; inside a repeating group, with its row:
    "Action owner (Actions, row 2)"."""
    if not parts:
        return "The form"
    here = subschema(root, parts)
    name = next((p for p in reversed(parts) if isinstance(p, str)), "")
    title = str(here.get("title") or humanize(name))
    rows = [(i, p) for i, p in enumerate(parts) if isinstance(p, int)]
    if rows:
        i, row = rows[-1]
        group = subschema(root, parts[:i])
        group_name = next((p for p in reversed(parts[:i]) if isinstance(p, str)), "")
        group_title = str(group.get("title") or humanize(group_name))
        items: dict[str, Any] = group["items"] if isinstance(group.get("items"), dict) else {}
        if i == len(parts) - 1:  # the row itself, or one entry of a list
            word = "row" if items.get("type") == "object" or isinstance(items.get("properties"), dict) else "entry"
            return f"{group_title}, {word} {row + 1}"
        title = f"{title} ({group_title}, row {row + 1})"
    return title


def human_date(value: str) -> str:
    """``2027-06-05`` as "5 June 2027" (a date-time with its time); other text unchanged."""
    try:
        if "T" in value:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return f"{moment.day} {MONTHS[moment.month - 1]} {moment.year}, {moment:%H:%M}"
        day = date.fromisoformat(value)
    except ValueError:
        return value
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def _options(schema: dict[str, Any]) -> list[str]:
    return [words for _value, words in choices(schema)]


def _in_words(items: list[str], word: str = "or") -> str:
    if len(items) < 2:
        return "".join(items)
    return f"{', '.join(items[:-1])} {word} {items[-1]}"


def _is_confirmation(schema: dict[str, Any]) -> bool:
    return schema.get("const") is True


def _what(schema: dict[str, Any]) -> str:
    """How the field is filled in, for "this is required": choose, tick, add or fill in."""
    items: dict[str, Any] = schema["items"] if isinstance(schema.get("items"), dict) else {}
    if _is_confirmation(schema):
        return "please confirm this by ticking the box"
    if schema.get("format") == "email":
        return "choose a person"
    if schema.get("x-ref"):
        return "choose one"
    if _options(schema):
        return "choose one"
    if schema.get("type") == "boolean":
        return "choose yes or no"
    if schema.get("type") == "array":
        if _options(items) or items.get("x-ref"):
            return "choose at least one"
        return "add at least one"
    if schema.get("x-file"):
        return "upload a file"
    if schema.get("format") in ("date", "date-time"):
        return "enter a date"
    return "fill this in"


def example_of(schema: dict[str, Any]) -> str | None:
    """An example of a value the field takes: its ``examples``, else a short one read off its pattern."""
    examples = schema.get("examples")
    if isinstance(examples, list) and examples:
        return str(examples[0])
    pattern = schema.get("pattern")
    return _example_from_pattern(pattern) if isinstance(pattern, str) else None


_ATOMS = {r"\d": "1", "[A-Z]": "A", "[0-9A-Z-]": "A", "[A-Z0-9-]": "A", "[A-Za-z0-9]": "A",
          "[A-Za-z0-9._-]": "a", r"\.": ".", "[01]": "0", "[0-5]": "0", r"\w": "a"}


def _example_from_pattern(pattern: str) -> str | None:
    """A value matching a simple pattern (literals, classes, groups, the first of alternatives, + * ? and
    {n}); None when the pattern is beyond that."""
    text = pattern.removeprefix("^").removesuffix("$")
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "(":  # a group: its first alternative, once
            depth, j = 0, i
            while j < len(text):
                depth += {"(": 1, ")": -1}.get(text[j], 0)
                if depth == 0:
                    break
                j += 1
            inner = text[i + 1:j]
            first = _split_top(inner)[0]
            piece = _example_from_pattern(first)
            if piece is None:
                return None
            i = j + 1
            if i < len(text) and text[i] in "*?":
                i += 1
                continue
            if i < len(text) and text[i] == "+":
                i += 1
            out.append(piece)
            continue
        atom = None
        for known, value in _ATOMS.items():
            if text.startswith(known, i):
                atom, i = value, i + len(known)
                break
        if atom is None:
            if ch in "[]{}\\|*+?.":
                return None
            atom, i = ch, i + 1
        count = 1
        if i < len(text) and text[i] in "*?":
            count, i = 0, i + 1
        elif i < len(text) and text[i] == "+":
            count, i = (2 if atom == "1" else 1), i + 1
        elif i < len(text) and text[i] == "{":
            end = text.find("}", i)
            if end < 0 or not text[i + 1:end].split(",")[0].isdigit():
                return None
            count, i = int(text[i + 1:end].split(",")[0]), end + 1
        out.append(("2026" + "1" * count)[:count] if atom == "1" and count == 4 else
                   ("12" * count)[:count] if atom == "1" else atom * count)
    return "".join(out)


def _split_top(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "|" and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _pattern(schema: dict[str, Any], error: Any) -> str:
    example = example_of(schema)
    thing = "a reference" if schema.get("x-ref") else "a value"
    if example:
        return f"enter {thing} like {example}"
    if schema.get("description"):
        return f"enter {schema['description']}"
    return "this is not in the expected form"


def _format(schema: dict[str, Any], error: Any) -> str:
    return {
        "date": "enter a date (day, month and year)",
        "date-time": "enter a date and a time",
        "email": "enter an e-mail address",
        "duration": "enter a duration like P30D (30 days) or P1Y (a year)",
    }.get(str(error.validator_value), "this is not in the expected form")


def _type(schema: dict[str, Any], error: Any) -> str:
    wanted = error.validator_value if isinstance(error.validator_value, str) else "string"
    return {
        "integer": "enter a whole number",
        "number": "enter a number",
        "boolean": "choose yes or no",
        "array": "choose or add entries",
        "object": "fill in the fields of this section",
        "string": "enter text",
        "null": "leave this empty",
    }.get(wanted, "this answer is not accepted")


def _enum(schema: dict[str, Any], error: Any) -> str:
    options = _options(schema) or [humanize(str(v)) for v in error.validator_value]
    if len(options) > 8:
        return "choose one of the options in the list"
    return f"choose one of {_in_words(options)}"


def _const(schema: dict[str, Any], error: Any) -> str:
    if error.validator_value is True:
        return "please confirm this by ticking the box"
    if error.validator_value is False:
        return "leave this unticked"
    return f"must be {humanize(str(error.validator_value))}"


def _number(word: str) -> Callable[[dict[str, Any], Any], str]:
    def message(schema: dict[str, Any], error: Any) -> str:
        return f"must be {word} {error.validator_value}"
    return message


def _min_length(schema: dict[str, Any], error: Any) -> str:
    n = error.validator_value
    return "fill this in" if n <= 1 else f"write at least {n} characters (now {len(str(error.instance))})"


def _max_length(schema: dict[str, Any], error: Any) -> str:
    return f"use at most {error.validator_value} characters (now {len(str(error.instance))})"


def _min_items(schema: dict[str, Any], error: Any) -> str:
    n = error.validator_value
    verb = "choose" if _what(schema) == "choose at least one" else "add"
    return f"{verb} at least one" if n <= 1 else f"{verb} at least {n}"


def _max_items(schema: dict[str, Any], error: Any) -> str:
    n = error.validator_value
    verb = "choose" if _what(schema) == "choose at least one" else "add"
    return f"{verb} at most one" if n == 1 else f"{verb} at most {n}"


def _contains(schema: dict[str, Any], error: Any) -> str:
    wanted = error.validator_value
    if isinstance(wanted, dict) and "const" in wanted:
        return f"must include {humanize(str(wanted['const']))}"
    return "must include one of the expected entries"


#: keyword -> message (the field's title goes in front)
MESSAGES: dict[str, Callable[[dict[str, Any], Any], str]] = {
    "type": _type,
    "enum": _enum,
    "const": _const,
    "pattern": _pattern,
    "format": _format,
    "minLength": _min_length,
    "maxLength": _max_length,
    "minimum": _number("at least"),
    "maximum": _number("at most"),
    "exclusiveMinimum": _number("more than"),
    "exclusiveMaximum": _number("less than"),
    "minItems": _min_items,
    "maxItems": _max_items,
    "uniqueItems": lambda schema, error: "each entry may appear only once",
    "contains": _contains,
}


def plain(root: dict[str, Any], error: Any) -> Iterator[tuple[str, str]]:
    """(path, "Title: what is wanted") for one jsonschema error against the form ``root`` (whose local
    ``$ref`` are inlined). A missing field is named at its own path; a forbidden one likewise."""
    parts = list(error.absolute_path)
    validator = error.validator
    if validator == "required":
        named = re.match(r"'(.+)' is a required property", str(error.message))
        for name in [named.group(1)] if named else _missing(error):
            where = parts + [name]
            yield _path(where), f"{title_at(root, where)}: {_what(subschema(root, where))}"
        return
    if validator == "not" and isinstance(error.validator_value, dict) and error.validator_value.get("required"):
        for name in error.validator_value["required"]:  # "then: not required [x]": x must stay empty here
            where = parts + [name]
            yield _path(where), f"{title_at(root, where)}: leave this empty with the answers given above"
        return
    if validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(subschema(root, parts).get("properties") or {})) if isinstance(
            error.instance, dict) else []
        yield _path(parts), f"{title_at(root, parts)}: {_in_words(extra, 'and')} is not a field of this form"
        return
    if validator in ("anyOf", "oneOf") and isinstance(error.validator_value, list):
        groups: list[list[str]] = [b["required"] for b in error.validator_value
                                   if isinstance(b, dict) and isinstance(b.get("required"), list) and b["required"]]
        if len(groups) == len(error.validator_value):
            names = [title_at(root, parts + [g[0]]) for g in groups]
            yield _path(parts), f"{title_at(root, parts)}: fill in at least one of {_in_words(names)}"
            return
        if all(isinstance(b, dict) and "const" in b for b in error.validator_value):  # a choice with titles
            yield _path(parts), f"{title_at(root, parts)}: {_enum(subschema(root, parts), error)}"
            return
    schema = subschema(root, parts)
    here = {**schema, **(error.schema if isinstance(error.schema, dict) else {})}
    for key in ("title", "x-ref", "format", "items", "examples", "description"):
        if key in schema:
            here[key] = schema[key]
    message = MESSAGES.get(str(validator))
    text = message(here, error) if message else "this answer is not accepted"
    yield _path(parts), f"{title_at(root, parts)}: {text}"


def _missing(error: Any) -> list[str]:
    wanted = error.validator_value if isinstance(error.validator_value, list) else []
    have = error.instance if isinstance(error.instance, dict) else {}
    return [name for name in wanted if isinstance(name, str) and name not in have]


def _path(parts: list[Any]) -> str:
    return "/".join(str(p) for p in parts)
