"""FastAPI dependencies every service's `api/deps.py` builds on: a repository of the caller's
tenant, written once instead of one hand-written function per repository and service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from fastapi import Request

from crm_shared.auth import CurrentPrincipal
from crm_shared.mongo import Database

RepositoryT = TypeVar("RepositoryT")

DatabaseOf = Callable[[Request], Database]
"""Finds the service's database from a request (from its container, say)."""


def platform_database(request: Request) -> Database:
    """The database of the platform `create_service_app` put on the app."""
    database: Database = request.app.state.platform.require_database()
    return database


def tenant_repository(
    repository: Callable[[Database, str], RepositoryT],
    database: DatabaseOf = platform_database,
) -> Callable[[Request, CurrentPrincipal], Awaitable[RepositoryT]]:
    """A FastAPI dependency: `repository(database, tenant)` for the caller's tenant, e.g.
    `Annotated[NoteRepository, Depends(tenant_repository(NoteRepository))]`."""

    async def dependency(request: Request, principal: CurrentPrincipal) -> RepositoryT:
        return repository(database(request), principal.tenant_id)

    dependency.__name__ = f"{getattr(repository, '__name__', 'repository')}_of_tenant"
    dependency.__doc__ = f"The caller's tenant's {getattr(repository, '__name__', 'repository')}."
    return dependency
