"""Settings of the events service."""

from __future__ import annotations

from pydantic import Field

from crm_shared import ServiceSettings


class EventsSettings(ServiceSettings):
    """Events service settings, read from the environment."""

    service_name: str = "events"
    # The gateway's public address: registrants' manage, cancel and invitation links point at it.
    public_base_url: str = "http://127.0.0.1:8000"
    # How often the reminder worker looks for due reminders, and how long it holds an event
    # while staging them (another replica takes over after that if it died).
    reminder_poll_interval_seconds: float = Field(default=30.0, gt=0)
    reminder_lease_seconds: float = Field(default=60.0, gt=0)
