"""The candidate list's filters as the page's query string holds them, and as the API takes
them: the page's URL is shareable and the back button restores a search."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SOURCES = {
    "sourced": "Sourced",
    "referral": "Referral",
    "event": "Event",
    "career_site": "Career site",
    "ats_import": "ATS import",
}
SORTS = {"created_at": "Newest", "updated_at": "Recently updated", "name": "Name"}
PAGE_SIZE = 25


def _words(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


@dataclass(frozen=True)
class CandidateFilters:
    q: str = ""
    skills: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    source: str = ""
    sort: str = "created_at"
    cursor: str = ""

    @classmethod
    def from_query(cls, query: dict[str, str]) -> CandidateFilters:
        """Filters from the page's query string; unknown sources and sorts are dropped."""
        source = query.get("source", "")
        sort = query.get("sort", "created_at")
        return cls(
            q=query.get("q", "").strip()[:200],
            skills=_words(query.get("skills")),
            tags=_words(query.get("tags")),
            source=source if source in SOURCES else "",
            sort=sort if sort in SORTS else "created_at",
            cursor=query.get("cursor", ""),
        )

    def query_params(self) -> dict[str, Any]:
        """The API's query parameters for one page."""
        return {
            "q": self.q or None,
            "skill": self.skills,
            "tag": self.tags,
            "source": self.source or None,
            "sort": self.sort,
            "cursor": self.cursor or None,
            "limit": PAGE_SIZE,
        }
