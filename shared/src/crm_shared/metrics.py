"""Metrics every service shares: how long its database commands take, and figures sampled
from its own collections at an interval (imports in progress, broadcasts sending).

A sampled figure is read from the database, not counted in one process, so every replica of
a service reports the same value: dashboards and alerts combine such gauges with `max`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Histogram
from pymongo import monitoring

from crm_shared.worker import STOP_WAIT_SECONDS, cancel_within

logger = logging.getLogger(__name__)

# From a primary-key read (well under a millisecond on a local server) to a transaction's
# commit or a collection scan that an operator must hear about.
DATABASE_SECONDS_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class DatabaseCommandMetrics(monitoring.CommandListener):
    """Times every command a MongoDB client sends, by command name and outcome.

    The driver reports each command's round trip as it measured it (`duration_micros`); the
    listener only records it, so it costs a histogram observation per command. The command
    name (find, update, commitTransaction, ...) is a small fixed set; collections and tenants
    are left out on purpose, as they would multiply the series without bound."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._duration = Histogram(
            "crm_mongodb_command_duration_seconds",
            "Round trip of a MongoDB command as the driver measured it, by command and outcome",
            ["command", "outcome"],
            buckets=DATABASE_SECONDS_BUCKETS,
            registry=registry,
        )

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        """Nothing to do: the finished command carries its own duration."""

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        """Records a command the server answered."""
        self._duration.labels(event.command_name, "succeeded").observe(
            event.duration_micros / 1_000_000
        )

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        """Records a command that failed (a server error, a timeout, a dropped connection)."""
        self._duration.labels(event.command_name, "failed").observe(
            event.duration_micros / 1_000_000
        )


class PeriodicSampler:
    """Runs `sample` every `every_seconds` in the background until stopped.

    A failed sample is logged and the gauges keep their last values: a database that is away
    is readiness's to report, not the sampler's."""

    def __init__(
        self, name: str, sample: Callable[[], Awaitable[None]], *, every_seconds: float
    ) -> None:
        self.name = name
        self._sample = sample
        self._every = every_seconds
        self._task: asyncio.Task[None] | None = None

    async def _sample_forever(self) -> None:
        while True:
            try:
                async with asyncio.timeout(max(self._every, 5.0)):
                    await self._sample()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                logger.warning("%s sample failed: %r", self.name, error)
            await asyncio.sleep(self._every)

    def start(self) -> None:
        """Samples in the background until `stop`."""
        if self._task is None and self._every > 0:
            self._task = asyncio.create_task(self._sample_forever(), name=self.name)

    async def stop(self) -> None:
        """Stops sampling."""
        if self._task is not None:
            await cancel_within([self._task], STOP_WAIT_SECONDS, self.name)
            self._task = None
