"""The seeded recruiting workload of the analytics-at-scale benchmark, and how it is folded into
the analytics service's stores.

`block_events(block, candidates, end, seed)` is one block of the workload: `candidates`
candidates sourced over the two years before `end` across sources, joining shared talent pools
and segments; the block's broadcasts (an A/B test each) and sequences (three steps, each
enrolment started and ended) sent, opened and clicked by people and by machines, bounced,
replied to; its recruiting events registered for, waitlisted and attended; ATS applications
(some matched by address only), interviews, rejections at a late stage and hires; and a few
merges. Every id of a block carries
its number (`~0007`, always four digits), pools and segments are shared by every block.

`fold(...)` applies events through the service's own folders (the application layer every
subscriber calls, in the consumers' transactions), so what it leaves is what the consumers
leave. `clone_blocks(...)` copies block 0's folded documents as blocks 1..n-1: the same
documents with the block number (and the address digests derived from it) rewritten, and the
tenant-wide rollups (counters, day counts) multiplied. `tests/integration/analytics/
test_bench_workload.py` folds blocks 0..2 directly and compares every collection with block 0
folded and cloned twice: equal, document for document.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import bson
from bson import ObjectId
from pydantic import BaseModel

from crm_analytics.application.activity import ActivityRecorder
from crm_analytics.application.enrolment_reports import EnrolmentReportFolder
from crm_analytics.application.event_reports import EventReportFolder
from crm_analytics.application.journeys import JourneyFolder
from crm_analytics.application.merges import MergeFollower
from crm_analytics.application.message_reports import MessageReportFolder
from crm_analytics.application.pool_health import PoolHealthFolder
from crm_analytics.application.storage import AnalyticsStorage
from crm_analytics.config import AnalyticsSettings
from crm_analytics.handlers import (
    activity,
    enrolment_reports,
    event_reports,
    message_reports,
    pools,
)
from crm_analytics.handlers import journeys as journey_handlers
from crm_shared import (
    ATS_APPLICATION_CREATED,
    ATS_APPLICATION_HIRED,
    ATS_APPLICATION_REJECTED,
    ATS_APPLICATION_STAGE_CHANGED,
    CANDIDATE_CREATED,
    CANDIDATE_MERGED,
    ENROLMENT_ENDED,
    ENROLMENT_STARTED,
    EVENT_ATTENDED,
    EVENT_CHECKED_IN,
    EVENT_REGISTERED,
    EVENT_WAITLISTED,
    MESSAGE_BOUNCED,
    MESSAGE_CLICKED,
    MESSAGE_OPENED,
    MESSAGE_REPLIED,
    MESSAGE_SENT,
    POOL_STAGE_CHANGED,
    SEGMENT_ENTERED,
    AtsApplicationCreated,
    AtsApplicationHired,
    AtsApplicationRejected,
    AtsApplicationStageChanged,
    CandidateCreated,
    CandidateMerged,
    CandidateProfile,
    Database,
    EnrolmentEnded,
    EnrolmentStarted,
    EventAttended,
    EventCheckedIn,
    EventEnvelope,
    EventRegistered,
    EventWaitlisted,
    MessageBounced,
    MessageClicked,
    MessageOpened,
    MessageReplied,
    MessageSent,
    MongoClient,
    PoolStageChanged,
    SegmentEntered,
    Session,
    TopicSpec,
    email_sha256,
    in_transaction,
)

TENANT = "bench-analytics"
DAYS = 730
SOURCES = ("sourced", "referral", "career_site", "event", "ats_import", "job_board")
SOURCE_WEIGHTS = (30, 15, 25, 8, 12, 10)
POOLS = tuple(f"pool-{n}" for n in range(20))
POOL_STAGES = ("New", "Contacted", "Interested", "Shortlisted")
SEGMENTS = tuple(f"segment-{n}" for n in range(10))
BROADCASTS_PER_BLOCK = 24  # one a month, each to a share of the block's candidates
SEQUENCES_PER_BLOCK = 4
EVENTS_PER_BLOCK = 8
# The ATS stages an application passes; "interview" ones count for the funnel, the late ones
# (interview, offer) make a rejected applicant a silver medallist.
ATS_STAGES = ("Application Review", "Recruiter Phone Screen", "Hiring Manager Interview", "Offer")
# The engagement topics (what the "engagement events" are): mail and event activity.
ENGAGEMENT_TOPICS = frozenset(
    t.name
    for t in (
        MESSAGE_SENT,
        MESSAGE_OPENED,
        MESSAGE_CLICKED,
        MESSAGE_BOUNCED,
        MESSAGE_REPLIED,
        EVENT_REGISTERED,
        EVENT_WAITLISTED,
        EVENT_CHECKED_IN,
        EVENT_ATTENDED,
    )
)
# Tenant-wide rollups: one document per counter (and day), summed over the blocks.
# A shared pool's document counts the changes made in it (a guard of concurrent writes), so it
# is summed too.
SUMMED_COLLECTIONS = ("tenant_counters", "daily_counts", "reported_pools")
# Documents of shared things that are the same in every block (written once).
SHARED_COLLECTIONS = ("pool_stage_renames", "analytics_settings")
# What the consumers' bookkeeping and the platform keep, not the analytics stores.
NOT_STORES = frozenset({"consumed_events", "outbox", "leases", "migrations", "processed_events"})


ENVELOPE_PREFIX = "b0b1"


def marker(block: int) -> str:
    return f"~{block:04d}"


@dataclass(frozen=True)
class Block:
    """The ids of one block."""

    number: int

    def id(self, name: str) -> str:
        return f"{name}{marker(self.number)}"

    def email(self, n: int) -> str:
        return f"c{n}{marker(self.number)}@bench.example.org"


def _envelope_id(block: int, n: int) -> UUID:
    """An envelope id with the block number in decimal digits at a fixed place (stored by the
    engagement contributions), rewritten as the other ids are."""
    return UUID(f"{ENVELOPE_PREFIX}{block:04d}-0000-4000-8000-{n:012d}")


def block_events(
    block: int, candidates: int, end: datetime, seed: int = 22
) -> list[EventEnvelope[Any]]:
    """Every event of one block, in time order (a block's ids carry its number; the random
    choices depend on `seed` alone, so every block is the same workload under other ids)."""
    rng = random.Random(seed)
    ids = Block(block)
    start = end - timedelta(days=DAYS)
    events: list[tuple[datetime, int, EventEnvelope[Any]]] = []

    def add(spec: TopicSpec, subject: str, data: BaseModel, at: datetime) -> None:
        n = len(events)
        envelope = EventEnvelope[Any](
            id=_envelope_id(block, n),
            type=spec.name,
            source="bench",
            tenant_id=TENANT,
            subject=subject,
            schema_version=spec.schema_version,
            time=at,
            data=data,
        )
        events.append((at, n, envelope))

    def day(d: float) -> datetime:
        return start + timedelta(days=d)

    broadcasts = [
        (ids.id(f"b{j}"), day((j + 0.5) * DAYS / BROADCASTS_PER_BLOCK))
        for j in range(BROADCASTS_PER_BLOCK)
    ]
    sequences = [ids.id(f"s{j}") for j in range(SEQUENCES_PER_BLOCK)]
    recruiting = [
        (ids.id(f"e{j}"), day((j + 0.7) * DAYS / EVENTS_PER_BLOCK)) for j in range(EVENTS_PER_BLOCK)
    ]
    app = 0
    message = 0

    def mail(cid: str, at: datetime, source: dict[str, Any], template: str) -> datetime | None:
        """A message sent at `at` and what became of it; the time of a human reply, if any."""
        nonlocal message
        message += 1
        ref = {"message_id": ids.id(f"m{message}"), "candidate_id": cid}
        add(MESSAGE_SENT, cid, MessageSent(**ref, template_id=template, subject="Hi", **source), at)
        roll = rng.random()
        if roll < 0.03:
            kind = "hard" if rng.random() < 0.3 else "soft"
            bounce = MessageBounced(**ref, bounce_type=kind, reason="550", source="dsn")
            add(MESSAGE_BOUNCED, cid, bounce, at + timedelta(minutes=2))
            return None
        if rng.random() < 0.2:  # a prefetcher
            add(MESSAGE_OPENED, cid, MessageOpened(**ref, automated=True), at)
        if rng.random() < 0.05:  # a link scanner
            scan = MessageClicked(**ref, link_index=0, url="https://x.test", automated=True)
            add(MESSAGE_CLICKED, cid, scan, at + timedelta(seconds=30))
        replied = None
        if rng.random() < 0.35:
            opened = at + timedelta(hours=rng.uniform(0.1, 72))
            add(MESSAGE_OPENED, cid, MessageOpened(**ref), opened)
            if rng.random() < 0.4:
                click = MessageClicked(**ref, link_index=0, url="https://x.test")
                add(MESSAGE_CLICKED, cid, click, opened + timedelta(minutes=3))
            if rng.random() < 0.08:
                replied = opened + timedelta(hours=rng.uniform(1, 48))
                add(MESSAGE_REPLIED, cid, MessageReplied(**ref, received_at=replied), replied)
        return replied

    merged: list[tuple[int, int]] = []
    for n in range(candidates):
        cid = ids.id(f"c{n}")
        sourced = day(rng.uniform(0, DAYS - 1))
        source = rng.choices(SOURCES, SOURCE_WEIGHTS)[0]
        profile = CandidateCreated(
            candidate_id=cid,
            first_name="C",
            last_name=f"N{n}",
            emails=[ids.email(n)],
            source=source,
        )
        add(CANDIDATE_CREATED, cid, profile, sourced)
        if rng.random() < 0.7:
            pool = rng.choice(POOLS)
            added = sourced + timedelta(hours=rng.uniform(1, 24 * 20))
            stage = POOL_STAGES[0]
            move = {"pool_id": pool, "pool_name": pool.title(), "candidate_id": cid}
            add(
                POOL_STAGE_CHANGED,
                cid,
                PoolStageChanged(**move, to_stage=stage, moved_by="u-1", moved_at=added),
                added,
            )
            for nxt in POOL_STAGES[1:]:
                if rng.random() < 0.4:
                    break
                added += timedelta(days=rng.uniform(1, 30))
                changed = PoolStageChanged(
                    **move, from_stage=stage, to_stage=nxt, moved_by="u-1", moved_at=added
                )
                add(POOL_STAGE_CHANGED, cid, changed, added)
                stage = nxt
            if rng.random() < 0.05:
                added += timedelta(days=rng.uniform(1, 60))
                removed = PoolStageChanged(**move, from_stage=stage, moved_by="u-1", moved_at=added)
                add(POOL_STAGE_CHANGED, cid, removed, added)
        for segment in rng.sample(SEGMENTS, rng.choice((0, 0, 1, 1, 2))):
            entered = SegmentEntered(
                segment_id=segment, segment_name=segment.title(), candidate_id=cid
            )
            add(SEGMENT_ENTERED, cid, entered, sourced + timedelta(hours=rng.uniform(0, 48)))
        # Broadcasts sent after the candidate was sourced: each reaches about a third of them.
        for j, (broadcast, sent) in enumerate(broadcasts):
            if sent > sourced and rng.random() < 0.4:
                at = sent + timedelta(minutes=rng.uniform(0, 120))
                variant = rng.choice("AB")
                mail(
                    cid,
                    at,
                    {"broadcast_id": broadcast, "variant": variant},
                    f"tpl-news-{j % 6}-{variant}",
                )
        if rng.random() < 0.3:
            sequence = rng.choice(sequences)
            at = sourced + timedelta(hours=rng.uniform(1, 72))
            enrolment = {
                "enrolment_id": ids.id(f"en{n}"),
                "sequence_id": sequence,
                "sequence_name": f"Outreach {sequences.index(sequence)}",
                "candidate_id": cid,
                "entry": 1,
                "enrolled_at": at,
            }
            add(ENROLMENT_STARTED, cid, EnrolmentStarted(**enrolment), at)
            ended: EnrolmentEnded | None = None
            for step in range(3):
                if at >= end:
                    break
                replied = mail(
                    cid,
                    at,
                    {
                        "sequence_id": sequence,
                        "enrolment_id": enrolment["enrolment_id"],
                        "step_index": step,
                        "step_label": f"Step {step + 1}",
                    },
                    f"tpl-outreach-{step}",
                )
                if replied is not None:
                    ended = EnrolmentEnded(
                        **enrolment, outcome="exited", exit_reason="replied", ended_at=replied
                    )
                    break
                at += timedelta(days=4)
            else:
                ended = EnrolmentEnded(**enrolment, outcome="completed", ended_at=at)
            if ended is not None and ended.ended_at < end:
                add(ENROLMENT_ENDED, cid, ended, ended.ended_at)
        future = [(e, starts) for e, starts in recruiting if starts > sourced + timedelta(days=3)]
        # About 15% register (and one in forty by address only, as a new registrant does).
        by_address = n % 40 == 3
        if future and (rng.random() < 0.15 or by_address):
            event_id, starts = rng.choice(future)
            registered_at = starts - timedelta(days=rng.uniform(1, 20))
            known = rng.random() > 0.1 and not by_address  # a tenth by address only
            common = {
                "event_id": event_id,
                "event_name": f"Open day {event_id}",
                "registration_id": ids.id(f"r{n}"),
                "candidate_id": cid if known else None,
                "email": ids.email(n),
            }
            if rng.random() < 0.08:
                waitlisted = EventWaitlisted(
                    **common,
                    first_name="C",
                    last_name=f"N{n}",
                    registered_at=registered_at,
                    starts_at=starts,
                )
                add(EVENT_WAITLISTED, cid, waitlisted, registered_at)
            else:
                registered = EventRegistered(
                    **common,
                    first_name="C",
                    last_name=f"N{n}",
                    registered_at=registered_at,
                    starts_at=starts,
                )
                add(EVENT_REGISTERED, cid, registered, registered_at)
                if starts < end and rng.random() < 0.6:
                    checked_in = starts + timedelta(minutes=rng.uniform(0, 60))
                    check = EventCheckedIn(
                        **(common | {"candidate_id": cid}), checked_in_at=checked_in
                    )
                    add(EVENT_CHECKED_IN, cid, check, checked_in)
                    completed = starts + timedelta(hours=3)
                    attended = EventAttended(
                        **(common | {"candidate_id": cid}),
                        tenant_id=TENANT,
                        occurred_at=completed,
                        checked_in_at=checked_in,
                    )
                    add(EVENT_ATTENDED, cid, attended, completed)
        if rng.random() < 0.08:
            app += 1
            applied = sourced + timedelta(days=rng.uniform(2, 90))
            if applied < end:
                by_address = rng.random() < 0.05  # the ATS matched nobody: the address only
                common = {
                    "provider": "greenhouse",
                    "connection_id": "conn-1",
                    "ats_application_id": ids.id(f"app{app}"),
                    "ats_candidate_id": ids.id(f"ats{n}"),
                    "candidate_id": None if by_address else cid,
                    "email": ids.email(n),
                    "job_name": "Engineer",
                }
                created = AtsApplicationCreated(**common, applied_at=applied, stage=ATS_STAGES[0])
                add(ATS_APPLICATION_CREATED, cid, created, applied + timedelta(minutes=10))
                at = applied
                reached = ATS_STAGES[0]
                for stage in ATS_STAGES[1:]:
                    if rng.random() < 0.45:
                        break
                    at += timedelta(days=rng.uniform(2, 10))
                    moved = AtsApplicationStageChanged(
                        **common, stage=stage, from_stage=reached, occurred_at=at
                    )
                    add(ATS_APPLICATION_STAGE_CHANGED, cid, moved, at)
                    reached = stage
                at += timedelta(days=rng.uniform(1, 10))
                if at < end:
                    if reached == "Offer" and rng.random() < 0.6:
                        hired = AtsApplicationHired(**common, stage="Hired", occurred_at=at)
                        add(ATS_APPLICATION_HIRED, cid, hired, at)
                    elif rng.random() < 0.7:
                        rejected = AtsApplicationRejected(
                            **common, stage=reached, occurred_at=at, rejection_reason="fit"
                        )
                        add(ATS_APPLICATION_REJECTED, cid, rejected, at)
        if n % 100 == 50:  # one record in a hundred is merged into another
            merged.append((n, n - 7))
    for n, survivor in merged:
        merge = CandidateMerged(
            merge_id=ids.id(f"merge{n}"),
            survivor_candidate_id=ids.id(f"c{survivor}"),
            merged_candidate_id=ids.id(f"c{n}"),
            survivor=CandidateProfile(
                candidate_id=ids.id(f"c{survivor}"),
                first_name="C",
                last_name=f"N{survivor}",
                emails=[ids.email(survivor), ids.email(n)],
                source="sourced",
            ),
        )
        add(CANDIDATE_MERGED, ids.id(f"c{survivor}"), merge, end - timedelta(days=1))
    events.sort(key=lambda item: (item[0], item[1]))
    return [e for at, _, e in events if at < end]


def _topics(subscriptions: Sequence[tuple[TopicSpec, str, str]]) -> frozenset[str]:
    return frozenset(spec.name for spec, _, _ in subscriptions)


class Folders:
    """The service's folders, each with the topics its subscribers give it."""

    def __init__(self, storage: AnalyticsStorage) -> None:
        settings = AnalyticsSettings()
        model = settings.engagement_model()
        late = tuple(w.casefold() for w in settings.pool_health_late_stage_words)
        self.batched = [
            (_topics(activity.SUBSCRIPTIONS), ActivityRecorder(storage, model).record_batch),
            (_topics(event_reports.SUBSCRIPTIONS), EventReportFolder(storage).record_batch),
            (_topics(message_reports.SUBSCRIPTIONS), MessageReportFolder(storage).record_batch),
            (_topics(pools.SUBSCRIPTIONS), PoolHealthFolder(storage, late).record_batch),
            (_topics(journey_handlers.SUBSCRIPTIONS), JourneyFolder(storage).record_batch),
            (
                _topics(enrolment_reports.SUBSCRIPTIONS),
                EnrolmentReportFolder(storage).record_batch,
            ),
        ]
        self.merges = MergeFollower(storage, model)


async def fold(
    mongo: MongoClient,
    storage: AnalyticsStorage,
    events: Sequence[EventEnvelope[Any]],
    batch_size: int = 500,
) -> None:
    """Applies the events as the subscribers do: each folder gets the batches of its topics
    (in time order, `batch_size` at most, each in a transaction), merges one at a time."""
    folders = Folders(storage)
    for topics, record_batch in folders.batched:
        mine = [e for e in events if e.type in topics]
        for at in range(0, len(mine), batch_size):
            batch = mine[at : at + batch_size]

            async def apply(
                session: Session, batch: Any = batch, record: Any = record_batch
            ) -> None:
                await record(batch, session)

            await in_transaction(mongo, apply)
    for envelope in events:
        if envelope.type == CANDIDATE_MERGED.name:

            async def merge(session: Session, envelope: Any = envelope) -> None:
                await folders.merges.fold(envelope.tenant_id, envelope.data, session=session)

            await in_transaction(mongo, merge)


_DIGEST = re.compile(rb"[0-9a-f]{64}")
_MARKER = marker(0).encode()
_ENVELOPE = f"{ENVELOPE_PREFIX}{0:04d}-".encode()


class Cloner:
    """Block 0's documents as another block's: every id's block number rewritten (the marker
    is the same length in every block, so the BSON is rewritten in place), the digests of the
    block's addresses swapped, fresh ObjectIds."""

    def __init__(self, candidates: int) -> None:
        self._emails = [Block(0).email(n) for n in range(candidates)]
        self._zero = {email_sha256(e).encode(): n for n, e in enumerate(self._emails)}

    def documents(self, raw: Sequence[bytes], block: int) -> list[dict[str, Any]]:
        new = marker(block).encode()
        envelope = f"{ENVELOPE_PREFIX}{block:04d}-".encode()
        digests = {
            digest: email_sha256(self._emails[n].replace(marker(0), marker(block))).encode()
            for digest, n in self._zero.items()
        }

        def swap(found: re.Match[bytes]) -> bytes:
            return digests.get(found.group(0), found.group(0))

        out = []
        for document in raw:
            rewritten = document.replace(_MARKER, new).replace(_ENVELOPE, envelope)
            rewritten = _DIGEST.sub(swap, rewritten)
            decoded: dict[str, Any] = bson.decode(rewritten)
            if isinstance(decoded.get("_id"), ObjectId):
                decoded["_id"] = ObjectId()
            out.append(decoded)
        return out


def _summed(document: dict[str, Any], blocks: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in document.items():
        if key == "_id" or isinstance(value, bool):
            out[key] = value
        elif isinstance(value, int | float):
            out[key] = value * blocks
        elif isinstance(value, dict):
            out[key] = _summed(value, blocks)
        else:
            out[key] = value
    return out


async def store_collections(database: Database) -> list[str]:
    names = await database.list_collection_names()
    return sorted(n for n in names if n not in NOT_STORES and not n.startswith("system."))


async def clone_blocks(
    source: Database,
    target: Database,
    candidates: int,
    blocks: int,
    *,
    first: int = 0,
    chunk: int = 5000,
    progress: Any = None,
) -> int:
    """Writes block 0 of `source` into `target` as blocks `first`..`blocks`-1 (block 0 itself
    when `first` is 0) and the summed rollups; returns the documents written."""
    cloner = Cloner(candidates)
    written = 0
    for name in await store_collections(source):
        raw = [bson.encode(d) async for d in source[name].find({}, sort=[("_id", 1)])]
        if not raw:
            continue
        if name in SUMMED_COLLECTIONS:
            if first == 0:
                await target[name].insert_many([_summed(bson.decode(r), blocks) for r in raw])
                written += len(raw)
            continue
        if name in SHARED_COLLECTIONS:
            if first == 0:
                await target[name].insert_many([bson.decode(r) for r in raw])
                written += len(raw)
            continue
        for block in range(first, blocks):
            documents = cloner.documents(raw, block)
            for at in range(0, len(documents), chunk):
                await target[name].insert_many(documents[at : at + chunk], ordered=False)
            written += len(documents)
        if progress is not None:
            progress(name, written)
    return written
