"""The combined OpenAPI document and its Swagger UI."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from crm_gateway.api.deps import Container
from crm_gateway.api.public import PUBLIC_PATHS
from crm_gateway.container import OPENAPI_CACHE_SECONDS
from crm_gateway.domain.openapi import merge_documents
from crm_shared import public_operation
from crm_shared.pages import swagger_ui_page

router = APIRouter(include_in_schema=False, dependencies=[public_operation()])
COMBINED = "combined"


@router.get("/openapi.json")
async def openapi(request: Request, state: Container) -> JSONResponse:
    """The public API of every service in one document (services that are down are left out):
    the operations the gateway forwards, and no others."""
    fresh, cached = state.openapi_cache.get(COMBINED)
    if fresh and cached is not None:
        return JSONResponse(cached)
    urls = state.service_urls
    fetched = await asyncio.gather(
        *(
            state.catalogue.document(state.upstream, service, max_age=OPENAPI_CACHE_SECONDS)
            for service in urls
        )
    )
    services = {name: doc for name, doc in zip(urls, fetched, strict=True) if doc is not None}
    document = merge_documents(request.app.openapi(), services, state.routes, PUBLIC_PATHS)
    if len(services) == len(urls):
        state.openapi_cache.put(COMBINED, document)
    return JSONResponse(document)


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    """Interactive documentation of the combined document."""
    return swagger_ui_page("/openapi.json", "Recruitment CRM API")
