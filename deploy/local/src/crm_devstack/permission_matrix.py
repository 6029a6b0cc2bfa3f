"""docs/permissions.md, generated from the code: what each role may do, and what each operation
of each service needs (`python -m crm_devstack.permission_matrix write`, part of `make contracts`).

The services are built (not started) with placeholder secrets, so the document is the routes
the code declares, whatever the machine's configuration.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from crm_devstack.generated import write_or_check
from crm_shared import (
    FAMILIES,
    OPENAPI_KEY,
    OPERATOR,
    PERMISSIONS,
    PUBLIC,
    ROLE_PERMISSIONS,
    ROLES,
    Family,
    Role,
    generate_internal_key_pair,
)

DOCUMENT = Path(__file__).resolve().parents[4] / "docs" / "permissions.md"
HTTP_METHODS = ("get", "post", "put", "patch", "delete")
# Only the apps' OpenAPI documents are read: a throwaway key pair stands in for the stack's.
_KEYS = generate_internal_key_pair()
_SECRETS = {
    "environment": "development",
    "internal_token_public_key": _KEYS.public_pem,
    "link_signing_secret": "permission-matrix-placeholder-secret-0123456789",
}
# What a family covers, as docs/security.md "Roles and permissions" names it.
FAMILY_SCOPE = {
    "candidates": "profiles, notes, tags, lists, merges, timeline, custom-field values, messages",
    "pools": "talent pools, their stages and members",
    "segments": "saved segments, their members and previews",
    "imports": "CSV/Excel imports and their error reports",
    "consent": "a candidate's consent ledger",
    "templates": "mail templates and content blocks",
    "sequences": "sequences, enrolments, their notifications",
    "broadcasts": "one-off sends to a segment",
    "events": "recruiting events, registrations, check-in",
    "ats": "ATS connections (read) and applications",
    "analytics": "summaries and engagement",
    "settings": "tenant-wide configuration: profile settings, skill vocabulary, custom-field "
    "definitions, suppressions, mail governance, retention, sites that may embed event forms, "
    "ATS connections (write)",
    "gdpr": "export and erasure of a person",
    "users": "tenant administration: users, roles, API keys, sign-in settings",
    "audit": "the audit log",
}


def _gateway() -> FastAPI:
    from crm_gateway.config import GatewaySettings
    from crm_gateway.main import create_app

    urls = {
        f"{name}_url": f"http://{name}.internal"
        for name in ("candidates", "campaigns", "events", "ats_sync", "analytics")
    }
    gateway = {"internal_token_private_key": _KEYS.private_pem}
    return create_app(GatewaySettings.model_validate(_SECRETS | gateway | urls))


def _candidates() -> FastAPI:
    from crm_candidates.config import CandidatesSettings
    from crm_candidates.main import create_app

    return create_app(CandidatesSettings.model_validate(_SECRETS))


def _campaigns() -> FastAPI:
    from crm_campaigns.config import CampaignsSettings
    from crm_campaigns.main import create_app

    tracking = {"tracking_secret": _SECRETS["link_signing_secret"]}
    return create_app(CampaignsSettings.model_validate(_SECRETS | tracking))


def _events() -> FastAPI:
    from crm_events.config import EventsSettings
    from crm_events.main import create_app

    return create_app(EventsSettings.model_validate(_SECRETS))


def _ats_sync() -> FastAPI:
    from crm_ats_sync.config import AtsSyncSettings
    from crm_ats_sync.main import create_app

    keys = {"ats_secret_keys": f"matrix:{secrets.token_urlsafe(32)}"}
    return create_app(AtsSyncSettings.model_validate(_SECRETS | keys))


def _analytics() -> FastAPI:
    from crm_analytics.config import AnalyticsSettings
    from crm_analytics.main import create_app

    return create_app(AnalyticsSettings.model_validate(_SECRETS))


SERVICE_APPS: dict[str, Callable[[], FastAPI]] = {
    "gateway": _gateway,
    "candidates": _candidates,
    "campaigns": _campaigns,
    "events": _events,
    "ats-sync": _ats_sync,
    "analytics": _analytics,
}


def service_apps() -> dict[str, FastAPI]:
    """Every service's app, built but not started."""
    return {name: build() for name, build in SERVICE_APPS.items()}


def operations(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(METHOD, path, permission) of every operation of an OpenAPI document, in path order."""
    return [
        (method.upper(), path, str(item[method].get(OPENAPI_KEY, "MISSING")))
        for path, item in sorted(document.get("paths", {}).items())
        for method in HTTP_METHODS
        if method in item
    ]


def _grant(role: Role, family: Family) -> str:
    granted = ROLE_PERMISSIONS[role]
    access = [kind for kind in ("read", "write") if f"{family}:{kind}" in granted]
    return ", ".join(access) if access else "-"


def _holders(permission: str) -> str:
    if permission == PUBLIC:
        return "anyone"
    if permission == OPERATOR:
        return "platform operators (operator keys), no tenant role"
    return ", ".join(role for role in ROLES if permission in ROLE_PERMISSIONS[role])


def render(apps: dict[str, FastAPI] | None = None) -> str:
    """The Markdown document."""
    apps = service_apps() if apps is None else apps
    lines = [
        "# Permissions",
        "",
        "<!-- Generated by `make contracts` (python -m crm_devstack.permission_matrix write) from",
        "crm_shared/permissions.py and the services' routes: do not edit by hand. -->",
        "",
        "What each role may do, and the permission each operation needs. A permission is",
        "`<family>:<read|write>`; a write grants the read of its family too. A call without the",
        "permission is answered `403` problem+json of type `forbidden` whose `permission` member",
        "names it. API-key scopes are the same strings. Why the matrix is what it is: "
        "[security.md](security.md#roles-and-permissions).",
        "",
        "## Roles",
        "",
        "| Family | What it covers | " + " | ".join(ROLES) + " |",
        "| --- | --- | " + " | ".join("---" for _ in ROLES) + " |",
    ]
    lines += [
        f"| `{family}` | {FAMILY_SCOPE[family]} | "
        + " | ".join(_grant(role, family) for role in ROLES)
        + " |"
        for family in FAMILIES
    ]
    lines += [
        "",
        f"{len(PERMISSIONS)} permissions in {len(FAMILIES)} families.",
        "",
        "## Operations",
        "",
        "Each service's operations as it publishes them; the gateway serves the authenticated ones",
        "under `/api/v1` and the public ones under `/public/v1`. `public` operations need no login",
        "(tracking, webhooks, forms: each checks its own credential). Every operation's",
        f"permission is also in the OpenAPI documents as `{OPENAPI_KEY}`.",
    ]
    for service, app in apps.items():
        lines += [
            "",
            f"### {service}",
            "",
            "| Method | Path | Permission | Roles |",
            "| --- | --- | --- | --- |",
        ]
        lines += [
            f"| {method} | `{path}` | `{permission}` | {_holders(permission)} |"
            for method, path, permission in operations(app.openapi())
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    """`write` regenerates the document; `check` fails when the checked-in one is stale."""
    return write_or_check(argv, DOCUMENT, render)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
