"""Optimistic concurrency over HTTP: a resource's version as its ETag, edits conditional on it.

A client reads a resource (`ETag: "3"`) and sends its edit with `If-Match: "3"`; the edit is
applied only if the stored version is still 3, so two people editing one resource never
overwrite each other silently (RFC 9110, section 13.1.1). An edit without `If-Match` is refused
with 428 (RFC 6585): the lost update it would risk is the failure this exists to prevent.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Header

from crm_shared.errors import ProblemError
from crm_shared.mongo import Database

_ENTITY_TAG = re.compile(r'^\s*(?:W/)?"(\d{1,12})"\s*$')

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description='The `ETag` of the version the edit was made from, e.g. `"3"`; required.',
    ),
]


def etag_for(version: int) -> str:
    """The entity tag of a resource's version."""
    return f'"{version}"'


def required_version(if_match: str | None) -> int:
    """The version an `If-Match` header names; a 428 problem without one, a 412 for a tag that
    names no version of ours."""
    if if_match is None or not if_match.strip():
        raise ProblemError(
            428,
            "send If-Match with the ETag of the version you edited (from the last GET), so an "
            "edit made meanwhile is not overwritten",
            problem_type="precondition-required",
        )
    matched = _ENTITY_TAG.match(if_match)
    if matched is None:
        raise ProblemError(
            412,
            f"If-Match {if_match!r} names no version of this resource",
            problem_type="precondition-failed",
        )
    return int(matched.group(1))


def stale_version(kind: str, identifier: str, current: int, expected: int) -> ProblemError:
    """The 412 problem of an edit made from a version that is no longer the current one."""
    return ProblemError(
        412,
        f"{kind} {identifier} changed since version {expected} (it is at version {current}); "
        "read it again and reapply the edit",
        problem_type="precondition-failed",
        headers={"ETag": etag_for(current)},
        extensions={"current_version": current},
    )


class StaleVersionError(Exception):
    """A use case's edit was made from a version that is no longer the current one."""

    def __init__(self, current: int) -> None:
        super().__init__(current)
        self.current = current


async def backfill_versions(database: Database, collections: list[str]) -> None:
    """Gives version 1 to the documents stored before they had versions (a start-up step).

    An edit is conditional on the version it was made from; a document without the field would
    never match, so every edit of it would be refused as stale. Deliberately cross-tenant.
    """
    for collection in collections:
        await database[collection].update_many(
            {"version": {"$exists": False}}, {"$set": {"version": 1}}
        )
