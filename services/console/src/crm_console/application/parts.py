"""A panel of a page whose data comes from one API call: the data, or why there is none. A panel
the person may not read (or that fails) says why, and the rest of the page still renders."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from crm_console.adapters.gateway_api import ApiProblem, SignedOut


@dataclass(frozen=True)
class Part:
    """One panel's data, or why it has none."""

    data: Any = None
    unavailable: str | None = None


async def part(call: Awaitable[Any], *, when_missing: str | None = None) -> Part:
    """The call's answer as a panel; a refusal becomes the panel's reason (`when_missing`, if
    given, for a 404: what a missing record means on this panel), a lost session still ends the
    page (the browser must sign in again)."""
    try:
        return Part(data=await call)
    except SignedOut:
        raise
    except ApiProblem as refused:
        if when_missing is not None and refused.problem.status == 404:
            return Part(unavailable=when_missing)
        return Part(unavailable=refused.problem.message)


def items(body: Any) -> list[dict[str, Any]]:
    """A list response's items, whether the API pages it (`{items: [...]}`) or not."""
    if isinstance(body, dict):
        return list(body.get("items", []))
    return list(body or [])
