"""The Greenhouse adapter: its webhooks (Harvest web hooks) and its Harvest API v3.

Harvest v1/v2 (HTTP Basic with an API key) was retired on 2026-08-31; this speaks only v3, as
documented at harvestdocs.greenhouse.io (Authentication, Pagination, List endpoints, READ and
WRITE endpoint migration guides, List applications):

- OAuth 2.0 client credentials: `POST https://auth.greenhouse.io/token`, HTTP Basic with the
  client id and secret, form `grant_type=client_credentials`; the answer is the RFC 6749 token
  document (`access_token`, `expires_in`); calls carry `Authorization: Bearer <token>`.
  Without `sub` the token acts as the credential's own service user (Greenhouse's On-Behalf-Of
  of v1 is the token's `sub` in v3), so writes are attributed to that user.
- Lists: `per_page` 1-500 and filters on the first request only, then the `rel="next"` URL of
  the `Link` header, a `cursor` that must be the only query parameter; `updated_at=gte|<time>`;
  `ids` (at most 50 per request).
- Endpoints: `GET /v3/applications`, `/v3/applications/{id}`, `/v3/candidates`, `/v3/jobs`.

Assumed where the v3 reference could not be read (the record schemas and the create bodies
were not in the material available): application, candidate and job records keep the v1 field
names (`candidate_id`, `status`, `prospect`, `current_stage`, `jobs` or `job_id`,
`rejection_reason`, `email_addresses`, `departments`, `offices`), and people are created with
`POST /v3/prospects` and `POST /v3/candidates` taking the v1 bodies.
"""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from crm_ats_sync.adapters.http import AtsHttp
from crm_ats_sync.application.ports import (
    AtsCredentialsRefused,
    AtsRequestRefused,
    AtsUnavailableError,
)
from crm_ats_sync.domain import greenhouse
from crm_ats_sync.domain.changes import (
    ApplicationSnapshot,
    AtsJob,
    Page,
    Prospect,
    PushedProspect,
    WebhookReport,
    map_records,
)

DEFAULT_BASE_URL = "https://harvest.greenhouse.io/v3"
DEFAULT_TOKEN_URL = "https://auth.greenhouse.io/token"  # noqa: S105 (an address, not a secret)
# Harvest's largest page: the fewest requests against its rate limit.
PAGE_SIZE = 500
# How many candidates `GET /v3/candidates?ids=` answers at once (Harvest's maximum).
CANDIDATES_PER_REQUEST = 50
TIMEOUT_SECONDS = 30.0
# A token is renewed this long before Greenhouse says it expires, so a call that starts just
# before expiry does not meet a 401 on the way.
TOKEN_MARGIN_SECONDS = 60.0


class GreenhouseWebhooks:
    """Greenhouse's webhooks: `Signature: sha256 <hex HMAC of the body>`, a
    `Greenhouse-Event-ID` per delivery, `{"action", "payload"}` bodies."""

    signature_header = "Signature"
    delivery_id_header = "Greenhouse-Event-ID"

    accepted_status = 202

    def verify(self, secrets: Sequence[str], headers: Mapping[str, str], body: bytes) -> None:
        greenhouse.verify_signature(list(secrets), body, headers.get(greenhouse.SIGNATURE_HEADER))

    def delivery_id(self, headers: Mapping[str, str], body: bytes) -> str:
        return (headers.get(greenhouse.DELIVERY_ID_HEADER) or "").strip()

    def parse(self, body: bytes) -> tuple[str, WebhookReport]:
        return greenhouse.parse_webhook(body)


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


class HarvestToken(httpx.Auth):
    """Bearer tokens from Greenhouse's token endpoint (client credentials), cached until
    shortly before they expire; a call answered 401 (a token revoked or expired early) gets a
    new token and is sent once more. The token request goes through the same client, so its
    transport and timeouts are the API's."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        acting_user: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._token_url = token_url
        # Harvest v3 replaced v1's `On-Behalf-Of` header with the token's subject: a token
        # asked for with `sub` acts as that Greenhouse user, without it as the credential's own.
        self._acting_user = acting_user
        pair = f"{client_id}:{client_secret}".encode()
        self._basic = "Basic " + base64.b64encode(pair).decode()
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self._token is None or self._clock() >= self._expires_at:
            token_response = yield self._token_request()
            await token_response.aread()
            self._store(token_response)
        request.headers["Authorization"] = f"Bearer {self._token}"
        response = yield request
        if response.status_code == 401:
            token_response = yield self._token_request()
            await token_response.aread()
            self._store(token_response)
            request.headers["Authorization"] = f"Bearer {self._token}"
            yield request

    def _token_request(self) -> httpx.Request:
        form = {"grant_type": "client_credentials"}
        form |= {"sub": self._acting_user} if self._acting_user else {}
        request = httpx.Request("POST", self._token_url, data=form)
        request.headers["Authorization"] = self._basic
        return request

    def _store(self, response: httpx.Response) -> None:
        if response.status_code != 200:
            # OAuth's token endpoint says no to bad client credentials with 400 or 401.
            refused = response.status_code in (400, 401, 403)
            raise (AtsCredentialsRefused if refused else AtsUnavailableError)(
                f"Greenhouse refused the client credentials ({response.status_code}): "
                f"{_problem(response)}; check the connection's client id and secret"
            )
        try:
            document: Any = response.json()
            token = str(document["access_token"])
            lifetime = float(document.get("expires_in") or 3600)
        except (ValueError, KeyError, TypeError) as error:
            raise AtsUnavailableError("Greenhouse's token endpoint answered no token") from error
        self._token = token
        self._expires_at = self._clock() + max(0.0, lifetime - TOKEN_MARGIN_SECONDS)


class GreenhouseApi:
    """One Greenhouse account's Harvest API v3: reads page through the `Link` header's
    `rel="next"` URL (the cursor a backfill stores); an application names its person by id
    only, so each page's people are read in batches of 50."""

    def __init__(self, http: AtsHttp, *, per_page: int = PAGE_SIZE) -> None:
        self._http = http
        self._per_page = per_page

    async def applications_page(
        self, *, updated_after: datetime | None, cursor: str | None
    ) -> Page[ApplicationSnapshot]:
        records, next_cursor = await self._page("applications", updated_after, cursor)
        people = await self._candidates(str(r.get("candidate_id")) for r in records)

        def person(record: Any) -> Any:
            return people.get(str(record.get("candidate_id")))

        items, rejected = map_records(
            records,
            lambda r: greenhouse.snapshot_from_harvest(r, person(r)),
            what="application",
            payload=lambda r: {"application": r, "candidate": person(r)},
        )
        return Page(items=items, next_cursor=next_cursor, rejected=rejected)

    async def application(self, ats_application_id: str) -> ApplicationSnapshot | None:
        record = await self._record(f"applications/{ats_application_id}")
        if record is None:
            return None
        people = await self._candidates([str(record.get("candidate_id"))])
        return greenhouse.snapshot_from_harvest(record, people.get(str(record.get("candidate_id"))))

    async def jobs_page(
        self, *, updated_after: datetime | None, cursor: str | None
    ) -> Page[AtsJob]:
        records, next_cursor = await self._page("jobs", updated_after, cursor)
        items, rejected = map_records(records, greenhouse.job_from_harvest, what="job")
        return Page(items=items, next_cursor=next_cursor, rejected=rejected)

    async def push_prospect(self, prospect: Prospect) -> PushedProspect:
        """A prospect (`POST /v3/prospects`) or, for a job, a candidate with an application
        (`POST /v3/candidates`), made as the credential's user. Greenhouse creates a new person
        on every call: the caller pushes a CRM candidate once and keeps the ids answered."""
        path = "prospects" if prospect.ats_job_id is None else "candidates"
        response = await self._http.request(
            "POST", f"/{path}", json=greenhouse.person_body(prospect), retry_transient=False
        )
        if response.status_code not in (200, 201):
            refused = (
                f"Greenhouse refused POST /{path} ({response.status_code}): {_problem(response)}"
            )
            if 400 <= response.status_code < 500:
                raise AtsRequestRefused(refused)
            raise AtsUnavailableError(refused)
        return greenhouse.pushed_from_harvest(response.json(), ats_job_id=prospect.ats_job_id)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _page(
        self, path: str, updated_after: datetime | None, cursor: str | None
    ) -> tuple[list[Any], str | None]:
        if cursor is None:
            params: dict[str, str | int] = {"per_page": self._per_page}
            if updated_after is not None:
                params["updated_at"] = greenhouse.harvest_filter_time(updated_after)
            response = await self._http.request("GET", f"/{path}", params=params)
        else:
            # The cursor is a URL Greenhouse gave (its only parameter is `cursor`, which holds
            # the filters); the token is only ever sent to this account's API.
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
                params={"ids": ",".join(batch), "per_page": CANDIDATES_PER_REQUEST},
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


def token_url_for(base_url: str | None) -> str:
    """Greenhouse's token endpoint, or for another API address (a simulator, a proxy) the
    `/token` of that address's origin."""
    if base_url is None:
        return DEFAULT_TOKEN_URL
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}/token"


def open_api(
    *, base_url: str | None, api_key: str, on_behalf_of: str | None = None
) -> GreenhouseApi:
    """The Harvest v3 API of the account whose OAuth client credentials `api_key` holds
    (`<client id>:<client secret>`), at `base_url` or Greenhouse's own; acting as the
    Greenhouse user `on_behalf_of` (the token's `sub`) when given."""
    try:
        client_id, client_secret = greenhouse.client_credentials(api_key)
    except ValueError as error:
        raise AtsUnavailableError(str(error)) from error
    client = httpx.AsyncClient(
        base_url=base_url or DEFAULT_BASE_URL,
        auth=HarvestToken(
            token_url_for(base_url), client_id, client_secret, acting_user=on_behalf_of
        ),
        timeout=TIMEOUT_SECONDS,
    )
    return GreenhouseApi(AtsHttp(client))
