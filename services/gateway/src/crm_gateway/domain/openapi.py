"""One OpenAPI document for the public API, merged from the services' own documents."""

from __future__ import annotations

import copy
from typing import Any

from crm_gateway.domain.routing import PUBLIC_API_PREFIX, Route, route_for

BEARER_SCHEME = {"bearerAuth": {"type": "http", "scheme": "bearer"}}
SCHEMA_REF_PREFIX = "#/components/schemas/"


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
                merged["paths"][PUBLIC_API_PREFIX + path] = item
            elif public_paths.get(path, ("", ""))[0] == service:
                merged["paths"][public_paths[path][1]] = item
    return merged
