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
SORTS = {
    "-created_at": "Newest",
    "-updated_at": "Recently updated",
    "name": "Name",
    "created_at": "Oldest",
}
DEFAULT_SORT = "-created_at"
CONSENT = {"yes": "Given", "no": "Not given"}
PAGE_SIZE = 25
# A pool and stage in one select value: `<pool id>` (any stage) or `<pool id>::<stage>`.
PLACEMENT_SEPARATOR = "::"


def _words(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


@dataclass(frozen=True)
class CandidateFilters:
    q: str = ""
    skills: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    source: str = ""
    sort: str = DEFAULT_SORT
    cursor: str = ""
    location: str = ""
    placement: str = ""
    segment: str = ""
    consent: str = ""
    min_engagement: float | None = None

    @classmethod
    def from_query(cls, query: dict[str, str]) -> CandidateFilters:
        """Filters from the page's query string; unknown sources and sorts are dropped."""
        source = query.get("source", "")
        sort = query.get("sort", DEFAULT_SORT)
        return cls(
            q=query.get("q", "").strip()[:200],
            skills=_words(query.get("skills")),
            tags=_words(query.get("tags")),
            source=source if source in SOURCES else "",
            sort=sort if sort in SORTS else DEFAULT_SORT,
            cursor=query.get("cursor", ""),
            location=query.get("location", "").strip()[:200],
            placement=query.get("placement", "").strip()[:200],
            segment=query.get("segment", "").strip()[:64],
            consent=query.get("consent", "") if query.get("consent") in CONSENT else "",
            min_engagement=_score(query.get("min_engagement")),
        )

    @property
    def pool_and_stage(self) -> tuple[str | None, str | None]:
        """The pool and stage the placement select names (either may be None)."""
        if not self.placement:
            return None, None
        pool_id, _, stage = self.placement.partition(PLACEMENT_SEPARATOR)
        return pool_id or None, (stage or None) if pool_id else None

    def query_params(self) -> dict[str, Any]:
        """The API's query parameters for one page."""
        pool_id, stage = self.pool_and_stage
        return {
            "q": self.q or None,
            "skill": self.skills,
            "tag": self.tags,
            "source": self.source or None,
            "location": self.location or None,
            "pool_id": pool_id,
            "stage": stage,
            "segment_id": self.segment or None,
            "marketing_consent": {"yes": "true", "no": "false"}.get(self.consent),
            "min_engagement": self.min_engagement,
            "sort": self.sort,
            "cursor": self.cursor or None,
            "limit": PAGE_SIZE,
        }


def _score(text: str | None) -> float | None:
    """A minimum engagement score from the query; anything but a number >= 0 is no filter."""
    try:
        value = float(text) if text else None
    except ValueError:
        return None
    return value if value is not None and 0 <= value < 1e6 else None


def placement_value(pool_id: str, stage: str | None = None) -> str:
    """The placement select's value for a pool (and stage)."""
    return f"{pool_id}{PLACEMENT_SEPARATOR}{stage}" if stage else pool_id


SKILLS_SHOWN = 4


@dataclass(frozen=True)
class SkillsCell:
    shown: list[str]
    more: int

    @property
    def more_text(self) -> str:
        return f"+{self.more} more" if self.more else ""


def skills_cell(skills: list[str], filtered: list[str], limit: int = SKILLS_SHOWN) -> SkillsCell:
    """The list's skills column: the skills the search filters by first (so a match is seen),
    then the others in their order, at most `limit`, and how many more there are."""
    wanted = {skill.strip().casefold() for skill in filtered}
    ordered = [s for s in skills if s.casefold() in wanted] + [
        s for s in skills if s.casefold() not in wanted
    ]
    return SkillsCell(ordered[:limit], max(0, len(ordered) - limit))
