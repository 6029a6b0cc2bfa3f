"""Stored static lists: named, hand-picked sets of candidates (unlike a segment, no rule).

A list is edited by adding and removing candidate ids in bulk. Every id asked for is accounted
for in the answer (added, already a member, not a candidate of the tenant, not active), so a
typo or another tenant's id is reported, never silently dropped; asking twice changes nothing
the second time. Archiving is final: the list and its members stay readable, frozen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from crm_shared import new_id, utc_now

MAX_IDS_PER_REQUEST = 1000


class ListMember(BaseModel):
    """A candidate on a list, and who put them there when."""

    model_config = ConfigDict(frozen=True)

    list_id: str
    candidate_id: str
    added_by: str
    added_at: datetime


class ListStatus(StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"


def list_name_key(name: str, status: ListStatus, list_id: str) -> str:
    """What makes a list's name unique in its tenant: active lists differ ignoring case and
    spacing; an archived list frees its name for a new one."""
    folded = " ".join(name.split()).casefold()
    return folded if status is ListStatus.ACTIVE else f"{folded}\x00archived:{list_id}"


class StaticList(BaseModel):
    """A stored static list of one tenant."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    tenant_id: str
    name: str
    description: str | None = None
    status: ListStatus = ListStatus.ACTIVE
    version: int = 1
    created_by: str
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)
    archived_by: str | None = None
    archived_at: datetime | None = None

    @property
    def name_key(self) -> str:
        return list_name_key(self.name, self.status, self.id)

    def edited(self, changes: Mapping[str, object]) -> StaticList:
        """The list renamed or redescribed (the next version); an archived list is frozen."""
        if self.status is ListStatus.ARCHIVED:
            raise ListArchivedError(self)
        allowed = {key: value for key, value in changes.items() if key in ("name", "description")}
        return self.model_copy(
            update={**allowed, "version": self.version + 1, "updated_at": utc_now()}
        )

    def archived(self, by: str) -> StaticList:
        """The list archived by `by` (the next version); archiving twice is refused."""
        if self.status is ListStatus.ARCHIVED:
            raise ListArchivedError(self)
        now = utc_now()
        return self.model_copy(
            update={
                "status": ListStatus.ARCHIVED,
                "version": self.version + 1,
                "updated_at": now,
                "archived_by": by,
                "archived_at": now,
            }
        )

    def require_active(self) -> None:
        """Raises `ListArchivedError` for an archived list, whose members are frozen."""
        if self.status is ListStatus.ARCHIVED:
            raise ListArchivedError(self)


class ListArchivedError(ValueError):
    """The list is archived: it can no longer change."""

    def __init__(self, static_list: StaticList) -> None:
        super().__init__(f"list {static_list.name!r} is archived; it cannot change")


class TooManyIdsError(ValueError):
    """A bulk request names more candidates than one request may."""


def distinct_ids(candidate_ids: Iterable[str]) -> list[str]:
    """The ids asked for, each once in the order first given; `TooManyIdsError` past the cap."""
    ids = list(dict.fromkeys(candidate_id.strip() for candidate_id in candidate_ids))
    ids = [candidate_id for candidate_id in ids if candidate_id]
    if len(ids) > MAX_IDS_PER_REQUEST:
        raise TooManyIdsError(f"at most {MAX_IDS_PER_REQUEST} candidate ids per request")
    return ids


@dataclass(frozen=True)
class Additions:
    """What adding candidates to a list does, id by id."""

    added: list[str] = field(default_factory=list)
    already_members: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    not_active: list[str] = field(default_factory=list)


def plan_additions(
    requested: list[str], statuses: Mapping[str, str], members: set[str]
) -> Additions:
    """Sorts the requested ids: `statuses` has the tenant's candidates among them (by id, their
    status), `members` those on the list already. Only an active candidate is added; a merged
    or archived record is reported (add the survivor, or restore the record, instead)."""
    plan = Additions()
    for candidate_id in requested:
        status = statuses.get(candidate_id)
        if candidate_id in members:
            plan.already_members.append(candidate_id)
        elif status is None:
            plan.unknown.append(candidate_id)
        elif status != "active":
            plan.not_active.append(candidate_id)
        else:
            plan.added.append(candidate_id)
    return plan


@dataclass(frozen=True)
class Removals:
    """What removing candidates from a list does, id by id."""

    removed: list[str] = field(default_factory=list)
    not_members: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def plan_removals(requested: list[str], known: set[str], members: set[str]) -> Removals:
    """Sorts the requested ids: a member is removed whatever became of the record; of the
    others, the tenant's candidates (`known`) are reported as not members, the rest unknown."""
    plan = Removals()
    for candidate_id in requested:
        if candidate_id in members:
            plan.removed.append(candidate_id)
        elif candidate_id in known:
            plan.not_members.append(candidate_id)
        else:
            plan.unknown.append(candidate_id)
    return plan
