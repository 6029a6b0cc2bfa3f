"""Composition root of the candidates service.

Run with `uvicorn --factory crm_candidates.main:create_app`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial

from fastapi import FastAPI

from crm_candidates.api.identity import duplicates_router, merges_router
from crm_candidates.api.profiles import notes_router, pools_router, settings_router
from crm_candidates.api.routes import router, segments_router
from crm_candidates.commands import SegmentJobs
from crm_candidates.config import CandidatesSettings
from crm_candidates.handlers import build_router
from crm_candidates.repository import backfill_derived_fields, ensure_indexes
from crm_shared import build_platform, create_service_app


def create_app(settings: CandidatesSettings | None = None) -> FastAPI:
    """Builds the candidates service: API, segment jobs, subscribers, outbox, MongoDB, Kafka."""
    settings = settings or CandidatesSettings()
    platform = build_platform(settings)
    mongo, database, outbox = (
        platform.require_mongo(),
        platform.require_database(),
        platform.require_outbox(),
    )
    segment_jobs = SegmentJobs(mongo, database, outbox)

    async def run_segment_jobs() -> AsyncIterator[None]:
        await segment_jobs.resume_unfinished()
        try:
            yield
        finally:
            await segment_jobs.stop()

    platform.startup_hooks.append(partial(ensure_indexes, database))
    platform.startup_hooks.append(partial(backfill_derived_fields, database))
    platform.include_kafka_router(
        build_router(platform.require_consumer(), mongo, database, outbox)
    )
    app = create_service_app(
        platform,
        title="Candidates service",
        description="The system of record of every candidate, with real-time dynamic segments.",
        routers=[
            merges_router,
            duplicates_router,
            router,
            segments_router,
            settings_router,
            notes_router,
            pools_router,
        ],
        extra_lifespan=run_segment_jobs,
    )
    app.state.segment_jobs = segment_jobs
    return app
