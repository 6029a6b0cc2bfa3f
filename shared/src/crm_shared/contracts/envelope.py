"""The envelope every event on the bus travels in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field

PayloadT = TypeVar("PayloadT", bound=BaseModel)


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """`moment` with a time zone: one without an offset is read as UTC (producers send UTC, and
    BSON dates come back naive), so comparisons never mix naive and aware times."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class EventEnvelope(BaseModel, Generic[PayloadT]):
    """Metadata common to every event plus its typed payload in `data`."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: UUID = Field(
        default_factory=uuid4, description="Unique event id; consumers deduplicate on it."
    )
    type: str = Field(description="The topic name, e.g. `candidate.created`.")
    source: str = Field(description="The service that emitted the event.")
    time: datetime = Field(default_factory=utc_now, description="When the fact happened (UTC).")
    tenant_id: str = Field(min_length=1, description="The tenant the event belongs to.")
    subject: str = Field(min_length=1, description="The entity the event is about; also the key.")
    schema_version: int = Field(ge=1, description="Version of the payload schema for `type`.")
    data: PayloadT


# The envelope of any payload, parametrised once: `EventEnvelope[Any]` looks the parametrised
# class up again on every use, a measurable share of staging an event.
AnyEnvelope: type[EventEnvelope[Any]] = EventEnvelope[Any]


class RawEnvelope(BaseModel):
    """An envelope whose payload is not yet validated against its topic's model."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: UUID
    type: str
    source: str
    time: datetime
    tenant_id: str = Field(min_length=1)
    subject: str = Field(min_length=1)
    schema_version: int = Field(ge=1)
    data: dict[str, Any]
