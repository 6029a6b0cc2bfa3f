"""Route of the mails sent to event registrants: where a failed confirmation shows."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from crm_campaigns.api.deps import Container
from crm_campaigns.application.event_mail import event_mails
from crm_campaigns.domain.event_mail import EventMail, EventMailKind, EventMailStatus
from crm_shared import (
    MAX_PAGE_SIZE,
    CurrentPrincipal,
    Page,
    decode_cursor,
    first_page_of,
    reject_unknown_query_params,
    require_permission,
)

router = APIRouter(
    # A misspelt filter (`?emial=`) is a 422 naming it, not a silently wider list.
    dependencies=[Depends(reject_unknown_query_params)]
)


class EventMailPublic(BaseModel):
    """One mail to an event's registrant and what became of it (no address, only its
    registration and candidate)."""

    id: str
    event_id: str
    registration_id: str
    candidate_id: str | None
    kind: EventMailKind = Field(
        description="`confirmation`, `update`, `cancellation`, `reminder` or `waitlisted`."
    )
    status: EventMailStatus = Field(description="`sent`, `suppressed` or `failed`.")
    reason: str | None = Field(description="Why it was suppressed, or the last send error.")
    attempts: int = Field(description="Attempts made to send it (retries after failures).")
    sequence: int | None = Field(description="The attached invitation's SEQUENCE (changes).")
    recorded_at: datetime


def _public(mail: EventMail) -> EventMailPublic:
    return EventMailPublic.model_validate(mail.model_dump())


@router.get(
    "/event-mails",
    dependencies=[require_permission("candidates:read")],
    response_model=Page[EventMailPublic],
    tags=["messages"],
)
async def list_event_mails(
    built: Container,
    principal: CurrentPrincipal,
    event_id: str | None = None,
    registration_id: str | None = None,
    status: EventMailStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> Page[EventMailPublic]:
    """Mails to event registrants (confirmations, changes, cancellations), in a stable order
    for paging (by id, not by time): of one event or registration, or only the `failed`
    ones."""
    found = await event_mails(
        built.database,
        principal.tenant_id,
        event_id=event_id,
        registration_id=registration_id,
        status=status,
        after=decode_cursor(cursor) if cursor else None,
        limit=limit + 1,
    )
    items, next_cursor = first_page_of(found, limit, lambda mail: mail.id)
    return Page[EventMailPublic](items=[_public(m) for m in items], next_cursor=next_cursor)
