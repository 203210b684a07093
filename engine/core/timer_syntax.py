"""What a BPMN timer may say, as other modelers write it: ISO 8601 or a Python expression.

A timer's ``timeDate``, ``timeDuration`` or ``timeCycle`` is read in this order:

1. **an ISO 8601 literal**, quoted or not, as Camunda Modeler and bpmn.io write it: a date-time
   (``2027-01-01T09:00:00Z``, ``2027-01-01T09:00:00+02:00``, a date alone ``2027-01-01`` = midnight;
   no offset = UTC), a duration (``P7D``, ``PT1H``, ``P1Y2M``, ``P2W``) or a repeating interval
   (``R3/PT1H``, ``R/P1D``, ``R3/2027-01-01T09:00:00Z/P1D``, ``R2/P1D/2027-03-01T00:00:00Z``);
2. **otherwise a Python expression** over the process data (``deadline``, ``cooling_off or "P3D"``),
   run in the sandbox when the timer is armed; its value must then be ISO 8601 of the timer's kind
   (a date-time may also be a ``datetime``).

Text that starts like ISO 8601 (``P7X``, ``2027-13-01``, ``R3/PT1X``) but is not valid is an error,
never a variable name. :func:`lint` checks every timer of a diagram at deploy time;
:func:`runtime_value` checks an expression's value when the timer is armed. Every message names the
timer by its name, says what is wrong and how to write it instead.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from engine.core.durations import is_duration

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
KINDS = ("timeDate", "timeDuration", "timeCycle")

EXAMPLES = {
    "timeDate": "2027-01-01T09:00:00Z or 2027-01-01T09:00:00+02:00 (a date alone, 2027-01-01, means midnight UTC)",
    "timeDuration": "P7D (7 days), PT4H (4 hours), P1M (a month) or P2W (2 weeks)",
    "timeCycle": "R3/PT1H (3 times, an hour apart), R/P1D (every day, no end) or R3/2027-01-01T09:00:00Z/P1D "
                 "(3 times, daily from that moment)",
}
_WHAT = {"timeDate": "an ISO 8601 date-time", "timeDuration": "an ISO 8601 duration",
         "timeCycle": "an ISO 8601 repeating interval"}

# text that can only be meant as ISO 8601: a duration, a repetition or a calendar date/week
_LOOKS_ISO = re.compile(r"^(?:R\d*/|P\d|PT\d|\d{4}-?\d{2}|\d{4}-?W\d)"  # how it starts
                        r"[0-9A-Za-z:+\-.,/]*(?: \d{2}:[0-9A-Za-z:+\-.,]*)?$")  # one token (a date, a time)
_DATE_START = re.compile(r"^\d{4}-?(?:\d{2}|W\d)")
_CRON = re.compile(r"^\S+(?:\s+\S+){4,6}$")


class TimerSyntaxError(ValueError):
    """A timer text or value that is not what its kind needs; the message says what to write."""


def quote(text: str, limit: int = 80) -> str:
    """``text`` in quotation marks for a message, shortened when long."""
    text = " ".join(text.split())
    return f"“{text if len(text) <= limit else text[:limit - 1] + '…'}”"


# --------------------------------------------------------------------------- ISO 8601 pieces

def parse_date_time(text: str) -> datetime:
    """An ISO 8601 date-time or date (week dates too) -> aware UTC. No offset means UTC.
    Raises TimerSyntaxError."""
    stripped = text.strip()
    if not _DATE_START.match(stripped):
        raise TimerSyntaxError(f"{quote(stripped)} is not {_WHAT['timeDate']}")
    try:
        value = datetime.fromisoformat(stripped)
    except ValueError as exc:
        raise TimerSyntaxError(f"{quote(stripped)} is not {_WHAT['timeDate']} ({exc})") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _duration(text: str) -> str:
    candidate = text.strip().upper()
    if not is_duration(candidate):
        raise TimerSyntaxError(f"{quote(text)} is not {_WHAT['timeDuration']}")
    return candidate


def _cycle(text: str) -> str:
    """The normalised repeating interval ``R[n]/...`` (dates with their offset). Raises TimerSyntaxError."""
    stripped = text.strip()
    parts = stripped.split("/")
    head = parts[0].upper()
    if not head.startswith("R") or len(parts) not in (2, 3):
        raise TimerSyntaxError(f"{quote(stripped)} is not {_WHAT['timeCycle']}: it must read R[count]/DURATION, "
                               "R[count]/START/DURATION or R[count]/DURATION/END")
    count = head[1:]
    if count and not count.isdigit():
        raise TimerSyntaxError(f"{quote(stripped)}: the repeat count after R must be a whole number (R3) or "
                               "nothing (R: no end)")
    if count and int(count) == 0:
        raise TimerSyntaxError(f"{quote(stripped)} never fires (R0); write R1 or more, or R alone for no end")
    rest = parts[1:]
    durations = [p for p in rest if is_duration(p.strip().upper())]
    if len(durations) != 1:
        if not durations:
            bad = next((p for p in rest if p.strip().upper().startswith("P")), rest[-1])
            raise TimerSyntaxError(f"{quote(stripped)}: {quote(bad)} is not {_WHAT['timeDuration']}")
        raise TimerSyntaxError(f"{quote(stripped)} gives two durations; give one duration and at most one date")
    normal = [head]
    for part in rest:
        if is_duration(part.strip().upper()):
            normal.append(part.strip().upper())
        else:
            try:
                normal.append(parse_date_time(part).isoformat())
            except TimerSyntaxError:
                raise TimerSyntaxError(f"{quote(stripped)}: {quote(part)} is neither a date-time nor a "
                                       "duration") from None
    return "/".join(normal)


_PARSERS = {"timeDate": lambda text: parse_date_time(text).isoformat(),
            "timeDuration": _duration, "timeCycle": _cycle}


def _kind_of(text: str) -> str | None:
    """Which kind of ISO 8601 ``text`` is, if any (to tell a date put in a timeDuration, and so on)."""
    for kind, parse in _PARSERS.items():
        try:
            parse(text)
        except TimerSyntaxError:
            continue
        return kind
    return None


def normalise(kind: str, text: str) -> str:
    """``text`` (an ISO 8601 literal, unquoted) as the timer of ``kind`` stores it: a duration in
    capitals, a date-time with its UTC offset, a cycle with both. Raises TimerSyntaxError saying
    what to write instead."""
    try:
        return _PARSERS[kind](text)
    except TimerSyntaxError as exc:
        other = _kind_of(text)
        if other is not None and other != kind:
            raise TimerSyntaxError(_wrong_kind(kind, other, text.strip())) from None
        message = str(exc)
        raise TimerSyntaxError(message if "; write" in message else f"{message}; write e.g. {EXAMPLES[kind]}") from None


def _wrong_kind(kind: str, other: str, text: str) -> str:
    noun = {"timeDate": "a date-time", "timeDuration": "a duration", "timeCycle": "a repeating interval"}
    hint = {
        ("timeCycle", "timeDuration"): f"write R/{text} to repeat it without end, R3/{text} for three times, "
                                       "or use a timeDuration to wait once",
        ("timeDuration", "timeCycle"): "use a timeCycle to repeat, or a single duration such as P7D to wait once",
    }.get((kind, other), f"make it a {other} timer, or write {noun[kind]} such as {EXAMPLES[kind]}")
    return f"{quote(text)} is {noun[other]}, not {noun[kind]}; {hint}"


# --------------------------------------------------------------------------- a timer's text

def literal(kind: str, text: str | None) -> str | None:
    """The normalised ISO 8601 value when ``text`` is an ISO 8601 literal (quoted or not), None when
    it is a Python expression. Raises TimerSyntaxError when it is empty, starts like ISO 8601 but is
    not valid, is a quoted text that is not ISO 8601, or is an expression language we do not run."""
    stripped = (text or "").strip()
    if not stripped:
        raise TimerSyntaxError(f"the {kind} is empty; write e.g. {EXAMPLES[kind]}, or a Python expression "
                               "over the process data")
    quoted = _quoted(stripped)
    if quoted is not None:
        return normalise(kind, quoted)
    if _LOOKS_ISO.match(stripped):
        return normalise(kind, stripped)
    if stripped.startswith(("${", "#{", "=")):
        inner = stripped.strip("${}#= ")
        raise TimerSyntaxError(f"{quote(stripped)} is a Camunda/FEEL expression; aimsflow reads Python: write "
                               f"{inner or 'the data field'} (a data field holding ISO 8601) or an ISO 8601 "
                               f"value such as {EXAMPLES[kind].split(' ')[0]}")
    if kind == "timeCycle" and _CRON.match(stripped) and not _is_python(stripped):
        raise TimerSyntaxError(f"{quote(stripped)} looks like a cron expression, which timers do not take; write "
                               f"{EXAMPLES[kind]}")
    return None


def _quoted(text: str) -> str | None:
    """The string a quoted Python literal stands for (``"P7D"``, ``'P7D'``), else None."""
    if len(text) < 2 or text[0] not in "\"'" or text[-1] != text[0]:
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, str) else None


def _is_python(text: str) -> bool:
    try:
        ast.parse(text, mode="eval")
    except SyntaxError:
        return False
    return True


def iso_names(expression: str) -> list[str]:
    """Names in ``expression`` that are ISO 8601 durations (``P7D if urgent else P14D``): meant as
    values, they would be read as data fields."""
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        return []
    return sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and is_duration(n.id.upper())
                   and n.id[0] in "Pp"})


def runtime_value(kind: str, value: Any) -> str:
    """An expression's value, checked and normalised as :func:`normalise` does. Raises
    TimerSyntaxError saying what the value was and what it should be."""
    if isinstance(value, datetime) and kind == "timeDate":
        return (value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)).isoformat()
    if isinstance(value, date) and not isinstance(value, datetime) and kind == "timeDate":
        return datetime(value.year, value.month, value.day, tzinfo=UTC).isoformat()
    if not isinstance(value, str):
        raise TimerSyntaxError(f"gave {_describe(value)}, not {_WHAT[kind]} such as {EXAMPLES[kind]}")
    try:
        return normalise(kind, value)
    except TimerSyntaxError as exc:
        message, shown = str(exc), quote(value)
        if message.startswith(shown + " "):
            raise TimerSyntaxError(f"gave {shown}, which {message[len(shown) + 1:]}") from None
        raise TimerSyntaxError(f"gave {message}") from None


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (the data field is empty or missing)"
    if isinstance(value, bool):
        return "yes/no"
    if isinstance(value, int | float):
        return f"the number {value}"
    return {"list": "a list", "dict": "a group of fields", "tuple": "a list"}.get(type(value).__name__,
                                                                                 "a value of another kind")


# --------------------------------------------------------------------------- lint

def timer_label(name: str | None) -> str:
    return f"the timer “{name}”" if name else "this timer"


def lint(root: Any, check_expression: Any) -> list[tuple[str, str]]:
    """(element id, message) for every timer of the BPMN tree ``root`` whose expression is neither
    valid ISO 8601 of its kind nor a valid expression. ``check_expression(source)`` gives the sandbox's
    refusals of an expression (``sandbox.check_source(source, "eval")``)."""
    problems = []
    behind_gateway = _behind_event_gateways(root)
    for event, kind, text in _timers(root):
        label = timer_label(event.get("name"))
        if kind == "timeCycle" and event.get("id") in behind_gateway:
            problems.append((event.get("id", ""), f"{label}: a timeCycle behind an event-based gateway never fires "
                                                  "(the gateway waits for one event); use a timeDuration or a "
                                                  "timeDate, or a cycle on a boundary event."))
            continue
        try:
            value = literal(kind, text)
        except TimerSyntaxError as exc:
            problems.append((event.get("id", ""), f"{label}: {kind} {exc}."))
            continue
        if value is not None:
            continue
        source = (text or "").strip()
        refusals = check_expression(source)
        if refusals:
            problems.append((event.get("id", ""), f"{label}: {kind} {quote(source)} is neither ISO 8601 "
                                                  f"({EXAMPLES[kind]}) nor a valid expression: {'; '.join(refusals)}."))
            continue
        names = iso_names(source)
        if names:
            problems.append((event.get("id", ""), f"{label}: {kind} {quote(source)} reads {', '.join(names)} as data "
                                                  f"field{'s' if len(names) > 1 else ''}; quote ISO 8601 values "
                                                  f"inside an expression (\"{names[0].upper()}\")."))
    return problems


def _behind_event_gateways(root: Any) -> set[str]:
    """Ids of the elements an event-based gateway's sequence flows lead to."""
    gateways = {g.get("id") for g in root.iter(f"{{{BPMN_NS}}}eventBasedGateway")}
    return {f.get("targetRef") for f in root.iter(f"{{{BPMN_NS}}}sequenceFlow") if f.get("sourceRef") in gateways}


def _timers(root: Any) -> Iterable[tuple[Any, str, str | None]]:
    """(the event element, kind, text) of every timer definition in ``root``."""
    for definition in root.iter(f"{{{BPMN_NS}}}timerEventDefinition"):
        event = definition.getparent()
        for child in definition:
            for kind in KINDS:
                if child.tag == f"{{{BPMN_NS}}}{kind}":
                    yield event, kind, child.text
