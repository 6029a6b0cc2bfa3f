"""The gateway's public API as the console calls it: on behalf of the signed-in browser, with
its session cookie and CSRF token, exactly as the browser itself could."""

from __future__ import annotations

from collections.abc import AsyncIterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from crm_console.domain.problems import Problem, problem_from

SESSION_COOKIE = "crm_session"
CSRF_HEADER = "X-CSRF-Token"
QueryParams = Mapping[str, str | int | float | bool | Sequence[str] | None]


@dataclass(frozen=True)
class Caller:
    """The signed-in browser the console acts for, as the gateway forwarded it."""

    session: str
    csrf_token: str
    request_id: str | None = None


class ApiProblem(Exception):
    """The API refused a call: its problem document, ready to show next to the fields."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(f"{problem.status} {problem.title}: {problem.detail}")
        self.problem = problem


class SignedOut(ApiProblem):
    """The session ended (expired, signed out elsewhere): the browser must sign in again."""


@dataclass
class Download:
    """A file the API answered with (an export, an error report), passed through as is."""

    content: bytes
    media_type: str
    headers: dict[str, str] = field(default_factory=dict)


class GatewayApi:
    """Calls `/api/v1/...` (and `/auth/...`) of the gateway for one caller at a time."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    def _headers(self, caller: Caller, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = {"Cookie": f"{SESSION_COOKIE}={caller.session}", CSRF_HEADER: caller.csrf_token}
        if caller.request_id:
            headers["X-Request-ID"] = caller.request_id
        if extra:
            headers.update(extra)
        return headers

    async def request(
        self,
        caller: Caller,
        method: str,
        path: str,
        *,
        params: QueryParams | None = None,
        json: Any = None,
        content: bytes | AsyncIterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One call; a 4xx/5xx answer raises `ApiProblem` (`SignedOut` for a 401)."""
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "", [])}
        try:
            response = await self._client.request(
                method,
                path,
                params=clean,
                json=json,
                content=content,
                headers=self._headers(caller, headers),
            )
        except httpx.TimeoutException as error:
            raise ApiProblem(
                Problem(
                    status=504,
                    title="Gateway Timeout",
                    detail=f"the API did not answer in time ({type(error).__name__}); "
                    "what was asked may still have been done",
                )
            ) from None
        except httpx.HTTPError as error:
            raise ApiProblem(
                Problem(
                    status=502,
                    title="Bad Gateway",
                    detail=f"the API could not be reached ({type(error).__name__})",
                )
            ) from None
        if response.status_code >= 400:
            problem = problem_from(response.status_code, response.content)
            if response.status_code == 401:
                raise SignedOut(problem)
            raise ApiProblem(problem)
        return response

    async def get(self, caller: Caller, path: str, params: QueryParams | None = None) -> Any:
        """A JSON read."""
        return (await self.request(caller, "GET", path, params=params)).json()

    async def every_page(
        self,
        caller: Caller,
        path: str,
        params: QueryParams | None = None,
        *,
        max_pages: int | None = None,
    ) -> list[dict[str, Any]]:
        """The items of a paged list (`{items, next_cursor}`), page after page by its cursor:
        all of them, or those of the first `max_pages`. A cursor answered before ends it (it
        would repeat the same pages for ever)."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        asked: set[str] = set()
        pages = 0
        while max_pages is None or pages < max_pages:
            page = await self.get(caller, path, {**(params or {}), "cursor": cursor})
            pages += 1
            if not isinstance(page, dict):
                break
            found.extend(item for item in page.get("items") or [] if isinstance(item, dict))
            cursor = page.get("next_cursor")
            if not cursor or cursor in asked:
                break
            asked.add(cursor)
        return found

    async def send(
        self, caller: Caller, method: str, path: str, body: Any = None, **options: Any
    ) -> Any:
        """A JSON write; None when the API answers without a body (204)."""
        response = await self.request(caller, method, path, json=body, **options)
        return response.json() if response.content else None

    async def download(
        self, caller: Caller, path: str, params: QueryParams | None = None
    ) -> Download:
        """A file read, with the headers that name it."""
        response = await self.request(caller, "GET", path, params=params)
        kept = {
            name: value
            for name, value in response.headers.items()
            if name.lower() == "content-disposition"
        }
        return Download(
            response.content,
            response.headers.get("content-type", "application/octet-stream"),
            kept,
        )

    async def public(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        forwarded_for: str | None = None,
    ) -> Any:
        """A call of the public, unauthenticated API (`/public/v1/...`) for a public page: no
        session, and the visitor's address so the gateway's per-address limit applies to them
        (when the console's address is one of the gateway's `TRUSTED_PROXIES`)."""
        headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
        try:
            response = await self._client.request(method, path, json=body, headers=headers)
        except httpx.HTTPError as error:
            raise ApiProblem(
                Problem(
                    status=502,
                    title="Bad Gateway",
                    detail=f"the API could not be reached ({type(error).__name__})",
                )
            ) from None
        if response.status_code >= 400:
            raise ApiProblem(problem_from(response.status_code, response.content))
        return response.json() if response.content else None
