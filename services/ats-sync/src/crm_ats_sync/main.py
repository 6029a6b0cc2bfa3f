"""Composition root of the ats-sync service.

Run with `uvicorn --factory crm_ats_sync.main:create_app`.
"""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

from crm_ats_sync.adapters import WEBHOOK_FORMATS
from crm_ats_sync.api.routes import public_router, router
from crm_ats_sync.application.storage import AtsStorage
from crm_ats_sync.config import AtsSyncSettings
from crm_ats_sync.container import AtsSyncContainer
from crm_ats_sync.handlers import build_router
from crm_ats_sync.repositories import ensure_indexes
from crm_shared import build_platform, create_service_app, install_gdpr


def create_app(settings: AtsSyncSettings | None = None) -> FastAPI:
    """Builds the ats-sync service: connections, webhooks, subscribers and storage."""
    settings = settings or AtsSyncSettings()
    platform = build_platform(settings)
    database = platform.require_database()
    container = AtsSyncContainer(
        storage=AtsStorage(
            mongo=platform.require_mongo(), database=database, outbox=platform.require_outbox()
        ),
        public_base_url=settings.public_base_url.rstrip("/"),
        webhook_formats=WEBHOOK_FORMATS,
    )

    platform.startup_hooks.append(partial(ensure_indexes, database))
    platform.include_kafka_router(build_router(platform.require_consumer(), container.storage))
    app = create_service_app(
        platform,
        title="ATS sync service",
        description="The bridge to applicant tracking systems (Greenhouse, Lever and Workable).",
        routers=[
            router,
            public_router,
            install_gdpr(
                platform, erasure="Erases the person's applications and directory entries."
            ),
        ],
    )
    app.state.container = container
    return app
