"""Payload models of the reports analytics publishes for other services to deliver."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class ReportPeriod(BaseModel):
    """A report's period: whole days in the tenant's time zone, and the instants they cover."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    first_day: date = Field(description="The first day (a Monday for the weekly report).")
    last_day: date = Field(description="The last day, included (a Sunday).")
    start: datetime = Field(description="The first day's midnight in the zone (UTC).")
    end: datetime = Field(description="The midnight after the last day (UTC), excluded.")


class ReportCompiled(BaseModel):
    """Analytics compiled a tenant's scheduled report, rendered, for its recipients."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    report_id: str = Field(
        description="Tenant and period (`<tenant>:2026-W48`): compiling one week again gives "
        "the same id, so deliverers mail each (report, recipient) once."
    )
    kind: str = Field(default="weekly", description="`weekly`.")
    period: ReportPeriod
    time_zone: str = Field(description="The IANA zone the period's days are in.")
    recipients: list[str] = Field(description="Staff addresses to mail it to (normalised).")
    subject: str
    text_body: str = Field(description="The report as plain text.")
    html_body: str = Field(description="The report as HTML (every value escaped).")
    compiled_at: datetime
