"""Broadcasts: the list, the composer's choices, a broadcast's progress, and its controls."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from crm_console.adapters.gateway_api import Caller, Download, GatewayApi
from crm_console.application.lookups import API, Choices, choices
from crm_console.application.message_reports import MessageReports
from crm_console.application.parts import Part, part
from crm_console.domain.broadcast_people import SHOWN, SKIPPED_STATES, WAITING_STATES

CONTROLS = frozenset({"send", "pause", "resume", "cancel"})


@dataclass(frozen=True)
class ComposerChoices:
    templates: Choices
    segments: Choices
    pools: Choices
    lists: Choices

    def names(self) -> dict[str, str]:
        return {
            **self.templates.names(),
            **self.segments.names(),
            **self.pools.names(),
            **self.lists.names(),
        }


class BroadcastDesk:
    """What the broadcast pages read and write."""

    def __init__(self, api: GatewayApi) -> None:
        self._api = api

    async def page(self, caller: Caller, cursor: str | None) -> dict[str, Any]:
        found: dict[str, Any] = await self._api.get(
            caller, f"{API}/broadcasts", {"cursor": cursor, "limit": 50}
        )
        return found

    async def composer_choices(self, caller: Caller) -> ComposerChoices:
        templates, segments, pools, lists = await asyncio.gather(
            choices(self._api.get(caller, f"{API}/templates")),
            choices(self._api.get(caller, f"{API}/segments")),
            choices(self._api.get(caller, f"{API}/pools")),
            choices(self._api.get(caller, f"{API}/lists")),
        )
        return ComposerChoices(templates, segments, pools, lists)

    async def broadcast(self, caller: Caller, broadcast_id: str) -> dict[str, Any]:
        found: dict[str, Any] = await self._api.get(caller, f"{API}/broadcasts/{broadcast_id}")
        return found

    async def report(self, caller: Caller, broadcast_id: str) -> Part:
        """The analytics API's message report of the broadcast (totals, per A/B variant and
        per day), or why it cannot be shown."""
        return await MessageReports(self._api).report(caller, "broadcast", broadcast_id)

    async def report_csv(
        self, caller: Caller, broadcast_id: str, params: dict[str, str]
    ) -> Download:
        """The message report as the analytics API's CSV file (`params`: its separator)."""
        return await MessageReports(self._api).csv(caller, "broadcast", broadcast_id, params)

    async def failed_messages(
        self, caller: Caller, broadcast_id: str, cursor: str | None
    ) -> dict[str, Any]:
        """One page of the broadcast's messages that failed, each with its reason."""
        found: dict[str, Any] = await self._api.get(
            caller,
            f"{API}/messages",
            {"broadcast_id": broadcast_id, "status": "failed", "cursor": cursor, "limit": 50},
        )
        return found

    async def people(self, caller: Caller, broadcast: dict[str, Any]) -> dict[str, Part]:
        """The first `SHOWN` messages of each state the waiting and skipped panels list, by
        state (one call each, together; a state the counts say is empty is not asked)."""
        progress = broadcast.get("progress") or {}
        counts = {
            "queued": int(progress.get("pending") or 0),
            "held": int(progress.get("held") or 0),
            "suppressed": int(progress.get("skipped") or 0),
        }
        asked = [state for state in (*WAITING_STATES, *SKIPPED_STATES) if counts[state]]
        found = await asyncio.gather(
            *(
                part(self.messages(caller, str(broadcast["id"]), state, None, SHOWN))
                for state in asked
            )
        )
        return dict(zip(asked, found, strict=True))

    async def messages(
        self, caller: Caller, broadcast_id: str, status: str, cursor: str | None, limit: int = 50
    ) -> dict[str, Any]:
        """One page of the broadcast's messages in `status`, each naming its recipient."""
        found: dict[str, Any] = await self._api.get(
            caller,
            f"{API}/messages",
            {"broadcast_id": broadcast_id, "status": status, "cursor": cursor, "limit": limit},
        )
        return found

    async def create(self, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = await self._api.send(caller, "POST", f"{API}/broadcasts", body)
        return created

    async def control(self, caller: Caller, broadcast_id: str, action: str) -> dict[str, Any]:
        """Sends, pauses, resumes or cancels the broadcast; its state after."""
        if action not in CONTROLS:
            raise ValueError(f"unknown broadcast action {action!r}")
        changed: dict[str, Any] = await self._api.send(
            caller, "POST", f"{API}/broadcasts/{broadcast_id}/{action}"
        )
        return changed

    async def delete(self, caller: Caller, broadcast_id: str) -> None:
        await self._api.send(caller, "DELETE", f"{API}/broadcasts/{broadcast_id}")
