"""Tenant-scoped MongoDB access: every read and write of a repository is confined to one tenant."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from bson import ObjectId
from pydantic import BaseModel
from pymongo import UpdateMany, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError
from pymongo.results import (
    BulkWriteResult,
    DeleteResult,
    InsertManyResult,
    InsertOneResult,
    UpdateResult,
)

from crm_shared.mongo import Document, Session

TENANT_FIELD = "tenant_id"
DUPLICATE_KEY = 11000
# How many values one `$in` of `find_in` lists (see there).
IN_SLICE = 200
# `find_among` reads the tenant's documents whole up to this many times the values asked.
WHOLE_READ = 2

ModelT = TypeVar("ModelT", bound=BaseModel)


def new_id() -> str:
    """A new record id: an ObjectId's hex, time-ordered, so id order is creation order."""
    return str(ObjectId())


def to_document(model: BaseModel) -> Document:
    """A model as stored: its `id` field becomes MongoDB's `_id`."""
    document = model.model_dump(mode="python", exclude={"id"})
    document["_id"] = getattr(model, "id")  # noqa: B009 - every stored model has an id
    return document


def from_document(model_type: type[ModelT], document: Mapping[str, Any]) -> ModelT:
    """A stored document as its model: `_id` becomes `id`."""
    # One copy, no loop over the fields: the mail dispatcher converts every message it sends.
    fields = dict(document)
    fields["id"] = fields.pop("_id")
    return model_type.model_validate(fields)


class TenantMismatchError(ValueError):
    """A query or document named a tenant other than the one the repository is scoped to."""


class TenantScopedCollection:
    """A collection view that adds the tenant to every filter and document; no unscoped path."""

    def __init__(self, collection: AsyncCollection[Document], tenant_id: str) -> None:
        if not tenant_id:
            raise ValueError("a tenant-scoped collection needs a tenant id")
        self._collection = collection
        self.tenant_id = tenant_id

    def _scope(self, query: Mapping[str, Any] | None) -> Document:
        scoped = dict(query or {})
        if scoped.get(TENANT_FIELD, self.tenant_id) != self.tenant_id:
            raise TenantMismatchError("query names another tenant")
        scoped[TENANT_FIELD] = self.tenant_id
        return scoped

    def _stamp(self, document: Mapping[str, Any]) -> Document:
        stamped = dict(document)
        if stamped.get(TENANT_FIELD, self.tenant_id) != self.tenant_id:
            raise TenantMismatchError("document belongs to another tenant")
        stamped[TENANT_FIELD] = self.tenant_id
        return stamped

    async def insert_one(
        self, document: Mapping[str, Any], *, session: Session | None = None
    ) -> InsertOneResult:
        """Inserts a document stamped with the tenant."""
        return await self._collection.insert_one(self._stamp(document), session=session)

    async def insert_many(
        self, documents: Sequence[Mapping[str, Any]], *, session: Session | None = None
    ) -> int:
        """Inserts documents stamped with the tenant; one whose `_id` exists already is left as
        it is (so re-running a bulk insert is idempotent). Returns how many were new."""
        return len(await self.insert_new(documents, session=session))

    async def insert_new(
        self, documents: Sequence[Mapping[str, Any]], *, session: Session | None = None
    ) -> list[Document]:
        """Inserts documents stamped with the tenant, like `insert_many`, and returns the ones
        that were new (as stored), in their order: the others' `_id` existed already."""
        if not documents:
            return []
        stamped = [self._stamp(document) for document in documents]
        try:
            await self._collection.insert_many(stamped, ordered=False, session=session)
        except BulkWriteError as error:
            failures = error.details["writeErrors"]
            if any(failure.get("code") != DUPLICATE_KEY for failure in failures):
                raise
            existing = {int(failure["index"]) for failure in failures}
            return [document for index, document in enumerate(stamped) if index not in existing]
        return stamped

    async def insert_batch(
        self, documents: Sequence[Mapping[str, Any]], *, session: Session | None = None
    ) -> InsertManyResult:
        """Inserts documents stamped with the tenant in one ordered write; a duplicate key
        raises (`BulkWriteError`), so a unique index can arbitrate between writers."""
        return await self._collection.insert_many(
            [self._stamp(document) for document in documents], ordered=True, session=session
        )

    async def find_one(
        self, query: Mapping[str, Any], *, session: Session | None = None
    ) -> Document | None:
        """The tenant's first document matching `query`."""
        return await self._collection.find_one(self._scope(query), session=session)

    async def find(
        self,
        query: Mapping[str, Any],
        *,
        sort: Sequence[tuple[str, int]] = (),
        limit: int = 0,
        projection: Mapping[str, Any] | None = None,
        session: Session | None = None,
    ) -> list[Document]:
        """The tenant's documents matching `query`, sorted and limited."""
        cursor = self._collection.find(self._scope(query), projection, session=session)
        if sort:
            cursor = cursor.sort(list(sort))
        if limit:
            cursor = cursor.limit(limit)
        return await cursor.to_list()

    async def in_batches(
        self,
        query: Mapping[str, Any],
        *,
        batch: int,
        sort: Sequence[tuple[str, int]] = (),
        projection: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[list[Document]]:
        """The tenant's documents matching `query`, `batch` at a time, from one cursor.

        One query, where paging by `_id > last` asks one per batch: on SecantusDB each such
        query reads every document it matches (the limit cuts only the answer), so a walk of
        100,000 in batches of 500 read 200 times up to 100,000. On MongoDB the one cursor is
        what a walk costs anyway; it stays open between batches (its idle timeout, 10 minutes,
        bounds what the caller may do with a batch).
        """
        cursor = self._collection.find(self._scope(query), projection, batch_size=batch)
        if sort:
            cursor = cursor.sort(list(sort))
        documents: list[Document] = []
        async with cursor:
            async for document in cursor:
                documents.append(document)
                if len(documents) == batch:
                    yield documents
                    documents = []
        if documents:
            yield documents

    async def find_in(
        self,
        field: str,
        values: Iterable[Any],
        query: Mapping[str, Any] | None = None,
        *,
        projection: Mapping[str, Any] | None = None,
        session: Session | None = None,
        slice_size: int = IN_SLICE,
    ) -> list[Document]:
        """The tenant's documents matching `query` whose `field` is one of `values`, asked
        `slice_size` values at a time. A document whose array `field` holds values of several
        slices is returned once per slice."""
        # The Python SecantusDB server matches every document an index probe finds against the
        # whole `$in` list, one value after the other: the cost grows with found documents times
        # listed values, and one `$in` of 4,500 address digests took 4 s where slices of
        # IN_SLICE take 0.1 s. On MongoDB the slices cost a round trip each and nothing more.
        distinct = list(dict.fromkeys(values))
        found: list[Document] = []
        # A report reading thousands of ids asks larger slices: on the Rust server a slice's
        # cost is its values' index probes, so slices of 200 only add round trips.
        for start in range(0, len(distinct), slice_size):
            sliced = {**(query or {}), field: {"$in": distinct[start : start + slice_size]}}
            found.extend(await self.find(sliced, projection=projection, session=session))
        return found

    async def find_among(
        self,
        field: str,
        values: Iterable[str],
        query: Mapping[str, Any] | None = None,
        *,
        projection: Mapping[str, Any] | None = None,
        session: Session | None = None,
    ) -> list[Document]:
        """As `find_in`, for a field holding one string (not an array): the tenant's documents
        matching `query` whose `field` is one of `values` (a `projection` must keep `field`).
        When the values need more than one slice and the tenant has at most `WHOLE_READ` times
        as many matching documents as values asked (a count that stops there decides), all of
        them are read at once and picked here instead."""
        # A funnel asks the merges of 20,000 records and the address journeys of as many
        # digests: a hundred slices each, where the tenant holds a few thousand of them (on
        # the Rust server 137 ms in slices, 7 ms read whole: a slice of 200 costs about what
        # 800 documents read whole do). One count and one read replace the slices; a small ask
        # (one slice) stays one query.
        distinct = list(dict.fromkeys(values))
        if len(distinct) <= IN_SLICE:
            return await self.find_in(
                field, distinct, query, projection=projection, session=session
            )
        scoped = self._scope(query)
        most = WHOLE_READ * len(distinct)
        held = await self._collection.count_documents(scoped, limit=most + 1, session=session)
        if held > most:
            return await self.find_in(
                field, distinct, query, projection=projection, session=session
            )
        wanted = set(distinct)
        every = await self._collection.find(scoped, projection, session=session).to_list()
        return [d for d in every if d.get(field) in wanted]

    async def aggregate(
        self,
        query: Mapping[str, Any],
        stages: Sequence[Mapping[str, Any]],
        *,
        session: Session | None = None,
    ) -> list[Document]:
        """The `stages` run over the tenant's documents matching `query` (the first stage is
        always the tenant's `$match`, so no stage sees another tenant's documents)."""
        pipeline = [{"$match": self._scope(query)}, *stages]
        cursor = await self._collection.aggregate(pipeline, session=session)
        return await cursor.to_list()

    async def count(self, query: Mapping[str, Any], *, session: Session | None = None) -> int:
        """How many of the tenant's documents match `query`."""
        return await self._collection.count_documents(self._scope(query), session=session)

    async def update_one(
        self,
        query: Mapping[str, Any],
        update: Mapping[str, Any],
        *,
        upsert: bool = False,
        session: Session | None = None,
    ) -> UpdateResult:
        """Updates one of the tenant's documents; an upsert creates it inside the tenant."""
        # The tenant in the scoped filter is what an upsert stamps on the new document.
        return await self._collection.update_one(
            self._scope(query), dict(update), upsert=upsert, session=session
        )

    async def update_each(
        self,
        updates: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]],
        *,
        upsert: bool = False,
        session: Session | None = None,
    ) -> BulkWriteResult | None:
        """Applies each (query, update) to one of the tenant's documents, all in one bulk
        write (unordered: the updates must not depend on each other); its result (which of
        them created a document, in `upserted_ids`), None when there was nothing to write."""
        if not updates:
            return None
        return await self._collection.bulk_write(
            [
                UpdateOne(self._scope(query), dict(update), upsert=upsert)
                for query, update in updates
            ],
            ordered=False,
            session=session,
        )

    async def update_in_order(
        self,
        updates: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]],
        *,
        session: Session | None = None,
    ) -> BulkWriteResult | None:
        """Applies each (query, update) to every one of the tenant's documents it matches, in
        the given order, in one ordered bulk write (a later update sees what an earlier one
        changed, as `update_many` of each in turn would); None when there was nothing to do."""
        if not updates:
            return None
        return await self._collection.bulk_write(
            [UpdateMany(self._scope(query), dict(update)) for query, update in updates],
            ordered=True,
            session=session,
        )

    async def update_many(
        self,
        query: Mapping[str, Any],
        update: Mapping[str, Any],
        *,
        session: Session | None = None,
    ) -> UpdateResult:
        """Updates every one of the tenant's documents matching `query`."""
        return await self._collection.update_many(self._scope(query), dict(update), session=session)

    async def delete_one(
        self, query: Mapping[str, Any], *, session: Session | None = None
    ) -> DeleteResult:
        """Deletes one of the tenant's documents."""
        return await self._collection.delete_one(self._scope(query), session=session)

    async def delete_many(
        self, query: Mapping[str, Any], *, session: Session | None = None
    ) -> DeleteResult:
        """Deletes every one of the tenant's documents matching `query`."""
        return await self._collection.delete_many(self._scope(query), session=session)
