"""Routes of the ats-sync API: connections for admins, webhooks for the ATS."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request, Response

from crm_ats_sync.api.schemas import (
    ApplicationPublic,
    ConnectionCreate,
    ConnectionCreated,
    ConnectionPublic,
    WebhookReceipt,
)
from crm_ats_sync.domain.greenhouse import (
    DELIVERY_ID_HEADER,
    SIGNATURE_HEADER,
    ApplicationChange,
    NewApplication,
    WebhookRejectedError,
    parse_webhook,
    verify_signature,
)
from crm_ats_sync.domain.models import Application, Connection, Provider
from crm_ats_sync.publishers import to_ats_application_changed, to_ats_application_created
from crm_ats_sync.repository import (
    AtsRepo,
    AtsRepository,
    DuplicateDeliveryError,
    find_connection_anywhere,
)
from crm_shared import (
    CandidateDirectory,
    CurrentPrincipal,
    Platform,
    ProblemError,
    Session,
    in_transaction,
    normalise_email,
    require_roles,
    utc_now,
)

router = APIRouter(prefix="/ats", tags=["ats"])
public_router = APIRouter(prefix="/public/ats", tags=["public"])

MAX_WEBHOOK_BYTES = 512 * 1024


def _public(connection: Connection, request: Request) -> ConnectionPublic:
    base_url: str = request.app.state.public_base_url
    return ConnectionPublic(
        id=connection.id,
        provider=connection.provider,
        name=connection.name,
        webhook_url=f"{base_url}/public/v1/ats/{connection.provider.value}/{connection.id}/webhooks",
        created_at=connection.created_at,
    )


@router.post(
    "/connections",
    status_code=201,
    response_model=ConnectionCreated,
    dependencies=[require_roles("admin")],
)
async def create_connection(
    body: ConnectionCreate, principal: CurrentPrincipal, ats: AtsRepo, request: Request
) -> ConnectionCreated:
    """Connects an ATS account (admins only); returns the webhook URL and secret to configure."""
    connection = Connection(
        tenant_id=principal.tenant_id,
        provider=body.provider,
        name=body.name,
        webhook_secret=secrets.token_urlsafe(32),
        created_by=principal.user_id,
    )
    await ats.add_connection(connection)
    return ConnectionCreated(
        **_public(connection, request).model_dump(), webhook_secret=connection.webhook_secret
    )


@router.get("/connections", response_model=list[ConnectionPublic])
async def list_connections(ats: AtsRepo, request: Request) -> list[ConnectionPublic]:
    """The caller's tenant's ATS connections (secrets are never shown again)."""
    return [_public(connection, request) for connection in await ats.connections()]


@router.get("/applications", response_model=list[ApplicationPublic])
async def list_applications(
    ats: AtsRepo, candidate_id: str | None = None
) -> list[ApplicationPublic]:
    """Applications the ATS reported, optionally of one candidate (first 1000)."""
    return [
        ApplicationPublic.model_validate(a.model_dump())
        for a in await ats.applications(candidate_id=candidate_id)
    ]


def _rejected(detail: str) -> ProblemError:
    return ProblemError(401, detail, problem_type="webhook-rejected")


@public_router.post("/greenhouse/{connection_id}/webhooks", response_model=WebhookReceipt)
async def greenhouse_webhook(
    connection_id: str, request: Request, response: Response
) -> WebhookReceipt:
    """Receives a Greenhouse webhook: signature checked, each delivery id processed once."""
    platform: Platform = request.app.state.platform
    database = platform.require_database()
    body = await request.body()
    if len(body) > MAX_WEBHOOK_BYTES:
        raise ProblemError(413, "the webhook body is too large", problem_type="payload-too-large")
    connection = await find_connection_anywhere(database, connection_id)
    if connection is None or connection.provider is not Provider.GREENHOUSE:
        raise ProblemError(
            404, f"no Greenhouse connection {connection_id}", problem_type="not-found"
        )
    try:
        verify_signature(connection.webhook_secret, body, request.headers.get(SIGNATURE_HEADER))
    except WebhookRejectedError as rejected:
        raise _rejected(str(rejected)) from None
    try:
        action, reported = parse_webhook(body)
    except WebhookRejectedError as malformed:
        # Genuinely from the ATS but not understood: say so, so the ATS's log shows why.
        raise ProblemError(422, str(malformed), problem_type="malformed-webhook") from None
    delivery_id = request.headers.get(DELIVERY_ID_HEADER, "").strip()
    if not delivery_id:
        raise ProblemError(
            400, f"the {DELIVERY_ID_HEADER} header is missing", problem_type="missing-delivery-id"
        )
    ats = AtsRepository(database, connection.tenant_id)
    directory = CandidateDirectory(database, connection.tenant_id)
    outbox = platform.require_outbox()
    received_at = utc_now()

    async def matched_candidate(emails: list[str], session: Session) -> str | None:
        for email in emails:
            candidate_id = await directory.candidate_for(email, session=session)
            if candidate_id:
                return candidate_id
        return None

    async def receive(session: Session) -> None:
        await ats.record_delivery(connection.id, delivery_id, action, session=session)
        if isinstance(reported, ApplicationChange):
            application, from_stage = await ats.apply_change(
                connection,
                reported,
                await matched_candidate(reported.emails, session),
                normalise_email(reported.emails[0]) if reported.emails else None,
                session=session,
            )
            await to_ats_application_changed(
                outbox,
                application,
                reported,
                from_stage=from_stage,
                received_at=received_at,
                session=session,
            )
            return
        if not isinstance(reported, NewApplication):
            return
        application = Application(
            tenant_id=connection.tenant_id,
            connection_id=connection.id,
            provider=connection.provider,
            ats_application_id=reported.ats_application_id,
            ats_candidate_id=reported.ats_candidate_id,
            candidate_id=await matched_candidate(reported.emails, session),
            email=normalise_email(reported.emails[0]) if reported.emails else None,
            job_name=reported.job_name,
            applied_at=reported.applied_at,
            stage=reported.stage,
        )
        if await ats.add_application(application, session=session):
            await to_ats_application_created(outbox, application, session=session)

    try:
        await in_transaction(platform.require_mongo(), receive)
    except DuplicateDeliveryError:
        return WebhookReceipt(status="duplicate", delivery_id=delivery_id)
    outbox.notify_committed()
    response.status_code = 202
    return WebhookReceipt(status="accepted", delivery_id=delivery_id)
