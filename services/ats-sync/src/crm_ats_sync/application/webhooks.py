"""Receiving an ATS webhook: verified, recorded once, applied unless stale, announced."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from crm_ats_sync.application.ports import WebhookFormat
from crm_ats_sync.application.storage import AtsStorage
from crm_ats_sync.domain.changes import (
    ApplicationChange,
    NewApplication,
    WebhookRejectedError,
    body_digest,
    status_after,
)
from crm_ats_sync.domain.models import Application, Connection, Provider
from crm_ats_sync.publishers import to_ats_application_changed, to_ats_application_created
from crm_ats_sync.repositories.connections import find_connection_anywhere
from crm_ats_sync.repositories.deliveries import DuplicateDeliveryError
from crm_ats_sync.repositories.webhook_log import REFUSED
from crm_shared import Session, normalise_email, utc_now

Receipt = Literal["accepted", "duplicate", "replayed", "stale"]


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
) -> tuple[Receipt, str]:
    """Receives a webhook of `provider`: the signature checked (under the connection's secret,
    or the previous one during a rotation's grace period), each delivery id and each signed body
    processed once, and a change older than the application's recorded state ignored. Answers
    the receipt and the delivery id.

    Refusals, in the order they are checked: `UnknownConnection`, `WebhookRejectedError` (the
    signature), `MalformedWebhook`, `MissingDeliveryId`."""
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
        raise
    received_at = utc_now()

    async def receive(session: Session) -> bool:
        """Processes the delivery; False for a change older than what is recorded."""
        await storage.deliveries(connection.tenant_id).record_delivery(
            connection.id, delivery_id, body_digest(body), action, session=session
        )
        if isinstance(reported, ApplicationChange):
            return await _apply_change(storage, connection, reported, received_at, session)
        if isinstance(reported, NewApplication):
            await _add_application(storage, connection, reported, session)
        return True

    receipt: Receipt
    try:
        applied = await storage.in_transaction(receive)
    except DuplicateDeliveryError as seen:
        receipt = "replayed" if seen.kind == "replayed" else "duplicate"
    else:
        receipt = "accepted" if applied else "stale"
        if applied:
            storage.outbox.notify_committed()
    await storage.webhook_log(connection.tenant_id).record(connection.id, receipt)
    return receipt, delivery_id


async def _matched_candidate(
    storage: AtsStorage, tenant_id: str, emails: list[str], session: Session
) -> str | None:
    directory = storage.directory(tenant_id)
    for email in emails:
        candidate_id = await directory.candidate_for(email, session=session)
        if candidate_id:
            return candidate_id
    return None


def _first_email(emails: list[str]) -> str | None:
    return normalise_email(emails[0]) if emails else None


async def _apply_change(
    storage: AtsStorage,
    connection: Connection,
    reported: ApplicationChange,
    received_at: datetime,
    session: Session,
) -> bool:
    """Records a stage change, rejection or hire and announces it; False if it is stale."""
    changed = await storage.applications(connection.tenant_id).apply_change(
        connection,
        reported,
        status_after(reported.kind),
        await _matched_candidate(storage, connection.tenant_id, reported.emails, session),
        _first_email(reported.emails),
        session=session,
    )
    if changed is None:
        return False
    application, from_stage = changed
    await to_ats_application_changed(
        storage.outbox,
        application,
        reported,
        from_stage=from_stage,
        received_at=received_at,
        session=session,
    )
    return True


async def _add_application(
    storage: AtsStorage, connection: Connection, reported: NewApplication, session: Session
) -> None:
    """Stores a new application and announces it, unless the ATS reported it before."""
    application = Application(
        tenant_id=connection.tenant_id,
        connection_id=connection.id,
        provider=connection.provider,
        ats_application_id=reported.ats_application_id,
        ats_candidate_id=reported.ats_candidate_id,
        candidate_id=await _matched_candidate(
            storage, connection.tenant_id, reported.emails, session
        ),
        email=_first_email(reported.emails),
        job_name=reported.job_name,
        applied_at=reported.applied_at,
        stage=reported.stage,
    )
    if await storage.applications(connection.tenant_id).add_application(
        application, session=session
    ):
        await to_ats_application_created(storage.outbox, application, session=session)
