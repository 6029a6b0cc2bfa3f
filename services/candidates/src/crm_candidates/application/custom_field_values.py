"""Custom field values stored before campaigns kept them reach campaigns (a migration).

Every `candidate.created`/`candidate.updated` always carried a candidate's `custom_fields`, but
campaigns' recipient projection kept them only from December 2026, when templates began merging
them (`candidate.custom_fields.<key>`). A candidate not changed since holds values campaigns never
learnt. This migration stages `candidate.custom_fields_backfilled` for every active candidate
holding a value, and campaigns fills its projection with them where it never learnt any: never
over values a newer profile event brought, whichever of the two it consumes first.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from crm_candidates.domain.models import CandidateStatus
from crm_candidates.publishers import custom_fields_backfilled_envelope
from crm_candidates.repositories.collections import CANDIDATES_COLLECTION
from crm_shared import (
    Database,
    Document,
    EventEnvelope,
    MigrationProgress,
    MongoClient,
    Outbox,
    Session,
    in_transaction,
)
from crm_shared.windows import batches_in_id_order

logger = logging.getLogger(__name__)


def holds_values(custom_fields: dict[str, Any] | None) -> bool:
    """Whether any custom field has a value: a merge field prints nothing for None, empty text
    and no choices, so a record holding only those has nothing to send."""
    return any(value not in (None, "", []) for value in (custom_fields or {}).values())


async def backfill_custom_field_values(
    mongo: MongoClient, database: Database, outbox: Outbox, *, version: int, batch: int = 500
) -> int:
    """Stages `candidate.custom_fields_backfilled` for every active candidate holding a custom
    field value, with its whole `custom_fields` as profile events carry them; returns how many.

    Deliberately cross-tenant (a migration's walk in `_id` order), each event carrying its
    candidate's tenant. Each batch's events are staged in one transaction with how far the walk
    got (`MigrationProgress` of `version`), so a run stopped part-way resumes after the last
    batch it committed and no candidate's event is staged twice.
    """
    progress = MigrationProgress(database, version)
    staged = 0
    walk = batches_in_id_order(
        database[CANDIDATES_COLLECTION],
        {"tenant_id": 1, "status": 1, "custom_fields": 1},
        batch=batch,
        after=await progress.after(),
    )
    async for documents in walk:
        envelopes = [
            custom_fields_backfilled_envelope(
                outbox, str(document["tenant_id"]), str(document["_id"]), document["custom_fields"]
            )
            for document in documents
            if _is_active(document) and holds_values(document.get("custom_fields"))
        ]
        await in_transaction(mongo, _staging(outbox, progress, envelopes, documents[-1]["_id"]))
        if envelopes:
            outbox.notify_committed()
        staged += len(envelopes)
    if staged:
        logger.info("sent the custom field values of %d candidates to their projections", staged)
    return staged


def _is_active(document: Document) -> bool:
    # Records stored before statuses existed are live people (`backfill_derived_fields`).
    return str(document.get("status", CandidateStatus.ACTIVE.value)) == CandidateStatus.ACTIVE


def _staging(
    outbox: Outbox, progress: MigrationProgress, envelopes: list[EventEnvelope[Any]], last: Any
) -> Callable[[Session], Awaitable[None]]:
    """One batch's work in its transaction: its events, and that the walk got past it."""

    async def stage(session: Session) -> None:
        if envelopes:
            await outbox.add_many(envelopes, session=session)
        await progress.save(last, session=session)

    return stage
