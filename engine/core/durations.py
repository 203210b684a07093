"""ISO 8601 durations (calendar days and months, as SpiffWorkflow's timers count them)."""

from __future__ import annotations

import re
from datetime import datetime

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

# PnYnMnDTnHnMnS or PnW; at least one part; weeks alone (SpiffWorkflow cannot mix them with days)
_DURATION = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
    r"|^P(?P<weeks>\d+)W$"
)


def is_duration(text: object) -> bool:
    return isinstance(text, str) and bool(_DURATION.match(text.strip()))


def check_duration(text: str) -> None:
    """Raise ValueError naming ``text`` unless it is an ISO 8601 duration such as ``P5D`` or ``P1M``."""
    if not is_duration(text):
        raise ValueError(
            f"{text!r} is not an ISO 8601 duration (examples: P5D, P2W, P1M, PT4H; "
            "weeks cannot be combined with other parts)"
        )


def add_duration(start: datetime, text: str) -> datetime:
    """``start + text``, counting months and years by the calendar."""
    check_duration(text)
    parsed = TimerEventDefinition.parse_iso_duration(text.strip())
    return start + TimerEventDefinition.get_timedelta_from_start(parsed, start)


_UNITS = (("years", "year"), ("months", "month"), ("weeks", "week"), ("days", "day"), ("hours", "hour"),
          ("minutes", "minute"), ("seconds", "second"))


def duration_words(text: str) -> str:
    """An ISO 8601 duration as people say it (``P1M`` -> ``1 month``, ``P1Y6M`` -> ``1 year 6 months``);
    anything else unchanged."""
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if not match:
        return text
    parts = [(int(match.group(group)), unit) for group, unit in _UNITS if match.group(group)]
    return " ".join(f"{n} {unit}{'' if n == 1 else 's'}" for n, unit in parts) or text
