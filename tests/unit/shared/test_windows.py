"""A page read in windows of its key holds exactly what one read holds, and reads far less."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_shared.windows import OBJECT_IDS, TEXTS, TIMES, KeyAxis, KeyEnds, KeyWindows

START = datetime(2024, 1, 1, tzinfo=UTC)


def object_id_at(moment: datetime, rng: random.Random) -> str:
    return f"{int(moment.timestamp()):08x}{rng.getrandbits(64):016x}"


def spread_ids(rng: random.Random, count: int) -> list[str]:
    """Ids as a tenant gathers them: some a day over two years, and an import's burst."""
    ids = [object_id_at(START + timedelta(days=rng.uniform(0, 730)), rng) for _ in range(count)]
    burst_second = START + timedelta(days=400)
    process = rng.getrandbits(40)
    ids += [f"{int(burst_second.timestamp()):08x}{process:010x}{n:06x}" for n in range(count)]
    return ids


@dataclass
class Store:
    """Keys as a database holds them; counts what each read had to match."""

    keys: list[Any]
    matched: int = 0
    reads: list[dict[str, Any]] = field(default_factory=list)

    async def read(self, condition: dict[str, Any], limit: int, *, descending: bool) -> list[Any]:
        self.reads.append(condition)
        found = sorted(
            (key for key in self.keys if meets(key, condition)),
            reverse=descending,
        )
        self.matched += len(found)
        return found[:limit]


def meets(key: Any, condition: dict[str, Any]) -> bool:
    tests = {
        "$gt": lambda bound: key > bound,
        "$gte": lambda bound: key >= bound,
        "$lt": lambda bound: key < bound,
        "$lte": lambda bound: key <= bound,
    }
    return all(tests[operator](bound) for operator, bound in condition.items())


def plain_page(keys: list[Any], after: Any | None, limit: int, *, descending: bool) -> list[Any]:
    ordered = sorted(keys, reverse=descending)
    if after is not None:
        ordered = [key for key in ordered if (key < after if descending else key > after)]
    return ordered[:limit]


async def every_page(
    windows: KeyWindows[Any], store: Store, origin: Any | None, limit: int
) -> list[Any]:
    pages: list[Any] = []
    after = None
    while True:
        page = await windows.read_page(
            lambda condition, wanted: store.read(condition, wanted, descending=windows.descending),
            after=after,
            origin=origin,
            limit=limit,
        )
        assert page == plain_page(store.keys, after, limit, descending=windows.descending)
        pages.extend(page)
        if len(page) < limit:
            return pages
        after = page[-1]


@pytest.mark.parametrize("descending", [False, True], ids=["ascending", "descending"])
async def test_object_id_pages_are_those_of_one_read_whatever_the_origin(descending: bool) -> None:
    rng = random.Random(7)
    keys = [*spread_ids(rng, 300), "not-an-object-id", "0", "zzz"]
    store = Store(keys)
    ceiling = object_id_at(datetime(2030, 1, 1, tzinfo=UTC), rng)
    origins: list[Any] = [None, max(keys) if descending else min(keys), ceiling]
    # An origin on the wrong side of some keys costs more reading, never a key.
    origins.append(sorted(keys)[len(keys) // 2])
    for origin in origins:
        found = await every_page(KeyWindows(OBJECT_IDS, descending=descending), store, origin, 25)
        assert found == sorted(keys, reverse=descending)


@pytest.mark.parametrize("descending", [False, True], ids=["ascending", "descending"])
async def test_time_pages_are_those_of_one_read(descending: bool) -> None:
    rng = random.Random(11)
    keys = [START + timedelta(seconds=rng.randint(0, 40_000_000)) for _ in range(400)]
    keys += [START] * 30  # ties are the caller's (by id); the walk returns each key once
    store = Store(sorted(set(keys)))
    origin = datetime(2030, 1, 1, tzinfo=UTC) if descending else min(keys)
    found = await every_page(KeyWindows(TIMES, descending=descending), store, origin, 20)
    assert found == sorted(set(keys), reverse=descending)


NAMES = ["Müller", "Muller", "Mül", "de Vries", "Ørsted", "王芳", "Zoë", "", "A", "Al", "Ab"]


async def test_name_pages_are_those_of_one_read() -> None:
    rng = random.Random(5)
    keys = sorted({rng.choice(NAMES) + rng.choice(["", "a", "son", "ßen"]) for _ in range(300)})
    store = Store(keys)
    found = await every_page(KeyWindows(TEXTS), store, min(keys), 4)
    assert found == keys


def test_an_edge_a_span_away_lies_beyond_the_value() -> None:
    samples: list[tuple[KeyAxis[Any], Any]] = [
        *((TEXTS, name) for name in NAMES),
        (TIMES, datetime(2026, 12, 5, 10, 0, 0, 500, tzinfo=UTC)),
        (OBJECT_IDS, "65a0000000000000000000ff"),
    ]
    for axis, value in samples:
        place = axis.number(value)
        assert place is not None
        assert axis.value(place + axis.first_span) > value
        if place - axis.first_span >= axis.lowest:
            assert axis.value(place - axis.first_span) < value


async def test_a_page_of_a_dense_burst_reads_a_few_hundred_of_a_hundred_thousand() -> None:
    rng = random.Random(3)
    process = rng.getrandbits(40)
    second = int(START.timestamp())
    # An import of 100,000 within a few minutes: one process, consecutive counters.
    keys = [f"{second + n // 500:08x}{process:010x}{n:06x}" for n in range(100_000)]
    store = Store(keys)
    windows = KeyWindows(OBJECT_IDS)
    page = await windows.read_page(
        lambda condition, wanted: store.read(condition, wanted, descending=False),
        after=keys[50_000],
        origin=None,
        limit=25,
    )
    assert page == keys[50_001:50_026]
    assert store.matched < 1_000, store.reads
    # Each bounded window names its far edge first (what the Rust server bounds a multikey
    # scan by), then the near one.
    assert [list(condition) for condition in store.reads if len(condition) == 2] == [
        ["$lt", "$gt"]
    ] + [["$lt", "$gte"]] * (sum(len(c) == 2 for c in store.reads) - 1)
    # Newest first, from the newest key as the repository remembers it.
    newest = KeyWindows(OBJECT_IDS, descending=True)
    store.matched = 0
    page = await newest.read_page(
        lambda condition, wanted: store.read(condition, wanted, descending=True),
        after=None,
        origin=keys[-1],
        limit=25,
    )
    assert page == keys[::-1][:25]
    assert store.matched < 1_000, store.reads


async def test_without_a_place_on_the_axis_the_page_is_one_read() -> None:
    store = Store(["b", "a", "c"])
    page = await KeyWindows(OBJECT_IDS).read_page(
        lambda condition, wanted: store.read(condition, wanted, descending=False),
        after="a",
        origin=None,
        limit=5,
    )
    assert page == ["b", "c"]
    assert store.reads == [{"$gt": "a"}]


def test_axes_place_values_in_their_order() -> None:
    axes: list[tuple[KeyAxis[Any], list[Any]]] = [
        (
            OBJECT_IDS,
            ["000000000000000000000000", "65a0000000000000000000ff", "ffffffffffffffffffffffff"],
        ),
        (TIMES, [datetime(1969, 12, 31, tzinfo=UTC), START, datetime(2100, 1, 1, tzinfo=UTC)]),
    ]
    for axis, values in axes:
        places = [axis.number(value) for value in values]
        assert places == sorted(p for p in places if p is not None)
        assert all(
            axis.value(place) == value
            for place, value in zip(places, values, strict=True)
            if place is not None
        )
    assert OBJECT_IDS.number("65A0000000000000000000FF") is None  # upper case sorts elsewhere
    assert OBJECT_IDS.number("short") is None
    assert TIMES.number("2024-01-01") is None


async def test_an_end_is_found_once_and_the_newest_moves_on() -> None:
    ends = KeyEnds()
    asked: list[str | None] = []
    key = ("t1", "candidates", "_id")

    async def found(value: str | None) -> str | None:
        asked.append(value)
        return value

    assert await ends.end(key, descending=False, find_end=lambda: found(None)) is None
    assert await ends.end(key, descending=False, find_end=lambda: found("b")) == "b"
    assert await ends.end(key, descending=False, find_end=lambda: found("a")) == "b"
    assert await ends.end(key, descending=True, find_end=lambda: found("m")) == "m"
    ends.saw_newest(key, "p")
    ends.saw_newest(key, "k")  # a filtered page's newest is no news
    assert await ends.end(key, descending=True, find_end=lambda: found("x")) == "p"
    assert (
        await ends.end(("t2", "candidates", "_id"), descending=True, find_end=lambda: found("c"))
        == "c"
    )
    assert asked == [None, "b", "m", "c"]
