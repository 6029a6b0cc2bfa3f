"""Routes of the ats-sync API: connections for admins, webhooks for the ATS."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from crm_ats_sync.api.deps import Container, Storage
from crm_ats_sync.api.schemas import (
    ApiHealth,
    ApiKeyReplacement,
    ApplicationPublic,
    AtsWebhookSecrets,
    ConnectionCreate,
    ConnectionCreated,
    ConnectionHealthPublic,
    ConnectionPublic,
    ConnectionView,
    JobPublic,
    PushCreate,
    PushPublic,
    RejectedPayloadPublic,
    SecretRotation,
    SyncRunPublic,
    SyncStatusPublic,
    WebhookHealth,
    WebhookReceipt,
)
from crm_ats_sync.application import (
    applications,
    connections,
    jobs,
    pushes,
    rejected_payloads,
    sync,
)
from crm_ats_sync.application.breaker import CircuitOpenError
from crm_ats_sync.application.connections import (
    ConnectionChanged,
    ConnectionNotFound,
    InvalidConnectionSetting,
    MissingConnectionSetting,
    RefusedApiAddress,
    SecretsNotIssuedByAts,
)
from crm_ats_sync.application.health import ConnectionHealth, connections_health
from crm_ats_sync.application.ports import AtsUnavailableError
from crm_ats_sync.application.webhooks import (
    MalformedWebhook,
    MissingDeliveryId,
    UnknownConnection,
    receive_webhook,
)
from crm_ats_sync.container import AtsSyncContainer
from crm_ats_sync.domain.changes import ApplicationStatus, JobStatus, WebhookRejectedError
from crm_ats_sync.domain.models import Connection, Provider
from crm_ats_sync.domain.pushes import Push, PushRefused, PushState
from crm_ats_sync.domain.sync import SyncRun, SyncRunningError
from crm_shared import (
    CurrentPrincipal,
    FieldError,
    ProblemError,
    decode_cursor,
    encode_cursor,
    problem_responses,
    public_operation,
    reject_unknown_query_params,
    require_permission,
    utc_now,
    validation_problem,
)
from crm_shared.audit_changes import changed_fields, changes_header, secret_changed

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
        ats_user_id=connection.ats_user_id,
        created_at=connection.created_at,
        secret_rotated_at=connection.secret_rotated_at,
        previous_secret_until=(
            connection.previous_secret_until
            if connection.previous_secret_until and connection.previous_secret_until > utc_now()
            else None
        ),
        ats_issued_secrets=len(connection.ats_webhook_secrets),
        ats_secrets_set_at=connection.ats_secrets_set_at,
        previous_ats_secrets_until=(
            connection.previous_ats_secrets_until
            if connection.previous_ats_secrets_until
            and connection.previous_ats_secrets_until > utc_now()
            and connection.previous_ats_webhook_secrets
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


def _invalid_body(detail: str, fields: dict[str, str]) -> ProblemError:
    """A 422 naming each refused body field."""
    return validation_problem([FieldError(f, why) for f, why in fields.items()], detail)


def _refused_api_settings(
    refused: RefusedApiAddress | MissingConnectionSetting | InvalidConnectionSetting,
) -> ProblemError:
    """A 422 naming the API setting that cannot be used, or the ones missing."""
    if isinstance(refused, RefusedApiAddress):
        return _invalid_body(str(refused), {"api_base_url": str(refused)})
    if isinstance(refused, InvalidConnectionSetting):
        return _invalid_body(str(refused), {refused.field: str(refused)})
    return _invalid_body(
        str(refused), {f: f"required for {refused.provider.value}" for f in refused.fields}
    )


def _not_found(connection_id: str) -> ProblemError:
    return ProblemError(404, f"no ATS connection {connection_id}", problem_type="not-found")


def _already_connected(refused: connections.AccountAlreadyConnected) -> ProblemError:
    """A 409 naming the tenant's connection to the same ATS account."""
    return ProblemError(
        409,
        str(refused),
        problem_type="conflict",
        extensions={
            "existing_connection_id": refused.existing.id,
            "existing_connection_name": refused.existing.name,
        },
    )


@router.post(
    "/connections",
    status_code=201,
    response_model=ConnectionCreated,
    dependencies=[require_permission("settings:write")],
    responses=problem_responses(
        409,
        s409="The tenant has a connection to the same ATS account "
        "(`existing_connection_id` names it).",
    ),
)
async def create_connection(
    body: ConnectionCreate,
    principal: CurrentPrincipal,
    container: Container,
    request: Request,
    response: Response,
) -> ConnectionCreated:
    """Connects an ATS account (`settings:write`); returns the webhook URL and secret to
    configure. A Workable connection needs `api_base_url` and `api_key` (422 naming them); a
    Greenhouse `api_key` is `<client id>:<client secret>` of Harvest v3 OAuth credentials
    (422 otherwise). A second connection to an account the tenant has connected (the same
    provider, API base URL and client id, or Lever key) is a 409 naming the first."""
    try:
        connection = await connections.create_connection(
            container.storage,
            principal.tenant_id,
            principal.user_id,
            body.provider,
            body.name,
            api_key=body.api_key,
            api_base_url=str(body.api_base_url).rstrip("/") if body.api_base_url else None,
            address_policy=container.address_policy,
            ats_user_id=body.ats_user_id,
        )
    except (RefusedApiAddress, MissingConnectionSetting, InvalidConnectionSetting) as refused:
        raise _refused_api_settings(refused) from None
    except connections.AccountAlreadyConnected as refused:
        raise _already_connected(refused) from None
    # Names the new connection (the gateway's audit entry takes its id from here).
    response.headers["Location"] = f"{request.url.path.rstrip('/')}/{connection.id}"
    created = _created(connection, container.public_base_url)
    first = await sync.start_first_backfill(
        container.storage, container.api_factories, connection, requested_by=principal.user_id
    )
    if first is not None:
        container.sync_runner.wakeup.notify()
        created.backfill = _run(first)
    return created


@router.get(
    "/connections",
    dependencies=[require_permission("ats:read"), Depends(reject_unknown_query_params)],
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
    responses=problem_responses(
        409,
        s409="Another connection of the tenant reaches that ATS account "
        "(`existing_connection_id` names it).",
    ),
)
async def replace_api_key(
    connection_id: str,
    body: ApiKeyReplacement,
    principal: CurrentPrincipal,
    container: Container,
    response: Response,
) -> ConnectionView:
    """Replaces the connection's ATS API key and base URL (`settings:write`); the key is stored
    encrypted and never shown (`api_connected` says one is set). The address is checked as when
    connecting (422: a host the key may not be sent to, or Workable without one)."""
    try:
        before = await connections.find_connection(
            container.storage, principal.tenant_id, connection_id
        )
        connection = await connections.replace_api_key(
            container.storage,
            principal.tenant_id,
            connection_id,
            body.api_key,
            str(body.api_base_url).rstrip("/") if body.api_base_url else None,
            address_policy=container.address_policy,
        )
    except ConnectionNotFound:
        raise _not_found(connection_id) from None
    except (RefusedApiAddress, MissingConnectionSetting, InvalidConnectionSetting) as refused:
        raise _refused_api_settings(refused) from None
    except connections.AccountAlreadyConnected as refused:
        raise _already_connected(refused) from None
    # For the gateway's audit log: the key only as changed, never its value.
    response.headers.update(
        changes_header(
            [
                secret_changed("api_key"),
                *changed_fields(
                    {"api_base_url": before.api_base_url},
                    {"api_base_url": connection.api_base_url},
                ),
            ]
        )
    )
    return (await _views(container, [connection]))[0]


@router.post(
    "/connections/{connection_id}/rotate-secret",
    response_model=ConnectionCreated,
    dependencies=[require_permission("settings:write")],
    responses=problem_responses(409),
)
async def rotate_connection_secret(
    connection_id: str,
    body: SecretRotation,
    principal: CurrentPrincipal,
    container: Container,
    response: Response,
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
        raise _changed_meanwhile(connection_id) from None
    response.headers.update(changes_header([secret_changed("webhook_secret")]))
    return _created(rotated, container.public_base_url)


def _changed_meanwhile(connection_id: str) -> ProblemError:
    return ProblemError(
        409, f"ATS connection {connection_id} changed meanwhile; try again", problem_type="conflict"
    )


@router.put(
    "/connections/{connection_id}/webhook-secrets",
    response_model=ConnectionView,
    dependencies=[require_permission("settings:write")],
    responses=problem_responses(409),
)
async def set_ats_webhook_secrets(
    connection_id: str,
    body: AtsWebhookSecrets,
    principal: CurrentPrincipal,
    container: Container,
    response: Response,
) -> ConnectionView:
    """Sets the secrets the ATS issued and signs the connection's webhooks with
    (`settings:write`): for Lever, the signature token of each webhook event type. Deliveries
    are then accepted when signed with any of them (instead of the connection's own secret);
    the ones set before stay valid for `grace_hours`. Stored encrypted, never shown
    (`ats_issued_secrets` counts them). 422 for an ATS that does not issue its secrets
    (Greenhouse, Workable) or more than 10."""
    try:
        connection = await connections.set_ats_webhook_secrets(
            container.storage, principal.tenant_id, connection_id, body.secrets, body.grace_hours
        )
    except ConnectionNotFound:
        raise _not_found(connection_id) from None
    except SecretsNotIssuedByAts as refused:
        raise _invalid_body(str(refused), {"secrets": str(refused)}) from None
    except InvalidConnectionSetting as refused:
        raise _refused_api_settings(refused) from None
    except ConnectionChanged:
        raise _changed_meanwhile(connection_id) from None
    response.headers.update(changes_header([secret_changed("ats_webhook_secrets")]))
    return (await _views(container, [connection]))[0]


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
    dependencies=[require_permission("ats:read"), Depends(reject_unknown_query_params)],
    response_model=list[ApplicationPublic],
)
async def list_applications(
    principal: CurrentPrincipal,
    storage: Storage,
    request: Request,
    response: Response,
    candidate_id: str | None = None,
    connection_id: str | None = None,
    status: ApplicationStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    cursor: str | None = None,
) -> list[ApplicationPublic]:
    """Applications the ATS reported, in the order the CRM first heard of them, optionally of
    one candidate, one connection or in one status; at most `limit` (default 1000). When there
    are more, the `Link` header gives the next page (`rel="next"`, RFC 8288): the same query
    with its `cursor`, as a reference relative to the request (so it holds behind the gateway)."""
    found, next_after = await applications.list_applications(
        storage,
        principal.tenant_id,
        applications.ApplicationFilters(candidate_id, connection_id, status),
        after_id=decode_cursor(cursor) if cursor else None,
        limit=limit,
    )
    if next_after is not None:
        following = request.url.include_query_params(cursor=encode_cursor(next_after))
        response.headers["Link"] = f'<?{following.query}>; rel="next"'
    return [ApplicationPublic.model_validate(a.model_dump()) for a in found]


def _run(run: SyncRun) -> SyncRunPublic:
    return SyncRunPublic.model_validate(run.model_dump())


def _not_startable(connection_id: str, error: Exception) -> ProblemError:
    """The answer to a backfill or reconciliation that cannot start."""
    if isinstance(error, ConnectionNotFound):
        return _not_found(connection_id)
    if isinstance(error, SyncRunningError):
        return ProblemError(
            409,
            f"a {error.running.kind.value} of ATS connection {connection_id} is running "
            f"(run {error.running.id}); wait for it to finish",
            problem_type="sync-running",
        )
    return ProblemError(409, str(error), problem_type="api-not-connected")


@router.post(
    "/connections/{connection_id}/backfill",
    status_code=202,
    response_model=SyncRunPublic,
    dependencies=[require_permission("settings:write")],
    responses=problem_responses(409),
)
async def start_backfill(
    connection_id: str, principal: CurrentPrincipal, container: Container
) -> SyncRunPublic:
    """Starts importing the ATS's whole history in the background (`settings:write`):
    applications with their stages, rejections and hires, prospects, and jobs, page by page;
    a failed backfill is resumed from where it stopped. 409 while a backfill or reconciliation
    of the connection runs, or when the connection has no API key. Follow it with
    `GET .../sync`."""
    try:
        run = await sync.start_backfill(
            container.storage,
            container.api_factories,
            principal.tenant_id,
            connection_id,
            requested_by=principal.user_id,
        )
    except (ConnectionNotFound, SyncRunningError, sync.ApiNotConnected) as refused:
        raise _not_startable(connection_id, refused) from None
    container.sync_runner.wakeup.notify()
    return _run(run)


@router.post(
    "/connections/{connection_id}/reconcile",
    status_code=202,
    response_model=SyncRunPublic,
    dependencies=[require_permission("settings:write")],
    responses=problem_responses(409),
)
async def start_reconcile(
    connection_id: str, principal: CurrentPrincipal, container: Container
) -> SyncRunPublic:
    """Starts a reconciliation now (`settings:write`): what the ATS changed since the last
    successful backfill or reconciliation started (less the overlap) is read and applied, so
    missed or out-of-order webhooks are repaired. Refusals as for the backfill."""
    try:
        run = await sync.start_reconcile(
            container.storage,
            container.api_factories,
            principal.tenant_id,
            connection_id,
            overlap=container.sync_policy.overlap,
            requested_by=principal.user_id,
        )
    except (ConnectionNotFound, SyncRunningError, sync.ApiNotConnected) as refused:
        raise _not_startable(connection_id, refused) from None
    container.sync_runner.wakeup.notify()
    return _run(run)


@router.get(
    "/connections/{connection_id}/sync",
    dependencies=[require_permission("ats:read")],
    response_model=SyncStatusPublic,
)
async def get_sync_status(
    connection_id: str, principal: CurrentPrincipal, storage: Storage
) -> SyncStatusPublic:
    """The connection's last backfill and last reconciliation, with their progress and errors."""
    try:
        status = await sync.sync_status(storage, principal.tenant_id, connection_id)
    except ConnectionNotFound:
        raise _not_found(connection_id) from None
    return SyncStatusPublic(
        backfill=_run(status.backfill) if status.backfill else None,
        reconcile=_run(status.reconcile) if status.reconcile else None,
    )


@router.get(
    "/connections/{connection_id}/rejected-payloads",
    dependencies=[require_permission("settings:write"), Depends(reject_unknown_query_params)],
    response_model=list[RejectedPayloadPublic],
)
async def list_rejected_payloads(
    connection_id: str,
    principal: CurrentPrincipal,
    storage: Storage,
    request: Request,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: str | None = None,
) -> list[RejectedPayloadPublic]:
    """What the connection's ATS sent that the CRM could not map or store (admins:
    `settings:write`, since the bodies hold personal data), newest first: signed webhooks it
    did not understand (answered 422) and records a backfill or reconciliation skipped. Each is
    kept once, for 30 days, its body cut at 64 KiB, at most 1000 per connection. At most
    `limit` (1-100, default 50) per answer; when there are more, the `Link` header gives the
    next page (`rel="next"`, relative to the request)."""
    try:
        found, next_before = await rejected_payloads.list_rejected(
            storage,
            principal.tenant_id,
            connection_id,
            before_id=decode_cursor(cursor) if cursor else None,
            limit=limit,
        )
    except ConnectionNotFound:
        raise _not_found(connection_id) from None
    if next_before is not None:
        following = request.url.include_query_params(cursor=encode_cursor(next_before))
        response.headers["Link"] = f'<?{following.query}>; rel="next"'
    return [RejectedPayloadPublic.model_validate(p.model_dump()) for p in found]


@router.get(
    "/jobs",
    dependencies=[require_permission("ats:read"), Depends(reject_unknown_query_params)],
    response_model=list[JobPublic],
)
async def list_jobs(
    principal: CurrentPrincipal,
    storage: Storage,
    connection_id: str | None = None,
    status: JobStatus | None = None,
) -> list[JobPublic]:
    """The jobs of the tenant's connected ATSs by name, optionally of one connection or status
    (`open`, `closed`, `draft`); first 1000."""
    found = await jobs.list_jobs(
        storage, principal.tenant_id, connection_id=connection_id, status=status
    )
    return [JobPublic.model_validate(job.model_dump()) for job in found]


def _circuit_open(paused: CircuitOpenError) -> ProblemError:
    """A 503 for a call the connection's open circuit breaker did not let through, saying when
    it lets one through again (unknown while another call's trial decides)."""
    if paused.retry_at is None:
        return ProblemError(503, str(paused), problem_type="ats-circuit-open")
    wait = max(1, math.ceil((paused.retry_at - utc_now()).total_seconds()))
    return ProblemError(
        503,
        str(paused),
        problem_type="ats-circuit-open",
        headers={"Retry-After": str(wait)},
        extensions={"retry_at": paused.retry_at.isoformat()},
    )


def _push(push: Push) -> PushPublic:
    return PushPublic.model_validate(push.model_dump())


def _field_problem(status: int, field: str, detail: str, problem_type: str) -> ProblemError:
    """A refusal naming the request field it is about, for forms to show beside it."""
    return ProblemError(
        status,
        detail,
        problem_type=problem_type,
        extensions={"errors": [FieldError(field, detail).entry()]},
    )


@router.post(
    "/connections/{connection_id}/pushes",
    status_code=201,
    response_model=PushPublic,
    dependencies=[require_permission("ats:write")],
    responses={
        200: {"model": PushPublic, "description": "Pushed before: the stored push, unchanged."},
        202: {"model": PushPublic, "description": "Another request is pushing it right now."},
        **problem_responses(
            409,
            502,
            503,
            s409="No `data_processing` consent, the candidate is not an active record, the "
            "connection takes no pushes, or the same push is being retried right now.",
            s502="The ATS did not take the candidate; the push is stored as failed with the "
            "reason, and sending it again retries it.",
            s503="The connection's circuit breaker is open (its ATS API failed repeatedly): the "
            "ATS was not called and nothing was recorded; `retry_at` (and `Retry-After`) say "
            "when it lets a call through again.",
        ),
    },
)
async def push_candidate(
    connection_id: str,
    body: PushCreate,
    principal: CurrentPrincipal,
    container: Container,
    response: Response,
) -> PushPublic:
    """Sends a CRM candidate to the connection's ATS (`ats:write`): as a prospect, or with
    `ats_job_id` as an application for that open job. Each (connection, candidate, job) is
    sent once: a repeat answers the stored push (200) and does not call the ATS again; a failed
    push (502, its reason stored) is tried again by sending it again. The candidate needs a
    granted `data_processing` consent (409 `consent-required`). While the connection's circuit
    breaker is open the ATS is not called: 503 `ats-circuit-open`, nothing recorded."""
    try:
        outcome = await pushes.push_candidate(
            container.storage,
            container.api_factories,
            container.breaker,
            pushes.PushRequest(
                tenant_id=principal.tenant_id,
                connection_id=connection_id,
                candidate_id=body.candidate_id,
                ats_job_id=body.ats_job_id,
                requested_by=principal.user_id,
            ),
        )
    except ConnectionNotFound:
        raise _not_found(connection_id) from None
    except pushes.PushUnsupported as unsupported:
        raise ProblemError(409, str(unsupported), problem_type="api-not-connected") from None
    except pushes.UnknownJob as unknown:
        raise _field_problem(422, "ats_job_id", str(unknown), "unknown-job") from None
    except PushRefused as refused:
        status = 422 if refused.reason == "candidate-unknown" else 409
        raise _field_problem(status, "candidate_id", str(refused), refused.reason) from None
    except pushes.PushInProgress:
        raise ProblemError(
            409, "this push is being sent right now; look again shortly", problem_type="conflict"
        ) from None
    except CircuitOpenError as paused:
        raise _circuit_open(paused) from None
    push = outcome.push
    if push.state is PushState.FAILED:
        raise ProblemError(
            502,
            f"the ATS did not take the candidate: {push.error}",
            problem_type="ats-push-failed",
            extensions={"push": _push(push).model_dump(mode="json")},
        )
    if push.state is PushState.PENDING:
        response.status_code = 202
    elif not outcome.attempted:
        response.status_code = 200
    return _push(push)


@router.get(
    "/connections/{connection_id}/pushes",
    dependencies=[require_permission("ats:read"), Depends(reject_unknown_query_params)],
    response_model=list[PushPublic],
)
async def list_pushes(
    connection_id: str,
    principal: CurrentPrincipal,
    storage: Storage,
    candidate_id: str | None = None,
) -> list[PushPublic]:
    """The connection's pushes, newest first, optionally of one candidate (first 200), failed
    ones with their reason."""
    try:
        await connections.find_connection(storage, principal.tenant_id, connection_id)
    except ConnectionNotFound:
        raise _not_found(connection_id) from None
    found = await pushes.list_pushes(storage, principal.tenant_id, connection_id, candidate_id)
    return [_push(push) for push in found]


@public_router.post(
    "/{provider}/{connection_id}/webhooks",
    response_model=WebhookReceipt,
    status_code=202,
    responses={
        200: {
            "model": WebhookReceipt,
            "description": "A duplicate, replayed or stale delivery; and an accepted one from "
            "Workable, which counts any other code as a failure.",
        },
        400: {"description": "The delivery carries no delivery id."},
        401: {"description": "The signature does not match the connection's secret."},
        404: {"description": "No such connection of this ATS (or it was deleted)."},
        413: {"description": "The body exceeds 512 KiB."},
        422: {
            "description": "Signed, but not a webhook of this ATS the CRM understands: its "
            "body is kept among the connection's rejected payloads."
        },
        503: {
            "description": "The webhook names an application only and the ATS's API did not "
            "answer its read-back: nothing recorded, the ATS's retry is processed."
        },
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
            api_factory=container.api_factories.get(ats),
            breaker=container.breaker,
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
    except AtsUnavailableError as unavailable:
        raise ProblemError(
            503,
            f"the application could not be read back from the ATS: {unavailable}",
            problem_type="ats-unavailable",
        ) from None
    response.status_code = webhook_format.accepted_status if receipt == "accepted" else 200
    return WebhookReceipt(status=receipt, delivery_id=delivery_id)
