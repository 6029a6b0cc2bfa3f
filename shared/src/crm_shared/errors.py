"""RFC 9457 problem details for every HTTP error a service returns."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from pymongo.errors import ConnectionFailure, PyMongoError
from starlette.exceptions import HTTPException as StarletteHTTPException

from crm_shared.problem_docs import PROBLEM_JSON, document_problems

PROBLEM_TYPE_PREFIX = "urn:recruitcrm:problem:"

logger = logging.getLogger(__name__)
# Dependencies whose refusal is a problem of a known status (the authentication and role
# checks), registered where they are defined.
_DEPENDENCY_PROBLEMS: dict[Callable[..., Any], tuple[int, ...]] = {}


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

    def response(self, instance: str) -> JSONResponse:
        """This problem as the answer to a request of the path `instance`."""
        return problem_response(
            self.status,
            self.detail,
            instance=instance,
            problem_type=self.problem_type,
            title=self.title,
            headers=self.headers,
            extensions=self.extensions,
        )


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


# Pydantic's errors for a value outside a fixed set, and how it names each allowed value: an
# enum member in a `Literal[...]` by its repr (`<ListReason.MANUAL: 'manual'>`), which leaks
# Python into the API, anything else as a literal (`'manual'`, `1`).
_CHOICE_ERRORS = frozenset({"literal_error", "enum"})
_ENUM_MEMBER = re.compile(r"<[\w.]+: (.*?)>")


def _choices(expected: str) -> list[str]:
    """The allowed values in pydantic's `expected` ("'a', 'b' or 'c'"), as the caller sends
    them."""
    plain = _ENUM_MEMBER.sub(r"\1", expected)
    values = re.split(r", | or ", plain)
    return [value[1:-1] if value[:1] == value[-1:] == "'" else value for value in values]


def validation_detail(error: Mapping[str, Any]) -> str:
    """What is wrong with the field, in the API's words where pydantic's would leak Python."""
    ctx = error.get("ctx") or {}
    if error.get("type") in _CHOICE_ERRORS and isinstance(ctx.get("expected"), str):
        choices = _choices(ctx["expected"])
        if len(choices) == 1:
            return f"must be {choices[0]}"
        return f"must be one of: {', '.join(choices)}"
    return str(error.get("msg", "invalid value"))


@dataclass(frozen=True)
class FieldError:
    """One entry of a validation problem's `errors`: a field, as the dotted path within the
    part of the request it came in (`source`: `body`, `query`, `path`, `header`), and what is
    wrong with it. `line` places it in a template part; `pointer` (a JSON pointer into the
    body) follows from `field` unless given."""

    field: str
    detail: str
    source: str = "body"
    line: int | None = None
    pointer: str | None = None

    @classmethod
    def query(cls, name: str, detail: str) -> FieldError:
        """A query parameter that is refused."""
        return cls(name, detail, source="query")

    @classmethod
    def whole_body(cls, detail: str, field: str = "body") -> FieldError:
        """The body as a whole (not JSON, not a file that can be read): no pointer reaches a
        part of it."""
        return cls(field, detail, pointer="")

    def entry(self) -> dict[str, Any]:
        """The `{field, pointer, source, detail}` (and `line`) member of the problem."""
        pointer = self.pointer
        if pointer is None:
            pointer = "#/" + self.field.replace(".", "/") if self.source == "body" else ""
        entry: dict[str, Any] = {
            "field": self.field,
            "pointer": pointer,
            "source": self.source,
            "detail": self.detail,
        }
        if self.line is not None:
            entry["line"] = self.line
        return entry


def validation_problem(errors: Sequence[FieldError], detail: str | None = None) -> ProblemError:
    """The 422 `validation-error` naming each bad field, in the one shape of every validation
    refusal: a route's own and the request validation's (`install_problem_handlers`), so a
    client (the console's forms) reads them all the same way. `detail` defaults to the list of
    fields."""
    return ProblemError(
        422,
        detail or "invalid request: " + ", ".join(error.field for error in errors),
        problem_type="validation-error",
        title="Request validation failed",
        extensions={"errors": [error.entry() for error in errors]},
    )


def validation_errors(errors: Sequence[Any]) -> list[FieldError]:
    """Pydantic's errors of a request, each naming the bad field."""
    described = []
    for error in errors:
        location = tuple(error.get("loc", ()))
        if error.get("type") == "json_invalid":
            # Pydantic puts the character offset where a field would be: say it in words.
            offset = location[1] if len(location) > 1 else "?"
            reason = (error.get("ctx") or {}).get("error", "invalid JSON")
            described.append(
                FieldError.whole_body(
                    f"the body is not valid JSON: {reason} (at character {offset})"
                )
            )
            continue
        described.append(
            FieldError(
                _field_path(location),
                validation_detail(error),
                source=str(location[0]) if location else "",
            )
        )
    return described


def install_problem_handlers(app: FastAPI) -> None:
    """Makes every error from `app` a problem+json response."""

    async def on_problem(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ProblemError)
        return error.response(request.url.path)

    async def on_validation(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if (
            media_type
            and not media_type.endswith(("/json", "+json"))
            and any(tuple(e.get("loc", ())) == ("body",) for e in error.errors())
            and request.method in ("POST", "PUT", "PATCH")
        ):
            # The whole body, which the route reads as a JSON object, came as something else
            # (`text/plain`): a form's fields would be named one by one, and stay 422s.
            return problem_response(
                415,
                f"the body must be application/json, not {media_type}",
                instance=request.url.path,
                problem_type="unsupported-media-type",
                title="Unsupported media type",
            )
        return validation_problem(validation_errors(error.errors())).response(request.url.path)

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


def declare_dependency_problems(dependency: Callable[..., Any], *statuses: int) -> None:
    """Records that a FastAPI dependency refuses requests with problems of `statuses`."""
    _DEPENDENCY_PROBLEMS[dependency] = statuses


def _walk(dependant: Dependant) -> Iterable[Dependant]:
    yield dependant
    for dependency in dependant.dependencies:
        yield from _walk(dependency)


def derived_statuses(route: APIRoute | RouteContext) -> set[int]:
    """The problem statuses a route answers because of how it is declared: its dependencies'
    (authentication 401, roles 403), 404 for a path naming a resource, 412/428 for `If-Match`,
    400 for a paging `cursor`, 422 for anything validated."""
    statuses: set[int] = set()
    for dependant in _walk(route.dependant):
        if dependant.call is not None:
            statuses.update(_DEPENDENCY_PROBLEMS.get(dependant.call, ()))
        if dependant.path_params:
            statuses.add(404)
        if any(param.alias.lower() == "if-match" for param in dependant.header_params):
            statuses.update((412, 428))
        if any(param.alias == "cursor" for param in dependant.query_params):
            statuses.add(400)  # `invalid-cursor`: a cursor this listing did not hand out
        if (
            dependant.path_params
            or dependant.query_params
            or dependant.header_params
            or dependant.cookie_params
            or dependant.body_params
        ):
            statuses.add(422)
    return statuses


def install_problem_docs(app: FastAPI) -> None:
    """Makes `app`'s OpenAPI document list the problems each of its operations answers."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        # An included router's routes are reached through their context (FastAPI 0.16x).
        operations = {
            (str(context.path_format), method.lower()): derived_statuses(context)
            for context in iter_route_contexts(app.routes)
            if isinstance(context.original_route, APIRoute) and context.include_in_schema
            for method in context.methods or ()
        }
        document_problems(document, operations)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
