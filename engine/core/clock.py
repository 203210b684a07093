"""Time as an injected dependency: every deadline, timer and sweep asks a Clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, at: datetime | str = "2026-01-05T09:00:00+00:00"):
        self._now = parse_datetime(at) if isinstance(at, str) else as_utc(at)

    def now(self) -> datetime:
        return self._now

    def set(self, at: datetime | str) -> None:
        self._now = parse_datetime(at) if isinstance(at, str) else as_utc(at)

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        self._now += delta if delta is not None else timedelta(**kwargs)
        return self._now


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC (that is how we store them); aware ones are converted."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_datetime(text: str) -> datetime:
    """ISO 8601 date or datetime -> aware UTC datetime. A bare date means the start of that day (UTC).

    Raises ValueError with the offending text.
    """
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except (ValueError, AttributeError) as exc:
        raise ValueError(f"not an ISO 8601 date or datetime: {text!r}") from exc
    return as_utc(value)


def isoformat(value: datetime) -> str:
    return as_utc(value).isoformat().replace("+00:00", "Z")


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}


def is_zone(name: str | None) -> bool:
    """True when ``name`` is an IANA time zone name ("Europe/Paris", "Asia/Tokyo", "UTC")."""
    return bool(name) and name in _zone_names()


def zone(name: str | None) -> tzinfo:
    """The time zone called ``name``; UTC for None or a name that is not one."""
    if not is_zone(name):
        return UTC
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def local_text(value: datetime, zone_name: str | None, with_time: bool = True) -> str:
    """``value`` as a reader in ``zone_name`` says it: "8 Dec 2026, 09:00 JST" (UTC when no zone)."""
    local = as_utc(value).astimezone(zone(zone_name))
    return local.strftime("%-d %b %Y, %H:%M %Z" if with_time else "%-d %b %Y")
