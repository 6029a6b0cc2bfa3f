"""What became of each transactional mail of one kind (event mail, report mail): a record per
mail, written as each attempt ends, listed a page at a time."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from pymongo import ASCENDING

from crm_shared import Database, Session, TenantScopedCollection, from_document, utc_now

Record = TypeVar("Record", bound=BaseModel)


class MailRecords(Generic[Record]):
    """One tenant's records of one kind of mail (`model`, in `collection`), by mail id."""

    def __init__(
        self, database: Database, tenant_id: str, collection: str, model: type[Record]
    ) -> None:
        self._mails = TenantScopedCollection(database[collection], tenant_id)
        self._model = model

    async def get(self, mail_id: str, *, session: Session | None = None) -> Record | None:
        document = await self._mails.find_one({"_id": mail_id}, session=session)
        return from_document(self._model, document) if document else None

    async def record(self, mail: Record, *, session: Session | None = None) -> None:
        """Stores what was done with a mail, counting the attempt (a retry after a failure
        replaces the failure)."""
        fields = mail.model_dump(exclude={"tenant_id", "attempts"})
        mail_id = fields.pop("id")
        await self._mails.update_one(
            {"_id": mail_id},
            {"$set": fields | {"recorded_at": utc_now()}, "$inc": {"attempts": 1}},
            upsert=True,
            session=session,
        )

    async def _page(
        self,
        about: dict[str, str | list[str] | None],
        status: StrEnum | None,
        *,
        after: str | None,
        limit: int,
    ) -> list[Record]:
        """The records in id order (stable pages), of the fields in `about` that are given (a
        list: any of its values)."""
        query: dict[str, Any] = {
            name: {"$in": value} if isinstance(value, list) else value
            for name, value in about.items()
            if value
        }
        if status:
            query["status"] = status.value
        if after:
            query["_id"] = {"$gt": after}
        documents = await self._mails.find(query, sort=[("_id", ASCENDING)], limit=limit)
        return [from_document(self._model, d) for d in documents]
