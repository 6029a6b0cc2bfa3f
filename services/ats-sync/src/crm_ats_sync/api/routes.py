"""Routes of the ats-sync API: connections for admins, webhooks for the ATS."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from crm_ats_sync.api.deps import Container, Storage
from crm_ats_sync.api.schemas import (
    ApiHealth,
    ApiKeyReplacement,
    ApplicationPublic,
    ConnectionCreate,
    ConnectionCreated,
    ConnectionHealthPublic,
    ConnectionPublic,
    ConnectionView,
    SecretRotation,
    WebhookHealth,
    WebhookReceipt,
)
from crm_ats_sync.application import applications, connections
from crm_ats_sync.application.connections import ConnectionChanged, ConnectionNotFound
from crm_ats_sync.application.health import ConnectionHealth, connections_health
from crm_ats_sync.application.webhooks import (
    MalformedWebhook,
    MissingDeliveryId,
    UnknownConnection,
    receive_webhook,
)
from crm_ats_sync.container import AtsSyncContainer
from crm_ats_sync.domain.changes import WebhookRejectedError
from crm_ats_sync.domain.models import Connection, Provider
from crm_shared import (
    CurrentPrincipal,
    ProblemError,
    problem_responses,
    public_operation,
    require_permission,
    utc_now,
)

router = APIRouter(prefix="/ats", tags=["ats"])
public_router = APIRouter(prefix="/public/ats", tags=["public"], dependencies=[public_operation()])

MAX_WEBHOOK_BYTES = 512 * 1024


def _public(connection: Connection, base_url: str) -> ConnectionPublic:
    return ConnectionPublic(
        id=connection.id,
        provider=connection.provider,
        name=connection.name,
        webhook_url=f"{base_url}/public/v1/ats/{connection.provider.value}/{connection.id}/webhooks",
        api_connected=connection.api_key is not None,
        api_base_url=connection.api_base_url,
        created_at=connection.created_at,
        secret_rotated_at=connection.secret_rotated_at,
        previous_secret_until=(
            connection.previous_secret_until
            if connection.previous_secret_until and connection.previous_secret_until > utc_now()
            else None
        ),
    )


def _health(health: ConnectionHealth) -> ConnectionHealthPublic:
    webhooks, breaker = health.webhooks, health.breaker
    return ConnectionHealthPublic(
        webhooks=WebhookHealth(
            last_received_at=webhooks.last_received_at,
            last_refused_at=webhooks.last_refused_at,
            last_refusal_reason=webhooks.last_refusal_reason,
            last_refusal_detail=webhooks.last_refusal_detail,
            counts_24h=webhooks.counts,
        ),
        api=ApiHealth(
            breaker=health.breaker_state,
            consecutive_failures=breaker.consecutive_failures,
            retry_at=health.breaker_retry_at,
            last_failure_at=breaker.last_failure_at,
            last_error=breaker.last_error,
        ),
    )


async def _views(container: AtsSyncContainer, found: list[Connection]) -> list[ConnectionView]:
    healths = await connections_health(container.storage, container.breaker, found)
    return [
        ConnectionView(
            **_public(connection, container.public_base_url).model_dump(), health=_health(health)
        )
        for connection, health in zip(found, healths, strict=True)
    ]


def _created(connection: Connection, base_url: str) -> ConnectionCreated:
    return ConnectionCreated(
        **_public(connection, base_url).model_dump(), webhook_secret=connection.webhook_secret
    )


def _not_found(connection_id: str) -> ProblemError:
    return ProblemError(404, f"no ATS connection {connection_id}", problem_type="not-found")


@router.post(
    "/connections",
    status_code=201,
    response_model=ConnectionCreated,
    dependencies=[require_permission("settings:write")],
)
async def create_connection(
    body: ConnectionCreate, principal: CurrentPrincipal, container: Container
) -> ConnectionCreated:
    """Connects an ATS account (`settings:write`); returns the webhook URL and secret to
    configure."""
    connection = await connections.create_connection(
        container.storage,
        principal.tenant_id,
        principal.user_id,
        body.provider,
        body.name,
        api_key=body.api_key,
        api_base_url=str(body.api_base_url).rstrip("/") if body.api_base_url else None,
    )
    return _created(connection, container.public_base_url)


@router.get(
    "/connections",
    dependencies=[require_permission("ats:read")],
    response_model=list[ConnectionView],
)
async def list_connections(
    principal: CurrentPrincipal, container: Container
) -> list[ConnectionView]:
    """The caller's tenant's ATS connections with their health (secrets and API keys are never
    shown again)."""
    found = await connections.list_connections(container.storage, principal.tenant_id)
    return await _views(container, found)


@router.get(
    "/connections/{connection_id}",
    dependencies=[require_permission("ats:read")],
    response_model=ConnectionView,
)
async def get_connection(
    connection_id: str, principal: CurrentPrincipal, container: Container
) -> ConnectionView:
    """One ATS connection with its health: its webhooks of the last 24 hours, the last refused
    one and why, and its API's circuit breaker (its secret and API key are never shown again)."""
    try:
        connection = await connections.find_connection(
            container.storage, principal.tenant_id, connection_id
        )
    except ConnectionNotFound:
        raise _not_found(connection_id) from None
    return (await _views(container, [connection]))[0]


@router.put(
    "/connections/{connection_id}/api-key",
    response_model=ConnectionView,
    dependencies=[require_permission("settings:write")],
)
async def replace_api_key(
    connection_id: str, body: ApiKeyReplacement, principal: CurrentPrincipal, container: Container
) -> ConnectionView:
    """Replaces the connection's ATS API key and base URL (`settings:write`); the key is stored
    encrypted and never shown (`api_connected` says one is set)."""
    try:
        connection = await connections.replace_api_key(
            container.storage,
            principal.tenant_id,
            connection_id,
            body.api_key,
            str(body.api_base_url).rstrip("/") if body.api_base_url else None,
        )
    except ConnectionNotFound:
        raise _not_found(connection_id) from None
    return (await _views(container, [connection]))[0]


@router.post(
    "/connections/{connection_id}/rotate-secret",
    response_model=ConnectionCreated,
    dependencies=[require_permission("settings:write")],
    responses=problem_responses(409),
)
async def rotate_connection_secret(
    connection_id: str, body: SecretRotation, principal: CurrentPrincipal, container: Container
) -> ConnectionCreated:
    """Issues a new webhook secret (`settings:write`), shown this once. The previous one is still
    accepted for `grace_hours`, so paste the new one into the ATS within that time; a second
    rotation ends the first one's grace at once."""
    try:
        rotated = await connections.rotate_connection_secret(
            container.storage, principal.tenant_id, connection_id, body.grace_hours
        )
    except ConnectionNotFound:
        raise _not_found(connection_id) from None
    except ConnectionChanged:
        raise ProblemError(
            409,
            f"ATS connection {connection_id} changed meanwhile; try again",
            problem_type="conflict",
        ) from None
    return _created(rotated, container.public_base_url)


@router.delete(
    "/connections/{connection_id}",
    status_code=204,
    dependencies=[require_permission("settings:write")],
)
async def delete_connection(
    connection_id: str, principal: CurrentPrincipal, storage: Storage
) -> Response:
    """Deletes a connection (`settings:write`): its webhooks are refused from now on (404); the
    applications it reported stay, and so do their effects on candidates and sequences."""
    try:
        await connections.delete_connection(storage, principal.tenant_id, connection_id)
    except ConnectionNotFound:
        raise _not_found(connection_id) from None
    return Response(status_code=204)


@router.get(
    "/applications",
    dependencies=[require_permission("ats:read")],
    response_model=list[ApplicationPublic],
)
async def list_applications(
    principal: CurrentPrincipal, storage: Storage, candidate_id: str | None = None
) -> list[ApplicationPublic]:
    """Applications the ATS reported, optionally of one candidate (first 1000)."""
    return [
        ApplicationPublic.model_validate(a.model_dump())
        for a in await applications.list_applications(storage, principal.tenant_id, candidate_id)
    ]


@public_router.post(
    "/{provider}/{connection_id}/webhooks",
    response_model=WebhookReceipt,
    status_code=202,
    responses={
        200: {"model": WebhookReceipt, "description": "A duplicate, replayed or stale delivery."},
        400: {"description": "The delivery carries no delivery id."},
        401: {"description": "The signature does not match the connection's secret."},
        404: {"description": "No such connection of this ATS (or it was deleted)."},
        413: {"description": "The body exceeds 512 KiB."},
        422: {"description": "Signed, but not a webhook of this ATS the CRM understands."},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
    },
)
async def receive_ats_webhook(
    provider: str,
    connection_id: str,
    container: Container,
    request: Request,
    response: Response,
) -> WebhookReceipt:
    """Receives a webhook from the ATS of the connection (`provider` is `greenhouse`, `lever`
    or `workable`, as in its `webhook_url`), signed and worded as that ATS documents it (see
    docs/ats.md): the signature checked (under the connection's secret, or the previous one
    during a rotation's grace period), each delivery id and each signed body processed once,
    and a change older than the application's recorded state ignored."""
    try:
        ats = Provider(provider)
    except ValueError:
        ats = None
    webhook_format = container.webhook_formats.get(ats) if ats else None
    if ats is None or webhook_format is None:
        raise ProblemError(404, f"no ATS called {provider}", problem_type="not-found")
    body = await request.body()
    if len(body) > MAX_WEBHOOK_BYTES:
        raise ProblemError(413, "the webhook body is too large", problem_type="payload-too-large")
    try:
        receipt, delivery_id = await receive_webhook(
            container.storage,
            ats,
            webhook_format,
            connection_id,
            request.headers,
            body,
        )
    except UnknownConnection:
        raise ProblemError(
            404, f"no {provider} connection {connection_id}", problem_type="not-found"
        ) from None
    except WebhookRejectedError as rejected:
        raise ProblemError(401, str(rejected), problem_type="webhook-rejected") from None
    except MalformedWebhook as malformed:
        # Genuinely from the ATS but not understood: say so, so the ATS's log shows why.
        raise ProblemError(422, str(malformed), problem_type="malformed-webhook") from None
    except MissingDeliveryId:
        raise ProblemError(
            400, "the delivery carries no delivery id", problem_type="missing-delivery-id"
        ) from None
    if receipt != "accepted":
        response.status_code = 200
    return WebhookReceipt(status=receipt, delivery_id=delivery_id)
