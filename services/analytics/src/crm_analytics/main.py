"""Composition root of the analytics service.

Run with `uvicorn --factory crm_analytics.main:create_app`.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial
from uuid import uuid4

from fastapi import FastAPI

from crm_analytics.api.enrolment_reports import enrolment_router
from crm_analytics.api.funnels import funnel_router
from crm_analytics.api.message_reports import message_router
from crm_analytics.api.pool_health import pool_health_router
from crm_analytics.api.routes import router
from crm_analytics.api.weekly_reports import weekly_report_router
from crm_analytics.application.activity import ActivityRecorder
from crm_analytics.application.decay import DECAY_LEASE, DecaySweep
from crm_analytics.application.enrolment_reports import EnrolmentReportFolder
from crm_analytics.application.event_reports import EventReportFolder
from crm_analytics.application.journeys import JourneyFolder
from crm_analytics.application.merges import MergeFollower
from crm_analytics.application.message_reports import MessageReportFolder
from crm_analytics.application.pool_health import PoolHealthFolder
from crm_analytics.application.storage import AnalyticsStorage
from crm_analytics.application.weekly_reports import weekly_report_worker
from crm_analytics.config import AnalyticsSettings
from crm_analytics.container import AnalyticsContainer
from crm_analytics.handlers import build_router
from crm_analytics.handlers.journeys import build_journey_router
from crm_analytics.migrations import MIGRATIONS
from crm_analytics.repositories import ensure_indexes
from crm_shared import (
    BatchWorker,
    NamedLease,
    Wakeup,
    build_platform,
    create_service_app,
    install_gdpr,
    migrations_hook,
)


def create_app(settings: AnalyticsSettings | None = None) -> FastAPI:
    """Builds the analytics service: its subscribers, API and storage, wired together."""
    settings = settings or AnalyticsSettings()
    platform = build_platform(settings)
    database = platform.require_database()
    storage = AnalyticsStorage(database=database, outbox=platform.require_outbox())
    model = settings.engagement_model()
    container = AnalyticsContainer(
        storage=storage, engagement_model=model, recorder=ActivityRecorder(storage, model)
    )

    platform.startup_hooks.append(partial(ensure_indexes, database))
    platform.startup_hooks.append(migrations_hook(database, MIGRATIONS))
    platform.include_kafka_router(
        build_router(
            platform.require_consumer(),
            container.recorder,
            EventReportFolder(storage),
            MergeFollower(storage, model),
            MessageReportFolder(storage),
            PoolHealthFolder(
                storage, tuple(w.casefold() for w in settings.pool_health_late_stage_words)
            ),
            EnrolmentReportFolder(storage),
        )
    )
    platform.include_kafka_router(
        build_journey_router(platform.require_consumer(), JourneyFolder(storage))
    )
    sweep = DecaySweep(
        storage,
        platform.require_mongo(),
        model,
        NamedLease(
            database,
            DECAY_LEASE,
            owner=f"{settings.service_name}-{uuid4().hex[:12]}",
            lease=timedelta(seconds=settings.engagement_republish_lease_seconds),
        ),
        batch_size=settings.engagement_republish_batch_size,
        max_per_sweep=settings.engagement_republish_max_per_sweep,
    )
    # Each sweep is bounded, then waits the interval (a batch size it never reaches).
    decay_worker = BatchWorker(
        "engagement-decay",
        sweep.run,
        batch_size=sys.maxsize,
        wakeup=Wakeup(),
        poll_interval_seconds=settings.engagement_republish_interval_seconds,
    )

    weekly_reports = weekly_report_worker(
        platform.require_mongo(),
        storage,
        service_name=settings.service_name,
        interval_seconds=settings.weekly_report_interval_seconds,
        lease_seconds=settings.weekly_report_lease_seconds,
        retry_seconds=settings.weekly_report_retry_seconds,
    )

    async def run_workers() -> AsyncIterator[None]:
        if settings.engagement_republish_interval_seconds > 0:
            decay_worker.start()
        weekly_reports.start()
        try:
            yield
        finally:
            await weekly_reports.stop()
            await decay_worker.stop()

    app = create_service_app(
        platform,
        title="Analytics service",
        description="What happened and what worked: per-tenant aggregates of every event.",
        routers=[
            router,
            message_router,
            enrolment_router,
            funnel_router,
            pool_health_router,
            weekly_report_router,
            install_gdpr(
                platform, erasure="Erases per-candidate data; the tenant's aggregate counts stay."
            ),
        ],
        extra_lifespan=run_workers,
    )
    app.state.container = container
    return app
