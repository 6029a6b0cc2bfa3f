"""The candidates' ATS applications, kept for the exit conditions `hired` and `applied`."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from crm_campaigns.repositories.collections import ATS_APPLICATIONS
from crm_shared import (
    Database,
    Session,
    TenantScopedCollection,
    give_back,
    move_to_survivor,
    utc_now,
)


class ApplicationStatus(StrEnum):
    ACTIVE = "active"
    REJECTED = "rejected"
    HIRED = "hired"


class ApplicationRepository:
    """The tenant's ATS applications by candidate: which are in progress, which were hired."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._applications = TenantScopedCollection(database[ATS_APPLICATIONS], tenant_id)

    async def record(
        self,
        candidate_id: str,
        connection_id: str,
        ats_application_id: str,
        status: ApplicationStatus,
        *,
        occurred_at: datetime | None,
        current: bool,
        session: Session,
    ) -> None:
        """Records an application's status. A creation never overwrites what a later change
        said (the topics are not ordered among each other); a rejection or hire always does.
        A change that is not `current` (the ATS's history) is kept but counts for nothing."""
        key = {"connection_id": connection_id, "ats_application_id": ats_application_id}
        fields = {
            "candidate_id": candidate_id,
            "status": status.value,
            "occurred_at": occurred_at,
            "current": current,
            "recorded_at": utc_now(),
        }
        update = (
            {"$setOnInsert": fields} if status is ApplicationStatus.ACTIVE else {"$set": fields}
        )
        await self._applications.update_one(key, update, upsert=True, session=session)

    async def statuses(self, candidate_id: str, *, session: Session | None = None) -> set[str]:
        """The statuses of the candidate's current applications (`active`, `hired`, ...)."""
        documents = await self._applications.find(
            {"candidate_id": candidate_id, "current": True},
            projection={"status": 1},
            session=session,
        )
        return {str(document["status"]) for document in documents}

    async def fold_into(
        self, merged_id: str, survivor_id: str, merge_id: str, *, session: Session
    ) -> None:
        """A merge: the merged candidate's applications are the survivor's."""
        await move_to_survivor(
            self._applications, merged_id, survivor_id, merge_id, session=session
        )

    async def unfold(self, merge_id: str, *, session: Session) -> None:
        """An undone merge: the applications a merge moved go back to their own candidate."""
        await give_back(self._applications, merge_id, session=session)
