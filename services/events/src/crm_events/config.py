"""Settings of the events service."""

from __future__ import annotations

from crm_shared import ServiceSettings


class EventsSettings(ServiceSettings):
    """Events service settings, read from the environment."""

    service_name: str = "events"
