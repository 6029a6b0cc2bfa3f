"""Request and response bodies of stored static lists."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from crm_candidates.api.schemas import CandidateSummary
from crm_candidates.domain.candidate_input import Name, ShortText
from crm_candidates.domain.lists import MAX_IDS_PER_REQUEST, ListStatus

CandidateId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class ListCreate(BaseModel):
    """A new stored list, optionally with its first members."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    description: ShortText | None = None
    candidate_ids: list[CandidateId] = Field(
        default_factory=list,
        max_length=MAX_IDS_PER_REQUEST,
        description="Candidates to put on the list; the answer reports any not added.",
    )


class ListUpdate(BaseModel):
    """A rename or new description: only the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: ShortText | None = None


class ListPublic(BaseModel):
    """A stored list with how many candidates are on it."""

    id: str
    name: str
    description: str | None
    status: ListStatus = Field(description="`archived` lists are frozen and send no mail.")
    version: int = Field(description="Also the `ETag`; send it as `If-Match` to edit.")
    member_count: int
    created_by: str
    created_at: datetime
    updated_at: datetime
    archived_by: str | None
    archived_at: datetime | None


class ListMembersChange(BaseModel):
    """Candidates to add to or remove from a list."""

    model_config = ConfigDict(extra="forbid")

    candidate_ids: list[CandidateId] = Field(min_length=1, max_length=MAX_IDS_PER_REQUEST)


class ListMembersAdded(BaseModel):
    """What adding did, id by id: every id asked for is in exactly one of the lists."""

    added: list[str]
    already_members: list[str] = Field(description="On the list already; nothing changed.")
    unknown: list[str] = Field(description="Not a candidate of your tenant.")
    not_active: list[str] = Field(
        description="An archived or merged record; restore it, or add the survivor of the merge."
    )
    member_count: int


class ListMembersRemoved(BaseModel):
    """What removing did, id by id: every id asked for is in exactly one of the lists."""

    removed: list[str]
    not_members: list[str] = Field(description="A candidate of your tenant not on the list.")
    unknown: list[str] = Field(description="Not a candidate of your tenant, nor on the list.")
    member_count: int


class ListCreated(ListPublic):
    """The new list, with what adding its first members did."""

    members: ListMembersAdded


class ListMemberListed(BaseModel):
    """A candidate on a list, with what a list shows of them."""

    candidate_id: str
    added_by: str
    added_at: datetime
    candidate: CandidateSummary | None = Field(
        description="The candidate (null if the record no longer exists)."
    )
