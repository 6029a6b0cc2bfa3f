"""Platform pieces written once: the tenant-repository dependency, the outbox record, the
candidate projection's merge and unmerge steps, and the check of a migrations declaration."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import UTC, datetime
from typing import Annotated, Any, cast

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from faststream.kafka import KafkaRouter
from pymongo import AsyncMongoClient
from pymongo.errors import AutoReconnect

from crm_shared import (
    CANDIDATE_CREATED,
    CandidateCreated,
    CandidateMerged,
    CandidateProfile,
    CandidateUnmerged,
    Database,
    Migration,
    MigrationsInBackground,
    Principal,
    Session,
    current_principal,
    envelope_record,
    migrations_hook,
    outbox_record,
    project_merge,
    project_unmerge,
    tenant_repository,
)
from crm_shared import migrations as migrations_module
from crm_shared.bootstrap import build_platform
from crm_shared.outbox import Outbox
from crm_shared.settings import ServiceSettings
from internal_keys import INTERNAL_TOKEN_PUBLIC_KEY

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


class NoteRepository:
    def __init__(self, database: Database, tenant_id: str) -> None:
        self.database = database
        self.tenant_id = tenant_id


NOTES_DATABASE: Any = object()
notes_on_their_database = tenant_repository(NoteRepository, database=lambda _: NOTES_DATABASE)


async def test_a_tenant_repository_is_built_for_the_callers_tenant_on_the_given_database() -> None:
    database = NOTES_DATABASE
    notes = notes_on_their_database
    app = FastAPI()
    app.dependency_overrides[current_principal] = lambda: Principal(tenant_id="acme", user_id="u")

    @app.get("/notes")
    def read(
        repository: Annotated[NoteRepository, Depends(notes_on_their_database)],
    ) -> dict[str, object]:
        return {"tenant": repository.tenant_id, "database": repository.database is database}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer = await client.get("/notes")
    assert answer.json() == {"tenant": "acme", "database": True}
    assert notes.__name__ == "NoteRepository_of_tenant"


async def test_by_default_the_database_is_the_platforms() -> None:
    database: Any = object()

    class FakePlatform:
        def require_database(self) -> Any:
            return database

    app = FastAPI()
    app.state.platform = FakePlatform()
    app.dependency_overrides[current_principal] = lambda: Principal(tenant_id="acme", user_id="u")

    @app.get("/notes")
    def read(
        repository: Annotated[NoteRepository, Depends(tenant_repository(NoteRepository))],
        request: Request,
    ) -> bool:
        return repository.database is database

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/notes")).json() is True


def _profile(candidate_id: str, email: str) -> CandidateProfile:
    return CandidateProfile(
        candidate_id=candidate_id,
        first_name="Ada",
        last_name="Lovelace",
        emails=[email],
        source="sourced",
    )


def test_an_envelopes_outbox_record_is_unsent_on_its_topic_keyed_by_its_subject() -> None:
    outbox = Outbox(cast(Database, {"outbox": None}), "candidates")
    event = outbox.envelope(
        CANDIDATE_CREATED,
        tenant_id="acme",
        subject="c1",
        data=CandidateCreated(**_profile("c1", "ada@example.org").model_dump()),
    )
    record = envelope_record(event, trace_context={"traceparent": "t"}, created_at=NOW)
    assert record.pop("_id") is not None
    assert record == {
        "event_id": str(event.id),
        "tenant_id": "acme",
        "topic": "candidate.created",
        "key": "c1",
        "value": event.model_dump_json(),
        "trace_context": {"traceparent": "t"},
        "created_at": NOW,
        "published": False,
        "sent_at": None,
    }
    assert json.loads(record["value"])["source"] == "candidates"
    raw = outbox_record(
        event_id="e1",
        tenant_id="acme",
        topic="t",
        key="k",
        value="{}",
        trace_context={},
        created_at=NOW,
    )
    assert raw["_id"] != record.get("_id")
    assert raw["published"] is False


class RecordingProjection:
    def __init__(self) -> None:
        self.steps: list[tuple[str, ...]] = []

    async def learn(self, profile: CandidateProfile, *, session: Session) -> None:
        self.steps.append(("learn", profile.candidate_id))

    async def fold(self, merged_id: str, survivor_id: str, *, session: Session) -> None:
        self.steps.append(("fold", merged_id, survivor_id))


async def test_a_merge_folds_the_merged_candidate_then_relearns_the_survivor() -> None:
    projection = RecordingProjection()
    merged = CandidateMerged(
        merge_id="m1",
        survivor_candidate_id="c1",
        merged_candidate_id="c2",
        survivor=_profile("c1", "ada@example.org"),
    )
    session: Any = None
    await project_merge(projection, merged, session=session)
    assert projection.steps == [("fold", "c2", "c1"), ("learn", "c1")]


async def test_an_unmerge_relearns_the_restored_candidate_then_the_survivor() -> None:
    projection = RecordingProjection()
    unmerged = CandidateUnmerged(
        merge_id="m1",
        survivor_candidate_id="c1",
        restored_candidate_id="c2",
        survivor=_profile("c1", "ada@example.org"),
        restored=_profile("c2", "ada@work.example"),
    )
    session: Any = None
    await project_unmerge(projection, unmerged, session=session)
    assert projection.steps == [("learn", "c2"), ("learn", "c1")]


async def _nothing(database: Database) -> None:
    return None


def test_a_migrations_declaration_is_checked_when_the_hook_is_built() -> None:
    database: Any = object()
    with pytest.raises(ValueError, match="share a version"):
        migrations_hook(database, [Migration(1, "a", _nothing), Migration(1, "b", _nothing)])
    with pytest.raises(ValueError, match="start at 1"):
        migrations_hook(database, [Migration(0, "a", _nothing)])
    assert callable(
        migrations_hook(database, [Migration(2, "b", _nothing), Migration(1, "a", _nothing)])
    )


async def test_background_migrations_wait_for_an_unreachable_database_then_stop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A service that starts without its database (the gateway) keeps trying its migrations
    in the background instead of failing its start; stopping it ends the waiting."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        "mongodb://127.0.0.1:1/?directConnection=true", serverSelectionTimeoutMS=50
    )
    ran: list[int] = []

    async def record(database: Database) -> None:
        ran.append(1)

    background = MigrationsInBackground(
        client["nothing"], [Migration(1, "a", record)], first_retry_seconds=0.01
    )
    with caplog.at_level(logging.WARNING, logger="crm_shared.migrations"):
        background.start()
        for _ in range(100):
            if sum("wait for the database" in r.message for r in caplog.records) >= 2:
                break
            await asyncio.sleep(0.05)
        await background.stop()
    await client.close()
    assert sum("wait for the database" in r.message for r in caplog.records) >= 2
    assert ran == []


async def test_background_migrations_stop_even_when_the_driver_swallows_the_cancel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PyMongo's `asyncio.wait_for` on Python 3.11 can turn a cancel into the error it was
    about to raise; the retry loop must end anyway, or the shutdown waits on it (a CI hang)."""
    attempts: list[int] = []

    async def unreachable_swallowing_cancel(*_: object) -> list[int]:
        attempts.append(1)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(10)
        raise AutoReconnect("no database")

    monkeypatch.setattr(migrations_module, "run_migrations", unreachable_swallowing_cancel)
    background = MigrationsInBackground(
        cast(Database, object()), [Migration(1, "a", _nothing)], first_retry_seconds=0.01
    )
    background.start()
    await asyncio.sleep(0.05)
    started = asyncio.get_running_loop().time()
    await background.stop()
    assert asyncio.get_running_loop().time() - started < 2
    with pytest.raises(asyncio.CancelledError):
        await background.finished()
    assert attempts == [1]


@pytest.mark.parametrize("consumers_enabled", [True, False])
def test_a_replica_without_consumers_registers_no_subscriber(consumers_enabled: bool) -> None:
    settings = ServiceSettings(
        service_name="replica",
        kafka_bootstrap_servers="127.0.0.1:9",
        mongodb_uri="mongodb://127.0.0.1:9/?directConnection=true",
        internal_token_public_key=INTERNAL_TOKEN_PUBLIC_KEY,
        kafka_consumers_enabled=consumers_enabled,
    )
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        platform = build_platform(settings)
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    router = KafkaRouter()

    @router.subscriber("candidate.created", group_id="replica.on_created")
    async def on_created(body: bytes) -> None: ...

    platform.include_kafka_router(router)
    assert platform.broker is not None
    assert len(platform.broker.subscribers) == (1 if consumers_enabled else 0)


async def test_the_service_database_makes_each_collection_object_once() -> None:
    # Repositories are built per request; their collections were made afresh each time.
    settings = ServiceSettings(
        service_name="kept",
        mongodb_uri="mongodb://127.0.0.1:9/?directConnection=true",
        internal_token_public_key=INTERNAL_TOKEN_PUBLIC_KEY,
    )
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        platform = build_platform(settings, uses_kafka=False)
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    database = platform.require_database()
    assert database.name == "crm_kept"
    first = database["candidates"]
    assert database["candidates"] is first
    assert database.candidates is first
    assert database["notes"] is not first
    # The same collection, with the same options, as the client's own lookup gives.
    plain = platform.require_mongo()["crm_kept"]["candidates"]
    assert first == plain
    assert first.codec_options == plain.codec_options
    assert first.write_concern == plain.write_concern
    await platform.require_mongo().close()
