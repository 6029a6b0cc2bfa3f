"""Sort orders and cursors of the candidate search: keyset pagination over (sort value, id)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from crm_candidates.domain.models import Candidate
from crm_shared import ProblemError, decode_cursor, encode_cursor


class CandidateSort(StrEnum):
    """Orders the candidate list can be read in (each backed by an index, ties broken by id);
    a leading `-` reads it from the other end."""

    CREATED_AT = "created_at"
    NEWEST_FIRST = "-created_at"
    UPDATED_AT = "updated_at"
    RECENTLY_UPDATED_FIRST = "-updated_at"
    NAME = "name"

    @property
    def by_update(self) -> bool:
        """Whether the order is by the time of the last change."""
        return self in (CandidateSort.UPDATED_AT, CandidateSort.RECENTLY_UPDATED_FIRST)


def _sort_value(candidate: Candidate, sort: CandidateSort) -> Any:
    if sort.by_update:
        return candidate.updated_at.isoformat()
    if sort is CandidateSort.NAME:
        return candidate.last_name
    return None


def encode_sort_cursor(last: Candidate, sort: CandidateSort) -> str:
    """The cursor resuming after `last` in `sort` order."""
    return encode_cursor(json.dumps([sort.value, _sort_value(last, sort), last.id]))


def _invalid() -> ProblemError:
    return ProblemError(400, "the cursor is not valid", problem_type="invalid-cursor")


def decode_sort_cursor(cursor: str, sort: CandidateSort) -> tuple[Any, str]:
    """(sort value, id) a cursor resumes after; a 400 problem if it belongs to another sort."""
    try:
        cursor_sort, value, after_id = json.loads(decode_cursor(cursor))
    except (ValueError, TypeError):
        raise _invalid() from None
    if cursor_sort != sort.value or not isinstance(after_id, str):
        raise _invalid()
    if sort.by_update:
        try:
            moment = datetime.fromisoformat(value)
        except (TypeError, ValueError):
            raise _invalid() from None
        # Stored times are UTC; a hand-made cursor without an offset means UTC too (compared
        # with them in memory, a naive time would fail the request).
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)), after_id
    if sort is CandidateSort.NAME and not isinstance(value, str):
        raise _invalid()
    return value, after_id
