"""Reads several of the pages in this area share: lists to choose from, fetched together, a
list the person may not read (or that fails) coming back empty with the reason."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from crm_console.adapters.gateway_api import ApiProblem, SignedOut

API = "/api/v1"


@dataclass(frozen=True)
class Choices:
    """Items to choose from, or why there are none."""

    items: list[dict[str, Any]] = field(default_factory=list)
    unavailable: str | None = None

    def names(self, key: str = "id") -> dict[str, str]:
        return {str(item[key]): str(item.get("name", item[key])) for item in self.items}


def items_of(body: Any) -> list[dict[str, Any]]:
    """A list response's items, whether the API pages it (`{items: [...]}`) or not."""
    if isinstance(body, dict):
        return list(body.get("items", []))
    return list(body or [])


async def choices(call: Awaitable[Any]) -> Choices:
    try:
        return Choices(items_of(await call))
    except SignedOut:
        raise
    except ApiProblem as refused:
        return Choices(unavailable=refused.problem.message)


def if_match(version: int | str) -> dict[str, str]:
    """The header that makes an edit apply only to the version the person edited."""
    return {"If-Match": f'"{version}"'}
