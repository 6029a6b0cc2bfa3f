"""A small per-process cache of database reads, so a request does not pay a round trip for
what another request read a moment ago."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """Values kept for `seconds` (a value may be that stale), at most `max_entries` of them."""

    def __init__(
        self,
        seconds: float,
        *,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._seconds = seconds
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> tuple[bool, V | None]:
        """(True, value) for a fresh entry, (False, None) otherwise."""
        entry = self._entries.get(key)
        if entry is None or self._clock() - entry[0] >= self._seconds:
            return False, None
        return True, entry[1]

    def put(self, key: K, value: V) -> None:
        if len(self._entries) >= self._max_entries:
            # Crude but bounded: a full cache starts over rather than growing without limit.
            self._entries.clear()
        self._entries[key] = (self._clock(), value)

    def forget(self, key: K) -> None:
        """Drops an entry this process just changed, so its next read is fresh."""
        self._entries.pop(key, None)
