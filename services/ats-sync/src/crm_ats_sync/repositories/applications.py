"""MongoDB access to the applications a tenant's ATS reported."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING

from crm_ats_sync.domain.changes import ApplicationChange, ApplicationStatus, is_stale
from crm_ats_sync.domain.models import Application, Connection
from crm_ats_sync.domain.snapshots import after_change
from crm_shared import (
    CandidateDirectory,
    Database,
    Session,
    TenantScopedCollection,
    from_document,
    give_back,
    link_by_address,
    move_to_survivor,
    to_document,
    utc_now,
)

APPLICATIONS = "applications"


async def ensure_application_indexes(database: Database) -> None:
    """Creates the indexes of the applications collection."""
    await database[APPLICATIONS].create_index(
        [("tenant_id", ASCENDING), ("connection_id", ASCENDING), ("ats_application_id", ASCENDING)],
        unique=True,
    )
    # `email` finds the unlinked applications of an address a candidate was learnt with.
    for moved in ("candidate_id", "merges.merge_id", "email"):
        await database[APPLICATIONS].create_index([("tenant_id", ASCENDING), (moved, ASCENDING)])
    # The listing of one connection's applications, page by page in id order.
    await database[APPLICATIONS].create_index(
        [("tenant_id", ASCENDING), ("connection_id", ASCENDING), ("_id", ASCENDING)]
    )


class ApplicationRepository:
    """One tenant's applications, as its ATS connections reported them."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._applications = TenantScopedCollection(database[APPLICATIONS], tenant_id)

    async def add_application(self, application: Application, *, session: Session) -> bool:
        """Stores an application unless the ATS reported it before; True if new."""
        result = await self._applications.update_one(
            {
                "connection_id": application.connection_id,
                "ats_application_id": application.ats_application_id,
            },
            {"$setOnInsert": _insertable(application)},
            upsert=True,
            session=session,
        )
        return result.upserted_id is not None

    async def application(
        self, connection_id: str, ats_application_id: str, *, session: Session
    ) -> Application | None:
        """The application the connection's ATS reported under this id, if any."""
        document = await self._applications.find_one(
            {"connection_id": connection_id, "ats_application_id": ats_application_id},
            session=session,
        )
        return from_document(Application, document) if document else None

    async def by_ats_ids(
        self, connection_id: str, ats_application_ids: Sequence[str], *, session: Session
    ) -> dict[str, Application]:
        """The applications the connection's ATS reported under these ids, by id, in one
        query (a page of snapshots compared with what is stored)."""
        if not ats_application_ids:
            return {}
        documents = await self._applications.find(
            {
                "connection_id": connection_id,
                "ats_application_id": {"$in": list(ats_application_ids)},
            },
            session=session,
        )
        return {str(d["ats_application_id"]): from_document(Application, d) for d in documents}

    async def add_applications(
        self, applications: Sequence[Application], *, session: Session
    ) -> list[bool]:
        """Stores each application unless the ATS reported it before (as `add_application`
        does), all in one bulk write; for each, in order, whether it was new."""
        result = await self._applications.update_each(
            [
                (
                    {
                        "connection_id": application.connection_id,
                        "ats_application_id": application.ats_application_id,
                    },
                    {"$setOnInsert": _insertable(application)},
                )
                for application in applications
            ],
            upsert=True,
            session=session,
        )
        upserted = (result.upserted_ids if result is not None else None) or {}
        return [index in upserted for index in range(len(applications))]

    async def save_states(self, applications: Sequence[Application], *, session: Session) -> None:
        """Writes the state (stage, status, dates, rejection reason, matched candidate, job and
        prospect) of applications already stored, as changes left them, in one bulk write."""
        await self._applications.update_each(
            [
                (
                    {
                        "connection_id": application.connection_id,
                        "ats_application_id": application.ats_application_id,
                    },
                    {"$set": _state(application)},
                )
                for application in applications
            ],
            session=session,
        )

    async def link_candidates(
        self, links: Sequence[tuple[str, str]], *, session: Session | None
    ) -> None:
        """Links applications stored before their person was known as a candidate (an ATS
        import: the candidates service creates the person from the application's event, after
        it was stored)."""
        await link_by_address(self._applications, links, session=session)

    async def fold_into(
        self, merged_id: str, survivor_id: str, merge_id: str, *, session: Session
    ) -> None:
        """A merge: the merged candidate's applications become the survivor's."""
        await move_to_survivor(
            self._applications, merged_id, survivor_id, merge_id, session=session
        )

    async def unfold(self, merge_id: str, *, session: Session) -> None:
        """An undone merge: the applications it moved go back to their own candidate."""
        await give_back(self._applications, merge_id, session=session)

    async def apply_change(
        self,
        connection: Connection,
        change: ApplicationChange,
        status: ApplicationStatus,
        candidate_id: str | None,
        email: str | None,
        *,
        session: Session,
    ) -> tuple[Application, str | None] | None:
        """Records a stage change, rejection or hire leaving the application in `status`; the
        application after it and the stage it was in before (None when unknown), or None for a
        change older than what is recorded. An application first heard of here is stored."""
        key = {"connection_id": connection.id, "ats_application_id": change.ats_application_id}
        before = await self._applications.find_one(key, session=session)
        if before is not None and is_stale(change.occurred_at, before.get("ats_changed_at")):
            return None
        now = utc_now()
        if before is None:
            application = Application(
                tenant_id=connection.tenant_id,
                connection_id=connection.id,
                provider=connection.provider,
                ats_application_id=change.ats_application_id,
                ats_candidate_id=change.ats_candidate_id,
                candidate_id=candidate_id,
                email=email,
                job_name=change.job_name,
                applied_at=None,
                stage=change.stage,
                status=status,
                updated_at=now,
                ats_changed_at=change.occurred_at,
                rejection_reason=(
                    change.rejection_reason if status is ApplicationStatus.REJECTED else None
                ),
            )
            await self._applications.insert_one(to_document(application), session=session)
            return application, None
        stored = from_document(Application, before)
        after = after_change(stored, change, status, candidate_id, now)
        await self._applications.update_one(key, {"$set": _state(after)}, session=session)
        return after, stored.stage

    async def applications(
        self,
        *,
        candidate_id: str | None,
        connection_id: str | None = None,
        status: ApplicationStatus | None = None,
        after_id: str | None = None,
        limit: int = 1000,
    ) -> list[Application]:
        """Applications in id order, filtered, starting after `after_id`."""
        query: dict[str, Any] = {}
        if candidate_id:
            query["candidate_id"] = candidate_id
        if connection_id:
            query["connection_id"] = connection_id
        if status is not None:
            query["status"] = status.value
        if after_id is not None:
            query["_id"] = {"$gt": after_id}
        documents = await self._applications.find(query, sort=[("_id", ASCENDING)], limit=limit)
        return [from_document(Application, d) for d in documents]


# What a change of state writes (`after_change`), and the details a snapshot corrects
# (`details_to_reach`): the rest of an application is fixed once stored.
_STATE_FIELDS = (
    "status",
    "updated_at",
    "ats_changed_at",
    "stage",
    "rejection_reason",
    "candidate_id",
    "ats_job_id",
    "job_name",
    "prospect",
)


def _state(application: Application) -> dict[str, Any]:
    document = to_document(application)
    return {name: document[name] for name in _STATE_FIELDS}


def _insertable(application: Application) -> dict[str, Any]:
    """What an upsert keyed by the connection and the ATS's id sets on insert."""
    return {
        k: v
        for k, v in to_document(application).items()
        if k not in ("connection_id", "ats_application_id", "tenant_id")
    }


# How many unlinked applications the migration below reads before it looks their addresses up.
_LINK_BATCH = 500


async def link_stored_applications(database: Database) -> None:
    """Links the applications stored linked to nobody whose address the candidate directory
    knows (a migration): before `candidate.created` linked them, an imported person's
    applications stayed unlinked for good. Each is set only while still unlinked."""
    unlinked = database[APPLICATIONS].find(
        {"candidate_id": None, "email": {"$ne": None}}, {"tenant_id": 1, "email": 1}
    )
    batch: set[tuple[str, str]] = set()
    async for document in unlinked:
        batch.add((str(document["tenant_id"]), str(document["email"])))
        if len(batch) >= _LINK_BATCH:
            await _link_addresses(database, batch)
            batch = set()
    await _link_addresses(database, batch)


async def _link_addresses(database: Database, addresses: set[tuple[str, str]]) -> None:
    by_tenant: dict[str, list[str]] = {}
    for tenant_id, email in addresses:
        by_tenant.setdefault(tenant_id, []).append(email)
    for tenant_id, emails in by_tenant.items():
        known = await CandidateDirectory(database, tenant_id).candidates_for(emails)
        await ApplicationRepository(database, tenant_id).link_candidates(
            sorted(known.items()), session=None
        )
