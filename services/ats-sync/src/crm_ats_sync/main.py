"""Composition root of the ats-sync service.

Run with `uvicorn --factory crm_ats_sync.main:create_app`.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from fastapi import FastAPI

from crm_ats_sync.adapters import WEBHOOK_FORMATS
from crm_ats_sync.api.routes import public_router, router
from crm_ats_sync.application.breaker import CircuitBreaker
from crm_ats_sync.application.storage import AtsStorage
from crm_ats_sync.config import AtsSyncSettings
from crm_ats_sync.container import AtsSyncContainer
from crm_ats_sync.domain.breaker import BreakerPolicy
from crm_ats_sync.handlers import build_router
from crm_ats_sync.migrations import migrations
from crm_ats_sync.repositories import ensure_indexes
from crm_ats_sync.repositories.connections import rewrap_connection_keys
from crm_shared import KeyRing, build_platform, create_service_app, install_gdpr, migrations_hook


def create_app(settings: AtsSyncSettings | None = None) -> FastAPI:
    """Builds the ats-sync service: connections, webhooks, subscribers and storage."""
    settings = settings or AtsSyncSettings()
    # In every environment: a connection's secrets are never stored in the clear, and the
    # devstack and the tests give a key of their own.
    keyring = KeyRing.parse(settings.ats_secret_keys.get_secret_value(), setting="ATS_SECRET_KEYS")
    platform = build_platform(settings)
    database = platform.require_database()
    storage = AtsStorage(
        mongo=platform.require_mongo(),
        database=database,
        outbox=platform.require_outbox(),
        keyring=keyring,
    )
    container = AtsSyncContainer(
        storage=storage,
        public_base_url=settings.public_base_url.rstrip("/"),
        webhook_formats=WEBHOOK_FORMATS,
        breaker=CircuitBreaker(
            storage.breakers,
            BreakerPolicy(
                failure_threshold=settings.ats_breaker_failure_threshold,
                cool_down=timedelta(seconds=settings.ats_breaker_cool_down_seconds),
            ),
        ),
    )

    platform.startup_hooks.append(partial(ensure_indexes, database))
    platform.startup_hooks.append(migrations_hook(database, migrations(keyring)))

    # After the migration that seals plaintext secrets: every data key then has a wrapping.
    async def rewrap() -> None:
        await rewrap_connection_keys(database, keyring)

    platform.startup_hooks.append(rewrap)
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
