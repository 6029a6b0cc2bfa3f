"""GDPR export: everything every service holds on one person, in one document."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from crm_gateway.api.deps import AuthenticatedPrincipal, Container
from crm_gateway.domain.paths import encoded_path
from crm_gateway.domain.routing import PUBLIC_API_PREFIX
from crm_shared import ProblemError, utc_now

router = APIRouter(prefix=PUBLIC_API_PREFIX, tags=["gdpr"])


async def _service_export(
    client: httpx.AsyncClient, base_url: str, candidate_id: str, headers: dict[str, str]
) -> httpx.Response | None:
    try:
        path = encoded_path(["gdpr", "candidates", candidate_id])
        return await client.get(base_url + path, headers=headers)
    except httpx.HTTPError:
        return None


@router.get("/candidates/{candidate_id}/export", summary="GDPR export of a candidate")
async def export_candidate(
    candidate_id: str, principal: AuthenticatedPrincipal, state: Container
) -> JSONResponse:
    """Everything held on the person across every service (GDPR article 15), one section per
    service. Admins only; an incomplete export is an error, never a partial answer."""
    if not principal.has_any_role(["admin"]):
        raise ProblemError(403, "requires one of the roles: admin", problem_type="forbidden")
    headers = {"authorization": f"Bearer {state.internal_tokens.mint(principal)}"}
    urls = state.service_urls
    try:
        known = await state.upstream.get(
            urls["candidates"] + encoded_path(["candidates", candidate_id]), headers=headers
        )
    except httpx.HTTPError:
        known = None
    if known is not None and known.status_code == 404:
        raise ProblemError(404, f"no candidate {candidate_id}", problem_type="not-found")
    responses = await asyncio.gather(
        *(_service_export(state.upstream, url, candidate_id, headers) for url in urls.values())
    )
    failed = [
        name
        for name, response in zip(urls, responses, strict=True)
        if response is None or response.status_code != 200
    ]
    if known is None or known.status_code != 200 or failed:
        raise ProblemError(
            502,
            f"the export is incomplete: no answer from {', '.join(failed) or 'candidates'}",
            problem_type="upstream-unavailable",
        )
    sections: dict[str, Any] = {
        name: response.json()["collections"]
        for name, response in zip(urls, responses, strict=True)
        if response is not None
    }
    return JSONResponse(
        {
            "candidate_id": candidate_id,
            "tenant_id": principal.tenant_id,
            "exported_at": utc_now().isoformat(),
            "services": sections,
        },
        headers={"Cache-Control": "no-store"},
    )
