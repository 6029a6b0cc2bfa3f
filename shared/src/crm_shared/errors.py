"""RFC 9457 problem details for every HTTP error a service returns."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pymongo.errors import ConnectionFailure, PyMongoError
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:recruitcrm:problem:"

logger = logging.getLogger(__name__)


class ProblemError(Exception):
    """An error that is answered as a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        problem_type: str | None = None,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.problem_type = problem_type
        self.title = title or HTTPStatus(status).phrase
        self.headers = dict(headers or {})
        self.extensions = dict(extensions or {})


def problem_response(
    status: int,
    detail: str,
    *,
    instance: str,
    problem_type: str | None = None,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_PREFIX + problem_type if problem_type else "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": instance,
        **(extensions or {}),
    }
    return JSONResponse(
        body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_JSON
    )


def _field_path(location: Sequence[int | str]) -> str:
    # The first element says where the value came from (body, query, path, header).
    parts = [str(part) for part in location[1:]] or [str(part) for part in location]
    return ".".join(parts)


def validation_errors(errors: Sequence[Any]) -> list[dict[str, str]]:
    """Pydantic errors as `{field, pointer, source, detail}` entries naming each bad field."""
    described = []
    for error in errors:
        location = tuple(error.get("loc", ()))
        field = _field_path(location)
        described.append(
            {
                "field": field,
                "pointer": "#/" + field.replace(".", "/") if location[:1] == ("body",) else "",
                "source": str(location[0]) if location else "",
                "detail": str(error.get("msg", "invalid value")),
            }
        )
    return described


def install_problem_handlers(app: FastAPI) -> None:
    """Makes every error from `app` a problem+json response."""

    async def on_problem(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ProblemError)
        return problem_response(
            error.status,
            error.detail,
            instance=request.url.path,
            problem_type=error.problem_type,
            title=error.title,
            headers=error.headers,
            extensions=error.extensions,
        )

    async def on_validation(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        errors = validation_errors(error.errors())
        fields = ", ".join(entry["field"] for entry in errors)
        return problem_response(
            422,
            f"invalid request: {fields}",
            instance=request.url.path,
            problem_type="validation-error",
            title="Request validation failed",
            extensions={"errors": errors},
        )

    async def on_http(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        return problem_response(
            error.status_code,
            str(error.detail),
            instance=request.url.path,
            headers=error.headers,
        )

    async def on_unexpected(request: Request, error: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        # Starlette re-raises the error after this answer and uvicorn then closes the connection.
        # Said here, a client (the gateway's pool) never sends its next request on a connection
        # about to close, where it would be lost, possibly half-done, with no response.
        return problem_response(
            500,
            "an unexpected error occurred",
            instance=request.url.path,
            headers={"Connection": "close"},
        )

    async def on_database_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, PyMongoError)
        if isinstance(error, ConnectionFailure) and not error.timeout:
            # The connection broke under the call (the database process died or restarted):
            # the database is unavailable, not the service broken, and a write sent before the
            # break may have committed.
            logger.warning(
                "database unavailable on %s %s: %s", request.method, request.url.path, error
            )
            return problem_response(
                503,
                "the database is unavailable; a write may or may not have taken effect "
                "(retry with the same Idempotency-Key, or read before writing again)",
                instance=request.url.path,
                problem_type="database-unavailable",
                headers={"Retry-After": "5"},
            )
        if not error.timeout:
            return await on_unexpected(request, error)
        logger.warning("database timeout on %s %s: %s", request.method, request.url.path, error)
        # Like the gateway's own upstream timeout: a write may have committed, so this is never
        # reported as a plain failure.
        return problem_response(
            504,
            "the database did not answer in time; a write may or may not have taken effect "
            "(retry with the same Idempotency-Key, or read before writing again)",
            instance=request.url.path,
            problem_type="database-timeout",
            headers={"Retry-After": "5"},
        )

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(PyMongoError, on_database_error)
    app.add_exception_handler(Exception, on_unexpected)
