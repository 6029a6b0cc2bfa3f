"""Talent pools through the API: the list, a new pool, a board (its members with their stages
in one call), a move between stages, and actions on a selection of members."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from crm_console.adapters.gateway_api import ApiProblem, Caller, GatewayApi, SignedOut
from crm_console.domain.pools import (
    BOARD_PAGE,
    BulkDone,
    BulkRequest,
    Column,
    board_columns,
    bulk_headline,
    bulk_summary,
)

API = "/api/v1"


@dataclass(frozen=True)
class Choices:
    """What a board's bulk actions choose from; a list the person may not read is None."""

    pools: list[dict[str, Any]]
    sequences: list[dict[str, Any]] | None


@dataclass(frozen=True)
class Board:
    pool: dict[str, Any]
    columns: list[Column]
    next_cursor: str | None
    choices: Choices


async def _readable(call: Any) -> Any:
    try:
        return await call
    except SignedOut:
        raise
    except ApiProblem:
        return None


class TalentPools:
    """What the talent pool pages ask the API."""

    def __init__(self, api: GatewayApi) -> None:
        self._api = api

    async def pools(self, caller: Caller) -> list[dict[str, Any]]:
        pools: list[dict[str, Any]] = await self._api.get(caller, f"{API}/pools")
        return pools

    async def create(
        self, caller: Caller, name: str, stages: list[str], description: str | None
    ) -> dict[str, Any]:
        created: dict[str, Any] = await self._api.send(
            caller,
            "POST",
            f"{API}/pools",
            {"name": name, "stages": stages, "description": description},
        )
        return created

    async def pool(self, caller: Caller, pool_id: str) -> dict[str, Any]:
        found: dict[str, Any] = await self._api.get(caller, f"{API}/pools/{pool_id}")
        return found

    async def rename(
        self, caller: Caller, pool_id: str, name: str, description: str | None
    ) -> None:
        """Renames the pool and changes its description (only those fields are sent)."""
        await self._api.send(
            caller, "PATCH", f"{API}/pools/{pool_id}", {"name": name, "description": description}
        )

    async def set_stages(self, caller: Caller, pool_id: str, stages: list[str]) -> None:
        """Reorders or extends the stages (the API keeps every current one)."""
        await self._api.send(caller, "PATCH", f"{API}/pools/{pool_id}", {"stages": stages})

    async def rename_stage(
        self, caller: Caller, pool_id: str, stage: str, name: str, version: str
    ) -> None:
        """Renames a stage from the pool version the editor showed (412 if it changed since)."""
        await self._api.send(
            caller,
            "PATCH",
            f"{API}/pools/{pool_id}/stages/{quote(stage, safe='')}",
            {"name": name},
            headers={"If-Match": f'"{version}"'},
        )

    async def delete_stage(self, caller: Caller, pool_id: str, stage: str) -> None:
        """Deletes a stage; the API refuses one with members or the pool's only stage (409)."""
        await self._api.send(
            caller, "DELETE", f"{API}/pools/{pool_id}/stages/{quote(stage, safe='')}"
        )

    async def choices(self, caller: Caller, pool_id: str | None = None) -> Choices:
        """The pools (to add the selection to; on a board the others) and the active or
        paused sequences (to enrol it in)."""
        pools, sequences = await asyncio.gather(self.pools(caller), self.sequences(caller))
        return Choices(pools=[pool for pool in pools if pool["id"] != pool_id], sequences=sequences)

    async def sequences(self, caller: Caller) -> list[dict[str, Any]] | None:
        """The sequences a selection may be enrolled in (active or paused); None when the
        person may not read sequences."""
        sequences = await _readable(self._api.get(caller, f"{API}/sequences"))
        if sequences is None:
            return None
        return [s for s in sequences if s.get("status") in ("active", "paused")]

    async def board(self, caller: Caller, pool_id: str, cursor: str | None = None) -> Board:
        """The pool, a page of its members with their stages (one call), and the choices of
        the bulk actions, fetched together."""
        pool, members, choices = await asyncio.gather(
            self._api.get(caller, f"{API}/pools/{pool_id}"),
            self._api.get(
                caller,
                f"{API}/pools/{pool_id}/members",
                {"limit": BOARD_PAGE, "cursor": cursor},
            ),
            self.choices(caller, pool_id),
        )
        next_cursor = members.get("next_cursor")
        return Board(
            pool=pool,
            columns=board_columns(
                pool,
                members.get("items", []),
                every_member=cursor is None and next_cursor is None,
            ),
            next_cursor=next_cursor,
            choices=choices,
        )

    async def move(self, caller: Caller, pool_id: str, candidate_id: str, stage: str) -> None:
        await self._api.send(
            caller, "POST", f"{API}/pools/{pool_id}/members/{candidate_id}/stage", {"stage": stage}
        )

    async def act(self, caller: Caller, request: BulkRequest, choices: Choices) -> BulkDone:
        """Runs a bulk action with one API call; how many it changed, and what became of each
        of the selection, as sentences."""
        ids, names = request.candidate_ids, request.names
        if request.action == "add_to_pool":
            target = next(
                (p["name"] for p in choices.pools if p["id"] == request.pool_id), "the pool"
            )
            body: dict[str, Any] = {"candidate_ids": ids}
            if request.stage:
                body["stage"] = request.stage
            outcome = await self._api.send(
                caller, "POST", f"{API}/pools/{request.pool_id}/members/bulk", body
            )
            lines = bulk_summary(request.action, outcome, f"“{target}”", names, at=request.stage)
            return BulkDone(bulk_headline(request.action, outcome, len(ids)), lines)
        if request.action == "tag":
            outcome = await self._api.send(
                caller,
                "POST",
                f"{API}/candidates/tags",
                {"candidate_ids": ids, "tags": request.tags},
            )
            lines = bulk_summary(request.action, outcome, ", ".join(request.tags), names)
            return BulkDone(bulk_headline(request.action, outcome, len(ids)), lines)
        target = next(
            (s["name"] for s in choices.sequences or [] if s["id"] == request.sequence_id),
            "the sequence",
        )
        outcome = await self._api.send(
            caller,
            "POST",
            f"{API}/sequences/{request.sequence_id}/enrolments",
            {"candidate_ids": ids},
        )
        lines = bulk_summary(request.action, outcome, f"“{target}”", names)
        return BulkDone(bulk_headline(request.action, outcome, len(ids)), lines)
