"""Cursor pagination: opaque cursors over a stable sort key, never offsets."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from pydantic import BaseModel, Field

from crm_shared.errors import ProblemError

ItemT = TypeVar("ItemT")

MAX_PAGE_SIZE = 200


class Page(BaseModel, Generic[ItemT]):
    """One page of results and the cursor of the next page (absent on the last page)."""

    items: list[ItemT]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; null on the last page."
    )


def encode_cursor(after: str) -> str:
    """An opaque cursor that resumes after the item whose sort key is `after`."""
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode().rstrip("=")


def first_page_of(
    found: Sequence[ItemT], limit: int, key: Callable[[ItemT], str]
) -> tuple[list[ItemT], str | None]:
    """The page among `found`, read with `limit + 1` so a further item tells that more follow:
    its first `limit` items and the cursor after the last of them (None on the last page)."""
    items = list(found[:limit])
    return items, encode_cursor(key(items[-1])) if len(found) > limit else None


def decode_cursor(cursor: str) -> str:
    """The sort key a cursor resumes after; a malformed cursor is a 400 problem."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
        after = decoded["after"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise ProblemError(400, "the cursor is not valid", problem_type="invalid-cursor") from None
    if not isinstance(after, str):
        raise ProblemError(400, "the cursor is not valid", problem_type="invalid-cursor")
    return after
