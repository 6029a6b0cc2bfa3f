"""The combined OpenAPI document and its Swagger UI."""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from crm_gateway.api.proxy import State
from crm_gateway.api.public import PUBLIC_PATHS
from crm_gateway.domain.openapi import merge_documents
from crm_shared.pages import swagger_ui_page

router = APIRouter(include_in_schema=False)
CACHE_SECONDS = 30.0


@router.get("/openapi.json")
async def openapi(request: Request, state: State) -> JSONResponse:
    """The public API of every service in one document (services that are down are left out):
    the operations the gateway forwards, and no others."""
    cached = getattr(request.app.state, "openapi_cache", None)
    if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
        return JSONResponse(cached[1])
    urls: dict[str, str] = request.app.state.service_urls
    fetched = await asyncio.gather(
        *(
            state.catalogue.document(state.upstream, service, max_age=CACHE_SECONDS)
            for service in urls
        )
    )
    services = {name: doc for name, doc in zip(urls, fetched, strict=True) if doc is not None}
    document = merge_documents(request.app.openapi(), services, state.routes, PUBLIC_PATHS)
    if len(services) == len(urls):
        request.app.state.openapi_cache = (time.monotonic(), document)
    return JSONResponse(document)


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    """Interactive documentation of the combined document."""
    return swagger_ui_page("/openapi.json", "Recruitment CRM API")
