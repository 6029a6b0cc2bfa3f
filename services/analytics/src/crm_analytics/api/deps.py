"""FastAPI dependencies of the analytics API."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from crm_analytics.container import AnalyticsContainer


def container(request: Request) -> AnalyticsContainer:
    """The container `create_app` built."""
    built: AnalyticsContainer = request.app.state.container
    return built


Container = Annotated[AnalyticsContainer, Depends(container)]
