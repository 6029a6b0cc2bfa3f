"""FastAPI dependencies of the gateway: its container, the caller's address and identity
(tenant member, API key, development token, or platform operator), and the per-caller rate
limits."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, Request

from crm_gateway.api.audit_middleware import note_caller, note_rejection
from crm_gateway.api.middleware import RATE_LIMIT_STATE
from crm_gateway.application.api_keys import KeyRefused
from crm_gateway.application.browser_sessions import (
    BrowserSignIn,
    CurrentSession,
    ProviderDown,
    SessionRefused,
)
from crm_gateway.application.identity import CallerRefused
from crm_gateway.application.tenants import DirectoryUnavailable
from crm_gateway.container import GatewayContainer
from crm_gateway.domain.api_keys import digest_matches
from crm_gateway.domain.client_address import client_address as resolve_client_address
from crm_gateway.domain.oidc import Rejection, TokenRejected
from crm_gateway.domain.sessions import (
    CSRF_HEADER,
    SAFE_METHODS,
    SESSION_COOKIE,
    is_own_origin,
    origin_allowed,
    same_secret,
)
from crm_shared import (
    Principal,
    ProblemError,
    bearer_token,
    declare_dependency_problems,
    retry_after_header,
    unauthorized,
)


def container(request: Request) -> GatewayContainer:
    """FastAPI dependency: what `create_app` built for the routes."""
    built: GatewayContainer = request.app.state.container
    return built


async def _container(request: Request) -> GatewayContainer:
    # Asynchronous: FastAPI runs a plain-function dependency in a worker thread.
    return container(request)


Container = Annotated[GatewayContainer, Depends(_container)]


def throttled(wait: float, detail: str) -> ProblemError:
    return ProblemError(
        429, detail, problem_type="rate-limited", headers={"Retry-After": retry_after_header(wait)}
    )


def client_address(request: Request) -> str:
    """The caller's IP address: the socket peer, or what trusted proxies say the client was.

    The server must not rewrite the peer from headers itself (uvicorn `--no-proxy-headers`):
    the gateway alone decides whom to believe (`TRUSTED_PROXIES`)."""
    peer = request.client.host if request.client else "unknown"
    state = container(request)
    forwarded = request.headers.getlist("x-forwarded-for")
    return resolve_client_address(peer, forwarded, state.trusted_proxies)


def limit_public_caller(request: Request, state: Container) -> None:
    """FastAPI dependency: a 429 problem when one IP address calls public endpoints too often."""
    wait = state.public_limiter.take(client_address(request))
    if wait:
        raise throttled(wait, "too many requests from this address")


def limit_ats_webhook(connection_id: str, request: Request, state: Container) -> None:
    """FastAPI dependency of the ATS webhook endpoints, instead of the public per-IP limit: a
    429 problem when one connection receives webhooks too often, or one address sends more of
    them (to any connections) than an ATS would."""
    wait = state.ats_webhook_address_limiter.take(client_address(request))
    if wait:
        raise throttled(wait, "too many webhooks from this address")
    wait = state.ats_webhook_limiter.take(connection_id)
    if wait:
        raise throttled(wait, "too many webhooks for this connection")


def own_url(request: Request, state: GatewayContainer) -> str:
    """The gateway's URL as the browser reaches it (`PUBLIC_URL`, else the request's)."""
    return (state.public_url or str(request.base_url)).rstrip("/")


def console_sign_in_url(request: Request, state: GatewayContainer, tenant_id: str) -> str:
    """Where a member of `tenant_id` signs in: the console's sign-in page with the tenant
    filled in, or the gateway's own URL when it serves no console."""
    if state.console_url is None:
        return own_url(request, state) + "/"
    return f"{own_url(request, state)}/console/sign-in?{urlencode({'tenant': tenant_id})}"


def browser_sign_in(state: GatewayContainer) -> BrowserSignIn:
    """The browser sign-in use cases (a 404 problem where the gateway was built without)."""
    if state.identity.browser_sign_in is None:
        raise ProblemError(404, "browser sign-in is not configured")
    return state.identity.browser_sign_in


async def session_of(request: Request, sign_in: BrowserSignIn) -> CurrentSession:
    """The browser session the request's cookie names, or a 401/403 problem."""
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        raise unauthorized("no one is signed in with this browser")
    try:
        return await sign_in.current(secret)
    except SessionRefused as refused:
        note_rejection(request, refused.reason)
        raise ProblemError(
            401, refused.detail, problem_type="unauthorized", extensions={"reason": refused.reason}
        ) from None
    except CallerRefused as refused:
        note_rejection(
            request, refused.problem_type, tenant_id=refused.tenant_id, user_id=refused.user_id
        )
        raise ProblemError(403, refused.detail, problem_type=refused.problem_type) from None
    except DirectoryUnavailable:
        raise _identity_store_unavailable() from None
    except ProviderDown as down:
        raise ProblemError(
            503,
            f"the identity provider cannot renew the sign-in now: {down}",
            problem_type="identity-provider-unavailable",
            headers={"Retry-After": "5"},
        ) from None


def check_csrf(
    request: Request, state: GatewayContainer, expected: str, *, own_pages_post: bool = False
) -> None:
    """A 403 problem unless a cookie-authenticated write carries the session's CSRF token
    (`X-CSRF-Token`, from `GET /auth/session`) and comes from the gateway's own origin or an
    allowed one: another site can make the browser send the cookie, but can read neither.
    With `own_pages_post` (the console's pages), a write whose `Origin` is the gateway's own
    needs no token: a form posted without script cannot send a header, and no other site's
    page can send that `Origin`."""
    origin = request.headers.get("origin")
    own = own_url(request, state)
    if not origin_allowed(origin, own, state.cors_origins):
        raise ProblemError(
            403, "this origin may not write with the session cookie", problem_type="csrf"
        )
    if own_pages_post and is_own_origin(origin, own):
        return
    if not same_secret(request.headers.get(CSRF_HEADER), expected):
        raise ProblemError(
            403,
            f"a write with the session cookie needs the {CSRF_HEADER} header "
            "(its value is in GET /auth/session)",
            problem_type="csrf",
        )


async def authenticated_principal(request: Request, state: Container) -> Principal:
    """FastAPI dependency: the authenticated caller of an active tenant, or a 401/403 problem
    (a 503 when the tenant's identity provider, or the gateway's database, cannot be reached).

    The token's shape says what it is: a development token, an API key (`crm_...`), else an
    OIDC JWT of the tenant's identity provider, mapped to a member of the tenant. Without a
    bearer token, the console's session cookie; a write with it needs the CSRF token."""
    token = bearer_token(request)
    if token is None:
        if SESSION_COOKIE not in request.cookies or state.identity.browser_sign_in is None:
            raise unauthorized("a bearer token is required")
        current = await session_of(request, state.identity.browser_sign_in)
        if request.method.upper() not in SAFE_METHODS:
            check_csrf(request, state, current.session.csrf_token)
        note_caller(request, current.principal)
        await limit_requests(request, state, current.principal)
        return current.principal
    try:
        principal = await state.identity.authentication.authenticate(token)
    except TokenRejected as rejected:
        note_rejection(request, rejected.reason.value)
        raise _refusal(rejected) from None
    except KeyRefused as refused:
        note_rejection(
            request, refused.reason, tenant_id=refused.tenant_id, api_key_id=refused.key_id
        )
        raise unauthorized(refused.detail) from None
    except CallerRefused as refused:
        note_rejection(
            request, refused.problem_type, tenant_id=refused.tenant_id, user_id=refused.user_id
        )
        raise ProblemError(403, refused.detail, problem_type=refused.problem_type) from None
    except DirectoryUnavailable:
        raise _identity_store_unavailable() from None
    note_caller(request, principal, api_key_id=principal.api_key_id)
    await limit_requests(request, state, principal)
    return principal


async def limit_requests(request: Request, state: GatewayContainer, principal: Principal) -> None:
    """Counts the request against its tenant's budget (and its API key's, if it came with one),
    shared by every gateway replica; a 429 problem when either is spent. The budget left goes
    on the response (`RateLimitHeaders`)."""
    decision = await state.tenant_limiter.hit(principal.tenant_id, principal.api_key_id)
    if decision is None:
        return
    setattr(request.state, RATE_LIMIT_STATE, decision)
    if not decision.allowed:
        raise ProblemError(
            429,
            "this tenant or API key is sending too many requests",
            problem_type="rate-limited",
            headers={"Retry-After": str(decision.reset_seconds), **decision.headers()},
        )


def _identity_store_unavailable() -> ProblemError:
    return ProblemError(
        503,
        "the gateway cannot read its tenants right now",
        problem_type="identity-store-unavailable",
        headers={"Retry-After": "5"},
    )


declare_dependency_problems(limit_public_caller, 429)
declare_dependency_problems(limit_ats_webhook, 429)


def _refusal(rejected: TokenRejected) -> ProblemError:
    if rejected.reason is Rejection.KEYS_UNAVAILABLE:
        return ProblemError(
            503,
            rejected.detail,
            problem_type="identity-provider-unavailable",
            headers={"Retry-After": "5"},
        )
    if rejected.reason is Rejection.UNKNOWN_TOKEN:
        return unauthorized(rejected.detail)
    # RFC 6750: the reason goes in the challenge's error_description, and in the problem.
    return ProblemError(
        401,
        f"the bearer token is not valid: {rejected.detail}",
        problem_type="unauthorized",
        headers={
            "WWW-Authenticate": f'Bearer error="invalid_token", '
            f'error_description="{rejected.reason.value}"'
        },
        extensions={"reason": rejected.reason.value},
    )


declare_dependency_problems(authenticated_principal, 401, 403, 429, 503)
AuthenticatedPrincipal = Annotated[Principal, Depends(authenticated_principal)]


def platform_operator(request: Request, state: Container) -> str:
    """FastAPI dependency: a platform operator's key (not a tenant's credential), whose SHA-256
    is one of `PLATFORM_OPERATOR_KEY_HASHES`; a 401 problem otherwise. Returns a short
    fingerprint of the key (the digest's first 12 characters) to name the operator by."""
    token = bearer_token(request)
    if token is None:
        raise unauthorized("a platform operator key is required")
    # Every digest is compared, so the time taken says nothing about which one nearly matched.
    matched = [d for d in state.identity.operator_key_digests if digest_matches(token, d)]
    if not matched:
        raise unauthorized("the platform operator key is not valid")
    return matched[0][:12]


declare_dependency_problems(platform_operator, 401)
PlatformOperator = Annotated[str, Depends(platform_operator)]
