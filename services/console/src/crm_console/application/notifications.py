"""The signed-in person's notifications (from sequences' `notify_owner` steps)."""

from __future__ import annotations

from typing import Any

from crm_console.adapters.gateway_api import Caller, GatewayApi
from crm_console.application.lookups import API

PAGE_SIZE = 50


class Inbox:
    def __init__(self, api: GatewayApi) -> None:
        self._api = api

    async def page(self, caller: Caller, *, unread: bool, cursor: str | None) -> dict[str, Any]:
        found: dict[str, Any] = await self._api.get(
            caller,
            f"{API}/notifications",
            {"unread": "true" if unread else None, "cursor": cursor, "limit": PAGE_SIZE},
        )
        return found

    async def mark_read(self, caller: Caller, notification_id: str) -> dict[str, Any]:
        read: dict[str, Any] = await self._api.send(
            caller, "POST", f"{API}/notifications/{notification_id}/read"
        )
        return read
