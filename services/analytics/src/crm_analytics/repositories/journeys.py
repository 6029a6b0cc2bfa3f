"""MongoDB access to the candidates' journeys (funnels and attribution): one document per
candidate (the first time of each step, their source, what they were in or engaged with), the
steps of people known only by an address, each message's source and first human engagement,
each candidate's touches, and the applications and hires to attribute.

Every write commutes: times keep their earliest value (`$min`), sets only grow (`$addToSet`),
so a batch, a redelivery or events out of order leave one state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from crm_analytics.domain.attribution import Outcome, Touch, TouchKind
from crm_analytics.domain.funnel import SPLIT_SETS, FunnelBy, Journey, Step, StepTimes
from crm_shared import (
    ADDRESS_DIGEST_FIELD,
    Database,
    Document,
    Session,
    TenantScopedCollection,
)

JOURNEYS_COLLECTION = "journeys"
JOURNEY_ADDRESSES_COLLECTION = "journey_addresses"
JOURNEY_MESSAGES_COLLECTION = "journey_messages"
JOURNEY_TOUCHES_COLLECTION = "journey_touches"
JOURNEY_OUTCOMES_COLLECTION = "journey_outcomes"

# What a journey keeps per candidate, at most: touches (one per broadcast, sequence step and
# event attended, and the sign-up), and values of each set (pools, segments, broadcasts,
# sequences, events). Past the bound, new ones are not kept (existing ones still get earlier
# times).
MAX_TOUCHES_PER_CANDIDATE = 200
MAX_SET_VALUES = 100

# The journey's field of each step's first time.
STEP_FIELDS: Mapping[Step, str] = {step: f"{step.value}_at" for step in Step}
SET_FIELDS = ("pools", "segments", "broadcasts", "sequences", "events")
_STEP_NAMES = tuple(STEP_FIELDS.values())


@dataclass
class JourneyChange:
    """What a batch tells of one candidate's (or one address's) journey."""

    times: dict[Step, datetime] = field(default_factory=dict)
    source: str | None = None
    digests: set[str] = field(default_factory=set)
    sets: dict[str, set[str]] = field(default_factory=dict)

    def at(self, step: Step, at: datetime) -> None:
        before = self.times.get(step)
        self.times[step] = at if before is None else min(before, at)

    def add(self, name: str, value: str) -> None:
        self.sets.setdefault(name, set()).add(value)


@dataclass(frozen=True)
class MessageSource:
    """The broadcast or sequence step that sent a message (`message.sent`)."""

    kind: TouchKind
    ref: str
    step: int | None = None


@dataclass(frozen=True)
class EngagedMessage:
    """A message with its source and first human open or click, both known."""

    candidate_id: str
    source: MessageSource
    engaged_at: datetime


@dataclass(frozen=True)
class TouchChange:
    candidate_id: str
    key: str  # one per broadcast, sequence step, event and the sign-up
    touch: Touch


@dataclass(frozen=True)
class OutcomeChange:
    kind: Outcome
    connection_id: str
    ats_application_id: str
    candidate_id: str | None
    address_digest: str | None
    at: datetime


@dataclass(frozen=True)
class StoredOutcome:
    outcome_id: str
    candidate_id: str | None
    address_digest: str | None
    at: datetime


async def ensure_journey_indexes(database: Database) -> None:
    """Journeys by candidate, by the day they were sourced and by address digest; the other
    collections by their own keys (tenant first everywhere)."""
    journeys = database[JOURNEYS_COLLECTION]
    await journeys.create_index(
        [("tenant_id", ASCENDING), ("candidate_id", ASCENDING)], unique=True
    )
    await journeys.create_index([("tenant_id", ASCENDING), ("sourced_at", ASCENDING)])
    await journeys.create_index([("tenant_id", ASCENDING), ("address_digests", ASCENDING)])
    await database[JOURNEY_ADDRESSES_COLLECTION].create_index(
        [("tenant_id", ASCENDING), (ADDRESS_DIGEST_FIELD, ASCENDING)], unique=True
    )
    await database[JOURNEY_MESSAGES_COLLECTION].create_index(
        [("tenant_id", ASCENDING), ("message_id", ASCENDING)], unique=True
    )
    await database[JOURNEY_TOUCHES_COLLECTION].create_index(
        [("tenant_id", ASCENDING), ("candidate_id", ASCENDING), ("key", ASCENDING)], unique=True
    )
    outcomes = database[JOURNEY_OUTCOMES_COLLECTION]
    await outcomes.create_index(
        [
            ("tenant_id", ASCENDING),
            ("kind", ASCENDING),
            ("connection_id", ASCENDING),
            ("ats_application_id", ASCENDING),
        ],
        unique=True,
    )
    await outcomes.create_index([("tenant_id", ASCENDING), ("kind", ASCENDING), ("at", ASCENDING)])


def _journey_update(change: JourneyChange, room: Mapping[str, int]) -> dict[str, Any]:
    update: dict[str, Any] = {}
    if change.times:
        update["$min"] = {STEP_FIELDS[step]: at for step, at in change.times.items()}
    if change.source is not None:
        update["$set"] = {"source": change.source}
    grow: dict[str, Any] = {}
    for name, values in change.sets.items():
        kept = sorted(values)[: room.get(name, MAX_SET_VALUES)]
        if kept:
            grow[name] = {"$each": kept}
    if change.digests:
        grow["address_digests"] = {"$each": sorted(change.digests)}
    if grow:
        update["$addToSet"] = grow
    return update


def _journey(document: Mapping[str, Any], person_id: str | None = None) -> Journey:
    return Journey(
        person_id=person_id or document.get("candidate_id") or "",
        times={step: document[name] for step, name in STEP_FIELDS.items() if document.get(name)},
        source=document.get("source"),
        **{name: frozenset(document.get(name) or ()) for name in SET_FIELDS},
    )


class JourneyRepository:
    """One tenant's journeys, messages, touches and outcomes."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._journeys = TenantScopedCollection(database[JOURNEYS_COLLECTION], tenant_id)
        self._addresses = TenantScopedCollection(database[JOURNEY_ADDRESSES_COLLECTION], tenant_id)
        # The funnels' reads decode times as naive UTC datetimes: half the decoding of aware
        # ones (a year's funnel of 50,000 people: 72 ms instead of 164 ms).
        self._funnel_journeys = TenantScopedCollection(
            _naive_times(database[JOURNEYS_COLLECTION]), tenant_id
        )
        self._funnel_addresses = TenantScopedCollection(
            _naive_times(database[JOURNEY_ADDRESSES_COLLECTION]), tenant_id
        )
        self._messages = TenantScopedCollection(database[JOURNEY_MESSAGES_COLLECTION], tenant_id)
        self._touches = TenantScopedCollection(database[JOURNEY_TOUCHES_COLLECTION], tenant_id)
        self._outcomes = TenantScopedCollection(database[JOURNEY_OUTCOMES_COLLECTION], tenant_id)

    # Writes (one bulk write per collection and batch).

    async def _room(self, candidate_ids: Sequence[str], session: Session) -> dict[str, Any]:
        """Each stored journey's sets and touch count, to keep them within their bounds."""
        found = await self._journeys.find(
            {"candidate_id": {"$in": list(candidate_ids)}},
            projection={
                "_id": 0,
                "candidate_id": 1,
                "touch_count": 1,
                **dict.fromkeys(SET_FIELDS, 1),
            },
            session=session,
        )
        return {d["candidate_id"]: d for d in found}

    async def fold_journeys(
        self, changes: Mapping[str, JourneyChange], *, session: Session
    ) -> None:
        """Each candidate's change: earlier step times, the source, more set values (within
        `MAX_SET_VALUES`: values already held do not count again)."""
        if not changes:
            return
        stored = await self._room(list(changes), session)
        updates = []
        for candidate_id, change in changes.items():
            held = stored.get(candidate_id, {})
            room: dict[str, int] = {}
            for name, values in change.sets.items():
                have = set(held.get(name) or ())
                room[name] = max(0, MAX_SET_VALUES - len(have))
                change.sets[name] = {v for v in values if v not in have}
            update = _journey_update(change, room)
            if update:
                updates.append(({"candidate_id": candidate_id}, update))
        await self._journeys.update_each(updates, upsert=True, session=session)

    async def fold_addresses(
        self, changes: Mapping[str, JourneyChange], *, session: Session
    ) -> None:
        """The steps (and events) of people known only by an address, by its digest."""
        updates = []
        for digest, change in changes.items():
            update = _journey_update(change, {})
            if update:
                updates.append(({ADDRESS_DIGEST_FIELD: digest}, update))
        await self._addresses.update_each(updates, upsert=True, session=session)

    async def fold_messages(
        self,
        sources: Mapping[str, tuple[str, MessageSource]],
        engaged: Mapping[str, tuple[str, datetime]],
        *,
        session: Session,
    ) -> list[EngagedMessage]:
        """Keeps each message's source (`message.sent`) and first human engagement, and
        answers the messages of the batch now known with both (whichever came first)."""
        updates: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for message_id, (candidate_id, source) in sources.items():
            told: dict[str, Any] = {
                "candidate_id": candidate_id,
                "kind": source.kind.value,
                "ref": source.ref,
            }
            if source.step is not None:
                told["step"] = source.step
            updates.append(({"message_id": message_id}, {"$set": told}))
        for message_id, (candidate_id, at) in engaged.items():
            updates.append(
                (
                    {"message_id": message_id},
                    {"$min": {"engaged_at": at}, "$set": {"candidate_id": candidate_id}},
                )
            )
        if not updates:
            return []
        await self._messages.update_each(updates, upsert=True, session=session)
        found = await self._messages.find(
            {
                "message_id": {"$in": sorted({*sources, *engaged})},
                "kind": {"$exists": True},
                "engaged_at": {"$exists": True},
            },
            session=session,
        )
        return [
            EngagedMessage(
                candidate_id=d["candidate_id"],
                source=MessageSource(TouchKind(d["kind"]), d["ref"], d.get("step")),
                engaged_at=d["engaged_at"],
            )
            for d in found
        ]

    async def fold_touches(self, touches: Sequence[TouchChange], *, session: Session) -> None:
        """Keeps each touch's earliest time; a candidate holding `MAX_TOUCHES_PER_CANDIDATE`
        touches gets no new one (the earliest of a batch first)."""
        combined: dict[tuple[str, str], Touch] = {}
        for t in touches:
            before = combined.get((t.candidate_id, t.key))
            combined[(t.candidate_id, t.key)] = t.touch if before is None else min(before, t.touch)
        if not combined:
            return
        stored = await self._room(sorted({c for c, _ in combined}), session)
        existing = await self._touches.find(
            {
                "candidate_id": {"$in": sorted({c for c, _ in combined})},
                "key": {"$in": sorted({k for _, k in combined})},
            },
            projection={"_id": 0, "candidate_id": 1, "key": 1},
            session=session,
        )
        known = {(d["candidate_id"], d["key"]) for d in existing}
        count = {c: int(d.get("touch_count") or 0) for c, d in stored.items()}
        updates: list[tuple[dict[str, Any], dict[str, Any]]] = []
        added: dict[str, int] = {}
        for (candidate_id, key), touch in sorted(combined.items(), key=lambda item: item[1]):
            if (candidate_id, key) not in known:
                if (
                    count.get(candidate_id, 0) + added.get(candidate_id, 0)
                    >= MAX_TOUCHES_PER_CANDIDATE
                ):
                    continue
                added[candidate_id] = added.get(candidate_id, 0) + 1
            updates.append(
                (
                    {"candidate_id": candidate_id, "key": key},
                    {
                        "$min": {"at": touch.at},
                        "$set": {"kind": touch.kind.value, "ref": touch.ref},
                    },
                )
            )
        await self._touches.update_each(updates, upsert=True, session=session)
        await self._journeys.update_each(
            [({"candidate_id": c}, {"$inc": {"touch_count": n}}) for c, n in added.items()],
            upsert=True,
            session=session,
        )

    async def fold_outcomes(self, outcomes: Sequence[OutcomeChange], *, session: Session) -> None:
        """Each application or hire once (its earliest time), with whom it names."""
        updates = []
        for o in outcomes:
            named = {
                k: v
                for k, v in (
                    ("candidate_id", o.candidate_id),
                    (ADDRESS_DIGEST_FIELD, o.address_digest),
                )
                if v
            }
            update: dict[str, Any] = {"$min": {"at": o.at}}
            if named:
                update["$set"] = named
            query = {
                "kind": o.kind.value,
                "connection_id": o.connection_id,
                "ats_application_id": o.ats_application_id,
            }
            updates.append((query, update))
        await self._outcomes.update_each(updates, upsert=True, session=session)

    # Reads.

    async def sourced_between(
        self, start: datetime, end: datetime, by: FunnelBy, *, limit: int
    ) -> list[dict[str, Any]]:
        """The journeys of the candidates sourced in [start, end), at most `limit` of them,
        with what a funnel split by `by` reads of them (`split_values`, `step_times_of`,
        `journey_of`); their times are naive UTC datetimes."""
        return await self._funnel_journeys.find(
            {"sourced_at": {"$gte": start, "$lt": end}},
            projection=_funnel_fields(by),
            limit=limit,
        )

    async def journeys_of(self, candidate_ids: Sequence[str], by: FunnelBy) -> list[dict[str, Any]]:
        """As `sourced_between`, the journeys of these candidates."""
        if not candidate_ids:
            return []
        return await self._funnel_journeys.find_in(
            "candidate_id", candidate_ids, projection=_funnel_fields(by)
        )

    async def holders(self, digests: Sequence[str]) -> dict[str, str]:
        """The candidate holding each address digest: should several hold it, the one sourced
        first (then the smallest id), so the answer does not depend on the order the creations
        were consumed in, and a record created later with the address (a registration or an
        ATS application creating a candidate anew) does not take it from the person it was."""
        if not digests:
            return {}
        found = await self._journeys.find_in(
            "address_digests",
            digests,
            projection={"_id": 0, "candidate_id": 1, "address_digests": 1, "sourced_at": 1},
        )
        wanted = set(digests)
        best: dict[str, tuple[bool, datetime | None, str]] = {}
        for document in found:
            sourced = document.get("sourced_at")
            rank = (sourced is None, sourced, document["candidate_id"])
            for digest in wanted.intersection(document["address_digests"]):
                held = best.get(digest)
                if held is None or _before(rank, held):
                    best[digest] = rank
        return {digest: rank[2] for digest, rank in best.items()}

    async def addresses(self, digests: Sequence[str]) -> dict[str, Journey]:
        """What people known only by these addresses did, by digest (naive UTC times, as
        `sourced_between`)."""
        if not digests:
            return {}
        # A cohort's digests are many: the tenant's address journeys are read whole when it
        # has fewer of them than digests asked (`find_among`).
        found = await self._funnel_addresses.find_among(
            ADDRESS_DIGEST_FIELD, digests, projection={"_id": 0, "tenant_id": 0}
        )
        return {d[ADDRESS_DIGEST_FIELD]: _journey(d, "") for d in found}

    async def count_outcomes(self, kind: Outcome, start: datetime, end: datetime) -> int:
        return await self._outcomes.count({"kind": kind.value, "at": {"$gte": start, "$lt": end}})

    async def outcomes_between(
        self, kind: Outcome, start: datetime, end: datetime
    ) -> list[StoredOutcome]:
        found = await self._outcomes.find(
            {"kind": kind.value, "at": {"$gte": start, "$lt": end}}, sort=[("at", ASCENDING)]
        )
        return [
            StoredOutcome(
                outcome_id=f"{d['connection_id']}:{d['ats_application_id']}",
                candidate_id=d.get("candidate_id"),
                address_digest=d.get(ADDRESS_DIGEST_FIELD),
                at=d["at"],
            )
            for d in found
        ]

    async def touches_of(self, candidate_ids: Sequence[str]) -> dict[str, dict[str, Touch]]:
        """Each candidate's touches, by key (one per broadcast, sequence step, event and the
        sign-up). All of them, not those of a period: the touches of records merged into one
        person are combined per key (the earliest) before any window is applied, so a record's
        touch before the window still hides a later copy of it on another record."""
        if not candidate_ids:
            return {}
        # By candidate alone: with a range on `at` in the query the Rust SecantusDB server took
        # 41 s for 200 candidates among 3.4 million touches, 0.07 s without it
        # (docs/performance.md, "Analytics reports at scale"). A candidate holds at most
        # MAX_TOUCHES_PER_CANDIDATE touches, so the ones read outside a window are bounded.
        found = await self._touches.find_in(
            "candidate_id",
            candidate_ids,
            projection={"_id": 0, "candidate_id": 1, "key": 1, "kind": 1, "ref": 1, "at": 1},
        )
        touches: dict[str, dict[str, Touch]] = {}
        for d in found:
            touches.setdefault(d["candidate_id"], {})[d["key"]] = Touch(
                at=d["at"], kind=TouchKind(d["kind"]), ref=d["ref"]
            )
        return touches


def _before(
    rank: tuple[bool, datetime | None, str], other: tuple[bool, datetime | None, str]
) -> bool:
    """Whether a holder ranks before another: sourced (known) first, earlier, smaller id."""
    if rank[0] != other[0]:
        return not rank[0]
    if rank[1] is not None and other[1] is not None and rank[1] != other[1]:
        return rank[1] < other[1]
    return rank[2] < other[2]


def journey_of(document: Mapping[str, Any]) -> Journey:
    """A stored journey as the domain's."""
    return _journey(document)


def _naive_times(collection: AsyncCollection[Document]) -> AsyncCollection[Document]:
    options = collection.codec_options.with_options(tz_aware=False, tzinfo=None)
    return collection.with_options(codec_options=options)


def _funnel_fields(by: FunnelBy) -> dict[str, int]:
    """What a funnel reads of a journey: its steps, source and addresses, and only the set
    the split needs (a quarter's journeys are read in half the time without the others)."""
    wanted = ["candidate_id", "source", "address_digests", *_STEP_NAMES]
    if by in SPLIT_SETS:
        wanted.append(SPLIT_SETS[by])
    return {"_id": 0, **dict.fromkeys(wanted, 1)}


def step_times_of(document: Mapping[str, Any]) -> StepTimes:
    """A stored journey's time of each step, without building the domain's `Journey`: a
    funnel reads tens of thousands of them per request."""
    return tuple(map(document.get, _STEP_NAMES))  # a time is never stored falsy


def split_values(document: Mapping[str, Any], by: FunnelBy) -> frozenset[str | None]:
    """The funnels of a split a stored journey counts in, as `Journey.values` has them."""
    if by is FunnelBy.NONE:
        return _NO_VALUE
    if by is FunnelBy.SOURCE:
        return frozenset({document.get("source")})
    found = document.get(SPLIT_SETS[by])
    return frozenset(found) if found else _NO_VALUE


_NO_VALUE: frozenset[str | None] = frozenset({None})
