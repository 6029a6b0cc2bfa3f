"""Recipients: the projection of candidates that messages are addressed to."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crm_campaigns.domain.models import (
    Recipient,
)
from crm_campaigns.repositories.collections import (
    RECIPIENTS,
)
from crm_shared import (
    Database,
    Session,
    TenantScopedCollection,
)


class RecipientRepository:
    """The tenant's projection of candidates: only what sending a message needs."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._recipients = TenantScopedCollection(database[RECIPIENTS], tenant_id)

    async def upsert(self, recipient: Recipient, *, session: Session) -> None:
        """Stores the latest known data of a candidate."""
        await self.upsert_many([recipient], session=session)

    async def get(self, candidate_id: str, *, session: Session | None = None) -> Recipient | None:
        """The recipient data of a candidate, if known."""
        document = await self._recipients.find_one({"candidate_id": candidate_id}, session=session)
        return Recipient.model_validate(document) if document else None

    async def upsert_many(self, recipients: Sequence[Recipient], *, session: Session) -> None:
        """Stores the latest known data of several candidates (each once) in one bulk write."""
        await self._recipients.update_each(
            [
                (
                    {"candidate_id": recipient.candidate_id},
                    {"$set": recipient.model_dump(exclude={"tenant_id"})},
                )
                for recipient in recipients
            ],
            upsert=True,
            session=session,
        )

    async def fill_custom_fields(
        self, candidate_id: str, custom_fields: dict[str, Any], *, session: Session
    ) -> bool:
        """Gives a recipient stored before the projection kept custom fields (its document has
        no `custom_fields`) the candidate's values; one stored since holds those of its newest
        profile, which this leaves alone. Whether it filled them."""
        filled = await self._recipients.update_one(
            {"candidate_id": candidate_id, "custom_fields": {"$exists": False}},
            {"$set": {"custom_fields": custom_fields}},
            session=session,
        )
        return filled.modified_count > 0

    async def many(
        self, candidate_ids: list[str], *, session: Session | None = None
    ) -> dict[str, Recipient]:
        """The known recipients among `candidate_ids`, by candidate id: one `$in` query per
        `IN_SLICE` ids (one for a page of a list)."""
        if not candidate_ids:
            return {}
        documents = await self._recipients.find_in("candidate_id", candidate_ids, session=session)
        return {d["candidate_id"]: Recipient.model_validate(d) for d in documents}

    async def holders_of(self, email_sha256: str) -> list[tuple[str, bool]]:
        """Every candidate with this address (by hash), as `(candidate_id, active)`."""
        documents = await self._recipients.find(
            {"email_sha256": email_sha256}, projection={"candidate_id": 1, "active": 1}
        )
        return [(str(d["candidate_id"]), bool(d.get("active", True))) for d in documents]

    async def known_among(self, candidate_ids: list[str]) -> set[str]:
        """Which of `candidate_ids` have a recipient, in one query."""
        documents = await self._recipients.find(
            {"candidate_id": {"$in": candidate_ids}}, projection={"candidate_id": 1}
        )
        return {str(document["candidate_id"]) for document in documents}

    async def fold_into(self, merged_id: str, survivor_id: str, *, session: Session) -> None:
        """A merge: the merged candidate's recipient becomes the survivor's unless it has one."""
        if await self.get(survivor_id, session=session) is not None:
            await self._recipients.delete_one({"candidate_id": merged_id}, session=session)
            return
        await self._recipients.update_one(
            {"candidate_id": merged_id}, {"$set": {"candidate_id": survivor_id}}, session=session
        )
