"""Settings of the events service."""

from __future__ import annotations

from crm_shared import ServiceSettings


class EventsSettings(ServiceSettings):
    """Events service settings, read from the environment."""

    service_name: str = "events"
    # The gateway's public address: registrants' manage, cancel and invitation links point at it.
    public_base_url: str = "http://127.0.0.1:8000"
