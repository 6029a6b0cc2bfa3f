"""What one signed-in session read a moment ago, kept in this console process for a few
seconds so that the parts of one page (the profile and the panels it loads after it) do not
ask the API the same thing again.

An entry is keyed by a digest of the session's secret and the verified tenant: it is never
seen by another session, user or tenant. It lives `ttl_seconds` at most, the store holds
`max_entries` at most (the oldest written go first), and a failed read is never kept. Another
console process has its own store: a panel answered there reads the API, as without it."""

from __future__ import annotations

import copy
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crm_console.adapters.gateway_api import Caller

# Enough for every session active at once on one console process; a busier process forgets
# its oldest entries sooner, which costs a read, nothing else.
MAX_ENTRIES = 2048

Key = tuple[str, ...]


class SessionMemo:
    """The process's store; `of()` gives one session's view of it."""

    def __init__(
        self, *, max_entries: int = MAX_ENTRIES, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._entries: OrderedDict[Key, tuple[float, Any]] = OrderedDict()
        self._max_entries = max_entries
        self._clock = clock

    def of(self, caller: Caller, tenant_id: str) -> Memo:
        """The view of the session `caller` holds, in the tenant it was verified for."""
        # The digest, not the secret itself, is what the store keeps.
        session = hashlib.sha256(caller.session.encode()).hexdigest()
        return Memo(self, (session, tenant_id))

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Key) -> Any | None:
        found = self._entries.get(key)
        if found is None:
            return None
        expires, value = found
        if self._clock() >= expires:
            del self._entries[key]
            return None
        # A copy: a page that changes what it was given leaves the entry as read.
        return copy.deepcopy(value)

    def put(self, key: Key, value: Any, ttl_seconds: float) -> None:
        self._entries.pop(key, None)
        self._entries[key] = (self._clock() + ttl_seconds, copy.deepcopy(value))
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)


@dataclass(frozen=True)
class Memo:
    """One session's entries in one tenant."""

    store: SessionMemo
    scope: tuple[str, str]

    def get(self, *key: str) -> Any | None:
        """What this session kept under `key`, or None (never kept, expired or forgotten)."""
        return self.store.get((*self.scope, *key))

    def put(self, value: Any, *key: str, ttl_seconds: float) -> None:
        self.store.put((*self.scope, *key), value, ttl_seconds)
