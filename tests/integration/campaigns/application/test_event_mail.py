"""Mails to event registrants against SecantusDB and a real SMTP server: the confirmation with
its calendar invitation attached, suppression as for any transactional mail, and a send that
fails recorded (and raised for the consumer to retry) rather than lost."""

from __future__ import annotations

from datetime import UTC, datetime

import aiosmtplib
import pytest
from conftest import SmtpSink
from icalendar import Calendar
from prometheus_client import CollectorRegistry

from crm_campaigns.adapters.senders import Senders
from crm_campaigns.adapters.smtp import SmtpPool
from crm_campaigns.application.delivery_metrics import DeliveryMetrics
from crm_campaigns.application.event_mail import confirm_registration, event_mails
from crm_campaigns.application.transactional import TransactionalMailer
from crm_campaigns.domain.event_mail import EventMail, EventMailKind, EventMailStatus
from crm_campaigns.domain.suppression import ListReason, Suppression
from crm_campaigns.repositories.suppressions import SuppressionRepository
from crm_devstack.infra import free_ports
from crm_shared import (
    EVENT_REGISTERED,
    EventEnvelope,
    EventRegistered,
    Session,
    email_sha256,
    in_transaction,
)
from helpers import unique
from integration.campaigns.application.test_delivery import Setup

pytestmark = pytest.mark.integration

SENDER = "Talent Team <talent@recruitcrm.example>"
ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nMETHOD:REQUEST\r\n"
    "BEGIN:VEVENT\r\nUID:reg-1.event-1@events.recruitcrm\r\nSEQUENCE:1\r\n"
    "DTSTAMP:20270101T000000Z\r\nDTSTART:20270301T170000Z\r\nSUMMARY:Campus fair\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n"
)


def registered(tenant: str, email: str, **changes: object) -> EventEnvelope[EventRegistered]:
    payload = EventRegistered(
        event_id="event-1",
        event_name="Campus fair",
        registration_id=unique("reg"),
        email=email,
        first_name="Zoë",
        last_name="Doe",
        registered_at=datetime(2027, 1, 1, tzinfo=UTC),
        starts_at=datetime(2027, 3, 1, 17, tzinfo=UTC),
        time_zone="Europe/Berlin",
        location="Hall A",
        manage_url="https://crm.example/public/v1/event-registrations/token",
        invitation_ics=ICS,
    ).model_copy(update=changes)
    return EventEnvelope[EventRegistered](
        type=EVENT_REGISTERED.name,
        source="events",
        tenant_id=tenant,
        subject=email,
        schema_version=1,
        data=payload,
    )


async def confirm(
    delivery: Setup,
    pool: SmtpPool,
    envelope: EventEnvelope[EventRegistered],
    metrics: DeliveryMetrics | None = None,
) -> None:
    senders = Senders.from_settings(SENDER, {})
    mailer = TransactionalMailer(pool, senders, metrics)

    async def work(session: Session) -> None:
        await confirm_registration(delivery.database, mailer, envelope, session)

    await in_transaction(delivery.mongo, work)


async def test_a_confirmation_carries_the_invitation_and_suppression_applies(
    delivery: Setup, smtp_sink: SmtpSink
) -> None:
    pool = SmtpPool(smtp_sink.host, smtp_sink.port, 10, 1)
    welcome = f"{unique('welcome')}@example.org"
    bounced = f"{unique('bounced')}@example.org"
    unsubscribed = f"{unique('unsubscribed')}@example.org"
    suppressions = SuppressionRepository(delivery.database, delivery.tenant)
    for address, reason in ((bounced, ListReason.BOUNCED), (unsubscribed, ListReason.UNSUBSCRIBED)):
        await suppressions.add(
            Suppression(
                tenant_id=delivery.tenant,
                email_sha256=email_sha256(address),
                reason=reason,
                source="test",
            )
        )
    try:
        for address in (welcome, bounced, unsubscribed):
            await confirm(delivery, pool, registered(delivery.tenant, address))
        # A walk-in is at the door already: no confirmation.
        walk_in = f"{unique('walkin')}@example.org"
        await confirm(delivery, pool, registered(delivery.tenant, walk_in, walk_in=True))
    finally:
        await pool.close()

    [mail] = smtp_sink.messages_to(welcome)
    parsed = mail.parsed()
    assert parsed["Subject"] == "You are registered: Campus fair"
    [attachment] = [p for p in parsed.iter_attachments() if p.get_content_type() == "text/calendar"]
    assert attachment.get_param("method") == "REQUEST"
    assert attachment.get_filename() == "invitation.ics"
    [entry] = Calendar.from_ical(attachment.get_content()).walk("VEVENT")
    assert str(entry["UID"]) == "reg-1.event-1@events.recruitcrm"
    body = parsed.get_body(("plain",))
    assert body is not None
    assert "Monday 01 March 2027, 18:00 CET" in body.get_content()
    assert smtp_sink.messages_to(bounced) == []
    assert len(smtp_sink.messages_to(unsubscribed)) == 1  # transactional: still told
    assert smtp_sink.messages_to(walk_in) == []

    recorded = await event_mails(
        delivery.database,
        delivery.tenant,
        event_id="event-1",
        registration_id=None,
        status=None,
        after=None,
        limit=10,
    )
    by_digest = {m.email_sha256: m for m in recorded}
    assert len(recorded) == 3
    assert by_digest[email_sha256(welcome)].status is EventMailStatus.SENT
    assert by_digest[email_sha256(welcome)].kind is EventMailKind.CONFIRMATION
    assert (by_digest[email_sha256(bounced)].status, by_digest[email_sha256(bounced)].reason) == (
        EventMailStatus.SUPPRESSED,
        "bounced",
    )
    assert by_digest[email_sha256(unsubscribed)].status is EventMailStatus.SENT


async def test_a_send_that_fails_is_recorded_and_raised_then_a_retry_sends_it(
    delivery: Setup, smtp_sink: SmtpSink
) -> None:
    [nothing_listens] = free_ports(1)
    down = SmtpPool("127.0.0.1", nothing_listens, 2, 1)
    address = f"{unique('unlucky')}@example.org"
    envelope = registered(delivery.tenant, address)
    # Counted beside the marketing mail, so the SMTP alerts see event mail too.
    registry = CollectorRegistry()
    metrics = DeliveryMetrics(registry, provider_rate=10)

    def transactions(outcome: str) -> float | None:
        return registry.get_sample_value("crm_smtp_messages_total", {"outcome": outcome})

    with pytest.raises((OSError, aiosmtplib.SMTPException)):  # refused, however it says so
        await confirm(delivery, down, envelope, metrics)
    assert (transactions("deferred"), transactions("sent")) == (1, 0)
    await down.close()

    async def record() -> EventMail:
        [mail] = await event_mails(
            delivery.database,
            delivery.tenant,
            event_id=None,
            registration_id=envelope.data.registration_id,
            status=None,
            after=None,
            limit=10,
        )
        return mail

    failed = await record()
    assert failed.status is EventMailStatus.FAILED
    assert failed.reason
    assert failed.attempts == 1

    up = SmtpPool(smtp_sink.host, smtp_sink.port, 10, 1)
    try:
        await confirm(delivery, up, envelope, metrics)  # the consumer's retry
        # Delivered again after a lost commit: not re-sent, not counted again.
        await confirm(delivery, up, envelope, metrics)
    finally:
        await up.close()
    sent = await record()
    assert (sent.status, sent.attempts) == (EventMailStatus.SENT, 2)
    assert len(smtp_sink.messages_to(address)) == 1
    assert (transactions("deferred"), transactions("sent")) == (1, 1)
