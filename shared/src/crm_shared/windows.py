"""Keyset pages read through growing windows of their sort key.

SecantusDB (both servers, 0.5.3-beta.196) answers a `find` by reading every document its filter
matches, then sorting them and cutting at the limit: the limit bounds what is returned, not what
is read. A page of 25 from a tenant's 100,000 active candidates read all 100,000 (650 ms on the
Rust server; the cost follows the rest of the index range, with any limit, even 1). MongoDB
stops its index walk at the limit. So a page is asked as a few queries over windows of the sort
key, each bounded on both sides and so matching only its window, growing until the page is
full; the windows partition the key's whole range, the last one unbounded, so the page holds
exactly what one query would return, on either server. On MongoDB the cost is a few more round
trips per page.

A window only bounds the read when the query walks an index whose range the sort key narrows
(the sort key right after the equalities): the callers decide that.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from crm_shared.contracts.envelope import as_utc
from crm_shared.mongo import Document
from crm_shared.repository import TenantScopedCollection

ValueT = TypeVar("ValueT")
ValueT_co = TypeVar("ValueT_co", covariant=True)

# The most a window grows over the one before it (an empty one grows this much).
MAX_GROWTH = 16
# An ObjectId is 96 bits: 32 of seconds, then 64 of process and counter. One process's burst
# of new ids (an import) is consecutive counters within its second.
OBJECT_ID_BITS = 96
FIRST_OBJECT_ID_SPAN = 1 << 56
FIRST_TIME_SPAN_MS = 1000
# BSON dates are milliseconds since 1970; windows past these years are left unbounded.
EARLIEST_MS = -2_208_988_800_000  # 1900-01-01
LATEST_MS = 7_258_118_400_000  # 2200-01-01

Condition = dict[str, Any]
ReadWindow = Callable[[Condition, int], Awaitable[list[Any]]]


class KeyAxis(Protocol[ValueT_co]):
    """A sort key as numbers, so windows can be measured on it."""

    first_span: int
    lowest: int
    highest: int

    def number(self, value: Any) -> int | None:
        """The value's place on the axis; None when it is not a value of the axis."""

    def value(self, number: int) -> ValueT_co:
        """The key value at a place of the axis (a window's edge)."""


class ObjectIdAxis:
    """Ids that are ObjectIds' hex (`crm_shared.new_id`): ordered as strings and as numbers."""

    first_span = FIRST_OBJECT_ID_SPAN
    lowest = 0
    highest = (1 << OBJECT_ID_BITS) - 1

    def number(self, value: Any) -> int | None:
        if not isinstance(value, str) or len(value) != OBJECT_ID_BITS // 4:
            return None
        try:
            return int(value, 16) if value == value.lower() else None
        except ValueError:
            return None

    def value(self, number: int) -> str:
        return f"{number:024x}"


class DateTimeAxis:
    """Times (BSON dates), in milliseconds."""

    first_span = FIRST_TIME_SPAN_MS
    lowest = EARLIEST_MS
    highest = LATEST_MS

    def number(self, value: Any) -> int | None:
        if not isinstance(value, datetime):
            return None
        return math.floor(as_utc(value).timestamp() * 1000)

    def value(self, number: int) -> datetime:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=number)


class TextAxis:
    """Strings, placed by their first three code points (BSON orders strings by their UTF-8
    bytes, which is code point order): a window of a name order spans a stretch of names
    (`Mül`-`Mün`), growing to whole initials."""

    # Code points of a place (the longer a prefix, the finer the first windows).
    width = 3
    base = 0x110000
    first_span = 1
    lowest = 0
    highest = base**width - 1

    def number(self, value: Any) -> int | None:
        if not isinstance(value, str):
            return None
        points = [ord(character) for character in value[: self.width]]
        points += [0] * (self.width - len(points))
        place = 0
        for point in points:
            place = place * self.base + point
        return place

    def value(self, number: int) -> str:
        points: list[int] = []
        for _ in range(self.width):
            number, point = divmod(number, self.base)
            points.insert(0, point)
        text = []
        for point in points:
            if 0xD800 <= point < 0xE000:
                # UTF-8 has no surrogates: the least string past them keeps the order.
                text.append(chr(0xE000))
                break
            text.append(chr(point))
        # A trailing 0 is the end of a shorter string ("Al" sorts before "Al" + anything).
        return "".join(text).rstrip("\x00")


OBJECT_IDS = ObjectIdAxis()
TIMES = DateTimeAxis()
TEXTS = TextAxis()


@dataclass(frozen=True)
class KeyWindows(Generic[ValueT]):
    """How a page walks one sort key: its axis and direction."""

    axis: KeyAxis[ValueT]
    descending: bool = False

    async def read_page(
        self, read: ReadWindow, *, after: Any | None, origin: Any | None, limit: int
    ) -> list[Any]:
        """Up to `limit` documents in the key's order, strictly after the key value `after`.

        `read(condition, limit)` returns up to `limit` documents whose key meets `condition`
        (`{"$gt": ..., "$lt": ...}`, possibly empty), in the key's order. Without `after`, the
        windows start at `origin`: a value no key lies before (the least key known, ascending;
        a time past every key, descending); without either, one unbounded read.
        """
        start = after if after is not None else origin
        place = self.axis.number(start) if start is not None else None
        if place is None:
            return await read(self._beyond(after), limit)
        # The first window begins at the cursor, or (first page) unbounded on the near side,
        # so a key the origin wrongly missed is still read: bounds change cost, never results.
        near = self._beyond(after)
        span = self.axis.first_span
        found: list[Any] = []
        while True:
            edge = place - span if self.descending else place + span
            last = edge < self.axis.lowest if self.descending else edge > self.axis.highest
            # The far edge first: on a multikey index the Rust server bounds the scan by the
            # first operator on a field only, and the near side has been read already.
            condition = near if last else {**self._until(edge), **near}
            documents = await read(condition, limit - len(found))
            found.extend(documents)
            if last or len(found) >= limit:
                return found
            near = self._from(edge)
            place = edge
            span *= _growth(len(documents), limit - len(found))

    def _beyond(self, after: Any | None) -> Condition:
        if after is None:
            return {}
        return {"$lt": after} if self.descending else {"$gt": after}

    def _until(self, edge: int) -> Condition:
        return (
            {"$gte": self.axis.value(edge)} if self.descending else {"$lt": self.axis.value(edge)}
        )

    def _from(self, edge: int) -> Condition:
        return (
            {"$lt": self.axis.value(edge)} if self.descending else {"$gte": self.axis.value(edge)}
        )


def _growth(read: int, wanted: int) -> int:
    """How much wider the next window is: at most `MAX_GROWTH`; after a window that found
    some, about twice what that density needs to fill the page."""
    if read == 0:
        return MAX_GROWTH
    return max(2, min(MAX_GROWTH, math.ceil(2 * wanted / read)))


class KeyEnds:
    """Where the windows of a first page begin, per tenant, collection, field and direction,
    as this process learnt it: the least key (oldest first) or the greatest seen (newest
    first).

    Windows grown from an arbitrary place land on a dense stretch (an import's burst) with a
    span wider than it and read it whole, so a first page starts at the range's end. Finding
    that end reads the whole range once (see the module's docstring). The least key stays a
    bound while no key below it is written, which holds of ids (`new_id` is time-ordered) and
    of update times; the greatest moves on, and each newest-first page tells it the newest key
    it found. A key beyond a remembered end is still read (a first page's first window is
    unbounded on that side), only less cheaply.
    """

    def __init__(self) -> None:
        self._ends: dict[tuple[str, str, str, bool], Any] = {}

    async def end(
        self,
        key: tuple[str, str, str],
        *,
        descending: bool,
        find_end: Callable[[], Awaitable[Any | None]],
    ) -> Any | None:
        """The remembered end of `(tenant, collection, field)`, found on first use.

        An empty range remembers nothing: its first key may come later and lie anywhere.
        """
        slot = (*key, descending)
        if slot not in self._ends:
            found = await find_end()
            if found is None:
                return None
            self._ends[slot] = found
        return self._ends[slot]

    def saw_newest(self, key: tuple[str, str, str], value: Any) -> None:
        """A newest-first first page began at `value`: later first pages start there."""
        slot = (*key, True)
        known = self._ends.get(slot)
        try:
            if known is None or value > known:
                self._ends[slot] = value
        except TypeError:  # keys of another type than the remembered one: keep it
            return


async def page_in_id_windows(
    collection: TenantScopedCollection,
    base: Mapping[str, Any],
    field: str,
    *,
    after: str | None,
    origin: str | None,
    limit: int,
) -> list[Document]:
    """Up to `limit` of the tenant's documents matching `base`, in ascending order of `field`
    (ids that are ObjectIds' hex, such as candidate ids) after `after`, read in windows of it.

    An index must lead with `base`'s fields, then `field` (a pool's or a segment's members by
    candidate id). `origin`, for a first page: an id no key lies below, such as the tenant's
    least candidate id. Asked as one `field > after` query, each page read every member after
    the cursor: the last page of a 10,000-member pool read 10,000 to return 50.
    """

    async def read(condition: Condition, wanted: int) -> list[Document]:
        query = {**base, field: condition} if condition else dict(base)
        return await collection.find(query, sort=[(field, ASCENDING)], limit=wanted)

    return await KeyWindows(OBJECT_IDS).read_page(read, after=after, origin=origin, limit=limit)


async def batches_in_id_order(
    collection: AsyncCollection[Document],
    projection: Mapping[str, Any],
    *,
    batch: int,
    after: Any | None = None,
) -> AsyncIterator[list[Document]]:
    """Every document of `collection` (all tenants: a migration's walk) in `_id` order,
    `batch` at a time, each batch read in windows of the id; from past `after` when given (a
    walk resumed where a stopped one left off).

    Asked as one `_id > last` query per batch, the walk read the rest of the collection for
    every batch on SecantusDB: quadratic, 200 reads of up to 100,000 records for 100,000.
    """
    first = await collection.find({}, {"_id": 1}).sort("_id", 1).limit(1).to_list()
    if not first:
        return

    async def read(condition: Condition, wanted: int) -> list[Any]:
        query = {"_id": condition} if condition else {}
        return await collection.find(query, projection).sort("_id", 1).limit(wanted).to_list()

    windows = KeyWindows(OBJECT_IDS)
    while True:
        documents = await windows.read_page(read, after=after, origin=first[0]["_id"], limit=batch)
        if documents:
            yield documents
        if len(documents) < batch:
            return
        after = documents[-1]["_id"]
