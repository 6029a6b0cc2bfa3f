"""IANA time zone names as the API accepts them."""

from __future__ import annotations

from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones


@cache
def _known_time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def valid_time_zone(name: str) -> str:
    """An IANA time zone name as given (`Europe/Berlin`); raises `ValueError` otherwise."""
    candidate = name.strip()
    # ZoneInfo would also open files by relative path: the name must be one of the known zones.
    if candidate not in _known_time_zones():
        raise ValueError(f"{name!r} is not an IANA time zone name such as Europe/Berlin")
    try:
        ZoneInfo(candidate)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone name") from None
    return candidate
