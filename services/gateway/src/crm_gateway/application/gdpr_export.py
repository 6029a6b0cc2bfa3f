"""GDPR export (article 15): everything every service holds on one person, gathered whole or
not at all."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from crm_gateway.domain.paths import encoded_path


class CandidateUnknown(LookupError):
    """The candidates service knows no such candidate in the caller's tenant."""


class ExportIncomplete(Exception):
    """A service did not answer with its part: the export would be partial."""

    def __init__(self, failed: list[str]) -> None:
        super().__init__(", ".join(failed))
        self.failed = failed


async def _service_export(
    client: httpx.AsyncClient, base_url: str, candidate_id: str, headers: dict[str, str]
) -> httpx.Response | None:
    try:
        path = encoded_path(["gdpr", "candidates", candidate_id])
        return await client.get(base_url + path, headers=headers)
    except httpx.HTTPError:
        return None


async def gather_export(
    client: httpx.AsyncClient,
    urls: dict[str, str],
    candidate_id: str,
    headers: Callable[[str], dict[str, str]],
) -> dict[str, Any]:
    """Each service's collections on the candidate, by service name, asked with the headers
    `headers(service)` gives (each service's own internal token).

    `CandidateUnknown` when the candidates service has no such candidate; `ExportIncomplete`
    when it or any service gave no answer or refused."""
    try:
        known = await client.get(
            urls["candidates"] + encoded_path(["candidates", candidate_id]),
            headers=headers("candidates"),
        )
    except httpx.HTTPError:
        known = None
    if known is not None and known.status_code == 404:
        raise CandidateUnknown(candidate_id)
    responses = await asyncio.gather(
        *(_service_export(client, url, candidate_id, headers(name)) for name, url in urls.items())
    )
    failed = [
        name
        for name, response in zip(urls, responses, strict=True)
        if response is None or response.status_code != 200
    ]
    if known is None or known.status_code != 200 or failed:
        raise ExportIncomplete(failed)
    return {
        name: response.json()["collections"]
        for name, response in zip(urls, responses, strict=True)
        if response is not None
    }
