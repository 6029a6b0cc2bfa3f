"""MongoDB access to the applications and hires analytics learnt from the ATS topics, kept
to tell what followed a recruiting event."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pymongo import ASCENDING

from crm_analytics.domain.event_report import Milestone
from crm_shared import (
    ADDRESS_DIGEST_FIELD,
    Database,
    Session,
    TenantScopedCollection,
    email_sha256,
)

MILESTONES_COLLECTION = "ats_milestones"


class MilestoneKind(StrEnum):
    APPLICATION = "application"
    HIRE = "hire"


@dataclass(frozen=True)
class ReportedMilestone:
    """One application created, or one hire, in a connected ATS."""

    kind: MilestoneKind
    connection_id: str
    ats_application_id: str
    candidate_id: str | None
    email: str | None
    at: datetime


async def ensure_milestone_indexes(database: Database) -> None:
    """One document per application and kind, found by candidate and by address."""
    milestones = database[MILESTONES_COLLECTION]
    await milestones.create_index(
        [
            ("tenant_id", ASCENDING),
            ("kind", ASCENDING),
            ("connection_id", ASCENDING),
            ("ats_application_id", ASCENDING),
        ],
        unique=True,
    )
    await milestones.create_index([("tenant_id", ASCENDING), ("candidate_id", ASCENDING)])
    await milestones.create_index([("tenant_id", ASCENDING), ("email", ASCENDING)])


class MilestoneRepository:
    """One tenant's applications and hires: a redelivered one is the same document, and the
    candidate an ATS matched later is added to it."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._milestones = TenantScopedCollection(database[MILESTONES_COLLECTION], tenant_id)

    async def record(self, milestones: Sequence[ReportedMilestone], *, session: Session) -> None:
        """Keeps each milestone once (its earliest time), in one bulk write."""
        combined: dict[tuple[str, str, str], dict[str, Any]] = {}
        for m in milestones:
            key = (m.kind.value, m.connection_id, m.ats_application_id)
            update = combined.setdefault(key, {"$min": {"at": m.at}})
            update["$min"]["at"] = min(update["$min"]["at"], m.at)
            digest = email_sha256(m.email) if m.email else None  # for the erasure
            named = {
                k: v
                for k, v in (
                    ("candidate_id", m.candidate_id),
                    ("email", m.email),
                    (ADDRESS_DIGEST_FIELD, digest),
                )
                if v
            }
            if named:
                update.setdefault("$set", {}).update(named)
        if combined:
            await self._milestones.update_each(
                [
                    (
                        {"kind": kind, "connection_id": connection, "ats_application_id": ats_id},
                        update,
                    )
                    for (kind, connection, ats_id), update in combined.items()
                ],
                upsert=True,
                session=session,
            )

    async def of_people(
        self, kind: MilestoneKind, candidate_ids: Sequence[str], emails: Sequence[str]
    ) -> list[Milestone]:
        """The milestones of a kind naming any of the candidates or addresses."""
        if not candidate_ids and not emails:
            return []
        fields = {"candidate_id": 1, "email": 1, "at": 1, "kind": 1}
        # By candidate and by address alone, the kind checked here: with `kind` in the query the
        # Rust SecantusDB server took 0.2-0.4 s a lookup among 36,000 milestones, 2-6 ms without
        # it (docs/performance.md, "Analytics reports at scale").
        # A milestone naming one of the candidates and one of the addresses is found twice.
        found = {
            d["_id"]: d
            for d in (
                *await self._milestones.find_in("candidate_id", candidate_ids, projection=fields),
                *await self._milestones.find_in("email", emails, projection=fields),
            )
            if d["kind"] == kind.value
        }
        return [Milestone(d.get("candidate_id"), d.get("email"), d["at"]) for d in found.values()]
