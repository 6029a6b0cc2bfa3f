"""Use cases of pushes: a recruiter sends a CRM candidate to a connected ATS, as a prospect or
as an application for one of its jobs, once; and sees what was sent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from crm_ats_sync.application.breaker import CircuitBreaker, CircuitOpenError
from crm_ats_sync.application.connections import find_connection
from crm_ats_sync.application.ports import AtsApiFactory, AtsUnavailableError
from crm_ats_sync.application.storage import AtsStorage
from crm_ats_sync.domain.changes import JobStatus, Prospect
from crm_ats_sync.domain.models import Provider
from crm_ats_sync.domain.pushes import (
    ABANDONED_REASON,
    Push,
    PushState,
    check_pushable,
    push_key,
)
from crm_ats_sync.publishers import to_ats_candidate_pushed
from crm_shared import Session, utc_now

# Longer than any attempt can take (the HTTP timeout, and 429 waits within the retry budget):
# a push pending for longer was abandoned by a stopped process.
ABANDONED_AFTER = timedelta(minutes=10)
MAX_LISTED = 200


class PushUnsupported(Exception):
    """The connection cannot take pushes (no API key, or an ATS the CRM does not write to)."""


class UnknownJob(LookupError):
    """The job named is not an open job the connection's ATS lists."""


class PushInProgress(Exception):
    """Another request is pushing the same candidate to the same connection and job."""


@dataclass(frozen=True)
class PushRequest:
    tenant_id: str
    connection_id: str
    candidate_id: str
    ats_job_id: str | None
    requested_by: str


@dataclass(frozen=True)
class PushOutcome:
    """The push as stored, and whether this request called the ATS."""

    push: Push
    attempted: bool


async def push_candidate(
    storage: AtsStorage,
    factories: Mapping[Provider, AtsApiFactory],
    breaker: CircuitBreaker,
    request: PushRequest,
) -> PushOutcome:
    """Sends the candidate to the ATS unless this (connection, candidate, job) was sent before:
    then the stored push is answered as it is. A failed push is tried again. The call goes
    through the connection's circuit `breaker`. Raises `ConnectionNotFound`, `PushUnsupported`,
    `UnknownJob`, `PushRefused` (unknown candidate, no consent), `PushInProgress`, and
    `CircuitOpenError` while the breaker is open (the ATS was not called, and the push is left
    as it was: none, or failed); a failure of the ATS is recorded on the push, not raised."""
    connection = await find_connection(storage, request.tenant_id, request.connection_id)
    factory = factories.get(connection.provider)
    if connection.api_key is None or factory is None:
        raise PushUnsupported(
            f"ATS connection {connection.id} has no API key: it takes webhooks only"
        )
    if request.ats_job_id is not None:
        job = await storage.jobs(request.tenant_id).job(connection.id, request.ats_job_id)
        if job is None or job.status is not JobStatus.OPEN:
            raise UnknownJob(
                f"{request.ats_job_id} is not an open job of ATS connection {connection.id} "
                "(see GET /ats/jobs)"
            )
    known = await storage.known_candidates(request.tenant_id).get(request.candidate_id)
    check_pushable(known, request.candidate_id, utc_now())
    assert known is not None  # checked above
    assert known.email is not None
    pushes = storage.pushes(request.tenant_id)
    key = push_key(connection.id, request.candidate_id, request.ats_job_id)
    claimed = await pushes.claim(
        Push(
            tenant_id=request.tenant_id,
            key=key,
            connection_id=connection.id,
            provider=connection.provider,
            candidate_id=request.candidate_id,
            ats_job_id=request.ats_job_id,
            requested_by=request.requested_by,
        )
    )
    before: Push | None = None
    if claimed is None:
        existing = await pushes.by_key(key)
        if existing is None:  # deleted by an erasure meanwhile
            raise PushInProgress(key)
        if existing.abandoned(utc_now(), ABANDONED_AFTER):
            failed = existing.model_copy(
                update={
                    "state": PushState.FAILED,
                    "error": ABANDONED_REASON,
                    "updated_at": utc_now(),
                }
            )
            await pushes.finish(failed)
            return PushOutcome(failed, attempted=False)
        if existing.state is not PushState.FAILED:
            return PushOutcome(existing, attempted=False)
        before, claimed = existing, await pushes.retry(existing)
        if claimed is None:
            raise PushInProgress(key)
    prospect = Prospect(
        candidate_id=request.candidate_id,
        email=known.email,
        first_name=known.first_name,
        last_name=known.last_name,
        ats_job_id=request.ats_job_id,
    )
    api = factory(
        base_url=connection.api_base_url,
        api_key=connection.api_key,
        on_behalf_of=connection.ats_user_id,
    )
    try:
        answered = await breaker.call(connection, lambda: api.push_prospect(prospect))
    except CircuitOpenError:
        await pushes.release(claimed, before)
        raise
    except (AtsUnavailableError, ValueError) as failure:
        failed = claimed.model_copy(
            update={"state": PushState.FAILED, "error": str(failure), "updated_at": utc_now()}
        )
        await pushes.finish(failed)
        return PushOutcome(failed, attempted=True)
    finally:
        await api.aclose()
    done = claimed.model_copy(
        update={
            "state": PushState.DONE,
            "ats_candidate_id": answered.ats_candidate_id,
            "ats_application_id": answered.ats_application_id,
            "updated_at": utc_now(),
        }
    )

    async def record(session: Session) -> None:
        await pushes.finish(done, session=session)
        await to_ats_candidate_pushed(storage.outbox, done, session=session)

    await storage.in_transaction(record)
    return PushOutcome(done, attempted=True)


async def list_pushes(
    storage: AtsStorage, tenant_id: str, connection_id: str, candidate_id: str | None
) -> list[Push]:
    """A connection's pushes, newest first, optionally of one candidate."""
    return await storage.pushes(tenant_id).of_connection(
        connection_id, candidate_id, limit=MAX_LISTED
    )
