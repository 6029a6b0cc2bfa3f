"""Route of the mails of compiled reports to staff: where a failed weekly report mail shows."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from crm_campaigns.api.deps import Container
from crm_campaigns.application.report_mail import report_mails
from crm_campaigns.domain.report_mail import ReportMailStatus
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


class ReportMailPublic(BaseModel):
    """One mail of a report to a staff recipient and what became of it."""

    id: str
    report_id: str
    recipient: str
    status: ReportMailStatus = Field(description="`sent`, `suppressed` or `failed`.")
    reason: str | None = Field(description="Why it was suppressed, or the last send error.")
    attempts: int = Field(description="Attempts made to send it (retries after failures).")
    recorded_at: datetime


@router.get(
    "/report-mails",
    dependencies=[require_permission("analytics:read")],
    response_model=Page[ReportMailPublic],
    tags=["messages"],
)
async def list_report_mails(
    built: Container,
    principal: CurrentPrincipal,
    report_id: str | None = None,
    status: ReportMailStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> Page[ReportMailPublic]:
    """The mails of compiled reports (the weekly report) to staff, in a stable order for
    paging (by id): of one report (`report_id`, as `GET /analytics/weekly-reports` lists it),
    or only the `failed` ones. Whoever reads analytics reads where they went."""
    found = await report_mails(
        built.database,
        principal.tenant_id,
        report_id=report_id,
        status=status,
        after=decode_cursor(cursor) if cursor else None,
        limit=limit + 1,
    )
    items, next_cursor = first_page_of(found, limit, lambda mail: mail.id)
    return Page[ReportMailPublic](
        items=[ReportMailPublic.model_validate(m.model_dump()) for m in items],
        next_cursor=next_cursor,
    )
