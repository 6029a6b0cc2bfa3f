"""Helpers shared by the test tiers: unique names and bounded waiting."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any


def unique(prefix: str) -> str:
    """A name no other test uses, so tests share infrastructure without wiping it."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


async def eventually(
    condition: Callable[[], Awaitable[bool]],
    *,
    timeout: float = 30.0,
    interval: float = 0.1,
    message: str = "condition not met",
) -> None:
    """Waits until `condition()` is true, failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if await condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} within {timeout}s")
        await asyncio.sleep(interval)


def record_headers(record: Any) -> dict[str, str]:
    """The headers of an aiokafka ConsumerRecord as text."""
    return {name: value.decode() for name, value in record.headers}
