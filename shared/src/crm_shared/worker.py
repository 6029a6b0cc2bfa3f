"""A background loop that processes work in batches, woken early when new work is committed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

logger = logging.getLogger(__name__)

# How long a cancelled background task may take to finish before shutdown goes on without it.
STOP_WAIT_SECONDS = 5.0


async def cancel_within(tasks: list[asyncio.Task[Any]], seconds: float, what: str) -> None:
    """Cancels `tasks` and waits at most `seconds` for them to end.

    A task that ignores its cancel (a library catching CancelledError, or the Python 3.11
    `wait_for` race) would otherwise hang the shutdown of the whole process; it is abandoned,
    and what it worked on is resumed by the next start, as after a kill.
    """
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=seconds)
    if pending:
        logger.warning(
            "%s: %d task(s) did not stop within %.0f s of their cancel; abandoned them",
            what,
            len(pending),
            seconds,
        )


class Wakeup:
    """Lets a writer tell a worker that new work was committed."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Wakes the worker now instead of at its next poll."""
        self._event.set()

    async def wait(self, timeout: float) -> None:
        """Waits until notified or `timeout` seconds pass."""
        with contextlib.suppress(TimeoutError):
            # Not asyncio.wait_for: on Python 3.11 it swallows a cancel that arrives as the
            # event is set, and the worker's loop then never stops (a hung shutdown).
            async with asyncio.timeout(timeout):
                await self._event.wait()
        self._event.clear()


class LatestTasks:
    """Background jobs keyed by what they work on, the latest one per key: starting a job for a
    key cancels (and waits for) the one still running for it, so two never overlap.

    A job that fails is logged and forgotten; what it works on must say where it stopped, so
    the next start of the service resumes it.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._running: dict[str, asyncio.Task[None]] = {}
        self._stopped = False

    def start(self, key: str, job: Callable[[], Awaitable[None]]) -> None:
        """Runs `job` for `key` in the background (after the stop: not at all, so nothing
        starts while the process shuts down; the next start of the service resumes it)."""
        if self._stopped:
            logger.info("%s %s not started: stopping; the next start resumes it", self._name, key)
            return
        previous = self._running.pop(key, None)
        task = asyncio.create_task(self._run(key, job, previous), name=f"{self._name}-{key}")
        self._running[key] = task

        def forget(done: asyncio.Task[None]) -> None:
            if self._running.get(key) is done:
                del self._running[key]

        task.add_done_callback(forget)

    async def _run(
        self, key: str, job: Callable[[], Awaitable[None]], previous: asyncio.Task[None] | None
    ) -> None:
        if previous is not None:
            previous.cancel()
            await asyncio.gather(previous, return_exceptions=True)
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("%s %s failed; the next start resumes it", self._name, key)

    async def wait_idle(self) -> None:
        """Waits until no job runs (for tests and orderly shutdown)."""
        while self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def stop(self) -> None:
        """Cancels the running jobs and starts no more; they resume on the next start."""
        self._stopped = True
        await cancel_within(list(self._running.values()), STOP_WAIT_SECONDS, self._name)


class BatchWorker:
    """Runs `process_batch` until cancelled; sleeps between partial batches until woken or polled.

    `process_batch` returns how many items it handled; a full batch means more may be waiting,
    so the next one starts at once. Polling covers work committed by other processes.
    """

    def __init__(
        self,
        name: str,
        process_batch: Callable[[], Awaitable[int]],
        *,
        batch_size: int,
        wakeup: Wakeup,
        poll_interval_seconds: float,
    ) -> None:
        self.name = name
        self._process_batch = process_batch
        self._batch_size = batch_size
        self._wakeup = wakeup
        self._poll_interval = poll_interval_seconds
        self._task: asyncio.Task[None] | None = None
        # Set by `stop`: the loop ends at its next turn even if a library swallowed the cancel
        # (PyMongo's `asyncio.wait_for` on Python 3.11 can turn it into the error it raises).
        self._stopping = False

    async def run(self) -> None:
        """Processes batches until cancelled or stopped; a failed batch is retried after the
        poll interval."""
        while not self._stopping:
            try:
                handled = await self._process_batch()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("%s: batch failed; retrying", self.name)
                handled = 0
            if handled < self._batch_size:
                await self._wakeup.wait(self._poll_interval)

    def start(self) -> None:
        """Starts the loop in the background."""
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self.run(), name=self.name)

    async def stop(self) -> None:
        """Stops the loop; interrupted work is picked up again by the next run."""
        self._stopping = True
        if self._task is not None:
            await cancel_within([self._task], STOP_WAIT_SECONDS, self.name)
            self._task = None
