"""One holder at a time per key within this process, for work that would otherwise contend
in the database (every contender but one retrying its transaction) or call an outside party
twice. Across processes the database (or the outside party) still decides; the lock only
keeps one process from competing with itself."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class KeyedLocks:
    """An `asyncio.Lock` per key, alive while someone holds or waits for it."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    @asynccontextmanager
    async def holding(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            yield
