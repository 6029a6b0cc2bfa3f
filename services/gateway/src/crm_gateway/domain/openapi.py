"""One OpenAPI document for the public API, merged from the services' own documents."""

from __future__ import annotations

import copy
from typing import Any

from crm_gateway.domain.routing import PUBLIC_API_PREFIX, Route, route_for

BEARER_SCHEME = {"bearerAuth": {"type": "http", "scheme": "bearer"}}
SCHEMA_REF_PREFIX = "#/components/schemas/"
PROBLEM_SCHEMA = "GatewayProblem"
_PROBLEM_CONTENT = {
    "application/problem+json": {"schema": {"$ref": SCHEMA_REF_PREFIX + PROBLEM_SCHEMA}}
}
# What the gateway itself may answer for any operation it forwards.
GATEWAY_RESPONSES = {
    "400": {
        "description": "The request path is not valid (`invalid-path`): a dot segment, an "
        "encoded slash, `?` or `#`, or a control character.",
        "content": _PROBLEM_CONTENT,
    },
    "502": {
        "description": "The service is unavailable (`upstream-unavailable`): the request never "
        "reached it, so it is safe to repeat.",
        "content": _PROBLEM_CONTENT,
    },
    "504": {
        "description": "The service did not answer in time (`upstream-timeout`) or dropped the "
        "connection (`upstream-no-response`): the request may have taken effect; check before "
        "repeating it.",
        "content": _PROBLEM_CONTENT,
    },
}
# Every authenticated POST takes an idempotency key (api/idempotency.py).
IDEMPOTENCY_KEY_PARAMETER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "A key of your choosing (a UUID, say) that makes this POST safe to repeat: "
    "sent again with the same key, method, path and body (JSON compared by content) within 24 "
    "hours, it is not run again and the first response is replayed (status, `Location`, "
    "`ETag`, body) with `Idempotent-Replayed: true`. Keys belong to the calling user of the "
    "tenant. A 5xx, 408, 409 or 429 is not stored: the same key may be used to retry; after a "
    "504 that retry runs again (see docs/reliability.md). 1-255 printable ASCII characters, "
    "bare or as a quoted string.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
}
IDEMPOTENT_REPLAYED_HEADER = {
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored response of an earlier request with the "
        "same `Idempotency-Key`; absent when the request ran.",
        "schema": {"type": "string", "enum": ["true"]},
    }
}
IDEMPOTENCY_RESPONSES = {
    "400": {
        "description": "Or: the `Idempotency-Key` is empty, longer than 255 characters, not "
        "printable ASCII or sent twice (`invalid-idempotency-key`).",
        "content": _PROBLEM_CONTENT,
    },
    "409": {
        "description": "A request with this `Idempotency-Key` is still being processed "
        "(`idempotency-key-in-use`): it is not run twice. Repeat it after `Retry-After` seconds "
        "to get its response.",
        "content": _PROBLEM_CONTENT,
    },
    "422": {
        "description": "The `Idempotency-Key` was used for a different request, another path "
        "or body (`idempotency-key-reused`); use a new key for a new request.",
        "content": _PROBLEM_CONTENT,
    },
    "503": {
        "description": "Idempotency keys cannot be checked right now "
        "(`idempotency-unavailable`); the request was not sent, repeat it.",
        "content": _PROBLEM_CONTENT,
    },
}
# What the gateway itself may answer on its public (no login) endpoints, on top of the above.
PUBLIC_RESPONSES = {
    "429": {
        "description": "Too many requests (`rate-limited`) from this client address (the "
        "public limit; for sign-ups also a sign-up limit per address and per community); "
        "`Retry-After` says when to try again.",
        "content": _PROBLEM_CONTENT,
    },
}
# The sign-up's CAPTCHA, when one is configured.
SIGNUP_RESPONSES = {
    "503": {
        "description": "The CAPTCHA could not be checked (`captcha-unavailable`); try again.",
        "content": _PROBLEM_CONTENT,
    },
}
SIGNUP_PATH = "/public/community/signups"
_PROBLEM_JSON_SCHEMA = {
    "title": PROBLEM_SCHEMA,
    "description": "An RFC 9457 problem document.",
    "type": "object",
    "properties": {
        "type": {"type": "string", "description": "`urn:recruitcrm:problem:<name>`"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string", "description": "The public path that was called."},
    },
    "required": ["type", "title", "status", "detail", "instance"],
}


def _with_renamed_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {
            key: (
                SCHEMA_REF_PREFIX
                + renames.get(
                    value.removeprefix(SCHEMA_REF_PREFIX), value.removeprefix(SCHEMA_REF_PREFIX)
                )
                if key == "$ref" and isinstance(value, str) and value.startswith(SCHEMA_REF_PREFIX)
                else _with_renamed_refs(value, renames)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_with_renamed_refs(item, renames) for item in node]
    return node


def _with_gateway_responses(
    item: dict[str, Any], extra: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    for operation in item.values():
        if isinstance(operation, dict):
            responses = operation.setdefault("responses", {})
            for status, response in (GATEWAY_RESPONSES | (extra or {})).items():
                responses.setdefault(status, copy.deepcopy(response))
    return item


def _with_idempotency_key(item: dict[str, Any]) -> dict[str, Any]:
    """A forwarded path item whose POST documents the `Idempotency-Key` header."""
    operation = item.get("post")
    if not isinstance(operation, dict):
        return item
    operation.setdefault("parameters", []).append(copy.deepcopy(IDEMPOTENCY_KEY_PARAMETER))
    responses = operation.setdefault("responses", {})
    for status, response in responses.items():
        if status.startswith("2") and isinstance(response, dict) and "$ref" not in response:
            response.setdefault("headers", {}).update(copy.deepcopy(IDEMPOTENT_REPLAYED_HEADER))
    for status, gateway_response in IDEMPOTENCY_RESPONSES.items():
        own = responses.get(status)
        if own is None:
            responses[status] = copy.deepcopy(gateway_response)
        elif isinstance(own, dict) and "$ref" not in own:
            # The service's own answer with that status (a validation 422) stays documented.
            own["description"] = (
                f"{own.get('description', '')} {gateway_response['description']}".strip()
            )
            own.setdefault("content", {}).setdefault(
                "application/problem+json",
                copy.deepcopy(_PROBLEM_CONTENT["application/problem+json"]),
            )
    return item


def merge_documents(
    gateway: dict[str, Any],
    services: dict[str, dict[str, Any]],
    routes: dict[str, Route],
    public_paths: dict[str, tuple[str, str]],
) -> dict[str, Any]:
    """The gateway's public paths plus every routed path of every service, as the public sees it.

    `public_paths` maps a service path (e.g. `/public/events/{event_id}/registrations`) to the
    (service, public path) it is published under.
    """
    merged = copy.deepcopy(gateway)  # the gateway's own paths: the tracking endpoints
    merged.setdefault("paths", {})
    components = merged.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    components.setdefault("securitySchemes", {}).update(BEARER_SCHEME)
    schemas[PROBLEM_SCHEMA] = _PROBLEM_JSON_SCHEMA
    for service, original in sorted(services.items()):
        service_schemas = original.get("components", {}).get("schemas", {})
        # Two services may define different schemas under one name: keep both, apart.
        renames = {
            name: f"{service}_{name}"
            for name, schema in service_schemas.items()
            if name in schemas and schemas[name] != schema
        }
        document = _with_renamed_refs(original, renames)
        for name, schema in document.get("components", {}).get("schemas", {}).items():
            schemas[renames.get(name, name)] = schema
        for path, item in document.get("paths", {}).items():
            route = route_for(routes, path)
            if route is not None and route.service == service:
                for operation in item.values():
                    if isinstance(operation, dict):
                        operation["security"] = [{"bearerAuth": []}]
                merged["paths"][PUBLIC_API_PREFIX + path] = _with_idempotency_key(
                    _with_gateway_responses(item)
                )
            elif public_paths.get(path, ("", ""))[0] == service:
                extra = PUBLIC_RESPONSES | (SIGNUP_RESPONSES if path == SIGNUP_PATH else {})
                merged["paths"][public_paths[path][1]] = _with_gateway_responses(item, extra)
    return merged
