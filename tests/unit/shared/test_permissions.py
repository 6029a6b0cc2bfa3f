"""Roles and permissions: the matrix, the check, and that every operation of every service
declares its permission (a new route without one fails here)."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from crm_devstack.permission_matrix import DOCUMENT, operations, render, service_apps
from crm_shared import (
    FAMILIES,
    FORWARDED,
    GRANTING_NOTHING,
    OPENAPI_KEY,
    OPERATOR,
    PERMISSIONS,
    PUBLIC,
    ROLE_PERMISSIONS,
    ROLES,
    CurrentPrincipal,
    InternalTokenVerifier,
    Principal,
    Role,
    install_permission_docs,
    load_public_key,
    permissions_of,
    public_operation,
    require_permission,
    route_permissions,
)
from crm_shared.errors import install_problem_docs, install_problem_handlers
from internal_keys import INTERNAL_TOKEN_PUBLIC_KEY, internal_bearer

pytestmark = pytest.mark.unit

AUDIENCE = "candidates"


@pytest.fixture(scope="module")
def apps() -> dict[str, FastAPI]:
    return service_apps()


def test_admin_holds_every_permission() -> None:
    assert ROLE_PERMISSIONS["admin"] == frozenset(PERMISSIONS)


def test_a_viewer_reads_everything_but_gdpr_users_and_audit_and_writes_nothing() -> None:
    viewer = ROLE_PERMISSIONS["viewer"]
    assert not [p for p in viewer if p.endswith(":write")]
    private = {"gdpr", "users", "audit"}
    assert viewer == {f"{f}:read" for f in FAMILIES if f not in private}


def test_a_coordinator_writes_events_only() -> None:
    writes = {p for p in ROLE_PERMISSIONS["coordinator"] if p.endswith(":write")}
    assert writes == {"events:write"}
    assert "candidates:read" in ROLE_PERMISSIONS["coordinator"]


def test_a_recruiter_changes_no_tenant_setting_and_broadcasts_nothing() -> None:
    recruiter = ROLE_PERMISSIONS["recruiter"]
    for denied in ("settings:write", "broadcasts:write", "templates:write", "gdpr:read"):
        assert denied not in recruiter
    for granted in ("candidates:write", "pools:write", "segments:write", "imports:write"):
        assert granted in recruiter
    # Enrolling candidates in a sequence is a sequences write.
    assert {"consent:write", "sequences:write", "analytics:read"} <= recruiter


def test_a_marketer_owns_outbound_mail_and_reads_candidates() -> None:
    marketer = ROLE_PERMISSIONS["marketer"]
    assert {"templates:write", "sequences:write", "broadcasts:write", "segments:write"} <= marketer
    assert {"candidates:read", "analytics:read"} <= marketer
    assert "candidates:write" not in marketer
    assert "settings:write" not in marketer


@pytest.mark.parametrize("role", ROLES)
def test_a_write_always_comes_with_its_read(role: Role) -> None:
    granted = ROLE_PERMISSIONS[role]
    for permission in granted:
        family, kind = permission.split(":")
        if kind == "write":
            assert f"{family}:read" in granted


def test_several_roles_grant_the_union() -> None:
    both = permissions_of(["coordinator", "marketer"])
    assert both == ROLE_PERMISSIONS["coordinator"] | ROLE_PERMISSIONS["marketer"]
    assert permissions_of([]) == frozenset()


def test_an_unknown_permission_is_refused_at_declaration() -> None:
    with pytest.raises(ValueError, match="unknown permission"):
        require_permission("candidates:delete")  # type: ignore[arg-type]


class Note(BaseModel):
    text: str


def _app() -> FastAPI:
    app = FastAPI()
    app.state.internal_token_verifier = InternalTokenVerifier(
        load_public_key(INTERNAL_TOKEN_PUBLIC_KEY), AUDIENCE
    )
    install_problem_handlers(app)
    install_problem_docs(app)
    install_permission_docs(app)
    router = APIRouter()

    @router.post("/notes/{note_id}", dependencies=[require_permission("candidates:write")])
    async def add_note(note_id: int, note: Note, principal: CurrentPrincipal) -> Note:
        return note

    @router.get("/open", dependencies=[public_operation()])
    async def open_page() -> dict[str, str]:
        return {}

    @router.get("/undeclared")
    async def undeclared() -> dict[str, str]:
        return {}

    app.include_router(router)
    return app


def _as(*roles: Role) -> dict[str, str]:
    principal = Principal(tenant_id="acme", user_id="u", roles=frozenset(roles))
    return internal_bearer(principal, AUDIENCE)


def test_a_forbidden_call_is_a_403_naming_the_permission_before_its_body_is_validated() -> None:
    app = _app()
    with TestClient(app) as client:
        # An empty body and a path id that is no integer: still the 403, not a 422.
        refused = client.post("/notes/not-a-number", headers=_as("viewer"))
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["permission"] == "candidates:write"
        assert "candidates:write" in refused.json()["detail"]
        permitted = client.post("/notes/not-a-number", headers=_as("recruiter"))
        assert permitted.status_code == 422
        created = client.post("/notes/7", json={"text": "x"}, headers=_as("recruiter"))
        assert created.status_code == 200
        assert client.post("/notes/7", json={"text": "x"}).status_code == 401
        # FastAPI parses a JSON body before it solves dependencies: one that is not JSON at all
        # is a 422 even for a caller without the permission (docs/security.md says so).
        malformed = client.post(
            "/notes/7",
            content=b"{",
            headers=_as("viewer") | {"content-type": "application/json"},
        )
        assert malformed.status_code == 422


def test_the_permission_is_published_in_openapi_and_an_undeclared_route_is_found() -> None:
    app = _app()
    document = app.openapi()
    assert document["paths"]["/notes/{note_id}"]["post"][OPENAPI_KEY] == "candidates:write"
    assert "403" in document["paths"]["/notes/{note_id}"]["post"]["responses"]
    assert document["paths"]["/open"]["get"][OPENAPI_KEY] == PUBLIC
    assert OPENAPI_KEY not in document["paths"]["/undeclared"]["get"]
    assert route_permissions(app)[("GET", "/undeclared")] is None


def test_every_route_of_every_service_declares_a_permission_or_says_it_is_public(
    apps: dict[str, FastAPI],
) -> None:
    undeclared = [
        f"{service}: {method} {path}"
        for service, app in apps.items()
        for (method, path), permission in route_permissions(app).items()
        if permission is None
    ]
    assert undeclared == [], "declare require_permission(...) or public_operation()"


def test_every_operation_of_every_service_document_carries_its_permission(
    apps: dict[str, FastAPI],
) -> None:
    for service, app in apps.items():
        for method, path, permission in operations(app.openapi()):
            assert permission in (*PERMISSIONS, PUBLIC, OPERATOR), f"{service}: {method} {path}"
            if permission == OPERATOR:
                assert (service, path.split("/")[3]) == ("gateway", "platform"), path
    # Only the gateway's pass-through is marked forwarded, and it is not in any document.
    forwarded = [
        (service, key)
        for service, app in apps.items()
        for key, permission in route_permissions(app).items()
        if permission == FORWARDED
    ]
    assert {service for service, _ in forwarded} == {"gateway"}
    assert {path for _, (_, path) in forwarded} == {"/api/v1/{path}"}


def test_public_operations_are_only_the_unauthenticated_ones(apps: dict[str, FastAPI]) -> None:
    for service, app in apps.items():
        for (method, path), permission in route_permissions(app).items():
            if permission == PUBLIC:
                assert (
                    path.startswith(
                        (
                            "/public",
                            "/tracking",
                            "/t/",
                            "/healthz",
                            "/readyz",
                            "/metrics",
                            "/docs",
                            # Browser sign-in: the flow's state or the session cookie.
                            "/auth/",
                            # The console: the gateway checks the session cookie itself.
                            "/console",
                        )
                    )
                    or path == "/openapi.json"
                ), f"{service}: {method} {path} is marked public"


def test_the_checked_in_permission_matrix_matches_the_code(apps: dict[str, FastAPI]) -> None:
    assert DOCUMENT.read_text(encoding="utf-8") == render(apps), (
        "docs/permissions.md is stale: run `make contracts`"
    )


def test_the_permissions_granting_nothing_are_those_no_operation_asks_for(
    apps: dict[str, FastAPI],
) -> None:
    """The key form leaves them out: should a route come to need one, this fails first."""
    asked = {
        permission
        for app in apps.values()
        for _, _, permission in operations(app.openapi())
        if permission in PERMISSIONS
    }
    assert set(PERMISSIONS) - asked == GRANTING_NOTHING
