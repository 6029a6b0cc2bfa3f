"""Receiving an ATS webhook: verified, recorded once, applied unless stale, announced."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from crm_ats_sync.application.breaker import CircuitBreaker
from crm_ats_sync.application.ports import AtsApi, AtsApiFactory, WebhookFormat
from crm_ats_sync.application.recording import record_change, record_new_application
from crm_ats_sync.application.rejected_payloads import Rejection, keep_rejected
from crm_ats_sync.application.snapshots import SnapshotOutcome, apply_snapshot
from crm_ats_sync.application.storage import AtsStorage
from crm_ats_sync.domain.changes import (
    ApplicationChange,
    ApplicationSnapshot,
    ApplicationTouched,
    NewApplication,
    WebhookRejectedError,
    body_digest,
)
from crm_ats_sync.domain.models import Connection, Provider
from crm_ats_sync.domain.rejected_payloads import PayloadSource
from crm_ats_sync.repositories.connections import find_connection_anywhere
from crm_ats_sync.repositories.deliveries import DuplicateDeliveryError
from crm_ats_sync.repositories.webhook_log import REFUSED
from crm_shared import Session, utc_now

Receipt = Literal["accepted", "duplicate", "replayed", "stale", "not_read", "gone"]


class UnknownConnection(LookupError):
    """No connection of this provider with this id (or it was deleted)."""


class MalformedWebhook(ValueError):
    """Signed under the connection's secret, but not a webhook the CRM understands."""


class MissingDeliveryId(ValueError):
    """The delivery carries no delivery id."""


# How the health view names each refusal of a delivery from a known connection.
_REFUSAL_REASONS: dict[type[Exception], str] = {
    WebhookRejectedError: "bad_signature",
    MalformedWebhook: "malformed",
    MissingDeliveryId: "missing_delivery_id",
}


async def receive_webhook(
    storage: AtsStorage,
    provider: Provider,
    webhook_format: WebhookFormat,
    connection_id: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    api_factory: AtsApiFactory | None = None,
    breaker: CircuitBreaker | None = None,
) -> tuple[Receipt, str]:
    """Receives a webhook of `provider`: the signature checked (under the connection's secret,
    or the previous one during a rotation's grace period), each delivery id and each signed body
    processed once, and a change older than the application's recorded state ignored. Answers
    the receipt and the delivery id.

    A webhook naming an application but not its state (`ApplicationTouched`) is read back with
    the connection's API (`api_factory`, through the connection's circuit `breaker`) and
    applied as a snapshot; a connection without an API
    key records it and answers `not_read` (the next reconciliation cannot run either: the
    connection takes the ATS's full webhooks only), and an application the ATS no longer has
    answers `gone`.

    Refusals, in the order they are checked: `UnknownConnection`, `WebhookRejectedError` (the
    signature), `MalformedWebhook` (its body kept among the connection's rejected payloads),
    `MissingDeliveryId`; `AtsUnavailableError` when the API
    did not answer the read-back (nothing is recorded, so the ATS's retry is processed)."""
    connection = await find_connection_anywhere(storage.database, storage.keyring, connection_id)
    if connection is None or connection.provider is not provider:
        raise UnknownConnection(connection_id)
    try:
        webhook_format.verify(connection.accepted_secrets(utc_now()), headers, body)
        try:
            action, reported = webhook_format.parse(body)
        except WebhookRejectedError as malformed:
            raise MalformedWebhook(str(malformed)) from None
        delivery_id = webhook_format.delivery_id(headers, body)
        if not delivery_id:
            raise MissingDeliveryId
    except (WebhookRejectedError, MalformedWebhook, MissingDeliveryId) as refused:
        # Recorded for the connection's health view: the ATS's log is not where admins look.
        await storage.webhook_log(connection.tenant_id).record(
            connection.id, REFUSED, reason=_REFUSAL_REASONS[type(refused)], detail=str(refused)
        )
        if isinstance(refused, MalformedWebhook):
            # From the ATS (signed) but not understood: kept for an admin to see what it sent.
            await keep_rejected(
                storage, connection, PayloadSource.WEBHOOK, [Rejection(str(refused), body)]
            )
        raise
    readable = connection.api_key is not None and api_factory is not None
    snapshot: ApplicationSnapshot | None = None
    if isinstance(reported, ApplicationTouched) and connection.api_key and api_factory:
        snapshot = await _read_back(
            breaker or CircuitBreaker(storage.breakers),
            connection,
            api_factory(base_url=connection.api_base_url, api_key=connection.api_key),
            reported.ats_application_id,
        )
    received_at = utc_now()

    async def receive(session: Session) -> Receipt:
        """Processes the delivery; answers what it did."""
        await storage.deliveries(connection.tenant_id).record_delivery(
            connection.id, delivery_id, body_digest(body), action, session=session
        )
        if isinstance(reported, ApplicationChange):
            applied = await record_change(storage, connection, reported, received_at, session)
            return "accepted" if applied else "stale"
        if isinstance(reported, NewApplication):
            await record_new_application(storage, connection, reported, session)
        if isinstance(reported, ApplicationTouched):
            if not readable:
                return "not_read"
            if snapshot is None:
                return "gone"
            outcome = await apply_snapshot(
                storage, connection, snapshot, received_at=received_at, session=session
            )
            return "stale" if outcome is SnapshotOutcome.STALE else "accepted"
        return "accepted"

    receipt: Receipt
    try:
        receipt = await storage.in_transaction(receive)
    except DuplicateDeliveryError as seen:
        receipt = "replayed" if seen.kind == "replayed" else "duplicate"
    if receipt == "accepted":
        storage.outbox.notify_committed()
    await storage.webhook_log(connection.tenant_id).record(connection.id, receipt)
    return receipt, delivery_id


async def _read_back(
    breaker: CircuitBreaker, connection: Connection, api: AtsApi, ats_application_id: str
) -> ApplicationSnapshot | None:
    """The application's current state from the connection's API (None: the ATS no longer has
    it); read before the delivery's transaction, which holds no network call."""
    try:
        return await breaker.call(connection, lambda: api.application(ats_application_id))
    finally:
        await api.aclose()
