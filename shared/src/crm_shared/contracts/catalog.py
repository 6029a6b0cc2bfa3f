"""The topic catalog: every topic on the bus, its payload model, key and partition count."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from crm_shared.contracts.events import CandidateCreated

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


# Every event about a candidate is keyed by candidate id so one person's events stay in order.
CANDIDATE_KEY = "candidate id (the envelope subject)"

CANDIDATE_CREATED = TopicSpec(
    name="candidate.created",
    payload=CandidateCreated,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="A candidate was created (manually, by import or from another service).",
)

TOPICS: tuple[TopicSpec, ...] = (CANDIDATE_CREATED,)

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
