"""What the profile settings pages read and change through the gateway's API (the candidates
service's): the default phone region, the skill vocabulary with the progress of re-spelling
after a change, and the custom fields."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from crm_console.adapters.gateway_api import ApiProblem, Caller, GatewayApi

API = "/api/v1"


class ProfileShape:
    """The phone region numbers are read in, and the skill vocabulary."""

    def __init__(self, api: GatewayApi) -> None:
        self._api = api

    async def profile_settings(self, caller: Caller) -> dict[str, Any]:
        found: dict[str, Any] = await self._api.get(caller, f"{API}/profile-settings")
        return found

    async def set_profile_settings(self, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        """The region national phone numbers are read in from now on (stored ones stay)."""
        saved: dict[str, Any] = await self._api.send(caller, "PUT", f"{API}/profile-settings", body)
        return saved

    async def vocabulary(self, caller: Caller) -> dict[str, Any]:
        """`{skills: [{canonical, synonyms}]}` in the tenant's order."""
        found: dict[str, Any] = await self._api.get(caller, f"{API}/skills/vocabulary")
        return found

    async def replace_vocabulary(self, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        """The whole vocabulary; stored skills are re-spelled in the background after it."""
        saved: dict[str, Any] = await self._api.send(
            caller, "PUT", f"{API}/skills/vocabulary", body
        )
        return saved

    async def respelling(self, caller: Caller) -> dict[str, Any] | None:
        """How far re-spelling after the last change got; None when it was never changed."""
        try:
            found: dict[str, Any] = await self._api.get(caller, f"{API}/skills/vocabulary/progress")
        except ApiProblem as refused:
            if refused.problem.status == 404:
                return None
            raise
        return found


class CustomFields:
    """The tenant's custom fields of candidates."""

    def __init__(self, api: GatewayApi) -> None:
        self._api = api

    @staticmethod
    def _path(key: str) -> str:
        return f"{API}/custom-fields/{quote(key, safe='')}"

    async def listed(self, caller: Caller, *, include_deleted: bool) -> list[dict[str, Any]]:
        """In the order they were defined; deleted ones too when asked."""
        found: list[dict[str, Any]] = await self._api.get(
            caller,
            f"{API}/custom-fields",
            params={"include_archived": "true" if include_deleted else None},
        )
        return found

    async def one(self, caller: Caller, key: str) -> dict[str, Any]:
        found: dict[str, Any] = await self._api.get(caller, self._path(key))
        return found

    async def create(self, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = await self._api.send(caller, "POST", f"{API}/custom-fields", body)
        return created

    async def edit(self, caller: Caller, key: str, body: dict[str, Any]) -> dict[str, Any]:
        """A new label, required or not, more choices (never fewer)."""
        edited: dict[str, Any] = await self._api.send(caller, "PATCH", self._path(key), body)
        return edited

    async def delete(self, caller: Caller, key: str) -> None:
        """A 409 names the segments whose rules use the field."""
        await self._api.send(caller, "DELETE", self._path(key))

    async def restore(self, caller: Caller, key: str) -> dict[str, Any]:
        restored: dict[str, Any] = await self._api.send(
            caller, "POST", f"{self._path(key)}/restore", {}
        )
        return restored
