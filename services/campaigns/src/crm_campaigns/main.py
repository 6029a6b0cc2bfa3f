"""Composition root of the campaigns service.

Run with `uvicorn --factory crm_campaigns.main:create_app`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial

from fastapi import FastAPI

from crm_campaigns.adapters.senders import Senders
from crm_campaigns.adapters.smtp import SmtpPool, SmtpSecurity
from crm_campaigns.api import (
    broadcasts,
    event_mails,
    governance,
    inbound,
    invitation_mails,
    report_mails,
    routes,
    tracking,
)
from crm_campaigns.application.broadcasts import BroadcastRunner
from crm_campaigns.application.delivery import (
    RECOVERY_INTERVAL_SECONDS,
    DeliveryJournal,
    DeliveryLimits,
    MailDispatcher,
    SendingRates,
)
from crm_campaigns.application.delivery_metrics import BroadcastGauges, DeliveryMetrics
from crm_campaigns.application.engine import SequenceEngine
from crm_campaigns.application.enrolments import end_enrolments_before_erasure
from crm_campaigns.application.feedback import MailFeedback
from crm_campaigns.application.governance import (
    ContactGovernor,
    contact_policy_rule,
    suppression_rule,
)
from crm_campaigns.application.handoff import BatchHandoff, DueMessageHints, SharedInterval
from crm_campaigns.application.lifecycle import announce_sequences
from crm_campaigns.application.policy_release import PolicyReleaser
from crm_campaigns.application.tracking import EngagementTracker
from crm_campaigns.application.transactional import TransactionalMailer
from crm_campaigns.config import CampaignsSettings
from crm_campaigns.container import CampaignsContainer
from crm_campaigns.domain.policy import (
    SendPolicy,
    require_active_candidate,
    require_email_address,
    require_marketing_consent,
)
from crm_campaigns.domain.sending import ErrorThreshold
from crm_campaigns.domain.tracking import TrackingTokens
from crm_campaigns.handlers import (
    build_consent_mail_router,
    build_event_mail_router,
    build_router,
)
from crm_campaigns.handlers.invitation_mail import build_invitation_mail_router
from crm_campaigns.handlers.report_mail import build_report_mail_router
from crm_campaigns.migrations import MIGRATIONS
from crm_campaigns.repositories.collections import ensure_indexes
from crm_shared import (
    BatchWorker,
    PeriodicSampler,
    Wakeup,
    build_platform,
    create_service_app,
    install_gdpr,
    migrations_hook,
)


def delivery_limits(settings: CampaignsSettings) -> DeliveryLimits:
    """The dispatcher's retry, rate and error-threshold settings."""
    return DeliveryLimits(
        max_attempts=settings.delivery_max_attempts,
        retry_base=timedelta(seconds=settings.retry_base_seconds),
        retry_cap=timedelta(seconds=settings.retry_max_seconds),
        provider_rate=settings.provider_rate_per_second,
        provider_burst=settings.provider_burst,
        tenant_rate=settings.tenant_rate_per_second,
        tenant_burst=settings.tenant_burst,
        error_threshold=ErrorThreshold(settings.error_pause_min_sample, settings.error_pause_ratio),
    )


def smtp_security(settings: CampaignsSettings) -> SmtpSecurity:
    """How the SMTP connections are encrypted and authenticated."""
    return SmtpSecurity(
        tls=settings.smtp_security,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value(),
        ca_file=settings.smtp_ca_file,
    )


def create_app(settings: CampaignsSettings | None = None) -> FastAPI:
    """Builds the campaigns service: API, tracking, subscribers, sequence engine and delivery."""
    settings = settings or CampaignsSettings()
    platform = build_platform(settings)
    mongo, database = platform.require_mongo(), platform.require_database()
    outbox, consumer = platform.require_outbox(), platform.require_consumer()
    tokens = TrackingTokens(
        settings.tracking_secret.get_secret_value(),
        key_id=settings.tracking_key_id,
        retired_secrets={
            key_id: secret.get_secret_value()
            for key_id, secret in settings.tracking_retired_secrets.items()
        },
    )
    links = settings.signed_links()
    lease = timedelta(seconds=settings.lease_seconds)
    steps_due, messages_queued, broadcasts_due = Wakeup(), Wakeup(), Wakeup()

    security = smtp_security(settings)

    def smtp_pool(size: int) -> SmtpPool:
        return SmtpPool(
            settings.smtp_host, settings.smtp_port, settings.smtp_timeout_seconds, size, security
        )

    # Consent confirmations are sent from their subscriber, on a connection of their own.
    consent_transport = smtp_pool(1)
    # So are the mails to event registrants (confirmations, changes, cancellations).
    event_mail_transport = smtp_pool(1)
    # And the mails to staff: the weekly reports and the invitations to a tenant's team.
    report_mail_transport = smtp_pool(1)
    # Each tenant's From address, DKIM key and own account if any; the keys are loaded and
    # checked here, at start, and the accounts' connections are shared by all dispatchers.
    senders = Senders.from_settings(
        settings.smtp_sender,
        settings.tenant_senders,
        timeout=settings.smtp_timeout_seconds,
        pool_size=settings.smtp_pool_size,
    )
    engine = SequenceEngine(
        mongo=mongo,
        database=database,
        outbox=outbox,
        tokens=tokens,
        links=links,
        public_base_url=settings.public_base_url,
        sender_names=senders.display_name,
        lease=lease,
        batch_size=100,
        messages_queued=messages_queued,
        default_time_zone=settings.default_time_zone,
        tenant_time_zones=settings.tenant_time_zones,
    )
    governor = ContactGovernor(database)
    due_hints = DueMessageHints()
    recovery = SharedInterval(RECOVERY_INTERVAL_SECONDS)
    handoff = (
        BatchHandoff(settings.delivery_batch_size, messages_queued)
        if settings.broadcast_handoff
        else None
    )
    # Several dispatchers, each with its own connections: while one waits for the database,
    # another sends. They share the runner's handoff and hints and the recovery of abandoned
    # claims; their claims keep every message single.
    transports = [smtp_pool(settings.smtp_pool_size) for _ in range(settings.delivery_workers)]
    policy = SendPolicy(
        (
            require_email_address,
            suppression_rule(governor),
            require_marketing_consent,
            require_active_candidate,
            contact_policy_rule(governor),
        )
    )
    limits = delivery_limits(settings)
    # One set of provider and tenant buckets for the process: the limits are the process's,
    # not each dispatcher's.
    rates = SendingRates(limits)
    # One journal for the process: each commit records the progress of every dispatcher's
    # connections, instead of one commit per dispatcher.
    journal = DeliveryJournal(mongo, database, outbox, limits, lease)
    delivery_metrics = DeliveryMetrics(platform.registry, provider_rate=limits.provider_rate)
    broadcast_gauges = BroadcastGauges(database, platform.registry)
    platform.samplers.append(
        PeriodicSampler(
            "broadcast-gauges",
            broadcast_gauges.sample,
            every_seconds=settings.metrics_sample_seconds,
        )
    )
    dispatchers = [
        MailDispatcher(
            mongo=mongo,
            database=database,
            outbox=outbox,
            transport=transport,
            policy=policy,
            sender=settings.smtp_sender,
            lease=lease,
            batch_size=settings.delivery_batch_size,
            limits=limits,
            hints=due_hints,
            recovery=recovery,
            handoff=handoff,
            rates=rates,
            senders=senders,
            journal=journal,
            metrics=delivery_metrics,
        )
        for transport in transports
    ]
    runner = BroadcastRunner(
        mongo=mongo,
        database=database,
        tokens=tokens,
        links=links,
        public_base_url=settings.public_base_url,
        sender_names=senders.display_name,
        lease=lease,
        chunk_size=settings.broadcast_chunk_size,
        default_time_zone=settings.default_time_zone,
        tenant_time_zones=settings.tenant_time_zones,
        messages_queued=messages_queued,
        hints=due_hints,
        handoff=handoff,
        recipient_wait=timedelta(seconds=settings.broadcast_recipient_wait_seconds),
    )
    policy_changed = Wakeup()
    releaser = PolicyReleaser(database, batch_size=200, messages_queued=messages_queued)
    workers = [
        BatchWorker(
            "policy-release",
            releaser.release_batch,
            batch_size=200,
            wakeup=policy_changed,
            poll_interval_seconds=settings.broadcast_poll_interval_seconds,
        ),
        BatchWorker(
            "broadcast-runner",
            runner.run_due,
            batch_size=10,
            wakeup=broadcasts_due,
            poll_interval_seconds=settings.broadcast_poll_interval_seconds,
        ),
        BatchWorker(
            "sequence-engine",
            engine.run_due_steps,
            batch_size=100,
            wakeup=steps_due,
            poll_interval_seconds=settings.sequence_poll_interval_seconds,
        ),
        *(
            BatchWorker(
                f"mail-dispatcher-{number}",
                dispatcher.deliver_batch,
                batch_size=settings.delivery_batch_size,
                wakeup=messages_queued,
                poll_interval_seconds=settings.delivery_poll_interval_seconds,
            )
            for number, dispatcher in enumerate(dispatchers)
        ),
    ]
    consumer.after_commit.append(steps_due.notify)

    async def run_workers() -> AsyncIterator[None]:
        for worker in workers:
            worker.start()
        try:
            yield
        finally:
            for worker in workers:
                await worker.stop()
            for transport in transports:
                await transport.close()
            await consent_transport.close()
            await event_mail_transport.close()
            await report_mail_transport.close()
            await senders.close()

    platform.startup_hooks.append(partial(ensure_indexes, database))
    platform.startup_hooks.append(migrations_hook(database, MIGRATIONS))
    platform.startup_hooks.append(partial(announce_sequences, mongo, database, outbox))
    platform.include_kafka_router(build_router(consumer, database))
    platform.include_kafka_router(
        build_consent_mail_router(
            consumer,
            database,
            TransactionalMailer(consent_transport, senders, delivery_metrics),
        )
    )
    platform.include_kafka_router(
        build_event_mail_router(
            consumer,
            database,
            TransactionalMailer(event_mail_transport, senders, delivery_metrics),
        )
    )
    platform.include_kafka_router(
        build_report_mail_router(
            consumer,
            database,
            TransactionalMailer(report_mail_transport, senders, delivery_metrics),
        )
    )
    platform.include_kafka_router(
        build_invitation_mail_router(
            consumer,
            database,
            TransactionalMailer(report_mail_transport, senders, delivery_metrics),
        )
    )
    gdpr = install_gdpr(
        platform,
        erasure="Erases the person's recipient data, messages with their rendered bodies and "
        "reply excerpts, notifications about them, enrolments and segment membership; keeps "
        "only address digests. Enrolments in progress end `erased` first (`enrolment.ended`).",
        before_erasure=partial(end_enrolments_before_erasure, database),
    )
    app = create_service_app(
        platform,
        title="Campaigns service",
        description="Every message a candidate receives: templates, blocks, sequences, "
        "broadcasts, delivery, tracking.",
        routers=[
            routes.router,
            broadcasts.router,
            governance.router,
            event_mails.router,
            report_mails.router,
            invitation_mails.router,
            tracking.router,
            inbound.router,
            gdpr,
        ],
        extra_lifespan=run_workers,
    )
    app.state.container = CampaignsContainer(
        mongo=mongo,
        database=database,
        outbox=outbox,
        tracker=EngagementTracker(
            mongo=mongo,
            database=database,
            outbox=outbox,
            tokens=tokens,
            machine_fetch_window=timedelta(seconds=settings.machine_fetch_window_seconds),
            link_scan_burst=timedelta(seconds=settings.link_scan_burst_seconds),
        ),
        signed_links=links,
        public_base_url=settings.public_base_url,
        quotas=settings.quotas,
        mail_feedback=MailFeedback(mongo=mongo, database=database, outbox=outbox),
        senders=senders,
        sequence_engine=engine,
        broadcast_runner=runner,
        mail_dispatchers=dispatchers,
        steps_due=steps_due,
        broadcasts_due=broadcasts_due,
        messages_queued=messages_queued,
        policy_changed=policy_changed,
    )
    return app
