"""Bounded exponential backoff for the Kafka client's connection attempts.

aiokafka (0.14) has no `reconnect_backoff_ms`: a client whose broker is down tries to connect
again on every turn of each of its loops (metadata, sender, coordinator, fetcher), each turn
only `retry_backoff_ms` (100 ms) apart, and a service runs one client per subscriber. Six
services made about 1,500 connection attempts a second (issue 14).

`install_reconnect_backoff` puts a gate in front of `AIOKafkaClient._get_conn`, the one place
where every client of the process opens a broker connection after its bootstrap. After a failed
attempt to an address, no client of the process tries that address again until the backoff has
passed (doubling per failure, with jitter, up to a maximum), and then only one tries; the others
are told there is no connection, which they already handle as a failed attempt. The first
success opens the gate for all. Connections that are up are never delayed.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

from aiokafka.client import (  # type: ignore[import-untyped,unused-ignore]
    AIOKafkaClient,
    ConnectionGroup,
)

Clock = Callable[[], float]


class ReconnectBackoff:
    """When the next connection attempt to one address may be made, after how many failures.

    Pure bookkeeping, no I/O: `may_attempt` before connecting, then `succeeded`, `failed` or
    `abandoned` once the attempt is over.
    """

    def __init__(
        self,
        initial_seconds: float,
        max_seconds: float,
        *,
        clock: Clock = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.initial_seconds = initial_seconds
        self.max_seconds = max_seconds
        self._clock = clock
        self._jitter = jitter
        self.failures = 0
        self.next_attempt_at = 0.0
        self._probing = False
        self._probe_started_at = 0.0

    def may_attempt(self) -> bool:
        """True if a connection may be tried now; after a failure, one caller at a time.

        A probe that never reports back (its task abandoned mid-connect) stops counting after
        `probe_timeout_seconds`, so it cannot keep every client of the process off the broker."""
        if self.failures == 0:
            return True
        now = self._clock()
        probe_pending = self._probing and now - self._probe_started_at < self.probe_timeout_seconds
        if probe_pending or now < self.next_attempt_at:
            return False
        self._probing = True
        self._probe_started_at = now
        return True

    @property
    def probe_timeout_seconds(self) -> float:
        """How long one probe may take before another caller may try: aiokafka's own connect
        timeout is far below it."""
        return max(30.0, 2 * self.max_seconds)

    def succeeded(self) -> None:
        """A connection was made: every client may connect at once again."""
        self.failures = 0
        self.next_attempt_at = 0.0
        self._probing = False

    def failed(self) -> None:
        """The attempt failed: wait twice as long as last time (at most the maximum)."""
        self._probing = False
        now = self._clock()
        # Attempts started together while the address still looked healthy fail together;
        # they are one failure, not a reason to jump straight to the maximum.
        if now < self.next_attempt_at:
            return
        self.failures += 1
        delay = min(self.max_seconds, self.initial_seconds * 2 ** (self.failures - 1))
        # +-20% so the clients of many processes do not all come back in the same instant.
        self.next_attempt_at = now + delay * (0.8 + 0.4 * self._jitter())

    def abandoned(self) -> None:
        """The attempt was cancelled before it ended: let the next caller try."""
        self._probing = False


class ReconnectGates:
    """One `ReconnectBackoff` per broker address, shared by every client of the process."""

    def __init__(self, initial_seconds: float, max_seconds: float) -> None:
        self.initial_seconds = initial_seconds
        self.max_seconds = max_seconds
        self._gates: dict[tuple[str, int], ReconnectBackoff] = {}
        self._lock = threading.Lock()

    def configure(self, initial_seconds: float, max_seconds: float) -> None:
        """Applies new bounds to every address, known or not."""
        with self._lock:
            self.initial_seconds, self.max_seconds = initial_seconds, max_seconds
            for gate in self._gates.values():
                gate.initial_seconds, gate.max_seconds = initial_seconds, max_seconds

    def gate(self, host: str, port: int) -> ReconnectBackoff:
        """The backoff of `host:port`."""
        with self._lock:
            found = self._gates.get((host, port))
            if found is None:
                found = ReconnectBackoff(self.initial_seconds, self.max_seconds)
                self._gates[(host, port)] = found
            return found


_gates: ReconnectGates | None = None


def reconnect_gates() -> ReconnectGates | None:
    """The process's gates, once `install_reconnect_backoff` ran (for probes and tests)."""
    return _gates


def install_reconnect_backoff(initial_ms: int, max_ms: int) -> ReconnectGates:
    """Gates every aiokafka client's connection attempts in this process (idempotent; a second
    call only changes the bounds)."""
    global _gates
    if _gates is not None:
        _gates.configure(initial_ms / 1000, max_ms / 1000)
        return _gates
    gates = ReconnectGates(initial_ms / 1000, max_ms / 1000)
    original = AIOKafkaClient._get_conn

    # The signature of aiokafka 0.14's `AIOKafkaClient._get_conn`.
    async def get_conn_with_backoff(
        self: Any, node_id: Any, *, group: Any = ConnectionGroup.DEFAULT, no_hint: bool = False
    ) -> Any:
        existing = self._conns.get((node_id, group))
        if existing is not None and existing.connected():
            return existing
        broker = self.cluster.broker_metadata(node_id)
        if broker is None:
            # Not ours to judge: aiokafka reports the stale metadata and refreshes it.
            return await original(self, node_id, group=group, no_hint=no_hint)
        gate = gates.gate(broker.host, broker.port)
        if not gate.may_attempt():
            return None
        try:
            conn = await original(self, node_id, group=group, no_hint=no_hint)
        except BaseException:
            gate.abandoned()
            raise
        if conn is None:
            gate.failed()
        else:
            gate.succeeded()
        return conn

    AIOKafkaClient._get_conn = get_conn_with_backoff
    _gates = gates
    return gates
