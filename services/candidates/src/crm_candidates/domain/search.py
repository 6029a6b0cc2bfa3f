"""A keyword search over a tenant's candidates, as the use cases ask it of the store."""

from __future__ import annotations

from dataclasses import dataclass
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
