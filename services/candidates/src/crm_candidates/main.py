"""Composition root of the candidates service.

Run with `uvicorn --factory crm_candidates.main:create_app`.
"""

from __future__ import annotations

from fastapi import FastAPI

from crm_candidates.api.routes import router
from crm_candidates.config import CandidatesSettings
from crm_candidates.repository import ensure_indexes
from crm_shared import build_platform, create_service_app


def create_app(settings: CandidatesSettings | None = None) -> FastAPI:
    """Builds the candidates service: API, outbox relay, MongoDB and Kafka, wired together."""
    settings = settings or CandidatesSettings()
    platform = build_platform(settings)
    database = platform.require_database()

    async def create_indexes() -> None:
        await ensure_indexes(database)

    platform.startup_hooks.append(create_indexes)
    return create_service_app(
        platform,
        title="Candidates service",
        description="The system of record of every candidate and relationship.",
        routers=[router],
    )
