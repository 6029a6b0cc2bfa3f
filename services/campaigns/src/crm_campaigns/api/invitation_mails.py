"""Route of the invitation mails to people invited to the team: where an admin sees whether an
invitee was mailed, and why not."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from crm_campaigns.api.deps import Container
from crm_campaigns.application.invitation_mail import invitation_mails
from crm_campaigns.domain.invitation_mail import InvitationMailStatus
from crm_shared import (
    MAX_PAGE_SIZE,
    CurrentPrincipal,
    Page,
    decode_cursor,
    first_page_of,
    reject_unknown_query_params,
    require_permission,
)

router = APIRouter(dependencies=[Depends(reject_unknown_query_params)])


class InvitationMailPublic(BaseModel):
    """The mail of one invitation (`POST /users`, or one resent) and what became of it."""

    id: str
    invitation_id: str
    user_id: str = Field(description="The invited person, as `GET /users` names them.")
    status: InvitationMailStatus = Field(
        description="`sent`; `suppressed` (the address may get no mail: a hard bounce, a "
        "complaint, suppressed by hand, erased); or `failed` (the mail server refused it or "
        "could not be reached, after retries)."
    )
    reason: str | None = Field(description="Why it was suppressed, or the last send error.")
    attempts: int = Field(description="Attempts made to send it (retries after failures).")
    recorded_at: datetime


@router.get(
    "/invitation-mails",
    dependencies=[require_permission("users:read")],
    response_model=Page[InvitationMailPublic],
    tags=["messages"],
)
async def list_invitation_mails(
    built: Container,
    principal: CurrentPrincipal,
    user_id: Annotated[
        list[str] | None,
        Query(max_length=MAX_PAGE_SIZE, description="Only these people's (repeat for several)"),
    ] = None,
    status: InvitationMailStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> Page[InvitationMailPublic]:
    """The invitation mails, in the order of the invitations (by id, stable for paging): of
    some people (`user_id`), or only the `failed` or `suppressed` ones. A mail is listed once
    it was sent or given up on, within seconds of the invitation; the last of a person's is
    their latest invitation's. An invitee who got none is invited again with
    `POST /users/{user_id}/invitation`."""
    found = await invitation_mails(
        built.database,
        principal.tenant_id,
        user_ids=user_id or [],
        status=status,
        after=decode_cursor(cursor) if cursor else None,
        limit=limit + 1,
    )
    items, next_cursor = first_page_of(found, limit, lambda mail: mail.id)
    return Page[InvitationMailPublic](
        items=[InvitationMailPublic.model_validate(m.model_dump()) for m in items],
        next_cursor=next_cursor,
    )
