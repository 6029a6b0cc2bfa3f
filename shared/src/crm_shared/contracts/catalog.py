"""The topic catalog: every topic on the bus, its payload model, key and partition count."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from crm_shared.contracts.events import (
    AtsApplicationCreated,
    CandidateCreated,
    CandidateUpdated,
    EventRegistered,
    MessageClicked,
    MessageOpened,
    MessageSent,
    SegmentEntered,
    SegmentExited,
)

DEAD_LETTER_SUFFIX = ".dlq"


@dataclass(frozen=True)
class TopicSpec:
    """One topic of the catalog."""

    name: str
    payload: type[BaseModel]
    schema_version: int
    key: str
    partitions: int
    description: str

    @property
    def dead_letter_topic(self) -> str:
        """Where messages that cannot be processed from this topic end up."""
        return self.name + DEAD_LETTER_SUFFIX


# Every event about a known candidate is keyed by candidate id so one person's events stay in
# order; an event about somebody not yet matched is keyed by their normalised email.
CANDIDATE_KEY = "candidate id"
CANDIDATE_OR_EMAIL_KEY = "candidate id, or the normalised email when no candidate is matched"

CANDIDATE_CREATED = TopicSpec(
    name="candidate.created",
    payload=CandidateCreated,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="A candidate was created (manually, by import or from another service).",
)
CANDIDATE_UPDATED = TopicSpec(
    name="candidate.updated",
    payload=CandidateUpdated,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="A candidate's profile changed; the payload is the whole profile after it.",
)
SEGMENT_ENTERED = TopicSpec(
    name="segment.entered",
    payload=SegmentEntered,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="A candidate started matching a dynamic segment.",
)
SEGMENT_EXITED = TopicSpec(
    name="segment.exited",
    payload=SegmentExited,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="A candidate stopped matching a dynamic segment.",
)
MESSAGE_SENT = TopicSpec(
    name="message.sent",
    payload=MessageSent,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="A message was handed to its delivery channel (SMTP).",
)
MESSAGE_OPENED = TopicSpec(
    name="message.opened",
    payload=MessageOpened,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="A message's tracking pixel was loaded.",
)
MESSAGE_CLICKED = TopicSpec(
    name="message.clicked",
    payload=MessageClicked,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="A tracked link of a message was followed.",
)
EVENT_REGISTERED = TopicSpec(
    name="event.registered",
    payload=EventRegistered,
    schema_version=1,
    key=CANDIDATE_OR_EMAIL_KEY,
    partitions=6,
    description="Somebody registered for a recruiting event.",
)
ATS_APPLICATION_CREATED = TopicSpec(
    name="ats.application_created",
    payload=AtsApplicationCreated,
    schema_version=1,
    key=CANDIDATE_OR_EMAIL_KEY,
    partitions=6,
    description="An application was created in a connected applicant tracking system.",
)

TOPICS: tuple[TopicSpec, ...] = (
    CANDIDATE_CREATED,
    CANDIDATE_UPDATED,
    SEGMENT_ENTERED,
    SEGMENT_EXITED,
    MESSAGE_SENT,
    MESSAGE_OPENED,
    MESSAGE_CLICKED,
    EVENT_REGISTERED,
    ATS_APPLICATION_CREATED,
)

_BY_NAME = {spec.name: spec for spec in TOPICS}


def topic_spec(name: str) -> TopicSpec:
    """The catalog entry of a topic; unknown names are a programming error."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"topic {name!r} is not in the catalog") from None


def all_topic_names() -> list[str]:
    """Every topic that must exist on the broker, dead-letter topics included."""
    names: list[str] = []
    for spec in TOPICS:
        names.extend((spec.name, spec.dead_letter_topic))
    return names
