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
                merged["paths"][PUBLIC_API_PREFIX + path] = _with_gateway_responses(
                    item, API_RESPONSES
                )
            elif public_paths.get(path, ("", ""))[0] == service:
                extra = PUBLIC_RESPONSES | (SIGNUP_RESPONSES if path == SIGNUP_PATH else {})
                merged["paths"][public_paths[path][1]] = _with_gateway_responses(item, extra)
    return merged
