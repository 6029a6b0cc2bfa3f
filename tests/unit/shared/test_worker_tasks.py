"""Keyed background jobs: the latest per key runs, the one it replaces is cancelled first."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import pytest

from crm_shared import LatestTasks
from crm_shared import worker as worker_module
from crm_shared.worker import BatchWorker, Wakeup

pytestmark = pytest.mark.unit


async def test_a_new_job_for_a_key_cancels_the_running_one_before_it_starts() -> None:
    tasks = LatestTasks("test")
    events: list[str] = []
    first_started = asyncio.Event()

    async def slow() -> None:
        events.append("first started")
        first_started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            events.append("first cancelled")
            raise

    async def quick() -> None:
        events.append("second ran")

    async def other() -> None:
        events.append("other key ran")

    tasks.start("a", slow)
    await first_started.wait()
    tasks.start("b", other)
    tasks.start("a", quick)
    await tasks.wait_idle()
    assert events.index("first cancelled") < events.index("second ran")
    assert "other key ran" in events


async def test_a_failing_job_is_logged_and_forgotten(caplog: pytest.LogCaptureFixture) -> None:
    tasks = LatestTasks("test")

    async def broken() -> None:
        raise RuntimeError("database away")

    tasks.start("a", broken)
    await tasks.wait_idle()
    assert "test a failed" in caplog.text


async def test_a_cancel_that_arrives_as_the_worker_is_woken_still_stops_it() -> None:
    wakeup = Wakeup()
    waiting = asyncio.create_task(wakeup.wait(10))
    await asyncio.sleep(0)
    # The notify and the cancel land in the same turn of the loop: asyncio.wait_for on Python
    # 3.11 returned normally here, and a worker's loop went on forever.
    wakeup.notify()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_a_worker_whose_batch_ignores_its_cancel_is_abandoned_at_stop(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_module, "STOP_WAIT_SECONDS", 0.2)

    released = asyncio.Event()

    async def stubborn_batch() -> int:
        while not released.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await released.wait()
        return 0

    worker = BatchWorker(
        "stubborn", stubborn_batch, batch_size=1, wakeup=Wakeup(), poll_interval_seconds=1
    )
    worker.start()
    await asyncio.sleep(0)
    abandoned = next(task for task in asyncio.all_tasks() if task.get_name() == "stubborn")
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="crm_shared.worker"):
        await worker.stop()
    assert time.monotonic() - started < 5
    assert "did not stop within" in caplog.text
    released.set()
    while not abandoned.done():
        abandoned.cancel()
        await asyncio.sleep(0.01)


async def test_a_worker_whose_cancel_a_batch_swallows_still_ends_at_stop() -> None:
    """A batch that turns its cancel into an error (as PyMongo's `wait_for` can): the stop
    flag ends the loop at its next turn, so the abandoned task does not run on."""
    batches: list[int] = []

    async def swallowing_batch() -> int:
        batches.append(1)
        if len(batches) > 1:  # the loop ran on: only a cancel ends it now
            await asyncio.sleep(10)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(10)
        raise ConnectionError("the database went away")

    worker = BatchWorker(
        "swallowing", swallowing_batch, batch_size=1, wakeup=Wakeup(), poll_interval_seconds=0
    )
    worker.start()
    await asyncio.sleep(0.05)
    task = next(task for task in asyncio.all_tasks() if task.get_name() == "swallowing")
    await worker.stop()
    # Not wait_for: it would wait for ever on a task that swallows the cancel it sends.
    ended, _ = await asyncio.wait([task], timeout=2)
    assert ended, f"the worker's loop ran on after its stop ({len(batches)} batches)"
    assert batches == [1]


async def test_no_job_starts_after_the_stop(caplog: pytest.LogCaptureFixture) -> None:
    tasks = LatestTasks("test")
    ran: list[str] = []

    async def job() -> None:
        ran.append("ran")

    await tasks.stop()
    with caplog.at_level(logging.INFO, logger="crm_shared.worker"):
        tasks.start("a", job)
    await tasks.wait_idle()
    await asyncio.sleep(0)
    assert ran == []
    assert "not started: stopping" in caplog.text
