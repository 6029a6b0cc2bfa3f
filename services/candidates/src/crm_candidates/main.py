"""Composition root of the candidates service.

Run with `uvicorn --factory crm_candidates.main:create_app`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial

from fastapi import FastAPI

from crm_candidates.api.consent_routes import consent_router, retention_router
from crm_candidates.api.identity import duplicates_router, merges_router
from crm_candidates.api.imports import imports_router
from crm_candidates.api.lists import lists_router
from crm_candidates.api.profiles import notes_router, pools_router, settings_router
from crm_candidates.api.public_routes import public_router
from crm_candidates.api.routes import router, segments_router
from crm_candidates.application.ats_applications import AtsApplications
from crm_candidates.application.change_requests import ChangeRequests
from crm_candidates.application.consents import ConfirmationPolicy
from crm_candidates.application.erasure import CandidateEraser
from crm_candidates.application.expiry import ConsentExpiryWorker
from crm_candidates.application.facts import CandidateFacts
from crm_candidates.application.import_metrics import ImportMetrics
from crm_candidates.application.imports import ImportJobs
from crm_candidates.application.segments import SegmentJobs, SegmentRechecks
from crm_candidates.application.skills import SkillRenormalisations
from crm_candidates.config import CandidatesSettings
from crm_candidates.container import CandidatesContainer
from crm_candidates.handlers import build_router
from crm_candidates.migrations import migrations
from crm_candidates.repositories.consents import ensure_consent_indexes
from crm_candidates.repositories.imports import ensure_import_indexes
from crm_candidates.repositories.indexes import ensure_indexes
from crm_candidates.repositories.lists import ensure_list_indexes
from crm_shared import (
    BatchWorker,
    KeyedLocks,
    LocalUploadStore,
    PeriodicSampler,
    UploadStore,
    Wakeup,
    build_platform,
    create_service_app,
    ensure_erasure_indexes,
    gdpr_router,
    migrations_hook,
)
from crm_shared.s3_uploads import S3UploadStore
from crm_shared.windows import KeyEnds


def build_upload_store(settings: CandidatesSettings) -> UploadStore:
    """The upload store the settings name: a local directory or an S3-compatible bucket."""
    if settings.upload_store == "s3":
        secret = settings.upload_s3_secret_access_key
        return S3UploadStore(
            bucket=settings.upload_s3_bucket,
            endpoint_url=settings.upload_s3_endpoint_url,
            region=settings.upload_s3_region,
            access_key_id=settings.upload_s3_access_key_id,
            secret_access_key=secret.get_secret_value() if secret else None,
        )
    return LocalUploadStore(settings.upload_dir)


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
    skill_jobs = SkillRenormalisations(mongo, database, outbox)
    links = settings.signed_links()
    confirmation = ConfirmationPolicy(
        public_base_url=settings.public_base_url,
        max_per_address=settings.confirmation_max_per_address,
        window=timedelta(hours=settings.confirmation_window_hours),
        signup_ttl=timedelta(hours=settings.signup_pending_hours),
        signups_per_hour=settings.signups_per_hour_per_tenant,
    )
    expiry = ConsentExpiryWorker(
        mongo=mongo,
        database=database,
        outbox=outbox,
        links=links,
        confirmation=confirmation,
        lease=timedelta(seconds=settings.consent_expiry_lease_seconds),
        batch_size=settings.consent_expiry_batch_size,
    )
    expiry_worker = BatchWorker(
        "consent-expiry",
        expiry.run_due,
        batch_size=settings.consent_expiry_batch_size,
        wakeup=Wakeup(),
        poll_interval_seconds=settings.consent_expiry_poll_interval_seconds,
    )
    rechecks = SegmentRechecks(
        mongo, database, outbox, poll_seconds=settings.segment_recheck_poll_seconds
    )
    upload_store = build_upload_store(settings)
    import_metrics = ImportMetrics(database, platform.registry)
    platform.samplers.append(
        PeriodicSampler(
            "import-gauges", import_metrics.sample, every_seconds=settings.metrics_sample_seconds
        )
    )
    import_jobs = ImportJobs(
        mongo,
        database,
        outbox,
        upload_store,
        poll_seconds=settings.import_poll_interval_seconds,
        upload_stall=timedelta(seconds=settings.import_upload_stall_seconds),
        metrics=import_metrics,
    )

    async def run_background_work() -> AsyncIterator[None]:
        await segment_jobs.resume_unfinished()
        await skill_jobs.resume_unfinished()
        expiry_worker.start()
        rechecks.worker.start()
        # Imports a stopped process left unfinished are resumed once their lease expires.
        import_jobs.start()
        try:
            yield
        finally:
            await import_jobs.stop()
            await rechecks.worker.stop()
            await expiry_worker.stop()
            await segment_jobs.stop()
            await skill_jobs.stop()

    platform.startup_hooks.append(partial(ensure_indexes, database))
    platform.startup_hooks.append(partial(ensure_consent_indexes, database))
    platform.startup_hooks.append(partial(ensure_erasure_indexes, database))
    platform.startup_hooks.append(partial(ensure_import_indexes, database))
    platform.startup_hooks.append(partial(ensure_list_indexes, database))
    # After the indexes: a migration may rely on them.
    platform.startup_hooks.append(migrations_hook(database, migrations(mongo, outbox)))
    if isinstance(upload_store, S3UploadStore):
        platform.startup_hooks.append(upload_store.ensure_bucket)
    container = CandidatesContainer(
        mongo=mongo,
        database=database,
        outbox=outbox,
        quotas=settings.quotas,
        upload_store=upload_store,
        consent_links=links,
        confirmation_policy=confirmation,
        segment_jobs=segment_jobs,
        segment_rechecks=rechecks,
        skill_jobs=skill_jobs,
        import_jobs=import_jobs,
        consent_expiry=expiry,
        candidate_eraser=CandidateEraser(mongo, database, outbox),
        candidate_facts=CandidateFacts(mongo, database, outbox, links, confirmation),
        ats_applications=AtsApplications(database, outbox),
        change_requests=ChangeRequests(mongo, database, outbox),
        signup_locks=KeyedLocks(),
        list_key_ends=KeyEnds(),
    )
    platform.include_kafka_router(
        build_router(
            platform.require_consumer(),
            container.candidate_facts,
            container.ats_applications,
            container.change_requests,
        )
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
            lists_router,
            consent_router,
            retention_router,
            public_router,
            gdpr_router("candidates"),
            imports_router,
        ],
        extra_lifespan=run_background_work,
    )
    app.state.container = container
    return app
