"""MongoDB access of the candidates service, always within one tenant."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from crm_candidates.domain.identity import (
    UMLAUT_KEY_MARK,
    IdentityTakenError,
    block_keys,
    identity_keys,
    place_words,
    search_tokens,
    search_words,
    term_seed,
)
from crm_candidates.domain.models import Candidate, CandidateStatus
from crm_candidates.domain.search import SearchQuery, holds_alternative
from crm_candidates.domain.segments import SEGMENT_IDS, candidate_facets, facet_value
from crm_candidates.repositories.collections import (
    CANDIDATES_COLLECTION,
    EVALUATED_AT,
    IDENTITIES_COLLECTION,
    MEMBERSHIPS_COLLECTION,
    RECHECK_AT,
    SEGMENT_BOOKKEEPING,
)
from crm_shared import (
    Database,
    Session,
    TenantScopedCollection,
    from_document,
    to_document,
)
from crm_shared.windows import (
    OBJECT_IDS,
    TEXTS,
    TIMES,
    KeyAxis,
    KeyEnds,
    KeyWindows,
    batches_in_id_order,
)

logger = logging.getLogger(__name__)
# Fields derived from the profile and stored beside it for queries; never part of the model.
DERIVED_FIELDS = ("facets", "search_tokens", "block_keys")
ACTIVE = CandidateStatus.ACTIVE.value
DUPLICATE_KEY_CODE = 11000


def _taken_or_reraise(error: BulkWriteError) -> Exception:
    """An identity key's unique index refused a write: which key, else the error itself."""
    failures = error.details.get("writeErrors", [])
    if failures and all(failure.get("code") == DUPLICATE_KEY_CODE for failure in failures):
        key = failures[0].get("op", {}).get("key")
        return IdentityTakenError(None, key)
    return error


# Segmentable fields whose stored facet is `facet_value` of the field alone and which feed no
# identity key, search token or block key: a change of them rewrites nothing else.
OWN_FACET_FIELDS = frozenset({"engagement_score", "last_activity_at"})


def candidate_identity_keys(candidate: Candidate) -> list[str]:
    """The identity keys a candidate holds (none once merged into another record)."""
    if candidate.status is CandidateStatus.MERGED:
        return []
    return identity_keys(candidate.emails, candidate.phones, candidate.profile_urls)


def derived_fields(candidate: Candidate) -> dict[str, Any]:
    """The query fields stored beside a candidate: segment facets, search tokens, block keys."""
    fields = candidate.model_dump()
    return {"facets": candidate_facets(fields), **search_fields(fields)}


def candidate_document(candidate: Candidate) -> dict[str, Any]:
    """A candidate as stored, with its derived query fields."""
    return to_document(candidate) | derived_fields(candidate)


def new_candidate_document(candidate: Candidate) -> dict[str, Any]:
    """A new candidate as first stored: in no segment yet."""
    return candidate_document(candidate) | {SEGMENT_IDS: []}


def _without_id(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != "_id"}


def candidate_from_document(document: dict[str, Any]) -> Candidate:
    """A stored candidate document as the model."""
    stored_only = {*DERIVED_FIELDS, *SEGMENT_BOOKKEEPING}
    return from_document(Candidate, {k: v for k, v in document.items() if k not in stored_only})


def seed_token(tokens: list[str], spellings: dict[str, str] | None = None) -> str:
    """The token the index is walked for: of each query word the token every record matching
    it holds (the word itself, or for one typed with an umlaut the beginning its two
    spellings share, `term_seed`), the longest of these (fewest records hold it)."""
    seeds = [
        token if token not in (spellings or {}) else term_seed(token, (spellings or {})[token])
        for token in tokens
    ]
    return max(
        (seed for seed in seeds if seed),
        key=lambda seed: (len(seed.removeprefix(UMLAUT_KEY_MARK)), seed),
    )


def seed_tokens(search: SearchQuery) -> list[str]:
    """The token values the index is walked for: one (`seed_token`) where a query word has a
    token every record matching it holds; else, for a word that is a synonym (`js`), the few
    its matches hold between them: the word's own and, of each canonical skill, its longest
    word (`js`, `javascript`; the word with the fewest values, then the longest). Each value
    is a walk of its own, merged by `CandidateRepository.search` (not one `$in`: see there)."""
    plain = [token for token in search.tokens if token not in search.synonyms]
    seeded = [token for token in plain if token not in search.spellings or _own_seed(search, token)]
    if seeded:
        return [seed_token(seeded, search.spellings)]
    options: list[list[str]] = []
    for token, alternatives in search.synonyms.items():
        own = _own_seed(search, token)
        if own is None:  # an umlaut word without a shared beginning: nothing bounds its matches
            continue
        longest = [max(words, key=lambda word: (len(word), word)) for words in alternatives]
        options.append(sorted({own, *longest}))
    return min(options, key=lambda seeds: (len(seeds), -min(len(seed) for seed in seeds), seeds))


def _own_seed(search: SearchQuery, token: str) -> str | None:
    spelling = search.spellings.get(token)
    return token if spelling is None else term_seed(token, spelling)


# Records read per query while filling a page of several keywords (doubling up to the maximum).
SEARCH_BATCH = 50
MAX_SEARCH_BATCH = 1000


def search_filter(search: SearchQuery, seed: str | None = None) -> dict[str, Any]:
    """Every condition of a search as one flat filter (tenant scoping is added by the caller).

    The database applies all of them, so one query with a limit returns a page: no batches
    re-read and filtered here (except the keywords beyond the first, see `search`). It stays
    flat (no top-level operator), the shape SecantusDB plans with an index: a keyword is an
    equality on `search_tokens` (the index `tenant_id, search_tokens, status, _id`). Without
    keywords the walk is `tenant_id, status, <sort>, _id`. Each condition means exactly what
    `search_matches` checks, missing fields included (a record without `marketing_consent`
    has none; one without `engagement_score` has 0). `seed`: which of several `seed_tokens`
    this walk is for (the first by default).
    """
    query: dict[str, Any] = {"status": ACTIVE}
    if search.tokens:
        # SecantusDB's Python server plans `$all` on the multikey field as a collection scan
        # (its Rust server and MongoDB use the index), so the query names one word, the
        # longest (likely rarest), and `search` checks the others. A synonym alone is walked
        # once for each of the few tokens its matches hold (`seed_tokens`).
        query["search_tokens"] = seed or seed_tokens(search)[0]
    if search.tags:
        query["facets.tags"] = {"$all": search.tags}
    if search.skills:
        query["skills"] = {"$all": search.skills}
    if search.source:
        query["source"] = search.source
    if search.owner_id:
        query["owner_id"] = search.owner_id
    if search.location:
        # One word walks the index (`$all` on a multikey field is a collection scan on
        # SecantusDB's Python server, as for `search_tokens`); `search_matches` checks the rest.
        query["location_words"] = max(search.location, key=len)
    if search.pool_id:
        placement = {"pool_id": search.pool_id}
        if search.stage:
            placement["stage"] = search.stage
        query["pools"] = {"$elemMatch": placement}
    if search.segment_id:
        query[SEGMENT_IDS] = search.segment_id
    if search.marketing_consent is True:
        query["marketing_consent"] = True
    elif search.marketing_consent is False:
        # Matches false, null and a missing field alike, as `search_matches` does.
        query["marketing_consent"] = {"$ne": True}
    if search.min_engagement is not None:
        # A missing score counts as 0: `$not $lt` also matches a missing or null field.
        query["engagement_score"] = (
            {"$gte": search.min_engagement}
            if search.min_engagement > 0
            else {"$not": {"$lt": search.min_engagement}}
        )
    return query


def _placed(document: dict[str, Any], search: SearchQuery) -> bool:
    """Whether the candidate is in the searched pool (at the searched stage)."""
    return any(
        entry.get("pool_id") == search.pool_id
        and (not search.stage or entry.get("stage") == search.stage)
        for entry in document.get("pools") or []
    )


def search_matches(document: dict[str, Any], search: SearchQuery) -> bool:
    """Whether a stored candidate passes every condition of `search` (cursor aside)."""
    if document.get("status") != ACTIVE:
        return False
    held = set(document.get("search_tokens") or [])

    @functools.cache
    def words() -> set[str]:  # once a record, only for one a typed synonym did not find
        return search_words(_searched_texts(document))

    for token in search.tokens:
        if token in held or search.spellings.get(token) in held:
            continue
        if token not in search.synonyms or not holds_alternative(
            held, document.get("skills") or [], words, search.synonyms[token]
        ):
            return False
    if not set(search.tags) <= set((document.get("facets") or {}).get("tags") or []):
        return False
    if not set(search.skills) <= set(document.get("skills") or []):
        return False
    if search.source and document.get("source") != search.source:
        return False
    if search.owner_id and document.get("owner_id") != search.owner_id:
        return False
    if not set(search.location) <= set(document.get("location_words") or []):
        return False
    if search.pool_id and not _placed(document, search):
        return False
    if search.segment_id and search.segment_id not in (document.get(SEGMENT_IDS) or []):
        return False
    if (
        search.marketing_consent is not None
        and bool(document.get("marketing_consent")) is not search.marketing_consent
    ):
        return False
    return search.min_engagement is None or (
        float(document.get("engagement_score") or 0) >= search.min_engagement
    )


@dataclass(frozen=True)
class SortOrder:
    """A sort of the candidate list: its stored field and direction, ties broken by id in the
    same direction."""

    field: str
    descending: bool

    @classmethod
    def of(cls, sort: str) -> SortOrder:
        """`created_at`, `-created_at` (newest first), `updated_at`, `-updated_at`, `name`."""
        return cls(SORT_FIELDS[sort.removeprefix("-")], sort.startswith("-"))

    @property
    def spec(self) -> list[tuple[str, int]]:
        """The order as a `sort` argument."""
        direction = DESCENDING if self.descending else ASCENDING
        if self.field == "_id":
            return [("_id", direction)]
        return [(self.field, direction), ("_id", direction)]

    def beyond(self, value: Any) -> dict[str, Any]:
        """The condition of the values after `value` in this order."""
        return {"$lt": value} if self.descending else {"$gt": value}


def _sort_key(document: dict[str, Any], sort_field: str) -> tuple[Any, str]:
    return (document.get(sort_field), document["_id"])


def _page_in_memory(
    documents: list[dict[str, Any]], search: SearchQuery, order: SortOrder
) -> list[dict[str, Any]]:
    """One page of `documents` that match, sorted and cut after the cursor here."""
    matching = [d for d in documents if search_matches(d, search)]
    matching.sort(key=lambda d: _sort_key(d, order.field), reverse=order.descending)
    if search.after is not None:
        value, after_id = search.after
        cursor = (after_id, after_id) if order.field == "_id" else (value, after_id)
        if order.descending:
            matching = [d for d in matching if _sort_key(d, order.field) < cursor]
        else:
            matching = [d for d in matching if _sort_key(d, order.field) > cursor]
    return matching[: search.limit]


class CandidateRepository:
    """Stores and reads one tenant's candidates and the identifiers they hold."""

    def __init__(
        self, database: Database, tenant_id: str, *, key_ends: KeyEnds | None = None
    ) -> None:
        self.tenant_id = tenant_id
        self.database = database
        self._candidates = TenantScopedCollection(database[CANDIDATES_COLLECTION], tenant_id)
        self._identities = TenantScopedCollection(database[IDENTITIES_COLLECTION], tenant_id)
        # Where a list's first page begins its windows (see `_walk`); without them such a
        # page is one unbounded read.
        self._key_ends = key_ends

    async def add(self, candidate: Candidate, *, session: Session) -> None:
        """Stores a new candidate and its identity keys; raises `IdentityTakenError` if held."""
        await self.claim_keys(candidate.id, candidate_identity_keys(candidate), session=session)
        await self._candidates.insert_one(new_candidate_document(candidate), session=session)

    async def add_many(self, candidates: list[Candidate], *, session: Session) -> None:
        """Stores new candidates and their keys with one write each (the import's batches)."""
        if not candidates:
            return
        identities = [
            {"key": key, "candidate_id": candidate.id}
            for candidate in candidates
            for key in candidate_identity_keys(candidate)
        ]
        if identities:
            try:
                await self._identities.insert_batch(identities, session=session)
            except BulkWriteError as error:
                raise _taken_or_reraise(error) from None
        await self._candidates.insert_batch(
            [new_candidate_document(candidate) for candidate in candidates], session=session
        )

    async def replace(
        self, candidate: Candidate, *, session: Session, previous: Candidate | None = None
    ) -> None:
        """Stores a changed candidate, moving its identity keys with its identifiers.

        Raises `IdentityTakenError` if a new identifier belongs to another candidate.
        """
        before = previous or await self.get(candidate.id, session=session)
        held = set(candidate_identity_keys(before)) if before else set()
        wanted = candidate_identity_keys(candidate)
        await self.claim_keys(candidate.id, [k for k in wanted if k not in held], session=session)
        released = [key for key in held if key not in set(wanted)]
        if released:
            await self._identities.delete_many(
                {"key": {"$in": released}, "candidate_id": candidate.id}, session=session
            )
        await self._candidates.update_one(
            {"_id": candidate.id},
            {"$set": _without_id(candidate_document(candidate))},
            session=session,
        )

    async def store_projected(
        self, changes: list[tuple[Candidate, Candidate]], *, session: Session
    ) -> None:
        """Stores (changed, previous) pairs whose identifiers did not change (facts projected
        from other services) in one bulk write: `replace` without its identity-key checks."""
        for changed, previous in changes:
            if candidate_identity_keys(changed) != candidate_identity_keys(previous):
                raise ValueError(f"candidate {changed.id} changed identifiers: use `replace`")
        await self._candidates.update_each(
            [
                ({"_id": changed.id}, {"$set": _without_id(candidate_document(changed))})
                for changed, _ in changes
            ],
            session=session,
        )

    async def set_facts(
        self, changes: list[tuple[Candidate, list[str]]], *, session: Session
    ) -> None:
        """Stores (candidate, fields changed) pairs in one bulk write of those fields and their
        facets only: what `store_projected` leaves, without deriving every query field again
        (search tokens and facets of the whole record were most of an engagement batch's time).
        Only for fields that feed nothing but their own facet (`OWN_FACET_FIELDS`)."""
        updates = []
        for candidate, names in changes:
            if not set(names) <= OWN_FACET_FIELDS:
                raise ValueError(f"{sorted(names)}: not only own-facet fields, use `replace`")
            values = candidate.model_dump(mode="python", include=set(names))
            facets = {f"facets.{name}": facet_value(values[name]) for name in names}
            updates.append(({"_id": candidate.id}, {"$set": values | facets}))
        await self._candidates.update_each(updates, session=session)

    async def restore(
        self, document: dict[str, Any], keys: list[str], *, session: Session
    ) -> Candidate:
        """Puts back a candidate and the identity keys it held exactly as a snapshot had them.

        Raises `IdentityTakenError` if another record took one of the keys meanwhile.
        """
        candidate = candidate_from_document(document)
        await self._identities.delete_many({"candidate_id": candidate.id}, session=session)
        await self.claim_keys(candidate.id, keys, session=session)
        # Segment bookkeeping stays as it is now: it mirrors the memberships, which the snapshot
        # does not restore (the caller re-evaluates the restored record).
        kept = {"_id", *SEGMENT_BOOKKEEPING}
        restored = {key: value for key, value in document.items() if key not in kept}
        current = await self._candidates.find_one({"_id": candidate.id}, session=session) or {}
        update: dict[str, Any] = {"$set": restored}
        if added_since := [key for key in current if key not in document and key not in kept]:
            update["$unset"] = dict.fromkeys(added_since, "")
        await self._candidates.update_one({"_id": candidate.id}, update, session=session)
        return candidate

    async def keys_of(self, candidate_id: str, *, session: Session | None = None) -> list[str]:
        """Every identity key a candidate holds."""
        documents = await self._identities.find(
            {"candidate_id": candidate_id}, sort=[("key", ASCENDING)], session=session
        )
        return [document["key"] for document in documents]

    async def claim_keys(self, candidate_id: str, keys: list[str], *, session: Session) -> None:
        """Records `keys` as the candidate's; raises `IdentityTakenError` if one is held."""
        if not keys:
            return
        holders = await self.holders_of(keys, session=session)
        taken = {key: holder for key, holder in holders.items() if holder != candidate_id}
        if taken:
            key, holder = next(iter(taken.items()))
            raise IdentityTakenError(holder, key)
        new_keys = [key for key in keys if key not in holders]
        if not new_keys:
            return
        try:
            await self._identities.insert_batch(
                [{"key": key, "candidate_id": candidate_id} for key in new_keys], session=session
            )
        except BulkWriteError as error:
            # A concurrent write claimed it between our read and insert.
            raise _taken_or_reraise(error) from None

    async def move_keys(self, from_id: str, to_id: str, *, session: Session) -> None:
        """Hands every identity key of one candidate to another (a merge)."""
        await self._identities.update_many(
            {"candidate_id": from_id}, {"$set": {"candidate_id": to_id}}, session=session
        )

    async def holders_of(
        self, keys: list[str], *, session: Session | None = None
    ) -> dict[str, str]:
        """Which candidate holds each of `keys` that is held."""
        if not keys:
            return {}
        documents = await self._identities.find({"key": {"$in": keys}}, session=session)
        return {document["key"]: document["candidate_id"] for document in documents}

    async def holding_all(self, keys: list[str]) -> list[str]:
        """The ids of the candidates holding every one of `keys` (one at most, or none)."""
        holders = await self.holders_of(keys)
        if any(key not in holders for key in keys):
            return []
        return sorted(set(holders.values())) if len(set(holders.values())) == 1 else []

    async def find_by_emails(
        self, emails: list[str], *, session: Session | None = None
    ) -> Candidate | None:
        """The candidate holding any of `emails`, if there is one."""
        holders = await self.holders_of(identity_keys(emails), session=session)
        for candidate_id in holders.values():
            return await self.get(candidate_id, session=session)
        return None

    async def get(self, candidate_id: str, *, session: Session | None = None) -> Candidate | None:
        """The candidate with this id, if the tenant has it (whatever its status)."""
        document = await self._candidates.find_one({"_id": candidate_id}, session=session)
        return candidate_from_document(document) if document else None

    async def get_document(
        self, candidate_id: str, *, session: Session | None = None
    ) -> dict[str, Any] | None:
        """The stored document of a candidate (for snapshots)."""
        return await self._candidates.find_one({"_id": candidate_id}, session=session)

    async def get_many(
        self, candidate_ids: list[str], *, session: Session | None = None
    ) -> dict[str, Candidate]:
        """The candidates with these ids, by id."""
        if not candidate_ids:
            return {}
        documents = await self._candidates.find({"_id": {"$in": candidate_ids}}, session=session)
        return {document["_id"]: candidate_from_document(document) for document in documents}

    async def existing_ids(
        self, candidate_ids: list[str], *, session: Session | None = None
    ) -> set[str]:
        """Which of these ids are the tenant's candidates (any status), read as ids only."""
        if not candidate_ids:
            return set()
        documents = await self._candidates.find(
            {"_id": {"$in": candidate_ids}}, projection={"_id": 1}, session=session
        )
        return {document["_id"] for document in documents}

    async def rename_pool_stage(
        self, pool_id: str, stage: str, new_name: str, *, session: Session
    ) -> int:
        """Renames the stage in the `pools` (and their segment facets) of every candidate placed
        at it, whatever their status; returns how many there were."""
        documents = await self._candidates.find(
            {"pools": {"$elemMatch": {"pool_id": pool_id, "stage": stage}}},
            projection={"pools": 1},
            session=session,
        )
        for document in documents:
            pools = [
                {**placement, "stage": new_name}
                if placement.get("pool_id") == pool_id and placement.get("stage") == stage
                else placement
                for placement in document["pools"]
            ]
            await self._candidates.update_one(
                {"_id": document["_id"]},
                {
                    "$set": {
                        "pools": pools,
                        "facets.pools": candidate_facets({"pools": pools})["pools"],
                    }
                },
                session=session,
            )
        return len(documents)

    async def page(self, *, after: str | None, limit: int) -> list[Candidate]:
        """Up to `limit` active candidates in creation order, after the candidate id `after`."""
        query: dict[str, Any] = {"status": ACTIVE}
        if after:
            query["_id"] = {"$gt": after}
        documents = await self._candidates.find(query, sort=[("_id", ASCENDING)], limit=limit)
        return [candidate_from_document(document) for document in documents]

    async def search(self, search: SearchQuery) -> list[Candidate]:
        """Active candidates matching `search`, in its sort order, after its cursor.

        One page is one keyset walk (two at a tie of the cursor's sort value) with every
        condition in the filter (`search_filter`), sorted on an index and limited; with several
        keywords, such walks in growing batches, the words beyond the longest checked here.
        """
        order = SortOrder.of(search.sort)
        if search.candidate_ids is not None:
            ids = sorted(set(search.candidate_ids))
            documents = await self._candidates.find({"_id": {"$in": ids}}) if ids else []
            page = _page_in_memory(documents, search, order)
            return [candidate_from_document(document) for document in page]
        if (
            len(search.tokens) <= 1
            and not search.spellings
            and not search.synonyms
            and len(search.location) <= 1
        ):
            base = search_filter(search)
            documents = await self._keyset_batch(base, order, search.after, search.limit)
            return [candidate_from_document(document) for document in documents]
        # Several keywords, a word typed with an umlaut, a synonym, or a place of several
        # words: the database matched the seed token(s) (`seed_tokens`), the place's longest
        # word and every other filter; the words are checked here, reading on in growing
        # batches until the page is full.
        bases = (
            [search_filter(search, seed) for seed in seed_tokens(search)]
            if search.tokens
            else [search_filter(search)]
        )
        found: list[dict[str, Any]] = []
        after = search.after
        batch = max(search.limit, SEARCH_BATCH)
        while True:
            documents, exhausted = await self._merged_batch(bases, order, after, batch)
            found.extend(document for document in documents if search_matches(document, search))
            if len(found) >= search.limit or exhausted:
                return [candidate_from_document(document) for document in found[: search.limit]]
            last = documents[-1]
            after = (last.get(order.field), last["_id"])
            batch = min(batch * 2, MAX_SEARCH_BATCH)

    async def _merged_batch(
        self,
        bases: list[dict[str, Any]],
        order: SortOrder,
        after: tuple[Any, str] | None,
        limit: int,
    ) -> tuple[list[dict[str, Any]], bool]:
        """At least `limit` records matching any of `bases` after the cursor, in order, each
        once, unless none follow them (then True). One base: a `_keyset_batch`.

        Several (a synonym's seed tokens, `js` and `javascript`) are walked one by one and
        merged, not asked as one `search_tokens: {$in: [...]}`: MongoDB would merge the two
        index ranges in `_id` order itself, but SecantusDB's Rust server routes an `$in` on
        the index's second field (before `status`) through no token index: it reads the
        tenant's records, or every tenant's in an `_id` window (docs/identity.md)."""
        if len(bases) == 1:
            documents = await self._keyset_batch(bases[0], order, after, limit)
            return documents, len(documents) < limit
        walks = await asyncio.gather(
            *(self._keyset_batch(base, order, after, limit) for base in bases)
        )
        merged = sorted(
            {document["_id"]: document for walk in walks for document in walk}.values(),
            key=lambda document: _sort_key(document, order.field),
            reverse=order.descending,
        )
        ends = [_sort_key(walk[-1], order.field) for walk in walks if len(walk) == limit]
        if not ends:
            return merged, True
        # A walk cut at `limit` has not read what lies beyond its last record: the merge is
        # complete only up to the nearest such end (which keeps that walk's `limit` records).
        if order.descending:
            return [d for d in merged if _sort_key(d, order.field) >= max(ends)], False
        return [d for d in merged if _sort_key(d, order.field) <= min(ends)], False

    async def _keyset_batch(
        self, base: dict[str, Any], order: SortOrder, after: tuple[Any, str] | None, limit: int
    ) -> list[dict[str, Any]]:
        """Up to `limit` documents matching `base` after `(sort value, id)` in that order.

        Two flat walks rather than one `$or`: the ties of the cursor's value after its id,
        then the values beyond it; each is a prefix-plus-range walk of one compound index.
        """
        if order.field == "_id":
            return await self._walk(base, order, None if after is None else after[1], limit)
        if after is None:
            return await self._walk(base, order, None, limit)
        value, after_id = after
        ties = await self._candidates.find(
            {**base, order.field: value, "_id": order.beyond(after_id)},
            sort=[("_id", DESCENDING if order.descending else ASCENDING)],
            limit=limit,
        )
        if len(ties) == limit:
            return ties
        return ties + await self._walk(base, order, value, limit - len(ties))

    async def _walk(
        self, base: dict[str, Any], order: SortOrder, after: Any | None, limit: int
    ) -> list[dict[str, Any]]:
        """Up to `limit` documents matching `base` whose sort value lies beyond `after`.

        Read in windows of the sort value (`crm_shared.windows`) where the walked index
        narrows on it; otherwise one read.
        """

        async def read(condition: dict[str, Any], wanted: int) -> list[dict[str, Any]]:
            query = {**base, order.field: condition} if condition else base
            return await self._candidates.find(query, sort=order.spec, limit=wanted)

        if order.field not in KEY_AXES or not set(base) <= WINDOWED_FILTERS[order.field]:
            return await read({} if after is None else order.beyond(after), limit)
        windows = KeyWindows(KEY_AXES[order.field], descending=order.descending)
        origin = None if after is not None else await self._window_origin(order)
        documents: list[dict[str, Any]] = await windows.read_page(
            read, after=after, origin=origin, limit=limit
        )
        if after is None and order.descending and documents and self._key_ends is not None:
            self._key_ends.saw_newest(self._ends_key(order), documents[0].get(order.field))
        return documents

    async def _window_origin(self, order: SortOrder) -> Any | None:
        """Where a first page's windows begin: the end of the tenant's records (any status)
        the page starts from, as this process knows it (`KeyEnds`)."""
        if self._key_ends is None:
            return None
        direction = DESCENDING if order.descending else ASCENDING

        async def find_end() -> Any | None:
            end = await self._candidates.find(
                {}, sort=[(order.field, direction)], limit=1, projection={order.field: 1}
            )
            return end[0].get(order.field) if end else None

        return await self._key_ends.end(
            self._ends_key(order), descending=order.descending, find_end=find_end
        )

    async def least_id(self) -> str | None:
        """The tenant's least candidate id as this process knows it (`KeyEnds`): no candidate
        id, and so no member id of a pool, segment or list, lies below it."""
        least = await self._window_origin(SortOrder("_id", descending=False))
        return least if isinstance(least, str) else None

    def _ends_key(self, order: SortOrder) -> tuple[str, str, str]:
        return (self.tenant_id, CANDIDATES_COLLECTION, order.field)

    async def sharing_block_keys(
        self, keys: list[str], *, exclude_id: str, limit: int
    ) -> list[Candidate]:
        """Active candidates sharing a blocking key with a record (duplicate suspects)."""
        if not keys:
            return []
        documents = await self._candidates.find(
            {"block_keys": {"$in": keys}, "status": ACTIVE, "_id": {"$ne": exclude_id}},
            sort=[("_id", ASCENDING)],
            limit=limit,
        )
        return [candidate_from_document(document) for document in documents]

    async def count_matching(self, query: dict[str, Any]) -> int:
        """How many active candidates match a compiled segment query."""
        return await self._candidates.count({"$and": [query, {"status": ACTIVE}]})

    async def sample_matching(self, query: dict[str, Any], limit: int) -> list[Candidate]:
        """The first `limit` active candidates matching a compiled segment query."""
        if limit == 0:
            return []
        documents = await self._candidates.find(
            {"$and": [query, {"status": ACTIVE}]}, sort=[("_id", ASCENDING)], limit=limit
        )
        return [candidate_from_document(document) for document in documents]

    async def set_recheck_at(
        self, candidate_id: str, at: datetime | None, *, session: Session
    ) -> None:
        """Records when the candidate's segment membership changes next by time alone."""
        change = {"$set": {RECHECK_AT: at}} if at else {"$unset": {RECHECK_AT: ""}}
        await self._candidates.update_one({"_id": candidate_id}, change, session=session)

    async def set_rechecks_at(self, due: dict[str, datetime], *, session: Session) -> None:
        """`set_recheck_at` of several candidates in one bulk write."""
        await self._candidates.update_each(
            [
                ({"_id": candidate_id}, {"$set": {RECHECK_AT: at}})
                for candidate_id, at in due.items()
            ],
            session=session,
        )

    async def stamp_evaluated(
        self, candidate_ids: list[str], at: datetime, *, session: Session
    ) -> None:
        """Records that a write evaluated these candidates against the segments at `at`."""
        await self._candidates.update_each(
            [
                ({"_id": candidate_id}, {"$set": {EVALUATED_AT: at}})
                for candidate_id in candidate_ids
            ],
            session=session,
        )

    async def ids_evaluated_since(self, since: datetime, *, batch: int) -> AsyncIterator[list[str]]:
        """The ids of the candidates a write evaluated at or after `since`, `batch` at a time."""
        async for documents in self._candidates.in_batches(
            {EVALUATED_AT: {"$gte": since}}, batch=batch, projection={"_id": 1}
        ):
            yield [document["_id"] for document in documents]

    async def bring_recheck_forward(self, candidate_id: str, at: datetime) -> None:
        """Makes the candidate's next time-driven re-evaluation no later than `at`."""
        await self._candidates.update_one(
            {
                "_id": candidate_id,
                "$or": [{RECHECK_AT: None}, {RECHECK_AT: {"$gt": at}}],
            },
            {"$set": {RECHECK_AT: at}},
        )

    async def facets_having(
        self, fields: list[str], *, after: str | None, limit: int
    ) -> list[tuple[str, dict[str, Any]]]:
        """(id, facets) of candidates with a value in any of `fields`, in id order."""
        query: dict[str, Any] = {
            "$or": [{f"facets.{field}": {"$exists": True, "$ne": None}} for field in fields]
        }
        if after:
            query = {"$and": [query, {"_id": {"$gt": after}}]}
        documents = await self._candidates.find(query, sort=[("_id", ASCENDING)], limit=limit)
        return [(document["_id"], document.get("facets") or {}) for document in documents]

    async def skills_after(self, after: str | None, *, limit: int) -> list[tuple[str, list[str]]]:
        """(id, skills) of the records holding skills, in id order after `after`."""
        query: dict[str, Any] = {"skills.0": {"$exists": True}}
        if after:
            query["_id"] = {"$gt": after}
        documents = await self._candidates.find(
            query, sort=[("_id", ASCENDING)], limit=limit, projection={"skills": 1}
        )
        return [(str(d["_id"]), list(d.get("skills") or [])) for d in documents]

    async def ids_matching(self, query: dict[str, Any], *, batch: int) -> AsyncIterator[list[str]]:
        """The ids of every active candidate matching a compiled query, in batches of `batch`."""
        async for documents in self._candidates.in_batches(
            {"$and": [query, {"status": ACTIVE}]},
            batch=batch,
            sort=[("_id", ASCENDING)],
            projection={"_id": 1},
        ):
            yield [document["_id"] for document in documents]


# Sort orders of the candidate list: an indexed field, ties broken by id.
SORT_FIELDS = {
    "created_at": "_id",
    "updated_at": "updated_at",
    "name": "last_name",
}
# The sort fields a page is read in windows of, and the filters under which the walked index
# narrows on them: `_id` ends both `tenant_id, status, _id` and `tenant_id, search_tokens,
# status, _id`; `updated_at` and `last_name` follow only the equalities of `tenant_id, status,
# <field>, _id`. Fields no index leads with after the tenant are checked on each record the
# walk reaches, so they leave the walk as it is. Under a filter on an indexed field (a location, a
# segment) the database may walk that field's index, which a window would not narrow: each
# window would read it whole again.
KEY_AXES: dict[str, KeyAxis[Any]] = {"_id": OBJECT_IDS, "updated_at": TIMES, "last_name": TEXTS}
UNINDEXED_FILTERS = {
    "tags",
    "skills",
    "source",
    "owner_id",
    "pools",
    "marketing_consent",
    "engagement_score",
}
WINDOWED_FILTERS = {
    "_id": {"status", "search_tokens", *UNINDEXED_FILTERS},
    "updated_at": {"status", *UNINDEXED_FILTERS},
    "last_name": {"status", *UNINDEXED_FILTERS},
}


async def backfill_segment_ids(database: Database, *, batch: int = 500) -> None:
    """Mirrors the stored segment memberships on candidates written before segment references
    (`segment_ids`), so rules referring to a segment see its existing members.

    Deliberately cross-tenant: it runs at service start over records of every tenant that lack
    the field (new candidates are stored with it), each written back within its own tenant.
    """
    candidates = database[CANDIDATES_COLLECTION]
    memberships = database[MEMBERSHIPS_COLLECTION]
    completed = 0
    while (
        documents := await candidates.find({SEGMENT_IDS: {"$exists": False}}, {"tenant_id": 1})
        .limit(batch)
        .to_list()
    ):
        for document in documents:
            scope = {"tenant_id": document["tenant_id"], "candidate_id": document["_id"]}
            segment_ids = sorted(m["segment_id"] for m in await memberships.find(scope).to_list())
            await candidates.update_one(
                {"_id": document["_id"], "tenant_id": document["tenant_id"]},
                {"$set": {SEGMENT_IDS: segment_ids}},
            )
            completed += 1
    if completed:
        logger.info("mirrored the segment memberships of %d older candidates", completed)


async def backfill_derived_fields(database: Database, *, batch: int = 500) -> None:
    """Gives records written before identity resolution their status, query fields and keys.

    Deliberately cross-tenant: it runs once at service start over records of every tenant,
    each written back within its own tenant.
    """
    collection = database[CANDIDATES_COLLECTION]
    completed = 0
    while (
        documents := await collection.find({"block_keys": {"$exists": False}})
        .limit(batch)
        .to_list()
    ):
        for document in documents:
            document.setdefault("status", ACTIVE)
            candidate = candidate_from_document(document)
            repository = CandidateRepository(database, candidate.tenant_id)
            for key in candidate_identity_keys(candidate):
                # An older duplicate already holds the key: keep the first holder.
                with contextlib.suppress(DuplicateKeyError):
                    await repository._identities.insert_one(
                        {"key": key, "candidate_id": candidate.id}
                    )
            await collection.update_one(
                {"_id": candidate.id, "tenant_id": candidate.tenant_id},
                {"$set": {"status": candidate.status.value, **derived_fields(candidate)}},
            )
            completed += 1
    if completed:
        logger.info("gave %d older candidate records their identity keys", completed)


async def refresh_search_fields(database: Database, *, batch: int = 500) -> None:
    """Writes every record's search tokens and block keys again with today's folding (Łukasz
    found by `lukasz`, O'Connor by `oconnor`, Müller by `mueller`), a batch at a time in `_id`
    order.

    Deliberately cross-tenant, like `backfill_derived_fields`: it runs once per database as a
    migration; each record keeps its tenant."""
    collection = database[CANDIDATES_COLLECTION]
    refreshed = 0
    fields = (
        "first_name",
        "last_name",
        "current_title",
        "current_company",
        "skills",
        "location",
        "tenant_id",
    )
    async for documents in batches_in_id_order(collection, dict.fromkeys(fields, 1), batch=batch):
        await collection.bulk_write(
            [
                UpdateOne(
                    {"_id": document["_id"], "tenant_id": document["tenant_id"]},
                    {"$set": search_fields(document)},
                )
                for document in documents
            ],
            ordered=False,
        )
        refreshed += len(documents)
    if refreshed:
        logger.info("refreshed the search tokens of %d candidate records", refreshed)


def _searched_texts(document: dict[str, Any]) -> list[str | None]:
    """The stored fields keyword search looks in: name, title, company, skills."""
    return [
        document.get("first_name"),
        document.get("last_name"),
        document.get("current_title"),
        document.get("current_company"),
        *(document.get("skills") or []),
    ]


def search_fields(document: dict[str, Any]) -> dict[str, Any]:
    """A stored record's search tokens, place words and block keys, from its stored fields."""
    return {
        "search_tokens": search_tokens(_searched_texts(document)),
        "location_words": place_words(document.get("location")),
        "block_keys": block_keys(str(document.get("last_name") or "")),
    }


"""Indexed vocabularies by (tenant, version), oldest first; bounded by VOCABULARY_CACHE_SIZE."""


async def candidates_due_for_recheck(
    database: Database, *, now: datetime, limit: int
) -> list[tuple[str, str]]:
    """(tenant id, candidate id) of candidates whose time-driven re-evaluation is due.

    Deliberately cross-tenant, like the other workers' claims: each candidate it returns is then
    re-evaluated within its own tenant.
    """
    documents = await (
        database[CANDIDATES_COLLECTION]
        .find({RECHECK_AT: {"$lte": now}}, {"tenant_id": 1}, sort=[(RECHECK_AT, ASCENDING)])
        .limit(limit)
        .to_list()
    )
    return [(document["tenant_id"], document["_id"]) for document in documents]


async def recheck_is_due(
    database: Database, tenant_id: str, candidate_id: str, *, now: datetime, session: Session
) -> bool:
    """Whether the candidate's time-driven re-evaluation is (still) due."""
    scoped = TenantScopedCollection(database[CANDIDATES_COLLECTION], tenant_id)
    due = await scoped.find_one({"_id": candidate_id, RECHECK_AT: {"$lte": now}}, session=session)
    return due is not None
