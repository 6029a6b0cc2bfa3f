"""The Lever adapter: its signed webhooks and its API (https://hire.lever.co/developer/documentation).

The API is called with HTTP Basic authentication (the API key as the user name, no password),
pages with `limit` and the opaque `offset` token of the previous answer's `next` (while
`hasNext`), and answers `{"data": ...}` with times in milliseconds since the epoch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx

from crm_ats_sync.adapters.http import AtsHttp
from crm_ats_sync.application.ports import AtsRequestRefused, AtsUnavailableError
from crm_ats_sync.domain import lever
from crm_ats_sync.domain.changes import (
    ApplicationSnapshot,
    AtsJob,
    Page,
    Prospect,
    PushedProspect,
    UnmappedRecord,
    WebhookReport,
    map_records,
)

DEFAULT_BASE_URL = "https://api.lever.co/v1"
# Lever's largest page.
PAGE_SIZE = 100
# Every opportunity is read with its stage's name and its applications (whose posting is the job).
OPPORTUNITY_EXPANSION = [("expand", "stage"), ("expand", "applications")]
# Where a pushed candidate is said to come from, in Lever's `sources`.
PUSH_SOURCE = "Recruitment CRM"


class LeverWebhooks:
    """Lever's webhooks: the signature and the delivery's identity are in the JSON body, not in
    headers (see `crm_ats_sync.domain.lever`)."""

    accepted_status = 202

    def verify(self, secrets: Sequence[str], headers: Mapping[str, str], body: bytes) -> None:
        lever.verify_signature(list(secrets), body)

    def delivery_id(self, headers: Mapping[str, str], body: bytes) -> str:
        return lever.delivery_id(body)

    def parse(self, body: bytes) -> tuple[str, WebhookReport]:
        return lever.parse_webhook(body)


class LeverApi:
    """One Lever account's API. Archive reasons and posting names are read once and read again
    when an opportunity names one not seen yet."""

    def __init__(
        self, http: AtsHttp, *, page_size: int = PAGE_SIZE, perform_as: str | None = None
    ) -> None:
        self._http = http
        self._page_size = page_size
        self._reasons: dict[str, lever.ArchiveReason] | None = None
        self._postings: dict[str, str] | None = None
        self._perform_as = perform_as

    async def _call(
        self, method: str, path: str, *, params: Any = None, json: Any = None
    ) -> Any | None:
        """The `data`-bearing answer to one call; None for a 404; `AtsRequestRefused` for a write
        Lever refuses (another 4xx); `AtsUnavailableError` for any other failure."""
        # Only reads are retried after a 5xx or a lost answer: a write may have been made.
        response = await self._http.request(
            method, path, params=params, json=json, retry_transient=method == "GET"
        )
        if response.status_code == 404:
            return None
        if method != "GET" and 400 <= response.status_code < 500:
            raise AtsRequestRefused(
                f"Lever refused {method} {path} ({response.status_code}): {response.text[:300]}"
            )
        if not response.is_success:
            raise AtsUnavailableError(
                f"Lever answered {response.status_code} to {method} {path}: {response.text[:300]}"
            )
        try:
            return response.json()
        except ValueError as error:
            raise AtsUnavailableError(f"Lever's answer to {method} {path} is not JSON") from error

    async def _listed(self, path: str, params: list[tuple[str, Any]]) -> dict[str, Any]:
        document = await self._call("GET", path, params=params)
        if not isinstance(document, dict) or not isinstance(document.get("data"), list):
            raise AtsUnavailableError(f"Lever's answer to GET {path} is not a list")
        return document

    async def _all(self, path: str) -> list[dict[str, Any]]:
        """Every item of a (short) list, page after page."""
        items: list[dict[str, Any]] = []
        offset: str | None = None
        while True:
            params: list[tuple[str, Any]] = [("limit", self._page_size)]
            if offset:
                params.append(("offset", offset))
            document = await self._listed(path, params)
            items.extend(document["data"])
            offset = _next_offset(document)
            if offset is None:
                return items

    async def _archive_reasons(self, needed: set[str]) -> dict[str, lever.ArchiveReason]:
        if self._reasons is None or not needed <= self._reasons.keys():
            self._reasons = {
                r.id: r for r in map(lever.archive_reason, await self._all("/archive_reasons"))
            }
        return self._reasons

    async def _posting_names(self, needed: set[str]) -> dict[str, str]:
        if self._postings is None or not needed <= self._postings.keys():
            self._postings = {
                str(p["id"]): str(p.get("text") or "") for p in await self._all("/postings")
            }
        return self._postings

    async def _snapshots(
        self, opportunities: list[dict[str, Any]]
    ) -> tuple[list[ApplicationSnapshot], list[UnmappedRecord]]:
        """The opportunities mapped each on its own, and the ones that could not be."""
        reasons = await self._archive_reasons(
            {r for r in map(lever.archive_reason_of, opportunities) if r is not None}
        )
        postings = await self._posting_names(
            {p for p in map(lever.posting_of, opportunities) if p is not None}
        )
        return map_records(
            opportunities,
            lambda o: lever.opportunity_snapshot(o, reasons, postings),
            what="opportunity",
        )

    async def applications_page(
        self, *, updated_after: datetime | None, cursor: str | None
    ) -> Page[ApplicationSnapshot]:
        params: list[tuple[str, Any]] = [("limit", self._page_size), *OPPORTUNITY_EXPANSION]
        if updated_after is not None:
            params.append(("updated_at_start", lever.to_ms(updated_after)))
        if cursor:
            params.append(("offset", cursor))
        document = await self._listed("/opportunities", params)
        items, rejected = await self._snapshots(document["data"])
        return Page(items, _next_offset(document), rejected)

    async def application(self, ats_application_id: str) -> ApplicationSnapshot | None:
        document = await self._call(
            "GET", f"/opportunities/{ats_application_id}", params=OPPORTUNITY_EXPANSION
        )
        if document is None:
            return None
        mapped, rejected = await self._snapshots([document["data"]])
        if rejected:
            raise ValueError(rejected[0].reason)
        return mapped[0]

    async def jobs_page(
        self, *, updated_after: datetime | None, cursor: str | None
    ) -> Page[AtsJob]:
        # Lever documents no updated-since filter on postings: they are few, so the page is
        # filtered here.
        params: list[tuple[str, Any]] = [("limit", self._page_size)]
        if cursor:
            params.append(("offset", cursor))
        document = await self._listed("/postings", params)
        jobs, rejected = map_records(document["data"], lever.posting_job, what="posting")
        if updated_after is not None:
            jobs = [j for j in jobs if j.changed_at is None or j.changed_at >= updated_after]
        return Page(jobs, _next_offset(document), rejected)

    async def _user_to_perform_as(self) -> str:
        """Lever creates opportunities on behalf of a user (`perform_as`): the account's first
        active Super Admin, else its first active user."""
        if self._perform_as is None:
            users = [u for u in await self._all("/users") if not u.get("deactivatedAt")]
            admins = [u for u in users if u.get("accessRole") == "super admin"]
            if not users:
                raise AtsUnavailableError("the Lever account has no active user to act as")
            self._perform_as = str((admins or users)[0]["id"])
        return self._perform_as

    async def push_prospect(self, prospect: Prospect) -> PushedProspect:
        """Creates the opportunity, for `ats_job_id` (a posting) or as a lead without one, unless
        Lever already has one for this email and posting (a push repeated after a lost answer)."""
        existing = await self._listed(
            "/opportunities",
            [("email", prospect.email), ("expand", "applications"), ("limit", self._page_size)],
        )
        for opportunity in existing["data"]:
            if lever.posting_of(opportunity) == prospect.ats_job_id:
                return _pushed(opportunity)
        name = " ".join(n for n in (prospect.first_name, prospect.last_name) if n)
        body: dict[str, Any] = {
            "name": name or prospect.email,
            "emails": [prospect.email],
            "origin": "sourced",
            "sources": [PUSH_SOURCE],
        }
        if prospect.ats_job_id:
            body["postings"] = [prospect.ats_job_id]
        created = await self._call(
            "POST",
            "/opportunities",
            params={"perform_as": await self._user_to_perform_as()},
            json=body,
        )
        if not isinstance(created, dict) or not isinstance(created.get("data"), dict):
            raise AtsUnavailableError("Lever did not answer the created opportunity")
        return _pushed(created["data"])

    async def aclose(self) -> None:
        await self._http.aclose()


def _next_offset(document: Mapping[str, Any]) -> str | None:
    return str(document["next"]) if document.get("hasNext") and document.get("next") else None


def _pushed(opportunity: Mapping[str, Any]) -> PushedProspect:
    # A Lever lead is an opportunity too: the CRM follows it by its opportunity id either way.
    return PushedProspect(
        ats_candidate_id=str(opportunity.get("contact") or opportunity["id"]),
        ats_application_id=str(opportunity["id"]),
    )


def open_api(*, base_url: str | None, api_key: str, on_behalf_of: str | None = None) -> LeverApi:
    """The API of the Lever account `api_key` belongs to (Lever's public API by default);
    opportunities are created as the user `on_behalf_of` (default: its first super admin)."""
    client = httpx.AsyncClient(
        base_url=(base_url or DEFAULT_BASE_URL).rstrip("/"),
        auth=httpx.BasicAuth(api_key, ""),
        timeout=httpx.Timeout(30.0),
        headers={"Accept": "application/json"},
    )
    return LeverApi(AtsHttp(client), perform_as=on_behalf_of)
