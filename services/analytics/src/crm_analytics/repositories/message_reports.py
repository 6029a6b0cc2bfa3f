"""MongoDB access to the message reports: the index of each message's facts, and the daily
rollup of every source's counts the reports are read from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from pymongo import ASCENDING

from crm_analytics.domain.message_report import (
    Figure,
    MessageFacts,
    MessageFigures,
    MessageSource,
    RollupRow,
    SourceKind,
)
from crm_shared import Database, Session, TenantScopedCollection

MESSAGE_INDEX_COLLECTION = "message_index"
MESSAGE_ROLLUP_COLLECTION = "message_report_days"

_TIMES = (
    "sent_at",
    "hard_bounced_at",
    "soft_bounced_at",
    "opened_at",
    "clicked_at",
    "machine_opened_at",
    "machine_clicked_at",
    "replied_at",
    "unsubscribed_at",
    "complained_at",
    "suppressed_at",
)
# What tells one rollup row from another besides the day (the step's label is not: it may be
# renamed).
_ROW_KEY = ("kind", "source_id", "step_index", "variant", "template_id")


async def ensure_message_report_indexes(database: Database) -> None:
    """One index document per tenant and message; one rollup row per source and day, found by
    template too."""
    await database[MESSAGE_INDEX_COLLECTION].create_index(
        [("tenant_id", ASCENDING), ("message_id", ASCENDING)], unique=True
    )
    rollup = database[MESSAGE_ROLLUP_COLLECTION]
    await rollup.create_index(
        [("tenant_id", ASCENDING), *((name, ASCENDING) for name in _ROW_KEY), ("day", ASCENDING)],
        unique=True,
    )
    await rollup.create_index(
        [("tenant_id", ASCENDING), ("template_id", ASCENDING), ("day", ASCENDING)]
    )


async def unrated_messages(database: Database, limit: int) -> list[tuple[str, str]]:
    """Up to `limit` messages (tenant, message id) of every tenant not yet counted in the rates'
    numerators: the migration's walk (deliberately cross-tenant)."""
    found = (
        await database[MESSAGE_INDEX_COLLECTION]
        .find({"rated": {"$ne": True}}, {"tenant_id": 1, "message_id": 1}, limit=limit)
        .to_list()
    )
    return [(document["tenant_id"], document["message_id"]) for document in found]


def _source_fields(source: MessageSource) -> dict[str, Any]:
    return {
        "kind": source.kind.value,
        "source_id": source.source_id,
        "step_index": source.step_index,
        "variant": source.variant,
        "template_id": source.template_id,
    }


def _source(document: Mapping[str, Any]) -> MessageSource:
    return MessageSource(
        kind=SourceKind(document["kind"]),
        source_id=document["source_id"],
        template_id=document["template_id"],
        variant=document.get("variant"),
        step_index=document.get("step_index"),
        step_label=document.get("step_label"),
    )


def _facts(document: Mapping[str, Any]) -> MessageFacts:
    return MessageFacts(
        message_id=document["message_id"],
        candidate_id=document.get("candidate_id"),
        source=_source(document) if "kind" in document else None,
        **{name: document.get(name) for name in _TIMES},
        rated=bool(document.get("rated")),
    )


def _facts_update(facts: MessageFacts) -> dict[str, Any]:
    """The facts as operators that commute (times keep their earliest value)."""
    update: dict[str, Any] = {}
    earliest = {name: getattr(facts, name) for name in _TIMES if getattr(facts, name)}
    if earliest:
        update["$min"] = earliest
    told: dict[str, Any] = {}
    if facts.candidate_id is not None:
        told["candidate_id"] = facts.candidate_id
    if facts.rated:
        told["rated"] = True
    if facts.source is not None:
        told |= _source_fields(facts.source) | {"step_label": facts.source.step_label}
    if told:
        update["$set"] = told
    return update or {"$setOnInsert": {"message_id": facts.message_id}}


def _day_range(first_day: date | None, last_day: date | None) -> dict[str, Any]:
    days: dict[str, str] = {}
    if first_day is not None:
        days["$gte"] = first_day.isoformat()
    if last_day is not None:
        days["$lte"] = last_day.isoformat()
    return {"day": days} if days else {}


def _scope(
    kind: SourceKind | None, source_id: str | None, template_id: str | None
) -> dict[str, Any]:
    query: dict[str, Any] = {}
    if kind is not None:
        query["kind"] = kind.value
    if source_id is not None:
        query["source_id"] = source_id
    if template_id is not None:
        query["template_id"] = template_id
    return query


class MessageReportRepository:
    """One tenant's message index and daily message rollup."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._index = TenantScopedCollection(database[MESSAGE_INDEX_COLLECTION], tenant_id)
        self._rollup = TenantScopedCollection(database[MESSAGE_ROLLUP_COLLECTION], tenant_id)

    async def facts(
        self, message_ids: Sequence[str], *, session: Session
    ) -> dict[str, MessageFacts]:
        """What is known of each of the messages (those known at all)."""
        found = await self._index.find({"message_id": {"$in": list(message_ids)}}, session=session)
        return {document["message_id"]: _facts(document) for document in found}

    async def record_facts(self, facts: Sequence[MessageFacts], *, session: Session) -> None:
        """Stores each message's facts (merged with what is stored) in one bulk write."""
        if facts:
            await self._index.update_each(
                [({"message_id": f.message_id}, _facts_update(f)) for f in facts],
                upsert=True,
                session=session,
            )

    async def add(
        self,
        changes: Mapping[tuple[MessageSource, date], Mapping[Figure, int]],
        *,
        session: Session,
    ) -> None:
        """Adds each (source, day)'s differences to its rollup row in one bulk write."""
        updates = []
        for (source, day), by in changes.items():
            update: dict[str, Any] = {"$inc": {figure.value: n for figure, n in by.items()}}
            if source.step_label is not None:
                update["$set"] = {"step_label": source.step_label}
            updates.append(({**_source_fields(source), "day": day.isoformat()}, update))
        if updates:
            await self._rollup.update_each(updates, upsert=True, session=session)

    async def rows(
        self,
        kind: SourceKind | None,
        source_id: str | None,
        template_id: str | None,
        *,
        first_day: date | None = None,
        last_day: date | None = None,
    ) -> list[RollupRow]:
        """The rollup rows of a broadcast or sequence (`kind`, `source_id`) or of a template,
        within the days given (both included)."""
        query = _scope(kind, source_id, template_id) | _day_range(first_day, last_day)
        found = await self._rollup.find(query, sort=[("day", ASCENDING)])
        return [
            RollupRow(
                source=_source(document),
                day=date.fromisoformat(document["day"]),
                figures=MessageFigures.of(document),
            )
            for document in found
        ]

    async def known(
        self, kind: SourceKind | None, source_id: str | None, template_id: str | None
    ) -> bool:
        """Whether any message of the broadcast, sequence or template was sent (or stopped by
        a send rule)."""
        found = await self._rollup.find_one(_scope(kind, source_id, template_id))
        return found is not None
