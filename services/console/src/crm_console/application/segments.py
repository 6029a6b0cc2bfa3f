"""Segments through the API: the list, a rule's live count and sample (the API's preview),
save, edit and delete; and what the builder chooses from (pools, other segments, custom
fields), fetched together."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from crm_console.adapters.gateway_api import ApiProblem, Caller, GatewayApi, SignedOut
from crm_console.domain.problems import Problem
from crm_console.domain.segments import FieldCatalogue, id_choices

API = "/api/v1"
SAMPLE_SIZE = 10


@dataclass(frozen=True)
class BuilderChoices:
    catalogue: FieldCatalogue
    pools: list[dict[str, Any]]
    segments: list[dict[str, Any]]
    # Fields whose values are ids, with what they name: (value, label) per field.
    known_values: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Preview:
    """A rule's count and sample now, or why there is none (its errors by API path)."""

    count: int | None = None
    sample: list[dict[str, Any]] = field(default_factory=list)
    problem: Problem | None = None


async def _or_empty(call: Any) -> list[dict[str, Any]]:
    try:
        found: list[dict[str, Any]] = await call
    except SignedOut:
        raise
    except ApiProblem:
        return []
    return found


async def _items_or_empty(call: Any) -> list[dict[str, Any]]:
    """A paged answer's items (`{"items": [...]}`), empty when not readable."""
    try:
        found: dict[str, Any] = await call
    except SignedOut:
        raise
    except ApiProblem:
        return []
    return list(found.get("items") or [])


class SegmentDesk:
    """What the segment pages ask the API."""

    def __init__(self, api: GatewayApi) -> None:
        self._api = api

    async def segments(self, caller: Caller) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = await self._api.get(caller, f"{API}/segments")
        return found

    async def segment(self, caller: Caller, segment_id: str) -> dict[str, Any]:
        found: dict[str, Any] = await self._api.get(caller, f"{API}/segments/{segment_id}")
        return found

    async def choices(self, caller: Caller, editing: str | None = None) -> BuilderChoices:
        """Pools, the other segments, the custom fields, and the events and members that
        id-valued fields name (each empty when not readable)."""
        pools, segments, custom, events, team = await asyncio.gather(
            _or_empty(self._api.get(caller, f"{API}/pools")),
            _or_empty(self._api.get(caller, f"{API}/segments")),
            _or_empty(self._api.get(caller, f"{API}/custom-fields")),
            _or_empty(self._api.get(caller, f"{API}/events")),
            _items_or_empty(self._api.get(caller, f"{API}/team")),
        )
        return BuilderChoices(
            catalogue=FieldCatalogue.of(custom),
            pools=pools,
            segments=[segment for segment in segments if segment["id"] != editing],
            known_values=id_choices(events, team),
        )

    async def preview(
        self, caller: Caller, rule: dict[str, Any], segment_id: str | None
    ) -> Preview:
        """The rule's count and sample; a rule of the segment `segment_id` is checked as its
        save would be (a reference back to it is refused)."""
        body: dict[str, Any] = {"rule": rule, "sample_size": SAMPLE_SIZE}
        if segment_id:
            body["segment_id"] = segment_id
        try:
            found = await self._api.send(caller, "POST", f"{API}/segments/preview", body)
        except SignedOut:
            raise
        except ApiProblem as refused:
            return Preview(problem=refused.problem)
        return Preview(count=int(found["count"]), sample=list(found.get("sample", [])))

    async def save(
        self, caller: Caller, segment_id: str | None, name: str, rule: dict[str, Any]
    ) -> dict[str, Any]:
        """Creates the segment, or changes its name and rule."""
        body = {"name": name, "rule": rule}
        if segment_id is None:
            created: dict[str, Any] = await self._api.send(caller, "POST", f"{API}/segments", body)
            return created
        changed: dict[str, Any] = await self._api.send(
            caller, "PATCH", f"{API}/segments/{segment_id}", body
        )
        return changed

    async def delete(self, caller: Caller, segment_id: str) -> None:
        await self._api.send(caller, "DELETE", f"{API}/segments/{segment_id}")
