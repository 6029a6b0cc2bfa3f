"""Public inbound mail endpoints: bounce reports, spam complaints and replies (the URL's signed
token is the tenant's credential; the gateway publishes these under `/public/v1/mail/...`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from crm_campaigns.adapters.sns import SnsEnvelope, SnsError, SnsUnavailable
from crm_campaigns.api.deps import Container
from crm_campaigns.api.schemas import FeedbackResult
from crm_campaigns.application.feedback import FeedbackOutcome
from crm_campaigns.domain.inbound_mail import (
    INBOUND_PURPOSE,
    InboundMailError,
    PostmarkBounce,
    PostmarkInbound,
    parse_dsn,
    parse_reply,
    raw_mail_of_form,
)
from crm_shared import (
    FieldError,
    ProblemError,
    SignedLinks,
    public_operation,
    utc_now,
    validation_detail,
    validation_problem,
)

router = APIRouter(
    prefix="/public/mail/{token}",
    tags=["inbound mail"],
    include_in_schema=False,
    dependencies=[public_operation()],
)


def _tenant(container: Container, token: str) -> str:
    links: SignedLinks = container.signed_links
    claim = links.verify(token, INBOUND_PURPOSE)
    if claim is None or claim.subject != claim.tenant_id:
        raise ProblemError(404, "unknown inbound mail address", problem_type="not-found")
    return claim.tenant_id


def _result(outcome: FeedbackOutcome) -> FeedbackResult:
    return FeedbackResult(
        outcome=outcome.outcome,
        message_id=outcome.message_id,
        bounce_type=outcome.bounce_type,
        suppressed=outcome.suppressed,
        detail=outcome.detail,
    )


@router.post("/bounces", response_model=FeedbackResult)
async def delivery_status_notification(
    token: str, request: Request, container: Container
) -> FeedbackResult:
    """A raw RFC 3464 delivery status notification (`multipart/report`), as the MTA sent it."""
    tenant_id = _tenant(container, token)
    try:
        report = parse_dsn(await request.body())
    except InboundMailError as error:
        raise validation_problem([FieldError.whole_body(str(error))], str(error)) from None
    if report is None:
        return FeedbackResult(outcome="ignored")
    return _result(await container.mail_feedback.bounce(tenant_id, report, "dsn"))


@router.post("/postmark/bounces", response_model=FeedbackResult)
async def postmark_bounce(token: str, body: PostmarkBounce, container: Container) -> FeedbackResult:
    """Postmark's bounce and spam complaint webhooks."""
    tenant_id = _tenant(container, token)
    if body.is_complaint:
        return _result(
            await container.mail_feedback.complaint(tenant_id, body.complaint(), "postmark")
        )
    report = body.report()
    if report is None:
        return FeedbackResult(outcome="ignored")
    return _result(await container.mail_feedback.bounce(tenant_id, report, "postmark"))


@router.post("/postmark/inbound", response_model=FeedbackResult)
async def postmark_inbound(
    token: str, body: PostmarkInbound, container: Container
) -> FeedbackResult:
    """Postmark's inbound webhook: a reply to one of our messages emits `message.replied`."""
    tenant_id = _tenant(container, token)
    if body.automatic:
        return FeedbackResult(outcome="ignored")
    outcome = await container.mail_feedback.reply(tenant_id, body.report(), received_at=utc_now())
    return _result(outcome)


@router.post("/replies", response_model=FeedbackResult)
async def raw_reply(token: str, request: Request, container: Container) -> FeedbackResult:
    """A reply as the mail server received it: the raw mail (`message/rfc822`, as an MTA's
    pipe posts it), or a `multipart/form-data` post whose `email` field holds it (SendGrid's
    Inbound Parse with "POST the raw, full MIME message"). Emits `message.replied` as the
    Postmark webhook does; automatic replies are ignored."""
    tenant_id = _tenant(container, token)
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    try:
        raw = (
            raw_mail_of_form(body, content_type)
            if content_type.lower().startswith("multipart/form-data")
            else body
        )
        report = parse_reply(raw)
    except InboundMailError as error:
        raise validation_problem([FieldError.whole_body(str(error))], str(error)) from None
    if report is None:
        return FeedbackResult(outcome="ignored")
    return _result(await container.mail_feedback.reply(tenant_id, report, received_at=utc_now()))


def _sns_field(error: ErrorDetails) -> FieldError:
    """What is wrong with a member of the SNS envelope, which is the whole body."""
    field = ".".join(map(str, error["loc"]))
    if not field:
        return FieldError.whole_body(validation_detail(error))
    return FieldError(field, validation_detail(error))


@router.post("/ses", response_model=FeedbackResult)
async def ses_notification(token: str, request: Request, container: Container) -> FeedbackResult:
    """Amazon SES bounce and complaint notifications, as an SNS HTTPS subscription posts them
    (`Content-Type: text/plain`, a JSON envelope signed by SNS)."""
    tenant_id = _tenant(container, token)
    try:
        envelope = SnsEnvelope.model_validate_json(await request.body())
    except ValidationError as error:
        raise validation_problem(
            [_sns_field(e) for e in error.errors()], "not an Amazon SNS message"
        ) from None
    try:
        outcome = await container.mail_feedback.sns_delivery(tenant_id, envelope)
    except SnsError as error:
        raise ProblemError(403, str(error), problem_type="webhook-rejected") from None
    except SnsUnavailable as error:
        # A server error, so that SNS delivers it again later.
        raise ProblemError(502, str(error), problem_type="upstream-unavailable") from None
    return _result(outcome)
