"""Pool health and the decaying engagement score, with the analytics service served over HTTP
on the real broker and database.

A seeded set of pool moves (a stage renamed, a member removed, an erased one),
replies and ATS outcomes is published on the topics; every figure of both pools' health then
equals what the test computes on its own from the same facts, as JSON and as CSV. With a
half-life of seconds, a reply's score is published again on `engagement.scored` as it decays,
one step lower each time, down to 0."""

from __future__ import annotations

import csv
import io
import itertools
import json
import statistics
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import BaseModel

from crm_analytics.config import AnalyticsSettings
from crm_analytics.main import create_app
from crm_devstack.infra import free_ports
from crm_shared import (
    ATS_APPLICATION_CREATED,
    ATS_APPLICATION_HIRED,
    ATS_APPLICATION_REJECTED,
    CANDIDATE_CREATED,
    CANDIDATE_ERASED,
    CANDIDATE_MERGED,
    ENGAGEMENT_SCORED,
    MESSAGE_REPLIED,
    POOL_STAGE_CHANGED,
    POOL_STAGE_RENAMED,
    AtsApplicationCreated,
    AtsApplicationHired,
    AtsApplicationRejected,
    CandidateCreated,
    CandidateErased,
    CandidateMerged,
    CandidateProfile,
    EventEnvelope,
    MessageReplied,
    PoolStageChanged,
    PoolStageRenamed,
    Principal,
    TopicSpec,
    email_sha256,
    utc_now,
)
from helpers import eventually, serving, unique
from internal_keys import INTERNAL_TOKEN_PUBLIC_KEY, internal_bearer

pytestmark = pytest.mark.integration

HALF_LIFE_DAYS = 30.0
REPLY_WEIGHT = 8.0
FLOOR = AnalyticsSettings.model_fields["engagement_republish_floor"].default
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Service:
    client: httpx.AsyncClient
    tenant: str
    principal: Principal

    @property
    def viewer(self) -> dict[str, str]:
        """A fresh token each call: the internal ones are short-lived."""
        return internal_bearer(self.principal, "analytics")


def _settings(mongodb_uri: str, kafka: str, **more: Any) -> AnalyticsSettings:
    return AnalyticsSettings(
        mongodb_uri=mongodb_uri,
        mongodb_database=unique("analytics_pools"),
        kafka_bootstrap_servers=kafka,
        kafka_group_prefix=unique("analytics-pools"),
        internal_token_public_key=INTERNAL_TOKEN_PUBLIC_KEY,
        environment="development",
        outbox_poll_interval_seconds=0.2,
        log_json=False,
        **more,
    )


@asynccontextmanager
async def _served(settings: AnalyticsSettings) -> AsyncIterator[Service]:
    (port,) = free_ports(1)
    tenant = unique("tenant")
    viewer = Principal(tenant_id=tenant, user_id="vera", roles=frozenset({"viewer"}))
    async with (
        serving(create_app(settings), port) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        yield Service(client, tenant, viewer)


async def _publish(kafka: str, envelopes: list[EventEnvelope[Any]]) -> None:
    """Publishes the envelopes as their services would (keyed by subject), times as given."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all")
    await producer.start()
    try:
        for envelope in envelopes:
            await producer.send_and_wait(
                envelope.type, envelope.model_dump_json().encode(), key=envelope.subject.encode()
            )
    finally:
        await producer.stop()


class Seed:
    """The facts of the scenario, as published and as the test's own computation reads them."""

    def __init__(self, tenant: str, now: datetime) -> None:
        self.tenant = tenant
        self.now = now
        self.envelopes: list[EventEnvelope[Any]] = []
        # (pool, candidate, from, to, days ago); renames: (pool, from, to, days ago)
        self.moves: list[tuple[str, str, str | None, str | None, float]] = []
        self.renames: list[tuple[str, str, str, float]] = []
        self.replies: dict[str, list[float]] = {}  # candidate: days ago of each reply
        # (whose, applied days ago, outcome, stage reached, days ago of the outcome)
        self.applications: list[tuple[str, float, str, str, float]] = []
        self.merged: dict[str, str] = {}
        self.erased: set[str] = set()

    def at(self, days: float) -> datetime:
        return self.now - days * DAY

    def add(self, spec: TopicSpec, subject: str, data: BaseModel, days: float = 0) -> None:
        self.envelopes.append(
            EventEnvelope[Any](
                type=spec.name,
                source="tests",
                tenant_id=self.tenant,
                subject=subject,
                schema_version=spec.schema_version,
                time=self.at(days),
                data=data,
            )
        )

    def candidate(self, candidate_id: str) -> None:
        self.add(
            CANDIDATE_CREATED,
            candidate_id,
            CandidateCreated(
                candidate_id=candidate_id,
                first_name="Zoë",
                last_name=candidate_id,
                emails=[email(candidate_id)],
                source="sourced",
            ),
            days=400,
        )

    def move(self, pool: str, who: str, before: str | None, after: str | None, days: float) -> None:
        self.moves.append((pool, who, before, after, days))
        self.add(
            POOL_STAGE_CHANGED,
            who,
            PoolStageChanged(
                pool_id=pool,
                pool_name=POOL_NAMES[pool],
                candidate_id=who,
                from_stage=before,
                to_stage=after,
                moved_by="u-1",
                moved_at=self.at(days),
            ),
            days,
        )

    def rename(self, pool: str, before: str, after: str, days: float) -> None:
        self.renames.append((pool, before, after, days))
        self.add(
            POOL_STAGE_RENAMED,
            pool,
            PoolStageRenamed(
                pool_id=pool,
                pool_name=POOL_NAMES[pool],
                from_stage=before,
                to_stage=after,
                renamed_by="u-1",
                renamed_at=self.at(days),
            ),
            days,
        )

    def reply(self, who: str, days: float) -> None:
        self.replies.setdefault(who, []).append(days)
        self.add(
            MESSAGE_REPLIED,
            who,
            MessageReplied(message_id=unique("m"), candidate_id=who, received_at=self.at(days)),
            days,
        )

    def application(
        self,
        who: str,
        *,
        named: bool = True,
        applied: float,
        outcome: str,
        stage: str = "",
        days: float = 0,
    ) -> None:
        application_id = unique("app")
        candidate_id = who if named else None
        self.applications.append((who, applied, outcome, stage, days))
        common: dict[str, Any] = {
            "provider": "greenhouse",
            "connection_id": "conn-1",
            "ats_application_id": application_id,
            "ats_candidate_id": f"ats-{who}",
            "candidate_id": candidate_id,
            "email": email(who),
        }
        self.add(
            ATS_APPLICATION_CREATED,
            application_id,
            AtsApplicationCreated(**common, applied_at=self.at(applied), stage="Applied"),
            applied,
        )
        if outcome == "rejected":
            self.add(
                ATS_APPLICATION_REJECTED,
                application_id,
                AtsApplicationRejected(**common, stage=stage, occurred_at=self.at(days)),
                days,
            )
        elif outcome == "hired":
            self.add(
                ATS_APPLICATION_HIRED,
                application_id,
                AtsApplicationHired(**common, stage=stage, occurred_at=self.at(days)),
                days,
            )

    def merge(self, merged: str, survivor: str) -> None:
        self.merged[merged] = survivor
        self.add(
            CANDIDATE_MERGED,
            survivor,
            CandidateMerged(
                merge_id=unique("merge"),
                survivor_candidate_id=survivor,
                merged_candidate_id=merged,
                survivor=CandidateProfile(
                    candidate_id=survivor,
                    first_name="Zoë",
                    last_name=survivor,
                    emails=[email(survivor), email(merged)],
                    source="sourced",
                ),
            ),
        )

    def erase(self, who: str) -> None:
        self.erased.add(who)
        self.add(
            CANDIDATE_ERASED,
            who,
            CandidateErased(
                candidate_id=who, email_sha256=[email_sha256(email(who))], erased_at=self.now
            ),
        )


POOL_NAMES = {"p-backend": "Backend engineers", "p-data": "Data people"}
# The stages of the scenario that are an interview or later.
LATE = {"Hiring Manager Interview", "On-site interview", "Final Interview", "Offer"}


def email(who: str) -> str:
    return f"{who}@example.org"


def scenario(tenant: str, now: datetime) -> Seed:
    seed = Seed(tenant, now)
    for who in ("c1", "c2", "c3", "c4", "c5", "c6", "c7", "m1", "e1"):
        seed.candidate(who)
    # Backend: c1 contacted long ago (the stage renamed since), c2 new, m1 long a member, c3
    # added and removed, c4 added at the renamed stage, c5 and e1 (erased) recent, c6 added 8
    # days ago.
    seed.move("p-backend", "c1", None, "Sourced", 100)
    seed.move("p-backend", "c1", "Sourced", "Contacted", 50)
    seed.move("p-backend", "c2", None, "Sourced", 5)
    seed.move("p-backend", "m1", None, "Contacted", 200)
    seed.move("p-backend", "c3", None, "Sourced", 20)
    seed.move("p-backend", "c3", "Sourced", None, 3)
    seed.move("p-backend", "c4", None, "Contacted", 60)
    seed.rename("p-backend", "Contacted", "Reached out", 30)
    seed.move("p-backend", "c5", None, "Sourced", 10)
    seed.move("p-backend", "e1", None, "Sourced", 10)
    seed.move("p-backend", "c6", None, "Reached out", 8)
    # Data: c1 new, c7 long a member.
    seed.move("p-data", "c1", None, "New", 2)
    seed.move("p-data", "c7", None, "New", 95)
    # Replies: c1 engaged long ago (cold), c2 lately, m1 40 days ago, c4 once 70
    # days ago (a peak of exactly 8: not engaged enough to go cold), c6 thrice 100 days ago,
    # c7 lately, e1 (erased).
    for days in (150.0, 140.0, 130.0):
        seed.reply("c1", days)
    seed.reply("c2", 2)
    seed.reply("m1", 40)
    seed.reply("c4", 70)
    for days in (101.0, 100.5, 100.0):
        seed.reply("c6", days)
    seed.reply("c7", 12)
    seed.reply("e1", 1)
    # ATS: c4 rejected at the final interview (silver); c1 rejected at a phone screen (not);
    # c5 rejected on-site, the ATS naming only the address (silver); m1 rejected at the offer
    # (silver; c2's open application is c2's); c7 rejected at an interview, hired
    # since elsewhere (not); c3 rejected at an interview but left the pool.
    seed.application("c4", applied=300, outcome="rejected", stage="Final Interview", days=200)
    seed.application("c1", applied=200, outcome="rejected", stage="Phone screen", days=180)
    seed.application(
        "c5", named=False, applied=100, outcome="rejected", stage="On-site interview", days=90
    )
    seed.application("m1", applied=90, outcome="rejected", stage="Offer", days=60)
    seed.application("c2", applied=10, outcome="open")
    seed.application(
        "c7", applied=80, outcome="rejected", stage="Hiring Manager Interview", days=50
    )
    seed.application("c7", applied=40, outcome="hired", stage="Offer", days=10)
    seed.application("c3", applied=80, outcome="rejected", stage="Final Interview", days=70)
    return seed


def expected_health(seed: Seed, pool: str, as_of: datetime) -> dict[str, Any]:
    """The pool's figures computed here from the seeded facts, step by step."""

    def person(who: str) -> str:
        return seed.merged.get(who, who)

    moves = [m for m in seed.moves if m[0] == pool and m[1] not in seed.erased]
    stage: dict[str, tuple[float, str | None]] = {}  # record: (days ago, stage) of latest move
    for _, who, _, after, days in moves:
        if who not in stage or days < stage[who][0]:
            stage[who] = (days, after)
    for rename_pool, before, after, renamed in seed.renames:
        for who, (days, now_at) in stage.items():
            if rename_pool == pool and now_at == before and days > renamed:
                stage[who] = (days, after)
    members: dict[str, str] = {}
    for who, (_, at) in sorted(stage.items(), key=lambda s: s[0] != person(s[0])):
        if at is not None:
            members.setdefault(person(who), at)  # the survivor's own membership first
    by_stage: dict[str, int] = {}
    for at in members.values():
        by_stage[at] = by_stage.get(at, 0) + 1
    now_days = (seed.now - as_of) / DAY  # <= 0: the report's now is after the seed's
    growth = []
    for window in (7, 30, 90):
        added = {
            person(w) for _, w, before, _, d in moves if before is None and d - now_days < window
        }
        left = {person(w) for _, w, _, after, d in moves if after is None and d - now_days < window}
        growth.append({"days": window, "added": len(added), "removed": len(left - set(members))})
    replies: dict[str, list[float]] = {}
    for who, times in seed.replies.items():
        if who not in seed.erased:
            replies.setdefault(person(who), []).extend(d - now_days for d in times)

    def score(ages: list[float]) -> float:
        exact = float(sum(REPLY_WEIGHT * 0.5 ** (age / HALF_LIFE_DAYS) for age in ages))
        return exact if round(exact, 4) > FLOOR else 0.0  # 0 at or below the floor

    def peak(ages: list[float]) -> float:
        return max(score([a - age for a in ages if a >= age]) for age in ages) if ages else 0.0

    scores = {m: score(replies.get(m, [])) for m in members}
    buckets = {"0": 0, "1-9": 0, "10-24": 0, "25-49": 0, "50+": 0}
    for s in scores.values():
        s = round(s, 4)
        label = (
            "0"  # the score 0 alone: anything else is above the floor
            if s <= 0
            else "1-9"
            if s < 10
            else "10-24"
            if s < 25
            else "25-49"
            if s < 50
            else "50+"
        )
        buckets[label] += 1
    fresh = {"<30d": 0, "30-90d": 0, "90-180d": 0, ">180d": 0, "never": 0}
    ages = []
    cold = []
    for m in members:
        if m not in replies:
            fresh["never"] += 1
            continue
        age = min(replies[m])
        ages.append(age)
        label = (
            "<30d" if age < 30 else "30-90d" if age < 90 else "90-180d" if age < 180 else ">180d"
        )
        fresh[label] += 1
        if peak(replies[m]) >= 10 and age >= 60:
            cold.append((age, m))
    silver = []
    for m in members:
        mine = [a for a in seed.applications if person(a[0]) == m]
        late = [
            days for _, _, outcome, stage, days in mine if outcome == "rejected" and stage in LATE
        ]
        if not late:
            continue
        rejected = min(late)  # days ago: the latest
        if any(a[2] == "open" for a in mine) or any(
            a[2] == "hired" and a[4] <= rejected for a in mine
        ):
            continue
        silver.append((rejected, m))
    return {
        "pool_id": pool,
        "pool_name": POOL_NAMES[pool],
        "size": len(members),
        "by_stage": dict(sorted(by_stage.items())),
        "growth": growth,
        "engagement": {
            "buckets": buckets,
            "median": round(statistics.median(round(s, 4) for s in scores.values()), 4),
        },
        "freshness": {
            "buckets": fresh,
            "median_days": round(statistics.median(ages), 1) if ages else None,
        },
        "going_cold": {
            "count": len(cold),
            "candidate_ids": [m for _, m in sorted(cold)],
            "truncated": False,
            "cold_after_days": 60,
            "engaged_score": 10.0,
        },
        "silver_medallists": {
            "count": len(silver),
            "candidate_ids": [m for _, m in sorted(silver)],
            "truncated": False,
        },
    }


@pytest.fixture
async def service(mongodb_uri: str, kafka_bootstrap_servers: str) -> AsyncIterator[Service]:
    async with _served(_settings(mongodb_uri, kafka_bootstrap_servers)) as served:
        yield served


def _comparable(report: dict[str, Any]) -> dict[str, Any]:
    """The report without its time, the median score to three decimals (the stored score was
    rounded to four when published, then decayed)."""
    report = {k: v for k, v in report.items() if k != "as_of"}
    median = report["engagement"]["median"]
    report["engagement"] = {
        **report["engagement"],
        "median": None if median is None else round(median, 3),
    }
    return report


async def test_every_figure_of_pool_health_equals_the_independent_computation(
    service: Service, kafka_bootstrap_servers: str
) -> None:
    seed = scenario(service.tenant, utc_now())
    await _publish(kafka_bootstrap_servers, seed.envelopes)
    answers: dict[str, Any] = {}

    async def all_counted() -> bool:
        answer = await service.client.get("/analytics/pools/health", headers=service.viewer)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        answers["last"] = body
        as_of = datetime.fromisoformat(body["as_of"])
        expected = [
            _comparable({**expected_health(seed, p, as_of), "as_of": None}) for p in POOL_NAMES
        ]
        return [_comparable(p) for p in body["pools"]] == expected

    async def settled() -> None:
        try:
            await eventually(all_counted, timeout=90, interval=0.5, message="pool health")
        except AssertionError:
            as_of = datetime.fromisoformat(answers["last"]["as_of"])
            print(json.dumps(answers["last"], indent=1))
            expected = [expected_health(seed, p, as_of) for p in POOL_NAMES]
            print(json.dumps(expected, indent=1, default=str))
            raise

    await settled()
    assert answers["last"]["pools"][0]["size"] == 7
    # The erasure of e1 (a member with a reply) takes them out of every figure.
    seed.envelopes.clear()
    seed.erase("e1")
    await _publish(kafka_bootstrap_servers, seed.envelopes)
    await settled()
    body = answers["last"]
    backend = body["pools"][0]
    # What the scenario was made to show, spelled out.
    assert backend["size"] == 6  # c1, c2, m1, c4, c5, c6; not c3 (left) nor e1 (erased)
    assert backend["by_stage"] == {"Reached out": 4, "Sourced": 2}
    assert backend["going_cold"]["candidate_ids"] == ["c6", "c1"]
    assert backend["silver_medallists"]["candidate_ids"] == ["m1", "c5", "c4"]

    one = await service.client.get(
        "/analytics/pools/p-backend/health",
        params={"cold_after_days": 30, "engaged_score": 5},
        headers=service.viewer,
    )
    assert one.status_code == 200, one.text
    assert one.json()["going_cold"]["candidate_ids"] == ["m1", "c4", "c6", "c1"]

    exported = await service.client.get(
        "/analytics/pools/p-backend/health", params={"format": "csv"}, headers=service.viewer
    )
    assert exported.status_code == 200, exported.text
    assert (
        exported.headers["content-disposition"]
        == 'attachment; filename="pool-p-backend-health.csv"'
    )
    header, *rows = list(csv.reader(io.StringIO(exported.text.removeprefix("\ufeff"))))
    assert header == ["pool_id", "figure", "key", "value"]
    cells = {(figure, key): value for _, figure, key, value in rows}
    assert cells[("size", "")] == "6"
    assert cells[("by_stage", "Reached out")] == "4"
    assert cells[("growth.added", "7")] == str(backend["growth"][0]["added"])
    assert cells[("silver_medallists.candidate_ids", "")] == "m1 c5 c4"
    # The score ranges spelt out, so Excel does not read `1-9` as 9 January.
    buckets = backend["engagement"]["buckets"]
    assert {k: v for (f, k), v in cells.items() if f == "engagement.buckets"} == {
        "0": str(buckets["0"]),
        "1 to 9": str(buckets["1-9"]),
        "10 to 24": str(buckets["10-24"]),
        "25 to 49": str(buckets["25-49"]),
        "50 or more": str(buckets["50+"]),
    }

    unknown = await service.client.get("/analytics/pools/nope/health", headers=service.viewer)
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")
    bad = await service.client.get(
        "/analytics/pools/health", params={"cold_after_days": 0}, headers=service.viewer
    )
    assert bad.status_code == 422


async def test_a_decaying_score_is_republished_on_the_topic_down_to_zero(
    mongodb_uri: str, kafka_bootstrap_servers: str
) -> None:
    settings = _settings(
        mongodb_uri,
        kafka_bootstrap_servers,
        engagement_half_life_days=2 / 86_400,  # two seconds
        engagement_republish_interval_seconds=0.1,
    )
    async with _served(settings) as served:
        candidate = unique("c")
        reply = EventEnvelope[Any](
            type=MESSAGE_REPLIED.name,
            source="tests",
            tenant_id=served.tenant,
            subject=candidate,
            schema_version=MESSAGE_REPLIED.schema_version,
            data=MessageReplied(
                message_id=unique("m"), candidate_id=candidate, received_at=utc_now()
            ),
        )
        await _publish(kafka_bootstrap_servers, [reply])
        scores = await _scores_until_zero(kafka_bootstrap_servers, served.tenant, candidate)
    # The reply's 8 as of when it was folded (with a half-life of two seconds, a loaded
    # machine's second of delay already halves it), then one step lower each time (a late
    # sweep publishes lower still), then the floor as 0.
    assert 0 < scores[0] <= REPLY_WEIGHT
    assert scores[-1] == 0.0
    assert len(scores) >= 3
    for before, after in itertools.pairwise(scores):
        assert before - after >= min(1.0, before) - 1e-3, scores


async def _scores_until_zero(kafka: str, tenant: str, candidate: str) -> list[float]:
    consumer = AIOKafkaConsumer(
        ENGAGEMENT_SCORED.name,
        bootstrap_servers=kafka,
        group_id=unique("reader"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    scores: list[float] = []
    try:

        async def zero() -> bool:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    envelope = json.loads(record.value)
                    if (envelope["tenant_id"], envelope["subject"]) == (tenant, candidate):
                        scores.append(float(envelope["data"]["score"]))
            return bool(scores) and scores[-1] == 0.0

        await eventually(zero, timeout=60, interval=0, message="the score decayed to 0")
    finally:
        await consumer.stop()
    return scores
