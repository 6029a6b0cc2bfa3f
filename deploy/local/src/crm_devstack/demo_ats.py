"""The demo's ATS part: connects the stack's simulated Greenhouse and Lever accounts through the
API as an admin would, imports their history, lets them report a few live changes, and makes
the silver-medallist segment that the imported history fills.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

# Who came close: rejected at the final interview (Greenhouse "Final Interview", Lever "Final
# interview": text compares ignoring case). `ats_status` / `ats_stage` hold the candidate's
# latest application change, so a hire since then takes the person out; `ats_changed_at` is
# when the ATS made that change (156 weeks: three years).
SILVER_MEDALLISTS: dict[str, Any] = {
    "name": "Silver medallists",
    "rule": {
        "all": [
            {"field": "ats_status", "op": "equals", "value": "rejected"},
            {"field": "ats_stage", "op": "equals", "value": "final interview"},
            {"field": "ats_changed_at", "op": "after", "relative": "-156w"},
        ]
    },
}


# The ATSs that issue the secrets they sign webhooks with (the connection is given them).
ATS_ISSUED_SECRETS = frozenset({"lever"})
# How often a backfill the demo waits for says how far it got.
PROGRESS_REPORT_SECONDS = 30.0


@dataclass(frozen=True)
class SimulatedAccount:
    """A simulated ATS account process: its control API at `url`, its ATS API at `api_url`."""

    provider: str
    name: str
    url: str
    api_key: str
    api_url: str


class ApiCaller(Protocol):
    """The demo loader's way of calling the gateway (waiting out rate limits)."""

    admin: dict[str, str]
    recruiter: dict[str, str]

    async def expect(
        self, status: int | tuple[int, ...], method: str, path: str, **kwargs: Any
    ) -> Any: ...


async def connect_account(
    api: ApiCaller, account: SimulatedAccount, *, timeout: float
) -> dict[str, Any]:
    """Connects one account, imports its history and lets it report live changes; answers the
    connection with its finished backfill and the changes reported."""
    connection = await api.expect(
        201,
        "POST",
        "/api/v1/ats/connections",
        headers=api.admin,
        json={
            "provider": account.provider,
            "name": account.name,
            "api_key": account.api_key,
            "api_base_url": account.api_url,
        },
    )
    async with httpx.AsyncClient(base_url=account.url, timeout=30) as control:
        if account.provider in ATS_ISSUED_SECRETS:
            # As in the ATS's settings: the account issues a signing secret per event type,
            # and the admin gives them to the connection.
            configured = await control.put(
                "/admin/webhook", json={"url": connection["webhook_url"]}
            )
            configured.raise_for_status()
            await api.expect(
                200,
                "PUT",
                f"/api/v1/ats/connections/{connection['id']}/webhook-secrets",
                headers=api.admin,
                json={"secrets": sorted(set(configured.json()["signature_tokens"].values()))},
            )
        else:
            configured = await control.put(
                "/admin/webhook",
                json={"url": connection["webhook_url"], "secret": connection["webhook_secret"]},
            )
            configured.raise_for_status()
        # The schedule backfills a new connection with an API key by itself; whichever of it
        # and this request comes first runs, the other is told `sync-running` (409).
        await api.expect(
            (202, 409),
            "POST",
            f"/api/v1/ats/connections/{connection['id']}/backfill",
            headers=api.admin,
        )
        backfill = await finished_backfill(
            api, connection["id"], timeout=timeout, name=account.name
        )
        reported = await control.post("/admin/live-changes")
        reported.raise_for_status()
    return {
        "connection": connection,
        "backfill": backfill,
        "live_changes": reported.json()["changes"],
    }


async def finished_backfill(
    api: ApiCaller,
    connection_id: str,
    *,
    timeout: float,
    name: str = "",
    report_every: float = PROGRESS_REPORT_SECONDS,
) -> Any:
    """The connection's backfill once it has succeeded; fails on a failed one, or on one that
    read no page for `timeout` seconds. A backfill still reading pages is waited for however
    long it takes: on a fresh machine the Python database server shares two cores with
    Keycloak's first build, and 2000 applications took over 10 minutes. Says how far it got
    every `report_every` seconds (stderr), so a long wait is not a silent one."""
    loop = asyncio.get_running_loop()
    stalled_at = loop.time() + timeout
    next_report = loop.time() + report_every
    pages_read = -1
    while True:
        status = await api.expect(
            200, "GET", f"/api/v1/ats/connections/{connection_id}/sync", headers=api.admin
        )
        backfill = status["backfill"]
        if backfill is not None and backfill["state"] == "succeeded":
            return backfill
        if backfill is not None and backfill["state"] == "failed":
            raise RuntimeError(f"the backfill of {connection_id} failed: {backfill['errors']}")
        counts = (backfill or {}).get("counts") or {}
        if int(counts.get("pages", 0)) > pages_read:
            pages_read = int(counts.get("pages", 0))
            stalled_at = loop.time() + timeout
        if loop.time() > stalled_at:
            raise RuntimeError(
                f"the backfill of {connection_id} read no page for {timeout:.0f} s: {backfill}"
            )
        if loop.time() >= next_report:
            next_report = loop.time() + report_every
            print(
                f"crm-stack: importing {name or connection_id}'s history: "
                f"{counts.get('applications_seen', 0)} applications, "
                f"{counts.get('jobs_seen', 0)} jobs so far",
                file=sys.stderr,
                flush=True,
            )
        await asyncio.sleep(1)


async def populated_segment(
    api: ApiCaller, definition: dict[str, Any], *, timeout: float
) -> dict[str, Any]:
    """Creates the segment and answers it once its first evaluation has found members (the
    imported history reaches the candidates through Kafka, so it can lag the backfill)."""
    segment: dict[str, Any] = await api.expect(
        201, "POST", "/api/v1/segments", headers=api.recruiter, json=definition
    )
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        current: dict[str, Any] = await api.expect(
            200, "GET", f"/api/v1/segments/{segment['id']}", headers=api.recruiter
        )
        if current["member_count"] > 0:
            return current
        if asyncio.get_running_loop().time() > deadline:
            raise RuntimeError(f"the segment {definition['name']!r} found no members")
        await asyncio.sleep(1)


async def connect_ats(
    api: ApiCaller, accounts: list[SimulatedAccount], *, timeout: float = 600
) -> dict[str, Any]:
    """Connects every account (their backfills run side by side), then makes the
    silver-medallist segment; answers what a summary shows."""
    connected = await asyncio.gather(
        *(connect_account(api, account, timeout=timeout) for account in accounts)
    )
    segment = await populated_segment(api, SILVER_MEDALLISTS, timeout=timeout)
    return {"connections": connected, "silver_medallists": segment}
