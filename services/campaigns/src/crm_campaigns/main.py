"""Composition root of the campaigns service.

Run with `uvicorn --factory crm_campaigns.main:create_app`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from email.utils import parseaddr
from functools import partial

from fastapi import FastAPI

from crm_campaigns.api import routes, tracking
from crm_campaigns.config import CampaignsSettings
from crm_campaigns.delivery import MailDispatcher, SmtpTransport
from crm_campaigns.domain.tracking import TrackingTokens
from crm_campaigns.engine import SequenceEngine
from crm_campaigns.handlers import build_router
from crm_campaigns.repository import ensure_indexes
from crm_shared import BatchWorker, Wakeup, build_platform, create_service_app


def create_app(settings: CampaignsSettings | None = None) -> FastAPI:
    """Builds the campaigns service: API, tracking, subscribers, sequence engine and delivery."""
    settings = settings or CampaignsSettings()
    platform = build_platform(settings)
    mongo, database = platform.require_mongo(), platform.require_database()
    outbox, consumer = platform.require_outbox(), platform.require_consumer()
    tokens = TrackingTokens(settings.tracking_secret.get_secret_value())
    lease = timedelta(seconds=settings.lease_seconds)
    steps_due, messages_queued = Wakeup(), Wakeup()
    transport = SmtpTransport(settings.smtp_host, settings.smtp_port, settings.smtp_timeout_seconds)
    engine = SequenceEngine(
        mongo=mongo,
        database=database,
        tokens=tokens,
        public_base_url=settings.public_base_url,
        sender_name=parseaddr(settings.smtp_sender)[0],
        lease=lease,
        batch_size=100,
        messages_queued=messages_queued,
    )
    dispatcher = MailDispatcher(
        mongo=mongo,
        database=database,
        outbox=outbox,
        transport=transport,
        sender=settings.smtp_sender,
        lease=lease,
        batch_size=settings.delivery_batch_size,
        max_attempts=settings.delivery_max_attempts,
    )
    workers = [
        BatchWorker(
            "sequence-engine",
            engine.run_due_steps,
            batch_size=100,
            wakeup=steps_due,
            poll_interval_seconds=settings.sequence_poll_interval_seconds,
        ),
        BatchWorker(
            "mail-dispatcher",
            dispatcher.deliver_batch,
            batch_size=settings.delivery_batch_size,
            wakeup=messages_queued,
            poll_interval_seconds=settings.delivery_poll_interval_seconds,
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
            await transport.close()

    platform.startup_hooks.append(partial(ensure_indexes, database))
    platform.include_kafka_router(build_router(consumer, database))
    app = create_service_app(
        platform,
        title="Campaigns service",
        description="Every message a candidate receives: templates, sequences, delivery, tracking.",
        routers=[routes.router, tracking.router],
        extra_lifespan=run_workers,
    )
    app.state.tracking_tokens = tokens
    app.state.steps_due = steps_due
    app.state.sequence_engine = engine
    app.state.mail_dispatcher = dispatcher
    return app
