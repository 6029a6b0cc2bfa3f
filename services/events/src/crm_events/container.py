"""Everything `create_app` builds for the events service's routes and subscribers."""

from __future__ import annotations

from dataclasses import dataclass

from crm_events.application.storage import EventsStorage


@dataclass(frozen=True)
class EventsContainer:
    """The events service's wiring: what its use cases work with."""

    storage: EventsStorage
