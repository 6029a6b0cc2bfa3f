"""`Idempotency-Key` at the HTTP edge: the header read and checked, the use cases' verdicts
turned into a replayed response or a problem."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from pymongo.errors import PyMongoError

from crm_gateway.application.idempotency import (
    Claim,
    IdempotentRequests,
    KeyedTiming,
    UnfinishedRequests,
)
from crm_gateway.domain.idempotency import (
    InvalidIdempotencyKey,
    KeyInFlightError,
    KeyReusedError,
    KeyScope,
    StoredResponse,
    parse_key,
)
from crm_shared import ProblemError

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"

logger = logging.getLogger(__name__)


def requested_key(request: Request) -> str | None:
    """The request's idempotency key, None without one; a 400 problem when it is malformed."""
    values = request.headers.getlist(IDEMPOTENCY_KEY_HEADER)
    if not values:
        return None
    if len(values) > 1:
        raise _invalid("send one Idempotency-Key header, not several")
    try:
        return parse_key(values[0])
    except InvalidIdempotencyKey as error:
        raise _invalid(str(error)) from None


def _invalid(detail: str) -> ProblemError:
    return ProblemError(400, detail, problem_type="invalid-idempotency-key")


async def forward_once(
    requests: IdempotentRequests,
    scope: KeyScope,
    fingerprint: str,
    send: Callable[[], Awaitable[Response]],
    *,
    timing: KeyedTiming,
    unfinished: UnfinishedRequests,
) -> Response:
    """`send`s the request unless the key already names it: then the stored response is
    replayed (409 while it is still running, 422 when the key named another request).

    A request the service has not answered within `timing.answer_within_seconds` is a 504 to
    the caller, but it is not abandoned: the gateway goes on waiting for the service and
    records the outcome, so a repeat with the same key gets a 409 while it runs and then its
    response, instead of running it a second time.
    """
    try:
        begun = await requests.begin(scope, fingerprint)
    except KeyReusedError:
        raise ProblemError(
            422,
            "this Idempotency-Key was used for a different request (method, path or body); "
            "use a new key for a new request",
            problem_type="idempotency-key-reused",
        ) from None
    except KeyInFlightError:
        raise ProblemError(
            409,
            "a request with this Idempotency-Key is still being processed; repeat it once "
            "that one has finished to get its response",
            problem_type="idempotency-key-in-use",
            headers={"Retry-After": "1"},
        ) from None
    except PyMongoError as error:
        raise ProblemError(
            503,
            f"idempotency keys cannot be checked now ({type(error).__name__}); the request was "
            "not sent, repeat it",
            problem_type="idempotency-unavailable",
            headers={"Retry-After": "5"},
        ) from None
    if isinstance(begun, StoredResponse):
        return Response(
            begun.body, status_code=begun.status, headers={**begun.headers, REPLAYED_HEADER: "true"}
        )
    running = asyncio.create_task(_send_and_record(requests, begun, send))
    # Held until done: the caller may go away (a 504, a closed connection), the request not.
    unfinished.keep(running)
    try:
        return await asyncio.wait_for(asyncio.shield(running), timing.answer_within_seconds)
    except TimeoutError:
        raise ProblemError(
            504,
            "the service did not answer in time; the request goes on. Repeat it with the same "
            "Idempotency-Key: 409 while it still runs, then its response",
            problem_type="upstream-timeout",
            headers={"Retry-After": "5"},
        ) from None


async def _send_and_record(
    requests: IdempotentRequests, begun: Claim, send: Callable[[], Awaitable[Response]]
) -> Response:
    try:
        response = await send()
    except asyncio.CancelledError:
        # Shutdown: whether the service got it is unknown, so the key stays held until its
        # lease ends rather than being freed for a second run now.
        raise
    except Exception:
        await _recorded(requests.abandon(begun))
        raise
    await _recorded(
        requests.finish(begun, response.status_code, dict(response.headers), bytes(response.body))
    )
    return response


async def _recorded(write: Awaitable[None]) -> None:
    # The request has run: its response goes to the caller even when the outcome cannot be
    # recorded. The key then stays held until its lease runs out: a retry meanwhile gets a 409,
    # one after that runs again.
    try:
        await write
    except PyMongoError:
        logger.exception("the outcome of an idempotent request could not be recorded")
