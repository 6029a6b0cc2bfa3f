"""The compiled query (full path) and the evaluator (incremental path) agree, on SecantusDB, for
random rules over every operator and random candidates, relative dates included."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from crm_candidates.domain.segments import (
    SEGMENTABLE_FIELDS,
    FieldKind,
    Group,
    candidate_facets,
    compile_segment_query,
    segment_matches,
)
from helpers import unique

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
WORDS = ["berlin", "Paris", "acme", "python", "go", "engineer"]
IDS = ["e1", "e2", "e3"]
POOLS = ["p1", "p2"]
STAGES = ["new", "Contacted", "interview"]
SEGMENTS = ["s1", "s2", "s3"]
CUSTOM_KEYS = ["level", "team", "remote", "start"]


def random_date(rng: random.Random) -> datetime:
    return NOW + timedelta(days=rng.uniform(-90, 30), microseconds=rng.randint(0, 999_999))


def iso(moment: datetime) -> str:
    return moment.isoformat()


def random_scalar(rng: random.Random) -> Any:
    return rng.choice(
        [rng.choice(WORDS), rng.randint(0, 10), rng.random() * 10, rng.random() < 0.5]
    )


def random_candidate(rng: random.Random) -> dict[str, Any]:
    custom: dict[str, Any] = {}
    for key in CUSTOM_KEYS:
        if rng.random() < 0.7:
            custom[key] = rng.choice(
                [
                    random_scalar(rng),
                    random_date(rng),
                    random_date(rng).date().isoformat(),
                    [rng.choice(WORDS), rng.randint(0, 10)],
                ]
            )
    return {
        "first_name": rng.choice(WORDS),
        "location": rng.choice([*WORDS, None, ""]),
        "headline": rng.choice([*WORDS, None]),
        "skills": rng.sample(WORDS, rng.randint(0, 3)),
        "tags": rng.sample(WORDS, rng.randint(0, 2)),
        "marketing_consent": rng.random() < 0.5,
        "engagement_score": rng.choice([0.0, rng.random() * 50, rng.randint(0, 50)]),
        "last_activity_at": rng.choice([None, random_date(rng)]),
        "created_at": random_date(rng),
        "events_registered": rng.sample(IDS, rng.randint(0, 2)),
        "events_attended": rng.sample(IDS, rng.randint(0, 1)),
        "ats_status": rng.choice([None, "applied", "in_process", "rejected", "hired"]),
        "ats_stage": rng.choice([None, "Onsite", "phone screen"]),
        "pools": [
            {"pool_id": pool, "stage": rng.choice(STAGES)}
            for pool in rng.sample(POOLS, rng.randint(0, 2))
        ],
        "custom_fields": custom,
        "status": rng.choice(["active", "active", "active", "merged", None]),
    }


def random_bounds(rng: random.Random, dates: bool) -> dict[str, Any]:
    bounds: dict[str, Any] = {}
    if rng.random() < 0.7:
        bounds[rng.choice(["gt", "gte"])] = iso(random_date(rng)) if dates else rng.randint(0, 30)
    if not bounds or rng.random() < 0.5:
        bounds[rng.choice(["lt", "lte"])] = iso(random_date(rng)) if dates else rng.randint(10, 50)
    return bounds


def random_condition(rng: random.Random) -> dict[str, Any]:
    if rng.random() < 0.1:
        return {"segment": rng.choice(SEGMENTS)}
    field = rng.choice([*sorted(SEGMENTABLE_FIELDS), *(f"custom_fields.{k}" for k in CUSTOM_KEYS)])
    kind = FieldKind.CUSTOM if field.startswith("custom_fields.") else SEGMENTABLE_FIELDS[field]
    exists = {"field": field, "op": "exists", "value": rng.random() < 0.5}
    if rng.random() < 0.15:
        return exists
    if kind is FieldKind.BOOLEAN:
        return {
            "field": field,
            "op": rng.choice(["equals", "not_equals"]),
            "value": rng.random() < 0.5,
        }
    if kind is FieldKind.NUMBER:
        op = rng.choice(["equals", "not_equals", "in", "range"])
        if op == "range":
            return {"field": field, "op": op, "value": random_bounds(rng, dates=False)}
        if op == "in":
            return {"field": field, "op": op, "value": [rng.randint(0, 50), 0.0]}
        return {"field": field, "op": op, "value": rng.choice([0, 0.0, rng.randint(0, 50)])}
    if kind is FieldKind.DATE or (kind is FieldKind.CUSTOM and rng.random() < 0.3):
        op = rng.choice(["range", "before", "after", "before", "after"])
        if op == "range":
            return {"field": field, "op": op, "value": random_bounds(rng, dates=True)}
        if rng.random() < 0.6:
            return {"field": field, "op": op, "relative": f"-{rng.randint(1, 60)}d"}
        return {"field": field, "op": op, "value": iso(random_date(rng))}
    if kind is FieldKind.POOLS:
        pool = {"pool_id": rng.choice(POOLS)}
        if rng.random() < 0.6:
            pool["stage"] = rng.choice(STAGES).upper()
        return {"field": field, "op": "in_pool", "value": pool}
    if kind is FieldKind.CUSTOM:
        op = rng.choice(["equals", "not_equals", "in", "contains", "range"])
        if op == "range":
            return {"field": field, "op": op, "value": random_bounds(rng, dates=False)}
        if op == "in":
            return {"field": field, "op": op, "value": [random_scalar(rng), random_scalar(rng)]}
        if op == "contains":
            return {"field": field, "op": op, "value": rng.choice(WORDS)[:3]}
        return {"field": field, "op": op, "value": random_scalar(rng)}
    vocabulary = (
        ["applied", "rejected", "hired"]
        if field == "ats_status"
        else IDS
        if "events" in field
        else WORDS
    )
    op = rng.choice(["equals", "not_equals", "in", "contains"])
    if op == "in":
        return {"field": field, "op": op, "value": rng.sample(vocabulary, 2)}
    value = rng.choice(vocabulary)
    return {"field": field, "op": op, "value": value[:3] if op == "contains" else value.upper()}


def random_rule(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    members = [
        random_rule(rng, depth + 1) if depth < 2 and rng.random() < 0.3 else random_condition(rng)
        for _ in range(rng.randint(1, 3))
    ]
    return {rng.choice(["all", "any", "none"]): members}


async def test_the_compiled_query_and_the_evaluator_agree(mongodb_uri: str) -> None:
    rng = random.Random(20261126)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    collection = client[unique("segment_semantics")]["candidates"]
    candidates = [random_candidate(rng) for _ in range(200)]
    memberships = [set(rng.sample(SEGMENTS, rng.randint(0, 2))) for _ in candidates]
    await collection.insert_many(
        [
            {"_id": n, "facets": candidate_facets(c), "segment_ids": sorted(memberships[n])}
            for n, c in enumerate(candidates)
        ]
    )
    matched_somewhere = 0
    for _ in range(250):
        rule = Group.model_validate(random_rule(rng))
        now = datetime.now(UTC)
        query = compile_segment_query(rule, now=now)
        from_query = {d["_id"] for d in await collection.find(query).to_list()}
        from_evaluator = {
            n
            for n, c in enumerate(candidates)
            if segment_matches(rule, candidate_facets(c), segment_ids=memberships[n], now=now)
        }
        assert from_query == from_evaluator, rule.model_dump(exclude_none=True)
        matched_somewhere += 0 < len(from_query) < len(candidates)
    # The generated rules are selective, not trivially all-or-nothing.
    assert matched_somewhere > 100
    await client.close()
