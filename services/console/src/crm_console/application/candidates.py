"""Candidate search and the profile page's data: each page is one or a few API calls, never
one per row."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from crm_console.adapters.gateway_api import ApiProblem, Caller, GatewayApi, SignedOut
from crm_console.domain.candidates import CandidateFilters

API = "/api/v1"


@dataclass(frozen=True)
class CandidateProfile:
    candidate: dict[str, Any]
    timeline: list[dict[str, Any]]
    engagement: dict[str, Any] | None
    engagement_unavailable: str | None


class CandidateDirectory:
    """What the candidate pages read."""

    def __init__(self, api: GatewayApi) -> None:
        self._api = api

    async def search(self, caller: Caller, filters: CandidateFilters) -> dict[str, Any]:
        """One page of matches: `{items, next_cursor}`."""
        page: dict[str, Any] = await self._api.get(
            caller, f"{API}/candidates", params=filters.query_params()
        )
        return page

    async def profile(self, caller: Caller, candidate_id: str) -> CandidateProfile:
        """The candidate, its latest activity and its engagement score, fetched together."""
        candidate, timeline, engagement = await asyncio.gather(
            self._api.get(caller, f"{API}/candidates/{candidate_id}"),
            self._api.get(caller, f"{API}/candidates/{candidate_id}/timeline", {"limit": 50}),
            self._engagement(caller, candidate_id),
            return_exceptions=True,
        )
        # The candidate itself decides the page: its problem (404, 403) is the page's.
        if isinstance(candidate, BaseException):
            raise candidate
        for other in (timeline, engagement):
            if isinstance(other, SignedOut):
                raise other
        score, unavailable = (
            (None, str(engagement)) if isinstance(engagement, BaseException) else engagement
        )
        return CandidateProfile(
            candidate=candidate,
            timeline=[] if isinstance(timeline, BaseException) else timeline.get("items", []),
            engagement=score,
            engagement_unavailable=unavailable,
        )

    async def _engagement(
        self, caller: Caller, candidate_id: str
    ) -> tuple[dict[str, Any] | None, str | None]:
        try:
            score = await self._api.get(
                caller, f"{API}/analytics/candidates/{candidate_id}/engagement"
            )
        except SignedOut:
            raise
        except ApiProblem as refused:
            return None, refused.problem.message
        return score, None
