"""Keyed background jobs: the latest per key runs, the one it replaces is cancelled first."""

from __future__ import annotations

import asyncio

import pytest

from crm_shared import LatestTasks

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
