"""The problem+json answers of every operation, documented in each service's OpenAPI document.

An operation documents every error status it really answers, each as an RFC 9457 problem
(`application/problem+json`), so a client (or Schemathesis) can rely on the document. Most
statuses follow from how a route is declared and are added for it by
`crm_shared.errors.install_problem_docs`: 401 where the caller must be authenticated, 403 where
a permission is required, 404 where the path names a resource, 412 and 428 where an edit is
conditional on `If-Match`, 422 (problem+json, not FastAPI's `application/json`) where a request
is validated. The statuses that depend on what the route does (409 for a conflicting state,
400, 410, 413, 415) are declared on the route with `responses=problem_responses(409)`.
This module is the document side alone (no framework), so the gateway's merge can use it.
"""

from __future__ import annotations

import copy
from typing import Any

PROBLEM_JSON = "application/problem+json"

PROBLEM_SCHEMA = "Problem"
VALIDATION_PROBLEM_SCHEMA = "ValidationProblem"
_REF = "#/components/schemas/"

PROBLEM_DESCRIPTIONS: dict[int, str] = {
    400: "The request is malformed, e.g. a paging cursor this listing did not hand out "
    "(`invalid-cursor`); the problem `type` names what.",
    401: "No valid bearer token (`unauthorized`).",
    403: "The caller may not do this (`forbidden`: its `permission` member names the permission "
    "the caller's roles do not grant).",
    404: "No such resource for the caller's tenant (`not-found`).",
    409: "The resource's state does not allow this (`conflict` or a more specific type).",
    410: "The link has expired (`expired-link`).",
    412: "`If-Match` names a version that is no longer (or never was) the current one "
    "(`precondition-failed`); read the resource again and reapply the edit.",
    413: "The request body is too large (`payload-too-large`).",
    415: "The request body's media type is not supported (`unsupported-media-type`).",
    422: "The request is not valid (`validation-error`); `errors` names each bad field.",
    428: "`If-Match` is required: send the `ETag` of the version the edit was made from "
    "(`precondition-required`).",
    429: "Too many requests (`rate-limited`); `Retry-After` says when to try again.",
    502: "A service this one needs is unavailable (`upstream-unavailable`).",
    503: "A dependency is unavailable; try again.",
    504: "A service this one needs did not answer in time.",
}

PROBLEM_SCHEMAS: dict[str, dict[str, Any]] = {
    PROBLEM_SCHEMA: {
        "title": PROBLEM_SCHEMA,
        "description": "An RFC 9457 problem document; some types add members of their own.",
        "type": "object",
        "properties": {
            "type": {"type": "string", "description": "`urn:recruitcrm:problem:<name>`"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "instance": {"type": "string", "description": "The path that was called."},
            "permission": {
                "type": "string",
                "description": "A `forbidden` problem's missing permission, such as "
                "`candidates:write` (docs/permissions.md).",
            },
        },
        "required": ["type", "title", "status", "detail", "instance"],
    },
    VALIDATION_PROBLEM_SCHEMA: {
        "title": VALIDATION_PROBLEM_SCHEMA,
        "description": "A `validation-error` problem naming each bad field.",
        "allOf": [
            {"$ref": _REF + PROBLEM_SCHEMA},
            {
                "type": "object",
                "properties": {
                    "errors": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "field": {"type": "string"},
                                "pointer": {"type": "string"},
                                "source": {"type": "string"},
                                "detail": {"type": "string"},
                                "line": {
                                    "type": "integer",
                                    "description": "For a template part: the line it is on.",
                                },
                            },
                            "required": ["field", "detail"],
                        },
                    }
                },
            },
        ],
    },
}

# FastAPI's own validation-error schemas, which no response names once 422 is a problem.
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def problem_content(status: int) -> dict[str, Any]:
    """The `content` of a problem response of `status`."""
    schema = VALIDATION_PROBLEM_SCHEMA if status == 422 else PROBLEM_SCHEMA
    return {PROBLEM_JSON: {"schema": {"$ref": _REF + schema}}}


def problem_response_doc(status: int, description: str | None = None) -> dict[str, Any]:
    """One OpenAPI response object: a problem of `status`."""
    return {
        "description": description or PROBLEM_DESCRIPTIONS[status],
        "content": problem_content(status),
    }


def problem_responses(*statuses: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the problems it answers because of what it does.

    A description can be given per status as `s409="..."`."""
    return {
        status: problem_response_doc(status, descriptions.get(f"s{status}")) for status in statuses
    }


def _as_problems(responses: dict[str, Any]) -> None:
    # An error response declared without content (or FastAPI's 422) is a problem; one declared
    # with content of its own (an HTML page for a browser) keeps it.
    for status, response in responses.items():
        if not (status.isdigit() and int(status) >= 400):
            continue
        content = response.get("content")
        fastapi_validation = status == "422" and "HTTPValidationError" in str(content)
        if content is None or fastapi_validation:
            response["content"] = problem_content(int(status))
        if fastapi_validation:
            response["description"] = PROBLEM_DESCRIPTIONS[422]


def document_problems(
    document: dict[str, Any], operations: dict[tuple[str, str], set[int]]
) -> None:
    """Adds the problem schemas and, per (path, method) of `operations`, its problem responses;
    every error response of the document gets problem+json content (FastAPI's 422 included)."""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.update(copy.deepcopy(PROBLEM_SCHEMAS))
    for (path, method), statuses in operations.items():
        operation = document.get("paths", {}).get(path, {}).get(method)
        if operation is None:
            continue
        responses = operation.setdefault("responses", {})
        for status in sorted(statuses):
            responses.setdefault(str(status), problem_response_doc(status))
    for item in document.get("paths", {}).values():
        for operation in item.values():
            if isinstance(operation, dict):
                _as_problems(operation.get("responses", {}))
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
