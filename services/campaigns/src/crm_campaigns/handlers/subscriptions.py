"""Subscriptions declared as data: topic, handler name, the use case it calls, description."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from faststream.kafka import KafkaRouter

from crm_shared import Database, EventEnvelope, IdempotentConsumer, Session, TopicSpec

UseCase = Callable[[Database, str, Any, Session], Awaitable[object]]
TimedUseCase = Callable[[Database, str, Any, datetime, Session], Awaitable[object]]
Handle = Callable[[Database, EventEnvelope[Any], Session], Awaitable[object]]
BatchHandle = Callable[[Database, Sequence[EventEnvelope[Any]], Session], Awaitable[object]]


def payload(use_case: UseCase) -> Handle:
    """Calls the use case with the event's tenant and payload."""

    async def handle(database: Database, envelope: EventEnvelope[Any], session: Session) -> None:
        await use_case(database, envelope.tenant_id, envelope.data, session)

    return handle


def timed_payload(use_case: TimedUseCase) -> Handle:
    """Calls the use case with the event's tenant, payload and time."""

    async def handle(database: Database, envelope: EventEnvelope[Any], session: Session) -> None:
        await use_case(database, envelope.tenant_id, envelope.data, envelope.time, session)

    return handle


@dataclass(frozen=True)
class Subscription:
    """One subscriber of the service."""

    topic: TopicSpec
    # The handler's consumer group and the prefix of its processed-event markers: renaming it
    # would start a new group from the topic's beginning and apply every event again.
    name: str
    handle: Handle
    description: str


@dataclass(frozen=True)
class BatchSubscription:
    """One subscriber of the service that applies a fetched batch at once (bulk writes)."""

    topic: TopicSpec
    # As `Subscription.name`: the consumer group and marker prefix, never renamed.
    name: str
    handle: BatchHandle
    description: str


def subscribe(
    consumer: IdempotentConsumer,
    router: KafkaRouter,
    database: Database,
    subscriptions: tuple[Subscription | BatchSubscription, ...],
) -> None:
    """Subscribes one handler per subscription, named as it declares."""
    for subscription in subscriptions:
        if isinstance(subscription, BatchSubscription):
            consumer.subscribe_batch(
                router,
                subscription.topic,
                _batch_handler(subscription, database),
                group=subscription.name,
                description=subscription.description,
            )
            continue
        consumer.subscribe(
            router,
            subscription.topic,
            _handler(subscription, database),
            group=subscription.name,
            description=subscription.description,
        )


def _handler(
    subscription: Subscription, database: Database
) -> Callable[[EventEnvelope[Any], Session], Awaitable[None]]:
    handle = subscription.handle

    async def handler(envelope: EventEnvelope[Any], session: Session) -> None:
        await handle(database, envelope, session)

    handler.__name__ = handler.__qualname__ = subscription.name
    return handler


def _batch_handler(
    subscription: BatchSubscription, database: Database
) -> Callable[[Sequence[EventEnvelope[Any]], Session], Awaitable[None]]:
    handle = subscription.handle

    async def handler(envelopes: Sequence[EventEnvelope[Any]], session: Session) -> None:
        await handle(database, envelopes, session)

    handler.__name__ = handler.__qualname__ = subscription.name
    return handler
