"""Sequences: the list, the builder's choices, a sequence with its enrolments by state, and
the writes (create, edit, pause, resume, enrol; pause, resume, retry or remove one enrolment)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from crm_console.adapters.gateway_api import Caller, GatewayApi
from crm_console.application.lookups import API, Choices, choices, if_match
from crm_console.application.parts import part


@dataclass(frozen=True)
class BuilderChoices:
    """What the builder's selects offer."""

    templates: Choices
    segments: Choices
    pools: Choices
    events: Choices

    def names(self) -> dict[str, str]:
        """Names by id of everything a definition can refer to."""
        return {
            **self.templates.names(),
            **self.segments.names(),
            **self.pools.names(),
            **self.events.names(),
        }


@dataclass(frozen=True)
class SequenceView:
    sequence: dict[str, Any]
    states: dict[str, Any]
    enrolments: dict[str, Any]
    """One page of enrolments: `items`, and `next_cursor` when there are more."""
    names: dict[str, str]


class SequenceDesk:
    """What the sequence pages read and write."""

    def __init__(self, api: GatewayApi) -> None:
        self._api = api

    async def all(self, caller: Caller) -> Choices:
        return await choices(self._api.get(caller, f"{API}/sequences"))

    async def builder_choices(self, caller: Caller) -> BuilderChoices:
        templates, segments, pools, events = await asyncio.gather(
            choices(self._api.get(caller, f"{API}/templates")),
            choices(self._api.get(caller, f"{API}/segments")),
            choices(self._api.get(caller, f"{API}/pools")),
            choices(self._api.get(caller, f"{API}/events")),
        )
        return BuilderChoices(templates, segments, pools, events)

    async def sequence(self, caller: Caller, sequence_id: str) -> dict[str, Any]:
        found: dict[str, Any] = await self._api.get(caller, f"{API}/sequences/{sequence_id}")
        return found

    async def view(
        self, caller: Caller, sequence_id: str, state: str | None, cursor: str | None = None
    ) -> SequenceView:
        """A sequence, its counts by state and a page of its enrolments (of one state), one
        call each."""
        sequence, states, enrolments, lookups = await asyncio.gather(
            self.sequence(caller, sequence_id),
            self._api.get(caller, f"{API}/sequences/{sequence_id}/enrolment-states"),
            self._api.get(
                caller,
                f"{API}/sequences/{sequence_id}/enrolments",
                {"state": state or None, "cursor": cursor, "limit": 50},
            ),
            self.builder_choices(caller),
        )
        return SequenceView(sequence, states, enrolments, lookups.names())

    async def create(self, caller: Caller, definition: dict[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = await self._api.send(
            caller, "POST", f"{API}/sequences", definition
        )
        return created

    async def edit(
        self, caller: Caller, sequence_id: str, definition: dict[str, Any], version: str
    ) -> dict[str, Any]:
        changes = {k: v for k, v in definition.items() if k != "enrol_current_members"}
        edited: dict[str, Any] = await self._api.send(
            caller,
            "PATCH",
            f"{API}/sequences/{sequence_id}",
            changes,
            headers=if_match(version),
        )
        return edited

    async def change_status(self, caller: Caller, sequence_id: str, action: str) -> None:
        await self._api.send(caller, "POST", f"{API}/sequences/{sequence_id}/{action}")

    async def enrol(
        self, caller: Caller, sequence_id: str, candidate_ids: list[str]
    ) -> dict[str, Any]:
        outcome: dict[str, Any] = await self._api.send(
            caller,
            "POST",
            f"{API}/sequences/{sequence_id}/enrolments",
            {"candidate_ids": candidate_ids},
        )
        return outcome

    async def act_on_enrolment(
        self, caller: Caller, sequence_id: str, candidate_id: str, action: str
    ) -> dict[str, Any]:
        """Pauses, resumes or retries one enrolment, or removes the candidate (`remove`); the
        enrolment as the API answers with it."""
        url = f"{API}/sequences/{sequence_id}/enrolments/{candidate_id}"
        if action == "remove":
            removed: dict[str, Any] = await self._api.send(caller, "DELETE", url)
            return removed
        changed: dict[str, Any] = await self._api.send(caller, "POST", f"{url}/{action}")
        return changed

    async def state_counts(self, caller: Caller, sequence_id: str) -> dict[str, int]:
        """How many enrolments are in each state now (one call); none when unreadable (the
        counts then stay as they were)."""
        answer = await part(
            self._api.get(caller, f"{API}/sequences/{sequence_id}/enrolment-states")
        )
        states = answer.data.get("states") if isinstance(answer.data, dict) else None
        return {str(k): int(v) for k, v in (states or {}).items()}

    async def find_candidates(self, caller: Caller, query: str) -> Choices:
        return await choices(
            self._api.get(
                caller, f"{API}/candidates", {"q": query.strip()[:200] or None, "limit": 10}
            )
        )
