"""FastAPI dependencies of the events API."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from crm_events.application.storage import EventsStorage
from crm_events.container import EventsContainer


def container(request: Request) -> EventsContainer:
    """The container `create_app` built."""
    built: EventsContainer = request.app.state.container
    return built


def storage(request: Request) -> EventsStorage:
    """What the use cases work with."""
    return container(request).storage


Storage = Annotated[EventsStorage, Depends(storage)]
