"""FastAPI dependencies of the ats-sync API."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from crm_ats_sync.application.storage import AtsStorage
from crm_ats_sync.container import AtsSyncContainer


def container(request: Request) -> AtsSyncContainer:
    """The container `create_app` built."""
    built: AtsSyncContainer = request.app.state.container
    return built


def storage(request: Request) -> AtsStorage:
    """What the use cases work with."""
    return container(request).storage


Container = Annotated[AtsSyncContainer, Depends(container)]
Storage = Annotated[AtsStorage, Depends(storage)]
