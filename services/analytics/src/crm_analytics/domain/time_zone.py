"""The tenant's time zone for analytics: which names are zones, and a period of days in a zone
as the instants it covers."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_TIME_ZONE = "UTC"


def days_in_zone(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants of the days `first` to `last` (both included) in the zone: from the first
    day's midnight there, up to (not including) the midnight after the last day."""
    return (
        datetime.combine(first, time.min, zone),
        datetime.combine(last + timedelta(days=1), time.min, zone),
    )
