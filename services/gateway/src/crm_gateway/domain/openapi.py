"""One OpenAPI document for the public API, merged from the services' own documents."""

from __future__ import annotations

import copy
from typing import Any

from crm_gateway.domain.routing import PUBLIC_API_PREFIX, Route, route_for
from crm_shared.problem_docs import PROBLEM_SCHEMAS, problem_response_doc

BEARER_SCHEME = {"bearerAuth": {"type": "http", "scheme": "bearer"}}
SCHEMA_REF_PREFIX = "#/components/schemas/"
# What the gateway itself may answer for any operation it forwards or serves.
GATEWAY_RESPONSES = {
    "400": problem_response_doc(
        400,
        "The request path is not valid (`invalid-path`): a dot segment, an encoded slash, `?` "
        "or `#`, or a control character.",
    ),
    "502": problem_response_doc(
        502,
        "The service is unavailable (`upstream-unavailable`): the request never reached it, so "
        "it is safe to repeat.",
    ),
    "504": problem_response_doc(
        504,
        "The service did not answer in time (`upstream-timeout`) or dropped the connection "
        "(`upstream-no-response`): the request may have taken effect; check before repeating "
        "it.",
    ),
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
    "tenant. A 5xx, 408, 409 or 429 is not stored: the same key may be used to retry. After a "
    "504 the gateway keeps waiting for the service, so a repeat gets a 409 and then the first "
    "response (see docs/reliability.md). 1-255 printable ASCII characters, bare or as a quoted "
    "string.",
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
    "400": problem_response_doc(
        400,
        "Or: the `Idempotency-Key` is empty, longer than 255 characters, not "
        "printable ASCII or sent twice (`invalid-idempotency-key`).",
    ),
    "409": problem_response_doc(
        409,
        "A request with this `Idempotency-Key` is still being processed "
        "(`idempotency-key-in-use`): it is not run twice. Repeat it after `Retry-After` seconds "
        "to get its response.",
    ),
    "422": problem_response_doc(
        422,
        "The `Idempotency-Key` was used for a different request, another path "
        "or body (`idempotency-key-reused`); use a new key for a new request.",
    ),
    "503": problem_response_doc(
        503,
        "Idempotency keys cannot be checked right now "
        "(`idempotency-unavailable`); the request was not sent, repeat it.",
    ),
}
# What the gateway itself may answer for an authenticated `/api/v1` operation, on top.
API_RESPONSES = {
    "401": problem_response_doc(
        401, "No bearer token, or one the gateway does not accept (`unauthorized`)."
    ),
    "403": problem_response_doc(
        403, "The token's tenant is unknown or not active (`unknown-tenant`)."
    ),
    "413": problem_response_doc(
        413, "The request body exceeds the gateway's limit (`payload-too-large`)."
    ),
    "429": problem_response_doc(
        429,
        "The tenant sends too many requests (`rate-limited`); `Retry-After` says when to try "
        "again.",
    ),
}
# What the gateway itself may answer on its public (no login) endpoints, on top.
PUBLIC_RESPONSES = {
    "413": problem_response_doc(
        413, "The request body exceeds the gateway's limit (`payload-too-large`)."
    ),
    "429": problem_response_doc(
        429,
        "Too many requests (`rate-limited`) from this client address (the public limit; for "
        "sign-ups also a sign-up limit per address and per community); `Retry-After` says when "
        "to try again.",
    ),
}
# The sign-up's CAPTCHA, when one is configured.
SIGNUP_RESPONSES = {
    "404": problem_response_doc(404, "No talent community has this key (`not-found`)."),
    "503": problem_response_doc(
        503, "The CAPTCHA could not be checked (`captcha-unavailable`); try again."
    ),
}
SIGNUP_PATH = "/public/community/signups"


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
                documented = responses.get(status)
                if documented is None:
                    responses[status] = copy.deepcopy(response)
                elif response["description"] not in documented.get("description", ""):
                    # The service's reason and the gateway's: the caller may meet either.
                    documented["description"] = (
                        f"{documented.get('description', '')} Or: {response['description']}"
                    ).strip()
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
                copy.deepcopy(gateway_response["content"]["application/problem+json"]),
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
    merged = copy.deepcopy(gateway)  # the gateway's own paths: tracking, inbound mail, export
    for path, item in merged.setdefault("paths", {}).items():
        own = API_RESPONSES if path.startswith(PUBLIC_API_PREFIX + "/") else PUBLIC_RESPONSES
        _with_gateway_responses(item, own)
    components = merged.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    components.setdefault("securitySchemes", {}).update(BEARER_SCHEME)
    schemas.update(copy.deepcopy(PROBLEM_SCHEMAS))
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
                    _with_gateway_responses(item, API_RESPONSES)
                )
            elif public_paths.get(path, ("", ""))[0] == service:
                extra = PUBLIC_RESPONSES | (SIGNUP_RESPONSES if path == SIGNUP_PATH else {})
                merged["paths"][public_paths[path][1]] = _with_gateway_responses(item, extra)
    return merged
