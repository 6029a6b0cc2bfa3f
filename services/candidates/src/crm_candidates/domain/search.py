"""A keyword search over a tenant's candidates, as the use cases ask it of the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SearchQuery:
    """A keyword search with filters, one page at a time."""

    tokens: list[str]
    tags: list[str]
    skills: list[str]
    source: str | None
    owner_id: str | None
    sort: str
    after: tuple[Any, str] | None
    limit: int
    # Set by an exact lookup (email, phone): only these records can match.
    candidate_ids: list[str] | None = None
    # Normalised as segment facets are (trimmed, single-spaced, lower-case): "berlin".
    location: str | None = None
    # In this pool (at this stage, when given).
    pool_id: str | None = None
    stage: str | None = None
    segment_id: str | None = None
    marketing_consent: bool | None = None
    min_engagement: float | None = None
    # A token typed with a German umlaut -> its spelling with the umlaut spelt out: a record
    # holding either matches it (`identity.query_spellings`).
    spellings: dict[str, str] = field(default_factory=dict)
