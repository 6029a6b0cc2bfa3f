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
                merged["paths"][PUBLIC_API_PREFIX + path] = _with_gateway_responses(item)
            elif public_paths.get(path, ("", ""))[0] == service:
                extra = PUBLIC_RESPONSES | (SIGNUP_RESPONSES if path == SIGNUP_PATH else {})
                merged["paths"][public_paths[path][1]] = _with_gateway_responses(item, extra)
    return merged
