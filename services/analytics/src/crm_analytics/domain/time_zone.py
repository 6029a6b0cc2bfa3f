"""The tenant's time zone for analytics: which names are zones, and a period of days in a zone
as the instants it covers."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

DEFAULT_TIME_ZONE = "UTC"


@cache
def _known_time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def valid_time_zone(name: str) -> str:
    """An IANA time zone name as given (`Europe/Berlin`); `ValueError` otherwise."""
    candidate = name.strip()
    # ZoneInfo would also open files by relative path: the name must be a known zone.
    if candidate not in _known_time_zones():
        raise ValueError(f"{name!r} is not an IANA time zone name such as Europe/Berlin")
    try:
        ZoneInfo(candidate)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone name") from None
    return candidate


def days_in_zone(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants of the days `first` to `last` (both included) in the zone: from the first
    day's midnight there, up to (not including) the midnight after the last day."""
    return (
        datetime.combine(first, time.min, zone),
        datetime.combine(last + timedelta(days=1), time.min, zone),
    )
