"""The Greenhouse adapter: its webhooks (Harvest web hooks) and its Harvest API."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from crm_ats_sync.adapters.http import AtsHttp
from crm_ats_sync.application.ports import AtsUnavailableError
from crm_ats_sync.domain import greenhouse
from crm_ats_sync.domain.changes import (
    ApplicationSnapshot,
    AtsJob,
    Page,
    Prospect,
    PushedProspect,
    WebhookReport,
)

DEFAULT_BASE_URL = "https://harvest.greenhouse.io/v1"
# Harvest's largest page: the fewest requests against its per-10-seconds limit.
PAGE_SIZE = 500
# How many candidates `GET /v1/candidates?candidate_ids=` answers at once (Harvest's maximum).
CANDIDATES_PER_REQUEST = 50
TIMEOUT_SECONDS = 30.0


class GreenhouseWebhooks:
    """Greenhouse's webhooks: `Signature: sha256 <hex HMAC of the body>`, a
    `Greenhouse-Event-ID` per delivery, `{"action", "payload"}` bodies."""

    signature_header = "Signature"
    delivery_id_header = "Greenhouse-Event-ID"

    def verify(self, secrets: Sequence[str], headers: Mapping[str, str], body: bytes) -> None:
        greenhouse.verify_signature(list(secrets), body, headers.get(greenhouse.SIGNATURE_HEADER))

    def delivery_id(self, headers: Mapping[str, str], body: bytes) -> str:
        return (headers.get(greenhouse.DELIVERY_ID_HEADER) or "").strip()

    def parse(self, body: bytes) -> tuple[str, WebhookReport]:
        return greenhouse.parse_webhook(body)


def _harvest_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _problem(response: httpx.Response) -> str:
    """What Harvest said about a refused request: its `message` and field errors."""
    try:
        document: Any = response.json()
    except ValueError:
        return response.text[:200]
    if not isinstance(document, dict):
        return str(document)[:200]
    errors = document.get("errors") or []
    details = "; ".join(
        f"{e.get('field')}: {e.get('message')}" for e in errors if isinstance(e, dict)
    )
    return " ".join(part for part in (str(document.get("message", "")), details) if part)


class GreenhouseApi:
    """One Greenhouse account's Harvest API v1: reads page through the `Link` header's
    `rel="next"` URL (the cursor a backfill stores); an application names its person by id
    only, so each page's people are read in batches of 50. Writes (push) are made on behalf of
    the Greenhouse user `on_behalf_of`, which Harvest requires for auditing."""

    def __init__(
        self, http: AtsHttp, *, on_behalf_of: str | None = None, per_page: int = PAGE_SIZE
    ) -> None:
        self._http = http
        self._on_behalf_of = on_behalf_of
        self._per_page = per_page

    async def applications_page(
        self, *, updated_after: datetime | None, cursor: str | None
    ) -> Page[ApplicationSnapshot]:
        # Harvest filters applications by `last_activity_after` (at or after), its "updated".
        filters = {} if updated_after is None else {"last_activity_after": updated_after}
        records, next_cursor = await self._page("applications", filters, cursor)
        people = await self._candidates(str(r.get("candidate_id")) for r in records)
        return Page(
            items=[
                greenhouse.snapshot_from_harvest(r, people.get(str(r.get("candidate_id"))))
                for r in records
            ],
            next_cursor=next_cursor,
        )

    async def application(self, ats_application_id: str) -> ApplicationSnapshot | None:
        record = await self._record(f"applications/{ats_application_id}")
        if record is None:
            return None
        person = await self._record(f"candidates/{record.get('candidate_id')}")
        return greenhouse.snapshot_from_harvest(record, person)

    async def jobs_page(
        self, *, updated_after: datetime | None, cursor: str | None
    ) -> Page[AtsJob]:
        filters = {} if updated_after is None else {"updated_after": updated_after}
        records, next_cursor = await self._page("jobs", filters, cursor)
        return Page(
            items=[greenhouse.job_from_harvest(r) for r in records], next_cursor=next_cursor
        )

    async def push_prospect(self, prospect: Prospect) -> PushedProspect:
        """A prospect (`POST /v1/prospects`) or, for a job, a candidate with an application
        (`POST /v1/candidates`). Greenhouse creates a new person on every call: the caller
        pushes a CRM candidate once and keeps the ids answered."""
        if not self._on_behalf_of:
            raise AtsUnavailableError(
                "Greenhouse writes need the id of the Greenhouse user they are made on behalf "
                "of: set the connection's Greenhouse user id"
            )
        path = "prospects" if prospect.ats_job_id is None else "candidates"
        response = await self._http.request(
            "POST",
            f"/{path}",
            json=greenhouse.person_body(prospect),
            headers={"On-Behalf-Of": self._on_behalf_of},
            retry_transient=False,
        )
        if response.status_code not in (200, 201):
            raise AtsUnavailableError(
                f"Greenhouse refused POST /{path} ({response.status_code}): {_problem(response)}"
            )
        return greenhouse.pushed_from_harvest(response.json(), ats_job_id=prospect.ats_job_id)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _page(
        self, path: str, filters: Mapping[str, datetime], cursor: str | None
    ) -> tuple[list[Any], str | None]:
        if cursor is None:
            params: dict[str, str | int] = {"per_page": self._per_page, "skip_count": "true"}
            params |= {name: _harvest_time(moment) for name, moment in filters.items()}
            response = await self._http.request("GET", f"/{path}", params=params)
        else:
            # The cursor is a URL Greenhouse gave; the API key is only ever sent to its API.
            if not cursor.startswith(str(self._http.client.base_url)):
                raise AtsUnavailableError(f"the page cursor {cursor!r} is not this account's")
            response = await self._http.request("GET", cursor)
        records = self._answer(response, path)
        if not isinstance(records, list):
            raise greenhouse.HarvestRecordError(f"GET /{path} did not answer a list")
        return records, greenhouse.next_link(response.headers.get("link"))

    async def _record(self, path: str) -> Any:
        response = await self._http.request("GET", f"/{path}")
        return None if response.status_code == 404 else self._answer(response, path)

    async def _candidates(self, ids: Iterable[str]) -> dict[str, Any]:
        """The candidate records of `ids`, by id; a person Greenhouse no longer has is absent."""
        wanted = sorted(set(ids))
        found: dict[str, Any] = {}
        for start in range(0, len(wanted), CANDIDATES_PER_REQUEST):
            batch = wanted[start : start + CANDIDATES_PER_REQUEST]
            response = await self._http.request(
                "GET",
                "/candidates",
                params={"candidate_ids": ",".join(batch), "per_page": CANDIDATES_PER_REQUEST},
            )
            for record in self._answer(response, "candidates"):
                found[str(record["id"])] = record
        return found

    @staticmethod
    def _answer(response: httpx.Response, path: str) -> Any:
        if response.status_code != 200:
            raise AtsUnavailableError(
                f"Greenhouse answered GET /{path} with {response.status_code}: {_problem(response)}"
            )
        return response.json()


def open_api(
    *, base_url: str | None, api_key: str, on_behalf_of: str | None = None
) -> GreenhouseApi:
    """The Harvest API of the account `api_key` belongs to (HTTP Basic: the key as user name,
    no password), at `base_url` or Greenhouse's own."""
    client = httpx.AsyncClient(
        base_url=base_url or DEFAULT_BASE_URL, auth=(api_key, ""), timeout=TIMEOUT_SECONDS
    )
    return GreenhouseApi(AtsHttp(client), on_behalf_of=on_behalf_of)
