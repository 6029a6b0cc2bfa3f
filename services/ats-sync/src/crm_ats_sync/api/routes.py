"""Routes of the ats-sync API: connections for admins, webhooks for the ATS."""

from __future__ import annotations

import secrets
from datetime import timedelta

from fastapi import APIRouter, Request, Response

from crm_ats_sync.api.schemas import (
    ApplicationPublic,
    ConnectionCreate,
    ConnectionCreated,
    ConnectionPublic,
    SecretRotation,
    WebhookReceipt,
)
from crm_ats_sync.domain.greenhouse import (
    DELIVERY_ID_HEADER,
    SIGNATURE_HEADER,
    ApplicationChange,
    NewApplication,
    WebhookRejectedError,
    body_digest,
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
    problem_responses,
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
        secret_rotated_at=connection.secret_rotated_at,
        previous_secret_until=(
            connection.previous_secret_until
            if connection.previous_secret_until and connection.previous_secret_until > utc_now()
            else None
        ),
    )


async def _connection(ats: AtsRepository, connection_id: str) -> Connection:
    connection = await ats.connection(connection_id)
    if connection is None:
        raise ProblemError(404, f"no ATS connection {connection_id}", problem_type="not-found")
    return connection


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


@router.get("/connections/{connection_id}", response_model=ConnectionPublic)
async def get_connection(connection_id: str, ats: AtsRepo, request: Request) -> ConnectionPublic:
    """One ATS connection (its secret is never shown again)."""
    return _public(await _connection(ats, connection_id), request)


@router.post(
    "/connections/{connection_id}/rotate-secret",
    response_model=ConnectionCreated,
    dependencies=[require_roles("admin")],
    responses=problem_responses(409),
)
async def rotate_connection_secret(
    connection_id: str, body: SecretRotation, ats: AtsRepo, request: Request
) -> ConnectionCreated:
    """Issues a new webhook secret (admins only), shown this once. The previous one is still
    accepted for `grace_hours`, so paste the new one into the ATS within that time; a second
    rotation ends the first one's grace at once."""
    connection = await _connection(ats, connection_id)
    new_secret = secrets.token_urlsafe(32)
    previous_until = utc_now() + timedelta(hours=body.grace_hours)
    if not await ats.rotate_secret(connection, new_secret, previous_until):
        raise ProblemError(
            409,
            f"ATS connection {connection_id} changed meanwhile; try again",
            problem_type="conflict",
        )
    rotated = await _connection(ats, connection_id)
    return ConnectionCreated(
        **_public(rotated, request).model_dump(), webhook_secret=rotated.webhook_secret
    )


@router.delete(
    "/connections/{connection_id}", status_code=204, dependencies=[require_roles("admin")]
)
async def delete_connection(connection_id: str, ats: AtsRepo) -> Response:
    """Deletes a connection (admins only): its webhooks are refused from now on (404); the
    applications it reported stay, and so do their effects on candidates and sequences."""
    if not await ats.delete_connection(connection_id):
        raise ProblemError(404, f"no ATS connection {connection_id}", problem_type="not-found")
    return Response(status_code=204)


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


@public_router.post(
    "/greenhouse/{connection_id}/webhooks",
    response_model=WebhookReceipt,
    status_code=202,
    responses={
        200: {"model": WebhookReceipt, "description": "A duplicate, replayed or stale delivery."},
        400: {"description": f"No `{DELIVERY_ID_HEADER.title()}` header."},
        401: {"description": "The signature does not match the connection's secret."},
        404: {"description": "No such Greenhouse connection (or it was deleted)."},
        413: {"description": "The body exceeds 512 KiB."},
        422: {"description": "Signed, but not a Greenhouse webhook the CRM understands."},
    },
    openapi_extra={
        "parameters": [
            {
                "name": "Signature",
                "in": "header",
                "required": True,
                "description": "`sha256 <hex>`: the lower-case hex HMAC-SHA256 of the raw body, "
                "keyed with the connection's webhook secret (Greenhouse's format).",
                "schema": {"type": "string", "pattern": "^sha256 [0-9a-f]{64}$"},
            },
            {
                "name": "Greenhouse-Event-ID",
                "in": "header",
                "required": True,
                "description": "Unique per delivery; a delivery id seen before is a duplicate.",
                "schema": {"type": "string"},
            },
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["action", "payload"],
                        "properties": {
                            "action": {
                                "type": "string",
                                "description": "`new_candidate_application`, "
                                "`candidate_stage_change`, `reject_candidate` and "
                                "`hire_candidate` are used; others are acknowledged.",
                            },
                            "payload": {
                                "type": "object",
                                "description": '`{"application": {...}}` as Greenhouse '
                                "sends it: `id`, `candidate` (`id`, `email_addresses`), "
                                "`jobs`, `current_stage`, `rejected_at`, `last_activity_at`.",
                            },
                        },
                    }
                }
            },
        },
    },
)
async def greenhouse_webhook(
    connection_id: str, request: Request, response: Response
) -> WebhookReceipt:
    """Receives a Greenhouse webhook: the signature checked (under the connection's secret, or
    the previous one during a rotation's grace period), each delivery id and each signed body
    processed once, and a change older than the application's recorded state ignored."""
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
        verify_signature(
            connection.accepted_secrets(utc_now()), body, request.headers.get(SIGNATURE_HEADER)
        )
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

    async def receive(session: Session) -> bool:
        """Processes the delivery; False for a change older than what is recorded."""
        await ats.record_delivery(
            connection.id, delivery_id, body_digest(body), action, session=session
        )
        if isinstance(reported, ApplicationChange):
            changed = await ats.apply_change(
                connection,
                reported,
                await matched_candidate(reported.emails, session),
                normalise_email(reported.emails[0]) if reported.emails else None,
                session=session,
            )
            if changed is None:
                return False
            application, from_stage = changed
            await to_ats_application_changed(
                outbox,
                application,
                reported,
                from_stage=from_stage,
                received_at=received_at,
                session=session,
            )
            return True
        if not isinstance(reported, NewApplication):
            return True
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
        return True

    try:
        applied = await in_transaction(platform.require_mongo(), receive)
    except DuplicateDeliveryError as seen:
        response.status_code = 200
        return WebhookReceipt(status=seen.kind, delivery_id=delivery_id)
    if not applied:
        response.status_code = 200
        return WebhookReceipt(status="stale", delivery_id=delivery_id)
    outbox.notify_committed()
    return WebhookReceipt(status="accepted", delivery_id=delivery_id)
