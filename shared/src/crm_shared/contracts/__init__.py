"""Event contracts: the envelope, one payload model per topic, and the topic catalog."""

from crm_shared.contracts.catalog import (
    CANDIDATE_CREATED,
    DEAD_LETTER_SUFFIX,
    TOPICS,
    TopicSpec,
    all_topic_names,
    topic_spec,
)
from crm_shared.contracts.envelope import EventEnvelope, RawEnvelope, utc_now
from crm_shared.contracts.events import CandidateCreated

__all__ = [
    "CANDIDATE_CREATED",
    "DEAD_LETTER_SUFFIX",
    "TOPICS",
    "CandidateCreated",
    "EventEnvelope",
    "RawEnvelope",
    "TopicSpec",
    "all_topic_names",
    "topic_spec",
    "utc_now",
]
