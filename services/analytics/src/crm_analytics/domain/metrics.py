"""The per-tenant counters analytics keeps."""

from __future__ import annotations

from enum import StrEnum


class TenantMetric(StrEnum):
    """A running total kept per tenant, fed by one kind of event."""

    CANDIDATES_CREATED = "candidates_created"
    MESSAGES_SENT = "messages_sent"
    # Opens and clicks count messages, not fetches: a second open of one mail is not a new opener.
    MESSAGES_OPENED = "messages_opened"
    MESSAGES_CLICKED = "messages_clicked"
    EVENT_REGISTRATIONS = "event_registrations"
    APPLICATIONS = "applications"
    # One per ATS application hired (the first hire consumed: a redelivery, or a hire of the
    # same application announced again, is not a new one), on the day it happened.
    HIRES = "hires"
