"""Roles and permissions: what each role may do, in one table, and the check every operation makes.

A permission is `<family>:<read|write>`. API-key scopes are exactly these strings. Every
operation of every service declares the one permission it needs with `require_permission`, or
says it is public (`public_operation`: no login, the service checks its own credential) or
forwarded (`forwarded_operation`: the gateway's pass-through, the service behind it checks),
or a platform operator's (`operator_operation`: operator keys, outside every tenant).
The declaration is also published in OpenAPI as `x-permission`, so the gateway's combined
document and docs/permissions.md show each operation's permission.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from functools import cache
from typing import Annotated, Any, Literal, get_args

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from crm_shared.auth import Principal, Role, current_principal
from crm_shared.errors import ProblemError, declare_dependency_problems

Family = Literal[
    "candidates",
    "pools",
    "segments",
    "imports",
    "consent",
    "templates",
    "sequences",
    "broadcasts",
    "events",
    "ats",
    "analytics",
    "settings",
    "gdpr",
    "users",
    "audit",
]
Permission = Literal[
    "candidates:read",
    "candidates:write",
    "pools:read",
    "pools:write",
    "segments:read",
    "segments:write",
    "imports:read",
    "imports:write",
    "consent:read",
    "consent:write",
    "templates:read",
    "templates:write",
    "sequences:read",
    "sequences:write",
    "broadcasts:read",
    "broadcasts:write",
    "events:read",
    "events:write",
    "ats:read",
    "ats:write",
    "analytics:read",
    "analytics:write",
    "settings:read",
    "settings:write",
    "gdpr:read",
    "gdpr:write",
    "users:read",
    "users:write",
    "audit:read",
    "audit:write",
]
FAMILIES: tuple[Family, ...] = get_args(Family)
PERMISSIONS: tuple[Permission, ...] = get_args(Permission)
# Permissions no operation asks for (a role holds them, for symmetry): a key scoped to them
# alone could do nothing, so the console's key form does not offer them. Checked against every
# service's routes (tests/unit/shared/test_permissions.py).
GRANTING_NOTHING: frozenset[Permission] = frozenset({"analytics:write", "audit:write"})
ROLES: tuple[Role, ...] = get_args(Role)
# The marks of an operation that needs no permission.
PUBLIC = "public"
FORWARDED = "forwarded"
# The platform operator's operations: authenticated by operator keys, outside every tenant.
OPERATOR = "platform-operator"
OPENAPI_KEY = "x-permission"


def _read(*families: Family) -> frozenset[Permission]:
    return frozenset(p for p in PERMISSIONS if p.endswith(":read") and p.split(":")[0] in families)


def _write(*families: Family) -> frozenset[Permission]:
    """Read and write of each family: whoever may change something may see it."""
    return frozenset(p for p in PERMISSIONS if p.split(":")[0] in families)


# Tenant administration, personal data rights and the audit trail: admins only.
_PRIVILEGED: tuple[Family, ...] = ("gdpr", "users", "audit")

# The one table of what each role may do (docs/security.md "Roles and permissions" says why).
ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    "admin": frozenset(PERMISSIONS),
    # Works candidates end to end (sourcing, pools, segments, imports, consent, enrolling them
    # in sequences, sending them to the ATS); sees the rest; changes no tenant-wide setting
    # (connecting an ATS is one) and sends no broadcast.
    "recruiter": _write("candidates", "pools", "segments", "imports", "consent", "sequences", "ats")
    | _read("templates", "broadcasts", "events", "analytics", "settings"),
    # Owns outbound marketing (templates, sequences, broadcasts, the segments they target);
    # reads the people and results it works with.
    "marketer": _write("templates", "sequences", "broadcasts", "segments")
    | _read("candidates", "pools", "consent", "events", "analytics", "settings"),
    # Runs recruiting events; reads the candidates who register.
    "coordinator": _write("events") | _read("candidates", "settings"),
    # Reads everything but tenant administration, personal data exports and the audit log.
    "viewer": _read(*(family for family in FAMILIES if family not in _PRIVILEGED)),
}


def permissions_of(roles: Iterable[Role]) -> frozenset[Permission]:
    """Every permission any of `roles` grants."""
    granted: frozenset[Permission] = frozenset()
    for role in roles:
        granted |= ROLE_PERMISSIONS.get(role, frozenset())
    return granted


def parse_permission(text: str) -> Permission | None:
    """`text` as a permission, or None when it names none (`public`, a typo)."""
    for permission in PERMISSIONS:
        if permission == text:
            return permission
    return None


def principal_may(principal: Principal, permission: Permission) -> bool:
    """Whether the principal's roles grant `permission`, and an API key's scopes include it."""
    if principal.scopes is not None and permission not in principal.scopes:
        return False
    return permission in _granted(principal.roles)


@cache
def _granted(roles: frozenset[Role]) -> frozenset[Permission]:
    # Checked on every request, in the gateway and again in the service: a handful of role
    # sets, each unioned once.
    return permissions_of(roles)


def forbidden(permission: Permission, principal: Principal | None = None) -> ProblemError:
    """The 403 problem for a caller without `permission`; it names the permission (an API key
    whose scopes lack it gets `insufficient-scope`)."""
    if (
        principal is not None
        and principal.scopes is not None
        and permission not in principal.scopes
    ):
        return ProblemError(
            403,
            f"the API key's scopes do not include {permission}",
            problem_type="insufficient-scope",
            extensions={"permission": permission},
        )
    return ProblemError(
        403,
        f"requires the permission {permission}",
        problem_type="forbidden",
        extensions={"permission": permission},
    )


# The dependency of each mark: how an operation's permission is found again (OpenAPI, tests).
_MARKS: dict[Callable[..., Any], str] = {}


@cache
def _permission_check(
    permission: Permission, principal_of: Callable[..., Any]
) -> Callable[[Principal], Awaitable[Principal]]:
    # Asynchronous, as every dependency on the request path: FastAPI runs a plain function in
    # a worker thread.
    async def check(principal: Principal) -> Principal:
        if not principal_may(principal, permission):
            raise forbidden(permission, principal)
        return principal

    # Evaluated here, not as a string (this module postpones annotations), since FastAPI
    # resolves string annotations in the module's namespace, where `principal_of` is unknown.
    check.__annotations__ = {
        "principal": Annotated[Principal, Depends(principal_of)],
        "return": Principal,
    }
    check.__name__ = check.__qualname__ = f"require_{permission.replace(':', '_')}"
    declare_dependency_problems(check, 403)
    _MARKS[check] = permission
    return check


def require_permission(
    permission: Permission, principal_of: Callable[..., Any] = current_principal
) -> Any:
    """FastAPI dependency: a 403 problem naming `permission` unless the principal's roles grant
    it. As a route's `dependencies=[...]` it runs before the body is validated.

    `principal_of` is the dependency that finds the caller: a service's `current_principal`
    (the internal token), or the gateway's own authentication."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")
    return Depends(_permission_check(permission, principal_of))


async def _public() -> None:
    """No permission: the caller is not logged in; the route checks its own credential."""


async def _forwarded() -> None:
    """No permission here: the service the request is forwarded to checks it."""


async def _operator() -> None:
    """No tenant permission: the route takes a platform operator's key, not a tenant's caller."""


_MARKS[_public] = PUBLIC
_MARKS[_forwarded] = FORWARDED
_MARKS[_operator] = OPERATOR


def public_operation() -> Any:
    """FastAPI dependency marking an operation public: tracking, webhooks, forms, probes."""
    return Depends(_public)


def operator_operation() -> Any:
    """FastAPI dependency marking a platform operator's operation (tenants), which no tenant
    role or API key may call."""
    return Depends(_operator)


def forwarded_operation() -> Any:
    """FastAPI dependency marking an operation that forwards to a service which checks the
    permission (the gateway's pass-through)."""
    return Depends(_forwarded)


def _calls(route: APIRoute | RouteContext) -> Iterator[Callable[..., Any]]:
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        if dependant.call is not None:
            yield dependant.call
        pending.extend(dependant.dependencies)


def operation_permission(route: APIRoute | RouteContext) -> str | None:
    """The permission a route requires, `public`, `forwarded`, or None when it declares none."""
    marks = {_MARKS[call] for call in _calls(route) if call in _MARKS}
    if len(marks) > 1:
        raise ValueError(f"{route.path_format} declares several permissions: {sorted(marks)}")
    return next(iter(marks), None)


def route_permissions(app: FastAPI) -> dict[tuple[str, str], str | None]:
    """(METHOD, path) -> the permission mark of every API route of `app`, in the schema or not."""
    return {
        (method, str(context.path_format)): operation_permission(context)
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
        for method in sorted(context.methods or ())
    }


def install_permission_docs(app: FastAPI) -> None:
    """Makes `app`'s OpenAPI document carry each operation's permission as `x-permission`."""
    generate = app.openapi
    annotated: list[int] = []  # the id of the (cached) document already annotated

    def openapi() -> dict[str, Any]:
        document = generate()
        if annotated != [id(document)]:
            for (method, path), permission in route_permissions(app).items():
                operation = document.get("paths", {}).get(path, {}).get(method.lower())
                if isinstance(operation, dict) and permission is not None:
                    operation[OPENAPI_KEY] = permission
            annotated[:] = [id(document)]
        return document

    app.openapi = openapi  # type: ignore[method-assign]
