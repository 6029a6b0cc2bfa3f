"""Helpers shared by the test tiers: unique names and bounded waiting."""

from __future__ import annotations

import asyncio
import io
import json
import secrets
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import BaseModel
from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
)

from crm_shared import EventEnvelope, TopicSpec
from crm_shared.bootstrap import SERVER_KEEP_ALIVE_SECONDS

# A stack's app stops in seconds (its relay and Kafka clients have an 8 s grace); past this its
# shutdown hangs, and the test session must go on.
STOP_TIMEOUT_SECONDS = 60.0


def ats_secret_keys() -> str:
    """A fresh `ATS_SECRET_KEYS` value: one random key-encryption key."""
    return f"test:{secrets.token_urlsafe(32)}"


def unique(prefix: str) -> str:
    """A name no other test uses, so tests share infrastructure without wiping it."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def _seconds_to_wait_for_a_whole_minute_window(needed: float) -> float:
    """Rate limits count per wall-clock minute: a test whose requests must share one window
    waits out the last `needed` seconds of a minute (0 when more are left)."""
    left = 60 - time.time() % 60
    return left + 0.1 if left < needed else 0.0


def wait_out_a_minutes_end(needed: float = 10.0) -> None:
    """Blocks until at least `needed` seconds of the current minute are left."""
    time.sleep(_seconds_to_wait_for_a_whole_minute_window(needed))


async def await_out_a_minutes_end(needed: float = 10.0) -> None:
    """`wait_out_a_minutes_end` for async tests."""
    await asyncio.sleep(_seconds_to_wait_for_a_whole_minute_window(needed))


async def eventually(
    condition: Callable[[], Awaitable[bool]],
    *,
    timeout: float = 30.0,
    interval: float = 0.1,
    message: str | Callable[[], str] = "condition not met",
) -> None:
    """Waits until `condition()` is true, failing after `timeout` seconds; `message` may be a
    callable, read at the failure, to say what was last seen."""
    deadline = time.monotonic() + timeout
    while True:
        if await condition():
            return
        if time.monotonic() > deadline:
            said = message() if callable(message) else message
            raise AssertionError(f"{said} within {timeout}s")
        await asyncio.sleep(interval)


def record_headers(record: Any) -> dict[str, str]:
    """The headers of an aiokafka ConsumerRecord as text."""
    return {name: value.decode() for name, value in record.headers}


@asynccontextmanager
async def serving(app: Any, port: int) -> AsyncIterator[str]:
    """Serves an ASGI app with uvicorn (lifespan included) on a local port; yields its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            timeout_keep_alive=SERVER_KEEP_ALIVE_SECONDS,
            # Requests still running at shutdown are cut after this, as in a deployment.
            timeout_graceful_shutdown=10,
            # As every deployment runs it: the gateway decides whom X-Forwarded-For is from.
            proxy_headers=False,
        )
    )
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        if task.done():
            task.result()
        return server.started

    try:
        await eventually(started, timeout=60, interval=0.05, message="the app did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        # Also when the start timed out: a server left starting would join its consumer groups
        # later and work on the shared database beside the tests that follow.
        server.should_exit = True
        await _stopped(server, task, port)


async def _stopped(server: uvicorn.Server, task: asyncio.Task[None], port: int) -> None:
    """Waits for the server's shutdown; one that hangs is cut short and reported (a warning with
    every pending task's stack) instead of hanging the test session."""
    try:
        await asyncio.wait_for(asyncio.shield(task), STOP_TIMEOUT_SECONDS)
        return
    except TimeoutError:
        pending = io.StringIO()
        for other in asyncio.all_tasks():
            if not other.done():
                other.print_stack(limit=12, file=pending)
        warnings.warn(
            f"the app on port {port} did not stop within {STOP_TIMEOUT_SECONDS} s; "
            f"pending tasks:\n{pending.getvalue()}",
            stacklevel=2,
        )
    server.force_exit = True
    task.cancel()
    # asyncio.wait, unlike wait_for, returns at the timeout even if the task ignores the cancel.
    await asyncio.wait({task}, timeout=10)


async def read_events(
    bootstrap_servers: str,
    topic: str,
    *,
    where: Callable[[dict[str, Any]], bool],
    count: int,
    timeout: float = 30.0,
) -> list[dict[str, Any]]:
    """The first `count` envelopes on `topic` (read from the start) for which `where` holds."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers,
        group_id=unique("reader"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:

        async def enough() -> bool:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    envelope = json.loads(record.value)
                    if where(envelope):
                        found.append(envelope)
            return len(found) >= count

        await eventually(enough, timeout=timeout, interval=0, message=f"{count} events on {topic}")
    finally:
        await consumer.stop()
    return found


async def publish_event(
    bootstrap_servers: str,
    spec: TopicSpec,
    *,
    tenant_id: str,
    subject: str,
    data: BaseModel,
    event_id: uuid.UUID | None = None,
    copies: int = 1,
) -> str:
    """Publishes an event of the catalog topic `spec` as another service would (`copies` times,
    as a redelivery would); returns its id."""
    envelope = EventEnvelope[Any](
        id=event_id or uuid.uuid4(),
        type=spec.name,
        source="tests",
        tenant_id=tenant_id,
        subject=subject,
        schema_version=spec.schema_version,
        data=data,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
    await producer.start()
    try:
        for _ in range(copies):
            await producer.send_and_wait(
                spec.name, envelope.model_dump_json().encode(), key=subject.encode()
            )
    finally:
        await producer.stop()
    return str(envelope.id)


class Commands(CommandListener):
    """The commands a client sent, by name."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: CommandStartedEvent) -> None:
        self.names.append(event.command_name)

    def succeeded(self, event: CommandSucceededEvent) -> None:
        pass

    def failed(self, event: CommandFailedEvent) -> None:
        pass
