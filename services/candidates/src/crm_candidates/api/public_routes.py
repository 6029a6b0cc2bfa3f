"""Public consent endpoints, reached through the gateway's `/public/v1/...` routes.

The talent-community sign-up arrives with an internal token the gateway minted for the tenant
its public key names; it is stored as a pending sign-up until its confirmation link is used.
Confirmation, preference and unsubscribe links carry their own signed token (`SignedLinks`):
the tenant and candidate (or pending sign-up) come from the verified token only. A forged or
unknown link is a 404, an expired one (or one of an erased person) a 410: for a browser
(`Accept: text/html`), a page saying what to do instead.
Every page here is personal: none may be cached (`Cache-Control: no-store`);
`crm_shared.pages` adds the rest of the page headers.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError

from crm_candidates.api.consent_pages import (
    NO_STORE,
    expired_link_page,
    invalid_link_page,
    page,
    paragraph,
    unsubscribe_page,
    unsubscribed_page,
)
from crm_candidates.api.consent_schemas import (
    CommunitySignup,
    ConfirmationResult,
    PreferencesPublic,
    PreferencesUpdate,
    SignupAccepted,
    UnsubscribeResult,
)
from crm_candidates.api.deps import consent_service, container_of
from crm_candidates.application.consents import (
    COMMUNITY_PURPOSES,
    CONFIRM_LINK,
    PREFERENCES_LINK,
    SIGNUP_LINK,
    UNSUBSCRIBE_LINK,
    Signup,
    SignupConfirmation,
    SignupsExhausted,
)
from crm_candidates.domain.consent import ConsentPurpose, ConsentSource, Preferences
from crm_candidates.domain.consent_copy import page_language, say
from crm_candidates.domain.models import Candidate
from crm_shared import (
    CurrentPrincipal,
    LinkClaim,
    ProblemError,
    SignedLinks,
    problem_responses,
    public_operation,
    utc_now,
)
from crm_shared.languages import accepted_languages

public_router = APIRouter(prefix="/public", tags=["public"], dependencies=[public_operation()])

# Verifying against a moment before any link was issued accepts expired tokens, so an expired
# link can be told apart (410) from a forged one (404).
_BEFORE_ANY_LINK = datetime(1970, 1, 2, tzinfo=UTC)


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _language(request: Request, locale: str | None = None) -> str:
    """The language of the page: the person's own (`locale`), else the browser's
    (`page_language`)."""
    return page_language(locale, request.headers.get("accept-language", ""))


def _browser_locale(request: Request) -> str | None:
    """The first language the browser accepts (`Accept-Language`), if it names one."""
    accepted = accepted_languages(request.headers.get("accept-language", ""))
    return accepted[0] if accepted else None


def _client_address(request: Request) -> str:
    forwarded = request.headers.get("x-forwarded-for", "")
    return forwarded.split(",")[0].strip() or (request.client.host if request.client else "")


class _RefusedLink(Exception):
    """A link that opens nothing: forged, cut short or for another purpose (404), expired or of
    an erased person (410). Answered with a page saying how to go on, or a problem."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


def _invalid() -> _RefusedLink:
    return _RefusedLink(404, "this link is not valid")


async def _verified(request: Request, token: str, purpose: str) -> tuple[LinkClaim, Candidate]:
    links: SignedLinks = container_of(request).consent_links
    claim = links.verify(token, purpose, now=_BEFORE_ANY_LINK)
    if claim is None:
        raise _invalid()
    if _link_expired(claim):
        raise _RefusedLink(410, "this link has expired")
    service = consent_service(request, claim.tenant_id)
    candidate = await service.link_subject(claim.subject)
    if candidate is None:
        if await service.erased(claim.subject):
            raise _RefusedLink(410, "this link is no longer valid")
        raise _invalid()
    return claim, candidate


def _refused(request: Request, purpose: str, refusal: _RefusedLink) -> Response:
    """The answer to a link that opens nothing: a page with a way forward for a browser, else
    a problem."""
    if _wants_html(request):
        language = _language(request)
        if refusal.status_code == 410:
            return expired_link_page(language, _WAY_FORWARD[purpose])
        return invalid_link_page(language, _WAY_FORWARD[purpose])
    problem_type = "expired-link" if refusal.status_code == 410 else "invalid-link"
    raise ProblemError(refusal.status_code, refusal.detail, problem_type=problem_type)


# What a person whose link opens nothing can do instead, by the link's purpose (the key of
# the text in `consent_copy`).
_WAY_FORWARD = {
    SIGNUP_LINK: "way_signup",
    CONFIRM_LINK: "way_confirm",
    PREFERENCES_LINK: "way_preferences",
    UNSUBSCRIBE_LINK: "way_unsubscribe",
}


def _json(content: Any) -> JSONResponse:
    return JSONResponse(content, headers=NO_STORE)


def _expired(request: Request, purpose: str) -> Response:
    """The answer to an expired link: a page with a way forward for a browser, else a 410."""
    return _refused(request, purpose, _RefusedLink(410, "this link has expired"))


def _signup_claim(request: Request, token: str) -> LinkClaim | None:
    links: SignedLinks = container_of(request).consent_links
    return links.verify(token, SIGNUP_LINK, now=_BEFORE_ANY_LINK)


def _link_expired(claim: LinkClaim) -> bool:
    return claim.expires_at is not None and claim.expires_at <= utc_now()


@public_router.post(
    "/community/signups",
    status_code=202,
    response_model=SignupAccepted,
    responses={
        429: {"description": "The tenant took its hourly number of sign-ups (`rate-limited`)."}
    },
)
async def community_signup(
    body: CommunitySignup, request: Request, principal: CurrentPrincipal
) -> SignupAccepted:
    """Joins the talent community with double opt-in: the sign-up waits (48 hours) for the
    link mailed to the address; no candidate exists before it is used. Every accepted form
    gets the same answer, whether a mail went out, the address hit its limit, or the honeypot
    caught a bot. A 429 when the tenant took its hourly number of sign-ups."""
    service = consent_service(request, principal.tenant_id)
    try:
        await service.sign_up(
            Signup(
                email=str(body.email),
                first_name=body.first_name,
                last_name=body.last_name,
                topics=list(dict.fromkeys(body.topics)),
                honeypot_filled=bool(body.website and body.website.strip()),
                client_address=_client_address(request),
                locale=body.locale or _browser_locale(request),
            )
        )
    except SignupsExhausted:
        raise ProblemError(
            429,
            "this talent community takes no more sign-ups this hour",
            problem_type="rate-limited",
            headers={"Retry-After": "600"},
        ) from None
    return SignupAccepted()


@public_router.get(
    "/community/confirm/{token}", response_class=HTMLResponse, responses=problem_responses(410)
)
async def confirmation_page(token: str, request: Request) -> Response:
    """The page a confirmation link opens: one button confirms. Opening the link alone grants
    nothing, so a mail scanner that follows links cannot confirm on the person's behalf."""
    signup_claim = _signup_claim(request, token)
    if signup_claim is not None:
        if _link_expired(signup_claim):
            return _expired(request, SIGNUP_LINK)
        service = consent_service(request, signup_claim.tenant_id)
        pending = await service.pending_signup(signup_claim.subject)
        if pending is None or pending.expired(utc_now()):
            return _expired(request, SIGNUP_LINK)
        first_name = pending.first_name
        language = _language(request, pending.locale)
    else:
        try:
            _, candidate = await _verified(request, token, CONFIRM_LINK)
        except _RefusedLink as refusal:
            return _refused(request, CONFIRM_LINK, refusal)
        first_name = candidate.first_name
        language = _language(request, candidate.locale)
    asked = (
        paragraph(language, "confirm_named", name=first_name)
        if first_name
        else paragraph(language, "confirm_body")
    )
    button = html.escape(say(language, "confirm_button"))
    return page(
        language,
        say(language, "confirm_title"),
        asked + f"<form method='post'><button type='submit'>{button}</button></form>",
    )


def _confirmed(
    request: Request, status: str, purposes: list[ConsentPurpose], locale: str | None
) -> Response:
    if _wants_html(request):
        language = _language(request, locale)
        return page(
            language, say(language, "confirmed_title"), paragraph(language, "confirmed_body")
        )
    result = ConfirmationResult.model_validate({"status": status, "purposes": purposes})
    return _json(result.model_dump(mode="json"))


@public_router.post(
    "/community/confirm/{token}",
    response_model=ConfirmationResult,
    responses=problem_responses(410),
)
async def confirm(token: str, request: Request) -> Response:
    """Confirms what the link names. A sign-up's link creates the candidate (or links the
    address's candidate) and grants the community consents; a re-permission link grants the
    consent again. Each emits `consent.changed` per purpose; using a link again changes
    nothing."""
    signup_claim = _signup_claim(request, token)
    if signup_claim is not None:
        if _link_expired(signup_claim):
            return _expired(request, SIGNUP_LINK)
        service = consent_service(request, signup_claim.tenant_id)
        outcome, _ = await service.confirm_signup(signup_claim)
        if outcome is SignupConfirmation.EXPIRED:
            return _expired(request, SIGNUP_LINK)
        # Confirmed, the sign-up keeps no personal field, but still its mail's language.
        confirmed = await service.pending_signup(signup_claim.subject)
        locale = confirmed.locale if confirmed else None
        return _confirmed(request, outcome.value, list(COMMUNITY_PURPOSES), locale)
    try:
        claim, candidate = await _verified(request, token, CONFIRM_LINK)
    except _RefusedLink as refusal:
        return _refused(request, CONFIRM_LINK, refusal)
    entries = await consent_service(request, claim.tenant_id).confirm(claim)
    if entries is None:
        return _refused(request, CONFIRM_LINK, _invalid())
    purposes = [ConsentPurpose(p) for p in claim.data.get("purposes", "").split(",") if p]
    return _confirmed(
        request, "confirmed" if entries else "already_confirmed", purposes, candidate.locale
    )


def _preferences_form(language: str, candidate: Candidate, preferences: Preferences) -> str:
    def text(key: str) -> str:
        return html.escape(say(language, key))

    checked = " checked" if candidate.marketing_consent else ""
    options = "".join(
        f"<option value='{f}'{' selected' if f == preferences.frequency.value else ''}>"
        f"{text('frequency_' + f)}</option>"
        for f in ("any", "weekly", "monthly")
    )
    return (
        "<form method='post'>"
        f"<label><input type='checkbox' name='subscribed' value='true'{checked}> "
        f"{text('subscribed_label')}</label><br>"
        f"<label>{text('topics_label')} <input name='topics' value='"
        f"{html.escape(', '.join(preferences.topics))}'></label><br>"
        f"<label>{text('frequency_label')} <select name='frequency'>{options}</select></label>"
        f"<br><button type='submit'>{text('save_button')}</button></form>"
    )


def _preferences_public(candidate: Candidate, preferences: Preferences) -> PreferencesPublic:
    return PreferencesPublic(
        first_name=candidate.first_name,
        subscribed=candidate.marketing_consent,
        topics=preferences.topics,
        frequency=preferences.frequency,
    )


@public_router.get(
    "/preferences/{token}", response_model=PreferencesPublic, responses=problem_responses(410)
)
async def get_preferences(token: str, request: Request) -> Response:
    """The preference centre: subscription, topics and frequency (JSON, or a form for
    browsers)."""
    try:
        claim, candidate = await _verified(request, token, PREFERENCES_LINK)
    except _RefusedLink as refusal:
        return _refused(request, PREFERENCES_LINK, refusal)
    preferences = await consent_service(request, claim.tenant_id).preferences(candidate.id)
    if _wants_html(request):
        language = _language(request, candidate.locale)
        return page(
            language,
            say(language, "preferences_title"),
            _preferences_form(language, candidate, preferences),
        )
    return _json(_preferences_public(candidate, preferences).model_dump(mode="json"))


async def _preferences_update(request: Request) -> PreferencesUpdate:
    content_type = request.headers.get("content-type", "")
    raw: Any
    if content_type.startswith("application/x-www-form-urlencoded"):
        form = await request.form()
        topics = str(form.get("topics") or "")
        raw = {
            "topics": [t.strip() for t in topics.split(",") if t.strip()],
            "frequency": form.get("frequency") or None,
            # An unticked checkbox is simply absent from a submitted form.
            "subscribed": form.get("subscribed") == "true",
        }
    else:
        try:
            raw = await request.json()
        except ValueError:
            raise RequestValidationError(
                [{"loc": ("body",), "msg": "the body must be JSON or a form", "type": "json"}]
            ) from None
    try:
        return PreferencesUpdate.model_validate(raw)
    except ValidationError as invalid:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in invalid.errors()]
        ) from None


@public_router.post(
    "/preferences/{token}", response_model=PreferencesPublic, responses=problem_responses(410)
)
async def update_preferences(token: str, request: Request) -> Response:
    """Changes topics, frequency or the marketing subscription; unsubscribing withdraws
    marketing consent (`consent.changed` with the link's message id, `candidate.updated`)."""
    try:
        claim, candidate = await _verified(request, token, PREFERENCES_LINK)
    except _RefusedLink as refusal:
        return _refused(request, PREFERENCES_LINK, refusal)
    update = await _preferences_update(request)
    result = await consent_service(request, claim.tenant_id).update_preferences(
        candidate.id,
        topics=list(dict.fromkeys(update.topics)) if update.topics is not None else None,
        frequency=update.frequency.value if update.frequency else None,
        subscribed=update.subscribed,
        message_id=claim.data.get("message_id"),
    )
    if result is None:
        return _refused(request, PREFERENCES_LINK, _invalid())
    candidate, preferences = result
    if _wants_html(request):
        language = _language(request, candidate.locale)
        return page(
            language,
            say(language, "preferences_title"),
            paragraph(language, "saved") + _preferences_form(language, candidate, preferences),
        )
    return _json(_preferences_public(candidate, preferences).model_dump(mode="json"))


@public_router.get(
    "/unsubscribe/{token}", response_class=HTMLResponse, responses=problem_responses(410)
)
async def unsubscribe_confirmation(token: str, request: Request) -> Response:
    """The page the unsubscribe link in a mail's footer opens: it says what unsubscribing does
    and has one button, which posts the one-click unsubscribe below. Opening the link alone
    changes nothing, so a mail scanner that follows links unsubscribes nobody. A link that
    opens nothing gets a page saying how to go on (404, 410) when a browser asks (as it always
    does, `Accept: text/html`), a problem otherwise, as every page here answers."""
    try:
        _, candidate = await _verified(request, token, UNSUBSCRIBE_LINK)
    except _RefusedLink as refusal:
        return _refused(request, UNSUBSCRIBE_LINK, refusal)
    return unsubscribe_page(
        _language(request, candidate.locale),
        candidate.first_name,
        subscribed=candidate.marketing_consent,
    )


@public_router.post(
    "/unsubscribe/{token}", response_model=UnsubscribeResult, responses=problem_responses(410)
)
async def unsubscribe(token: str, request: Request) -> Response:
    """One-click unsubscribe (RFC 8058 `List-Unsubscribe-Post`), also the button of the page
    above: withdraws marketing consent. The body (`List-Unsubscribe=One-Click`) carries nothing
    else and is not needed. A browser (`Accept: text/html`) gets a page, else JSON."""
    try:
        claim, candidate = await _verified(request, token, UNSUBSCRIBE_LINK)
    except _RefusedLink as refusal:
        return _refused(request, UNSUBSCRIBE_LINK, refusal)
    withdrawn = await consent_service(request, claim.tenant_id).withdraw_marketing(
        candidate.id,
        source=ConsentSource.UNSUBSCRIBE_LINK,
        message_id=claim.data.get("message_id"),
    )
    if withdrawn is None:
        return _refused(request, UNSUBSCRIBE_LINK, _invalid())
    if _wants_html(request):
        return unsubscribed_page(_language(request, candidate.locale))
    return _json(UnsubscribeResult().model_dump(mode="json"))
