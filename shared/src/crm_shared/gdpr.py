"""Personal data of one candidate in a service's database: find it (export), delete it (erasure).

Every service answers a GDPR export and handles `candidate.erased` the same way: it looks in
*every* collection of its database for documents of the tenant that belong to the person, so a
collection added later is covered without anyone remembering to add it here. A document belongs
to the person when its `candidate_id` (or `_id`) is the candidate's id, or when one of its email
fields holds one of the person's addresses (registrants and applicants known only by email), or
when its `address_sha256` is the digest of one of them: a document of somebody known only by an
address this service never learnt belongs to its candidate keeps that digest, so the erasure
(which names every address by digest) finds it all the same.
Outbox records are found by their Kafka key, which is the candidate id (or the email address for
people not yet matched), because published records keep their payload for a retention period.

After an erasure each service keeps a tombstone without personal data (the candidate id and
SHA-256 digests of the normalised addresses), so a projection event still in flight cannot bring
the person back, and a send to a hashed address can be refused.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from faststream.kafka import KafkaRouter
from pymongo import ASCENDING

from crm_shared.auth import CurrentPrincipal
from crm_shared.bootstrap import Platform
from crm_shared.consumer import IdempotentConsumer
from crm_shared.contracts import CANDIDATE_ERASED, CandidateErased, EventEnvelope
from crm_shared.dependencies import platform_database
from crm_shared.directory import normalise_email
from crm_shared.mongo import Database, Document, Session
from crm_shared.permissions import require_permission
from crm_shared.repository import TENANT_FIELD
from crm_shared.tombstones import ERASED_CANDIDATES_COLLECTION, email_sha256, tombstone_id

# Bookkeeping without personal data, kept as it is: the consumer's processed-event markers and
# the erasure tombstones themselves.
_NOT_PERSONAL = frozenset({"processed_events", ERASED_CANDIDATES_COLLECTION})
_OUTBOX = "outbox"
EMAIL_FIELDS = ("email", "emails", "to_email")
# The digest of a document's address (`email_sha256`), kept beside it for the erasure.
ADDRESS_DIGEST_FIELD = "address_sha256"


async def ensure_erasure_indexes(database: Database) -> None:
    """Tombstones are found by candidate (`_id`) and by address digest."""
    await database[ERASED_CANDIDATES_COLLECTION].create_index(
        [(TENANT_FIELD, ASCENDING), ("email_sha256", ASCENDING)]
    )


def _belongs_to(
    tenant_id: str, candidate_id: str, emails: list[str], digests: list[str]
) -> Document:
    matches: list[Document] = [{"candidate_id": candidate_id}, {"_id": candidate_id}]
    if emails:
        matches.extend({field: {"$in": emails}} for field in EMAIL_FIELDS)
    if digests:
        matches.append({ADDRESS_DIGEST_FIELD: {"$in": digests}})
    return {TENANT_FIELD: tenant_id, "$or": matches}


def _outbox_records_of(tenant_id: str, candidate_id: str, emails: list[str]) -> Document:
    return {TENANT_FIELD: tenant_id, "key": {"$in": [candidate_id, *emails]}}


async def _personal_collections(database: Database) -> list[str]:
    # listCollections is not allowed inside a transaction, so callers list before they open one.
    names = await database.list_collection_names()
    return sorted(name for name in names if name not in _NOT_PERSONAL)


async def known_emails(
    database: Database, tenant_id: str, candidate_id: str, *, session: Session | None = None
) -> list[str]:
    """Every email address this service holds for the candidate (projections, registrations)."""
    found: set[str] = set()
    for name in await _personal_collections(database):
        if name == _OUTBOX:
            continue
        cursor = database[name].find(
            {TENANT_FIELD: tenant_id, "candidate_id": candidate_id}, session=session
        )
        async for document in cursor:
            found.update(_emails_in(document))
    return sorted(found)


def _emails_in(document: Document) -> Iterable[str]:
    for field in EMAIL_FIELDS:
        value = document.get(field)
        values = value if isinstance(value, list) else [value]
        yield from (normalise_email(v) for v in values if isinstance(v, str) and "@" in v)


async def export_personal_data(
    database: Database, tenant_id: str, candidate_id: str, emails: Iterable[str] = ()
) -> dict[str, list[Document]]:
    """The tenant's documents about the candidate, by collection (outbox and markers excluded)."""
    addresses = sorted(
        {normalise_email(e) for e in emails}
        | set(await known_emails(database, tenant_id, candidate_id))
    )
    digests = sorted({email_sha256(address) for address in addresses})
    sections: dict[str, list[Document]] = {}
    for name in await _personal_collections(database):
        if name == _OUTBOX:
            continue
        documents = (
            await database[name]
            .find(_belongs_to(tenant_id, candidate_id, addresses, digests))
            .to_list()
        )
        if documents:
            sections[name] = documents
    return sections


class PersonalDataEraser:
    """Deletes one candidate's documents from every collection of a service's database."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def prepare(self, tenant_id: str, candidate_id: str) -> tuple[list[str], list[str]]:
        """The collections to sweep and the addresses to look for; runs before the transaction."""
        collections = await _personal_collections(self._database)
        return collections, await known_emails(self._database, tenant_id, candidate_id)

    async def erase(
        self,
        tenant_id: str,
        candidate_id: str,
        *,
        collections: list[str],
        emails: list[str],
        email_hashes: Iterable[str],
        erased_at: datetime,
        session: Session,
    ) -> dict[str, int]:
        """Deletes the person's documents, leaves a tombstone; returns deletions by collection."""
        hashes = sorted(set(email_hashes) | {email_sha256(email) for email in emails})
        deleted: dict[str, int] = {}
        for name in collections:
            query = (
                _outbox_records_of(tenant_id, candidate_id, emails)
                if name == _OUTBOX
                else _belongs_to(tenant_id, candidate_id, emails, hashes)
            )
            result = await self._database[name].delete_many(query, session=session)
            if result.deleted_count:
                deleted[name] = result.deleted_count
        await self._database[ERASED_CANDIDATES_COLLECTION].update_one(
            {"_id": tombstone_id(tenant_id, candidate_id)},
            {
                "$set": {
                    TENANT_FIELD: tenant_id,
                    "candidate_id": candidate_id,
                    "email_sha256": hashes,
                    "erased_at": erased_at,
                }
            },
            upsert=True,
            session=session,
        )
        return deleted


def exportable(value: Any) -> Any:
    """A document as plain JSON-able data (datetimes as ISO text, ObjectIds as hex)."""
    if isinstance(value, dict):
        return {str(k): exportable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [exportable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def gdpr_router(service_name: str) -> APIRouter:
    """The internal export endpoint every service serves (the gateway aggregates them)."""
    router = APIRouter(prefix="/gdpr", tags=["gdpr"])

    @router.get("/candidates/{candidate_id}", dependencies=[require_permission("gdpr:read")])
    async def export_candidate(
        candidate_id: str, request: Request, principal: CurrentPrincipal
    ) -> dict[str, Any]:
        """Everything this service holds on the candidate, by collection (`gdpr:read`)."""
        database = platform_database(request)
        sections = await export_personal_data(database, principal.tenant_id, candidate_id)
        return {"service": service_name, "collections": exportable(sections)}

    return router


# What a service does once an erasure deleted the person's documents, in its transaction.
AfterErasure = Callable[[Session], Awaitable[None]]
# A service's part in an erasure before the person's documents go (in the same transaction):
# it reads what it must still announce and returns what to do once they are gone. Events are
# staged then: staged before, the erasure would delete them with the person's outbox records.
BeforeErasure = Callable[[str, CandidateErased, Session], Awaitable[AfterErasure]]


async def erase_candidate(
    database: Database,
    tenant_id: str,
    erased: CandidateErased,
    *,
    session: Session,
    before_erasure: BeforeErasure | None = None,
) -> None:
    """What `on_candidate_erased` does in its transaction: the service's `before_erasure`, the
    person's documents deleted (a tombstone left), then what `before_erasure` left to do."""
    after = await before_erasure(tenant_id, erased, session) if before_erasure else None
    eraser = PersonalDataEraser(database)
    collections, emails = await eraser.prepare(tenant_id, erased.candidate_id)
    await eraser.erase(
        tenant_id,
        erased.candidate_id,
        collections=collections,
        emails=emails,
        email_hashes=erased.email_sha256,
        erased_at=erased.erased_at,
        session=session,
    )
    if after is not None:
        await after(session)


def subscribe_candidate_erasure(
    consumer: IdempotentConsumer,
    router: KafkaRouter,
    database: Database,
    *,
    description: str,
    before_erasure: BeforeErasure | None = None,
) -> None:
    """Subscribes `on_candidate_erased`: the person's documents go, a tombstone stays."""

    async def on_candidate_erased(envelope: EventEnvelope[Any], session: Session) -> None:
        await erase_candidate(
            database,
            envelope.tenant_id,
            envelope.data,
            session=session,
            before_erasure=before_erasure,
        )

    consumer.subscribe(
        router,
        CANDIDATE_ERASED,
        on_candidate_erased,
        group="on_candidate_erased",
        description=description,
    )


def install_gdpr(
    platform: Platform, *, erasure: str, before_erasure: BeforeErasure | None = None
) -> APIRouter:
    """Gives a service its GDPR side: the export endpoint (returned, for the service's routers),
    the `on_candidate_erased` subscriber (described by `erasure`; `before_erasure` is the
    service's own part in it) and the tombstone index."""
    database = platform.require_database()
    platform.startup_hooks.append(partial(ensure_erasure_indexes, database))
    router = KafkaRouter()
    subscribe_candidate_erasure(
        platform.require_consumer(),
        router,
        database,
        description=erasure,
        before_erasure=before_erasure,
    )
    platform.include_kafka_router(router)
    return gdpr_router(platform.settings.service_name)
