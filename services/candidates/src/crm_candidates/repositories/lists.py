"""Stored static lists and their members, per tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from crm_candidates.domain.lists import ListMember, ListStatus, StaticList
from crm_candidates.domain.models import DuplicateKeyInTenantError
from crm_shared import Database, Session, TenantScopedCollection, from_document, to_document
from crm_shared.windows import page_in_id_windows

LISTS_COLLECTION = "candidate_lists"
LIST_MEMBERS_COLLECTION = "candidate_list_members"


async def ensure_list_indexes(database: Database) -> None:
    """A list's name is unique among the tenant's active lists; members page by candidate id."""
    await database[LISTS_COLLECTION].create_index(
        [("tenant_id", ASCENDING), ("name_key", ASCENDING)], unique=True, name="tenant_name_unique"
    )
    await database[LISTS_COLLECTION].create_index([("tenant_id", ASCENDING), ("_id", ASCENDING)])
    await database[LIST_MEMBERS_COLLECTION].create_index(
        [("tenant_id", ASCENDING), ("list_id", ASCENDING), ("candidate_id", ASCENDING)]
    )
    await database[LIST_MEMBERS_COLLECTION].create_index(
        [("tenant_id", ASCENDING), ("candidate_id", ASCENDING)]
    )


def _member_id(list_id: str, candidate_id: str) -> str:
    return f"{list_id}:{candidate_id}"


def _stored(static_list: StaticList) -> dict[str, Any]:
    return to_document(static_list) | {"name_key": static_list.name_key}


def _static_list(document: dict[str, Any]) -> StaticList:
    document = {key: value for key, value in document.items() if key != "name_key"}
    return from_document(StaticList, document)


class ListRepository:
    """One tenant's stored static lists and their members."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self._lists = TenantScopedCollection(database[LISTS_COLLECTION], tenant_id)
        self._members = TenantScopedCollection(database[LIST_MEMBERS_COLLECTION], tenant_id)

    async def add(self, static_list: StaticList, *, session: Session) -> None:
        """Stores a new list; `DuplicateKeyInTenantError` if an active list has the name."""
        try:
            await self._lists.insert_one(_stored(static_list), session=session)
        except DuplicateKeyError:
            raise DuplicateKeyInTenantError(static_list.name) from None

    async def replace(
        self, static_list: StaticList, expected_version: int, *, session: Session | None = None
    ) -> bool:
        """Stores the next version of a list if the stored one is still `expected_version`;
        `DuplicateKeyInTenantError` if its new name is another active list's."""
        document = _stored(static_list)
        document.pop("_id")
        try:
            result = await self._lists.update_one(
                {"_id": static_list.id, "version": expected_version},
                {"$set": document},
                session=session,
            )
        except DuplicateKeyError:
            raise DuplicateKeyInTenantError(static_list.name) from None
        return result.modified_count == 1

    async def get(self, list_id: str, *, session: Session | None = None) -> StaticList | None:
        """The list with this id, archived or not, if the tenant has it."""
        document = await self._lists.find_one({"_id": list_id}, session=session)
        return _static_list(document) if document else None

    async def page(
        self, *, include_archived: bool, after: str | None, limit: int
    ) -> list[StaticList]:
        """Up to `limit` lists in creation order after the list id `after`."""
        query: dict[str, Any] = {}
        if not include_archived:
            query["status"] = ListStatus.ACTIVE.value
        if after:
            query["_id"] = {"$gt": after}
        documents = await self._lists.find(query, sort=[("_id", ASCENDING)], limit=limit)
        return [_static_list(document) for document in documents]

    async def member_count(self, list_id: str) -> int:
        """How many candidates are on the list."""
        return await self._members.count({"list_id": list_id})

    async def members_among(
        self, list_id: str, candidate_ids: list[str], *, session: Session
    ) -> set[str]:
        """Which of `candidate_ids` are on the list."""
        documents = await self._members.find(
            {"_id": {"$in": [_member_id(list_id, c) for c in candidate_ids]}},
            projection={"candidate_id": 1},
            session=session,
        )
        return {document["candidate_id"] for document in documents}

    async def add_members(
        self, list_id: str, candidate_ids: list[str], *, by: str, at: datetime, session: Session
    ) -> None:
        """Puts candidates on the list (one already there is left as it was)."""
        await self._members.insert_many(
            [
                {
                    "_id": _member_id(list_id, candidate_id),
                    **ListMember(
                        list_id=list_id, candidate_id=candidate_id, added_by=by, added_at=at
                    ).model_dump(),
                }
                for candidate_id in candidate_ids
            ],
            session=session,
        )

    async def remove_members(
        self, list_id: str, candidate_ids: list[str], *, session: Session
    ) -> None:
        """Takes candidates off the list."""
        await self._members.delete_many(
            {"_id": {"$in": [_member_id(list_id, c) for c in candidate_ids]}}, session=session
        )

    async def members(
        self, list_id: str, *, after: str | None, limit: int, origin: str | None = None
    ) -> list[ListMember]:
        """Up to `limit` members in candidate id order after the candidate id `after`
        (`origin`: see `page_in_id_windows`)."""
        documents = await page_in_id_windows(
            self._members,
            {"list_id": list_id},
            "candidate_id",
            after=after or None,
            origin=origin,
            limit=limit,
        )
        return [
            ListMember.model_validate(
                {k: v for k, v in document.items() if k not in ("_id", "tenant_id")}
            )
            for document in documents
        ]
