"""Public endpoints (no login): tracking, event registration, ATS webhooks, talent-community
sign-up, consent confirmation, preference centre and unsubscribe, inbound mail.

Each is rate-limited per IP address and accepts only small bodies; the service behind it checks
its own credential (a signed token, an existing event, a webhook signature). The ATS webhooks
are limited per connection instead (`ats_webhook_router`): an ATS sends a bulk action's
hundreds of deliveries at once from a few addresses.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request, Response

from crm_gateway.adapters.captcha import CaptchaUnavailable
from crm_gateway.api.deps import (
    Container,
    client_address,
    limit_ats_webhook,
    limit_public_caller,
    throttled,
)
from crm_gateway.api.proxy import bounded_body, forward
from crm_gateway.api.public_pages import upstream_problem_page
from crm_gateway.application.tenants import DirectoryUnavailable
from crm_gateway.container import GatewayContainer
from crm_gateway.domain.routing import PUBLIC_UNAUTHENTICATED_PREFIX, tenant_for_community_key
from crm_shared import (
    FieldError,
    Principal,
    ProblemError,
    RateLimiter,
    problem_responses,
    public_operation,
    validation_problem,
)

router = APIRouter(dependencies=[public_operation(), Depends(limit_public_caller)], tags=["public"])
# The ATS webhooks: limited per connection, with a generous ceiling per address
# (`ATS_WEBHOOKS_PER_MINUTE_PER_CONNECTION`, `ATS_WEBHOOKS_PER_MINUTE_PER_IP`).
ats_webhook_router = APIRouter(
    dependencies=[public_operation(), Depends(limit_ats_webhook)], tags=["public"]
)

# Service path -> (service, public path): how the services' public routes are published.
PUBLIC_PATHS: dict[str, tuple[str, str]] = {
    "/public/events/{event_id}": ("events", f"{PUBLIC_UNAUTHENTICATED_PREFIX}/events/{{event_id}}"),
    "/public/events/{event_id}/registrations": (
        "events",
        f"{PUBLIC_UNAUTHENTICATED_PREFIX}/events/{{event_id}}/registrations",
    ),
    "/public/event-registrations/{token}": (
        "events",
        f"{PUBLIC_UNAUTHENTICATED_PREFIX}/event-registrations/{{token}}",
    ),
    "/public/event-registrations/{token}/cancel": (
        "events",
        f"{PUBLIC_UNAUTHENTICATED_PREFIX}/event-registrations/{{token}}/cancel",
    ),
    "/public/event-registrations/{token}/invitation.ics": (
        "events",
        f"{PUBLIC_UNAUTHENTICATED_PREFIX}/event-registrations/{{token}}/invitation.ics",
    ),
    "/public/ats/{provider}/{connection_id}/webhooks": (
        "ats-sync",
        f"{PUBLIC_UNAUTHENTICATED_PREFIX}/ats/{{provider}}/{{connection_id}}/webhooks",
    ),
    "/public/community/signups": (
        "candidates",
        f"{PUBLIC_UNAUTHENTICATED_PREFIX}/community/signups",
    ),
    "/public/community/confirm/{token}": (
        "candidates",
        f"{PUBLIC_UNAUTHENTICATED_PREFIX}/community/confirm/{{token}}",
    ),
    "/public/preferences/{token}": (
        "candidates",
        f"{PUBLIC_UNAUTHENTICATED_PREFIX}/preferences/{{token}}",
    ),
    "/public/unsubscribe/{token}": (
        "candidates",
        f"{PUBLIC_UNAUTHENTICATED_PREFIX}/unsubscribe/{{token}}",
    ),
}
# Who a community sign-up acts as: nobody logged in, within the tenant its public key names.
COMMUNITY_SIGNUP_USER = "public:community"


async def forward_public(
    request: Request,
    state: Container,
    service: str,
    segments: tuple[str, ...],
    *,
    max_bytes: int | None = None,
) -> Response:
    """Forwards an unauthenticated public request to the path `segments` of `service`, its body
    capped at `max_bytes` (the public request cap unless given). A service's 5xx problem on a
    page a person opens is a page for a browser (`upstream_problem_page`)."""
    base = state.service_urls[service]
    cap = state.max_public_request_bytes if max_bytes is None else max_bytes
    answer = await forward(request, state, base, segments, principal=None, max_bytes=cap)
    return upstream_problem_page(request, answer)


@router.get("/t/o/{token}", summary="Open-tracking pixel")
async def open_pixel(token: str, request: Request, state: Container) -> Response:
    """The 1x1 pixel of a message; loading it records an open."""
    return await forward_public(
        request, state, "campaigns", ("tracking", "open", token), max_bytes=0
    )


@router.get("/t/c/{token}", summary="Tracked link")
async def tracked_link(token: str, request: Request, state: Container) -> Response:
    """Redirects to the URL stored for this link of the message and records the click."""
    return await forward_public(
        request, state, "campaigns", ("tracking", "click", token), max_bytes=0
    )


@router.get(f"{PUBLIC_UNAUTHENTICATED_PREFIX}/events/{{event_id}}", include_in_schema=False)
async def published_event(event_id: str, request: Request, state: Container) -> Response:
    """A recruiting event as its public registration page shows it."""
    return await forward_public(request, state, "events", ("public", "events", event_id))


@router.post(
    f"{PUBLIC_UNAUTHENTICATED_PREFIX}/events/{{event_id}}/registrations", include_in_schema=False
)
async def register_for_event(event_id: str, request: Request, state: Container) -> Response:
    """Public registration for a recruiting event."""
    path = ("public", "events", event_id, "registrations")
    return await forward_public(request, state, "events", path)


@router.get(
    f"{PUBLIC_UNAUTHENTICATED_PREFIX}/event-registrations/{{token}}", include_in_schema=False
)
async def event_registration(token: str, request: Request, state: Container) -> Response:
    """A registration behind the registrant's signed link."""
    path = ("public", "event-registrations", token)
    return await forward_public(request, state, "events", path, max_bytes=0)


@router.post(
    f"{PUBLIC_UNAUTHENTICATED_PREFIX}/event-registrations/{{token}}/cancel",
    include_in_schema=False,
)
async def cancel_event_registration(token: str, request: Request, state: Container) -> Response:
    """The registrant cancels through their signed link."""
    path = ("public", "event-registrations", token, "cancel")
    return await forward_public(request, state, "events", path)


@router.get(
    f"{PUBLIC_UNAUTHENTICATED_PREFIX}/event-registrations/{{token}}/invitation.ics",
    include_in_schema=False,
)
async def event_invitation(token: str, request: Request, state: Container) -> Response:
    """The calendar invitation of a registration, through its signed link."""
    path = ("public", "event-registrations", token, "invitation.ics")
    return await forward_public(request, state, "events", path, max_bytes=0)


@ats_webhook_router.post(
    f"{PUBLIC_UNAUTHENTICATED_PREFIX}/ats/{{provider}}/{{connection_id}}/webhooks",
    include_in_schema=False,
)
async def ats_webhook(
    provider: str, connection_id: str, request: Request, state: Container
) -> Response:
    """A webhook delivery from an ATS (Greenhouse, Lever, Workable) for one connection."""
    path = ("public", "ats", provider, connection_id, "webhooks")
    return await forward_public(request, state, "ats-sync", path, max_bytes=state.max_webhook_bytes)


def _signup_document(body: bytes) -> dict[str, object]:
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    return document if isinstance(document, dict) else {}


def _invalid_field(name: str, detail: str) -> ProblemError:
    return validation_problem([FieldError(name, detail)])


def _signup_tenant_key(document: dict[str, object]) -> str:
    key = document.get("tenant")
    if not isinstance(key, str) or not key:
        raise _invalid_field("tenant", "the tenant's community key is required")
    return key


async def _check_captcha(
    state: GatewayContainer, document: dict[str, object], address: str
) -> None:
    if state.captcha is None:
        return
    token = document.get("captcha_token")
    try:
        genuine = isinstance(token, str) and await state.captcha.verify(token, address)
    except CaptchaUnavailable as error:
        # Failing open would let a bot through whenever the provider is slow; the person can
        # send the form again.
        raise ProblemError(
            503,
            "the CAPTCHA could not be checked; please try again",
            problem_type="captcha-unavailable",
            headers={"Retry-After": "5"},
        ) from error
    if not genuine:
        raise _invalid_field("captcha_token", "the CAPTCHA was not solved")


def _limit_signup(limiter: RateLimiter | None, key: str, detail: str) -> None:
    wait = limiter.take(key) if limiter is not None else 0.0
    if wait:
        raise throttled(wait, detail)


@router.post(f"{PUBLIC_UNAUTHENTICATED_PREFIX}/community/signups", include_in_schema=False)
async def community_signup(request: Request, state: Container) -> Response:
    """A talent-community sign-up; the form names its tenant by the tenant's public key.

    Beyond the public per-address limit, sign-ups have their own: per client address and per
    community key (each sign-up may send a mail to an address nobody verified yet), and a
    CAPTCHA when one is configured."""
    address = client_address(request)
    _limit_signup(state.signup_address_limiter, address, "too many sign-ups from this address")
    body = await bounded_body(request, state.max_public_request_bytes)
    document = _signup_document(body)
    community_key = _signup_tenant_key(document)
    try:
        tenants = await state.identity.tenants.all()
    except DirectoryUnavailable:
        raise ProblemError(
            503, "sign-ups are unavailable right now", problem_type="unavailable"
        ) from None
    tenant_id = tenant_for_community_key(tenants, community_key)
    if tenant_id is None:
        raise ProblemError(404, "no talent community with this key", problem_type="not-found")
    _limit_signup(state.signup_community_limiter, tenant_id, "too many sign-ups for this community")
    await _check_captcha(state, document, address)
    return await forward(
        request,
        state,
        state.service_urls["candidates"],
        ("public", "community", "signups"),
        principal=Principal(tenant_id=tenant_id, user_id=COMMUNITY_SIGNUP_USER),
        service="candidates",
        max_bytes=0,
        body=body,
    )


@router.api_route(
    f"{PUBLIC_UNAUTHENTICATED_PREFIX}/community/confirm/{{token}}",
    methods=["GET", "POST"],
    include_in_schema=False,
)
async def confirm_consent(token: str, request: Request, state: Container) -> Response:
    """A consent confirmation link (double opt-in, re-permission)."""
    path = ("public", "community", "confirm", token)
    return await forward_public(request, state, "candidates", path)


@router.api_route(
    f"{PUBLIC_UNAUTHENTICATED_PREFIX}/preferences/{{token}}",
    methods=["GET", "POST"],
    include_in_schema=False,
)
async def preference_centre(token: str, request: Request, state: Container) -> Response:
    """The preference centre a mail links to."""
    return await forward_public(request, state, "candidates", ("public", "preferences", token))


@router.api_route(
    f"{PUBLIC_UNAUTHENTICATED_PREFIX}/unsubscribe/{{token}}",
    methods=["GET", "POST"],
    include_in_schema=False,
)
async def unsubscribe(token: str, request: Request, state: Container) -> Response:
    """The unsubscribe link: a GET opens a page whose button POSTs; a mail client's one-click
    POST (RFC 8058) unsubscribes at once."""
    return await forward_public(request, state, "candidates", ("public", "unsubscribe", token))


async def _inbound_mail(
    token: str, path: tuple[str, ...], request: Request, state: Container
) -> Response:
    return await forward(
        request,
        state,
        state.service_urls["campaigns"],
        ("public", "mail", token, *path),
        principal=None,
        max_bytes=state.max_webhook_bytes,
    )


@router.post(
    f"{PUBLIC_UNAUTHENTICATED_PREFIX}/mail/{{token}}/bounces",
    summary="Bounce report (RFC 3464 delivery status notification)",
    responses=problem_responses(422, s422="The body is not a delivery status notification."),
)
async def mail_bounce_report(token: str, request: Request, state: Container) -> Response:
    """A raw DSN as the mail server returned it; the token is the tenant's inbound credential."""
    return await _inbound_mail(token, ("bounces",), request, state)


@router.post(
    f"{PUBLIC_UNAUTHENTICATED_PREFIX}/mail/{{token}}/postmark/bounces",
    summary="Postmark bounce webhook",
    responses=problem_responses(422, s422="The body is not a Postmark bounce."),
)
async def postmark_bounce_webhook(token: str, request: Request, state: Container) -> Response:
    """Postmark's bounce webhook for the tenant named by the token."""
    return await _inbound_mail(token, ("postmark", "bounces"), request, state)


@router.post(
    f"{PUBLIC_UNAUTHENTICATED_PREFIX}/mail/{{token}}/postmark/inbound",
    summary="Postmark inbound webhook (replies)",
    responses=problem_responses(422, s422="The body is not a Postmark inbound message."),
)
async def postmark_inbound_webhook(token: str, request: Request, state: Container) -> Response:
    """Postmark's inbound webhook: replies to the tenant's messages."""
    return await _inbound_mail(token, ("postmark", "inbound"), request, state)


@router.post(
    f"{PUBLIC_UNAUTHENTICATED_PREFIX}/mail/{{token}}/replies",
    summary="Reply as received (raw mail, or SendGrid Inbound Parse raw)",
    responses=problem_responses(422, s422="The body is not a mail, nor a form holding one."),
)
async def raw_reply(token: str, request: Request, state: Container) -> Response:
    """A reply to one of the tenant's messages as the mail server received it."""
    return await _inbound_mail(token, ("replies",), request, state)


@router.post(
    f"{PUBLIC_UNAUTHENTICATED_PREFIX}/mail/{{token}}/ses",
    summary="Amazon SES notifications (SNS subscription)",
    responses=problem_responses(
        403,
        422,
        502,
        s403="SNS's signature does not verify (`webhook-rejected`).",
        s422="The body is not an SNS message.",
        s502="SNS could not be reached to confirm the subscription.",
    ),
)
async def ses_notification(token: str, request: Request, state: Container) -> Response:
    """Amazon SES bounce and complaint notifications from an SNS HTTPS subscription; campaigns
    verifies SNS's signature and confirms the subscription."""
    return await _inbound_mail(token, ("ses",), request, state)
