"""Pool health's two ways of reading against SecantusDB: a small report asks for its members'
merges, addresses and applications by id; a large one reads the tenant's merges and its
applications naming no candidate whole. Both give the same figures, merges of merges and
applications known by address alone included."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from crm_analytics.application.pool_health import pool_reports
from crm_analytics.application.storage import AnalyticsStorage
from crm_analytics.config import AnalyticsSettings
from crm_analytics.domain.pool_health import HealthRules
from crm_analytics.repositories import ensure_indexes
from crm_shared import ADDRESS_DIGEST_FIELD, email_sha256, utc_now
from helpers import unique
from integration.service_storage import service_storage

pytestmark = pytest.mark.integration

DAY = timedelta(days=1)


@pytest.fixture
async def storage(mongodb_uri: str) -> AsyncIterator[AnalyticsStorage]:
    settings = AnalyticsSettings(mongodb_uri=mongodb_uri, mongodb_database=unique("analytics"))
    async with service_storage(settings, ensure_indexes) as built:
        yield AnalyticsStorage(database=built.database, outbox=built.outbox)


async def _seed(storage: AnalyticsStorage, tenant: str, now: datetime) -> None:
    """Members merged into members and non-members (a chain of two merges), applications
    naming a merged record, and applications known by address alone: held by a member, by two
    candidates (the smaller id holds it), by a merged record, by no one, or with no address."""
    db = storage.database

    def ago(days: float) -> datetime:
        return now - days * DAY

    def member(pool: str, who: str, stage: str | None, added: float) -> dict[str, Any]:
        removed = [] if stage else [ago(added / 2)]
        moved = ago(added / 2) if removed else ago(added)
        return {
            "pool_id": pool,
            "candidate_id": who,
            "stage": stage,
            "moved_at": moved,
            "added": [ago(added)],
            "removed": removed,
        }

    memberships = [
        member("p-big", "a", "New", 5),
        member("p-big", "b", "Contacted", 10),  # merged into a: a's own stage counts
        member("p-big", "c", "Contacted", 40),  # merged into d, who is no member
        member("p-big", "e", "New", 100),  # merged into f, merged into g
        member("p-big", "h", "New", 3),
        member("p-big", "i", "Contacted", 8),
        member("p-big", "jb", "New", 20),
        member("p-big", "m", "New", 60),
        member("p-big", "q", None, 20),  # left
        member("p-other", "k", "Sourced", 1),
        member("p-other", "jb", "Sourced", 1),
    ]
    await db["pool_members"].insert_many([{"tenant_id": tenant, **m} for m in memberships])
    await db["reported_pools"].insert_many(
        [
            {"tenant_id": tenant, "pool_id": p, "name": n, "named_at": ago(200), "changes": 1}
            for p, n in (("p-big", "Big pool"), ("p-other", "Other pool"))
        ]
    )
    merges = {"b": "a", "x": "a", "c": "d", "e": "f", "f": "g", "y": "m"}
    await db["engagement_merged_candidates"].insert_many(
        [
            {"tenant_id": tenant, "merged_id": m, "survivor_id": s, "merge_id": f"merge-{m}"}
            for m, s in merges.items()
        ]
    )
    addresses = {
        "h": ["h@example.org"],
        "i": ["shared@example.org", "i@example.org"],
        "k": ["shared@example.org"],
        "ja": ["twice@example.org"],
        "jb": ["twice@example.org"],
        "y": ["y@example.org"],
        "m": ["m@example.org"],
    }
    await db["known_candidates"].insert_many(
        [
            {
                "tenant_id": tenant,
                "candidate_id": who,
                "source": "sourced",
                "email_sha256": sorted(email_sha256(e) for e in emails),
            }
            for who, emails in addresses.items()
        ]
    )

    def application(
        n: int,
        who: str | None,
        email: str | None,
        status: str,
        at: float,
        *,
        late: bool = False,
    ) -> dict[str, Any]:
        return {
            "tenant_id": tenant,
            "connection_id": "conn-1",
            "ats_application_id": f"app-{n}",
            "candidate_id": who,
            "email": email,
            ADDRESS_DIGEST_FIELD: email_sha256(email) if email else None,
            "prospect": False,
            "status": status,
            "status_at": ago(at),
            "late_rejected_at": ago(at) if late else None,
            "hired_at": ago(at) if status == "hired" else None,
        }

    await db["ats_outcomes"].insert_many(
        [
            application(1, "x", None, "rejected", 20, late=True),  # a's, by merge
            application(2, None, "h@example.org", "rejected", 30, late=True),  # h's
            application(3, None, "shared@example.org", "rejected", 15, late=True),  # i's
            application(4, None, "twice@example.org", "rejected", 12, late=True),  # ja's
            application(5, "f", None, "rejected", 50, late=True),  # g's
            application(12, "e", None, "open", 40),  # g's too (two merges): g is not silver
            application(6, "c", None, "rejected", 70, late=True),  # d's, hired since
            application(7, "d", None, "hired", 10),
            application(8, None, "y@example.org", "rejected", 25, late=True),  # y's: m's
            application(9, None, "nobody@example.org", "rejected", 5, late=True),
            application(10, None, None, "rejected", 5, late=True),
            application(11, "q", None, "rejected", 5, late=True),  # left the pool
        ]
    )
    await db["engagement_scores"].insert_many(
        [
            {
                "tenant_id": tenant,
                "candidate_id": who,
                "exact_score": score,
                "score": score,
                "scored_at": ago(0),
                "last_activity_at": ago(last),
                "peak_score": peak,
            }
            for who, score, last, peak in (("a", 3.0, 70, 15.0), ("g", 20.0, 2, 20.0))
        ]
    )


async def test_large_reads_give_the_figures_asking_by_id_gives(
    storage: AnalyticsStorage,
) -> None:
    tenant = unique("tenant")
    now = utc_now()
    await _seed(storage, tenant, now)
    model = AnalyticsSettings().engagement_model()
    rules = HealthRules()
    for pools in (None, ["p-big"]):
        by_id = await pool_reports(storage, model, tenant, pools, rules, now)
        whole = await pool_reports(storage, model, tenant, pools, rules, now, whole_reads_above=0)
        assert whole == by_id
    big = by_id[0].health
    assert big.size == 7  # a (with b), d (c), g (e), h, i, jb, m
    assert big.by_stage == {"Contacted": 2, "New": 5}
    # Latest rejection first: i (15 days), a (20, x's), m (25, y's address), h (30); not g
    # (f rejected, e's application open), d (hired since), jb (the address is ja's, the
    # smaller id), q (left).
    assert big.silver_medallists.candidate_ids == ["i", "a", "m", "h"]
    assert big.going_cold.candidate_ids == ["a"]
    assert [(g.days, g.added, g.removed) for g in big.growth] == [
        (7, 2, 0),
        (30, 5, 1),
        (90, 7, 1),
    ]
