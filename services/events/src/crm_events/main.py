"""Composition root of the events service.

Run with `uvicorn --factory crm_events.main:create_app`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial
from uuid import uuid4

from fastapi import FastAPI

from crm_events.api.embedding import embedding_router
from crm_events.api.registration_links import links_router
from crm_events.api.routes import public_router, router
from crm_events.application.links import RegistrationLinks
from crm_events.application.reminders import Reminders
from crm_events.application.storage import EventsStorage
from crm_events.config import EventsSettings
from crm_events.container import EventsContainer
from crm_events.handlers import build_router
from crm_events.migrations import MIGRATIONS
from crm_events.repositories import ensure_indexes
from crm_shared import (
    BatchWorker,
    Wakeup,
    build_platform,
    create_service_app,
    install_gdpr,
    migrations_hook,
)


def create_app(settings: EventsSettings | None = None) -> FastAPI:
    """Builds the events service: API, public registration, subscribers and storage."""
    settings = settings or EventsSettings()
    platform = build_platform(settings)
    database = platform.require_database()
    container = EventsContainer(
        storage=EventsStorage(
            mongo=platform.require_mongo(),
            database=database,
            outbox=platform.require_outbox(),
            links=RegistrationLinks(settings.signed_links(), settings.public_base_url),
        )
    )

    reminders = Reminders(
        container.storage,
        owner=f"{settings.service_name}-{uuid4().hex[:12]}",
        lease=timedelta(seconds=settings.reminder_lease_seconds),
    )
    reminder_worker = BatchWorker(
        "event-reminders",
        reminders.run_due,
        batch_size=reminders.batch_size,
        wakeup=Wakeup(),
        poll_interval_seconds=settings.reminder_poll_interval_seconds,
    )

    async def run_workers() -> AsyncIterator[None]:
        reminder_worker.start()
        try:
            yield
        finally:
            await reminder_worker.stop()

    platform.startup_hooks.append(partial(ensure_indexes, database))
    platform.startup_hooks.append(migrations_hook(database, MIGRATIONS))
    platform.include_kafka_router(build_router(platform.require_consumer(), container.storage))
    app = create_service_app(
        platform,
        title="Events service",
        description="Career fairs, webinars, meetups, campus and open-house events.",
        routers=[
            router,
            public_router,
            links_router,
            embedding_router,
            install_gdpr(
                platform, erasure="Erases the person's registrations and directory entries."
            ),
        ],
        extra_lifespan=run_workers,
    )
    app.state.container = container
    return app
