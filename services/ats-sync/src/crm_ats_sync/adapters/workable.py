"""The Workable adapter: its webhooks and its SPI v3 (`https://<subdomain>.workable.com/spi/v3`).

The API calls, as Workable documents them (workable.readme.io): `GET /candidates` (oldest first;
`limit`, `since_id`, `updated_after`; the next page's address in `paging.next`),
`GET /candidates/{id}`, `GET /jobs`, `POST /jobs/{shortcode}/candidates` and
`POST /talent_pool/candidates` (`{"sourced": true, "candidate": {...}}`), with the account's
access token as a bearer token. An account token may make 10 requests per 10 seconds; past that
Workable answers 429 with `X-Rate-Limit-Reset`, which is waited out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx

from crm_ats_sync.adapters.http import AtsHttp
from crm_ats_sync.application.ports import AtsRequestRefused, AtsUnavailableError
from crm_ats_sync.domain import workable
from crm_ats_sync.domain.changes import (
    ApplicationSnapshot,
    AtsJob,
    Page,
    Prospect,
    PushedProspect,
    WebhookReport,
    map_records,
)
from crm_shared import utc_now

PAGE_SIZE = 100


class WorkableWebhooks:
    """Workable's webhooks: `X-Workable-Signature: <hex HMAC-SHA256 of the body>` keyed with
    the account's access token, `{"event_type", "data": <candidate>}` bodies, no delivery id."""

    # Workable replays a delivery answered with anything but 200 (its webhook reference).
    accepted_status = 200

    def verify(self, secrets: Sequence[str], headers: Mapping[str, str], body: bytes) -> None:
        workable.verify_signature(list(secrets), body, headers.get(workable.SIGNATURE_HEADER))

    def delivery_id(self, headers: Mapping[str, str], body: bytes) -> str:
        return workable.delivery_id(body)

    def parse(self, body: bytes) -> tuple[str, WebhookReport]:
        return workable.parse_webhook(body)


def rate_limit_wait(response: httpx.Response) -> float | None:
    """How long a 429 asks to wait, from Workable's `X-Rate-Limit-Reset`."""
    if response.status_code != 429:
        return None
    return workable.rate_limit_wait(
        response.headers.get(workable.RATE_LIMIT_RESET_HEADER), now=utc_now()
    )


class WorkableApi:
    """One Workable account's SPI v3."""

    def __init__(self, http: AtsHttp, base_url: str, *, page_size: int = PAGE_SIZE) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._page_size = page_size

    async def applications_page(
        self, *, updated_after: datetime | None, cursor: str | None
    ) -> Page[ApplicationSnapshot]:
        document = await self._page("candidates", updated_after, cursor)
        items, rejected = map_records(
            document.get("candidates") or [], workable.snapshot, what="candidate"
        )
        return Page(items=items, next_cursor=self._next(document), rejected=rejected)

    async def application(self, ats_application_id: str) -> ApplicationSnapshot | None:
        response = await self._http.request(
            "GET", f"{self._base_url}/candidates/{ats_application_id}"
        )
        if response.status_code == 404:
            return None
        candidate = self._answer(response).get("candidate")
        if not isinstance(candidate, dict):
            raise AtsUnavailableError(f"Workable answered no candidate {ats_application_id}")
        return workable.snapshot(candidate)

    async def jobs_page(
        self, *, updated_after: datetime | None, cursor: str | None
    ) -> Page[AtsJob]:
        document = await self._page("jobs", updated_after, cursor)
        items, rejected = map_records(document.get("jobs") or [], workable.ats_job, what="job")
        return Page(items=items, next_cursor=self._next(document), rejected=rejected)

    async def push_prospect(self, prospect: Prospect) -> PushedProspect:
        # Without a job the person goes to the account's talent pool, Workable's prospects;
        # either way as sourced, so Workable sends them no "thank you for applying" email.
        path = (
            f"jobs/{prospect.ats_job_id}/candidates"
            if prospect.ats_job_id
            else "talent_pool/candidates"
        )
        name = " ".join(n for n in (prospect.first_name, prospect.last_name) if n)
        candidate: dict[str, Any] = {"name": name or prospect.email, "email": prospect.email}
        if prospect.first_name and prospect.last_name:
            candidate |= {"firstname": prospect.first_name, "lastname": prospect.last_name}
        response = await self._http.request(
            "POST",
            f"{self._base_url}/{path}",
            json={"sourced": True, "candidate": candidate},
            retry_transient=False,
        )
        if 400 <= response.status_code < 500:
            raise AtsRequestRefused(
                f"Workable refused POST /{path} ({response.status_code}): {response.text[:200]}"
            )
        created = self._answer(response).get("candidate") or {}
        if not created.get("id"):
            raise AtsUnavailableError(f"Workable answered no candidate id for POST /{path}")
        ats_id = str(created["id"])
        return PushedProspect(
            ats_candidate_id=ats_id, ats_application_id=ats_id if prospect.ats_job_id else None
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _page(
        self, collection: str, updated_after: datetime | None, cursor: str | None
    ) -> dict[str, Any]:
        if cursor is not None:
            # The cursor is Workable's own `paging.next`; the token only ever goes to the
            # account's address, whatever a stored cursor says.
            if not cursor.startswith(f"{self._base_url}/{collection}?"):
                raise AtsUnavailableError(
                    f"the cursor is not a page of this account's {collection}"
                )
            response = await self._http.request("GET", cursor)
        else:
            params: dict[str, str | int] = {"limit": self._page_size}
            if updated_after is not None:
                params["updated_after"] = updated_after.isoformat()
            response = await self._http.request(
                "GET", f"{self._base_url}/{collection}", params=params
            )
        return self._answer(response)

    @staticmethod
    def _next(document: Mapping[str, Any]) -> str | None:
        paging = document.get("paging")
        following = paging.get("next") if isinstance(paging, Mapping) else None
        return str(following) if following else None

    @staticmethod
    def _answer(response: httpx.Response) -> dict[str, Any]:
        if not response.is_success:
            raise AtsUnavailableError(
                f"{response.request.method} {response.request.url.path} answered "
                f"{response.status_code}: {response.text[:200]}"
            )
        document = response.json()
        if not isinstance(document, dict):
            raise AtsUnavailableError(f"{response.request.url.path} answered no JSON object")
        return document


def open_api(*, base_url: str | None, api_key: str, on_behalf_of: str | None = None) -> WorkableApi:
    """The SPI of the Workable account at `base_url` (`https://<subdomain>.workable.com/spi/v3`:
    Workable has no shared API host, so it is required). Workable's writes name no user:
    `on_behalf_of` is not used."""
    if not base_url:
        raise ValueError("a Workable connection needs its api_base_url")
    client = httpx.AsyncClient(
        headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
        timeout=httpx.Timeout(30.0),
    )
    return WorkableApi(AtsHttp(client, wait_hint=rate_limit_wait), base_url)
