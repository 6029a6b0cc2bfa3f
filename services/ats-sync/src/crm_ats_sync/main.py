"""Composition root of the ats-sync service.

Run with `uvicorn --factory crm_ats_sync.main:create_app`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from functools import partial

from fastapi import FastAPI

from crm_ats_sync.adapters import API_FACTORIES, WEBHOOK_FORMATS
from crm_ats_sync.api.routes import public_router, router
from crm_ats_sync.application.breaker import CircuitBreaker
from crm_ats_sync.application.ports import AtsApiFactory
from crm_ats_sync.application.storage import AtsStorage
from crm_ats_sync.application.sync import SyncPolicy, SyncRunner
from crm_ats_sync.config import AtsSyncSettings
from crm_ats_sync.container import AtsSyncContainer
from crm_ats_sync.domain.addresses import ApiAddressPolicy
from crm_ats_sync.domain.breaker import BreakerPolicy
from crm_ats_sync.domain.models import Provider
from crm_ats_sync.handlers import build_router
from crm_ats_sync.migrations import migrations
from crm_ats_sync.repositories import ensure_indexes
from crm_ats_sync.repositories.connections import rewrap_connection_keys
from crm_shared import KeyRing, build_platform, create_service_app, install_gdpr, migrations_hook


def create_app(
    settings: AtsSyncSettings | None = None,
    *,
    api_factories: Mapping[Provider, AtsApiFactory] | None = None,
) -> FastAPI:
    """Builds the ats-sync service: connections, webhooks, sync runs, subscribers and storage.

    `api_factories` replaces the adapters' API factories (a test's in-memory ATS)."""
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
    factories = API_FACTORIES if api_factories is None else api_factories
    policy = SyncPolicy(
        lease=timedelta(seconds=settings.sync_lease_seconds),
        max_failures=settings.sync_max_failures,
        retry_base=timedelta(seconds=settings.sync_retry_seconds),
        reconcile_every=timedelta(seconds=settings.reconcile_interval_seconds),
        overlap=timedelta(seconds=settings.reconcile_overlap_seconds),
        apply_batch=settings.sync_apply_batch,
    )
    breaker = CircuitBreaker(
        storage.breakers,
        BreakerPolicy(
            failure_threshold=settings.ats_breaker_failure_threshold,
            cool_down=timedelta(seconds=settings.ats_breaker_cool_down_seconds),
        ),
    )
    container = AtsSyncContainer(
        storage=storage,
        public_base_url=settings.public_base_url.rstrip("/"),
        webhook_formats=WEBHOOK_FORMATS,
        api_factories=factories,
        sync_policy=policy,
        address_policy=ApiAddressPolicy(
            tuple(settings.api_hosts_allowed), development=settings.environment == "development"
        ),
        sync_runner=SyncRunner(
            storage,
            factories,
            policy,
            poll_seconds=settings.sync_poll_interval_seconds,
            breaker=breaker,
        ),
        breaker=breaker,
    )

    async def run_background_work() -> AsyncIterator[None]:
        # Runs a stopped process left unfinished are resumed once their lease expires.
        container.sync_runner.start()
        try:
            yield
        finally:
            await container.sync_runner.stop()

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
        extra_lifespan=run_background_work,
    )
    app.state.container = container
    return app
