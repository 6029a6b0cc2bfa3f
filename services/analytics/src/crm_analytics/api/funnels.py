"""Routes of the funnels, attribution and the tenant's analytics settings (its time zone)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field, field_validator

from crm_analytics.api.deps import Container
from crm_analytics.api.exports import (
    JSON_OR_CSV,
    Format,
    ReportFormat,
    Separator,
    cell,
    csv_file,
)
from crm_analytics.application.funnels import (
    MAX_LOOKBACK_DAYS,
    AttributionReport,
    FunnelReport,
    PeriodRefused,
    attribution_report,
    funnel_report,
)
from crm_analytics.application.settings import analytics_settings, save_analytics_settings
from crm_analytics.domain.attribution import Model, Outcome
from crm_analytics.domain.funnel import FunnelBy
from crm_shared import (
    CurrentPrincipal,
    FieldError,
    ProblemError,
    problem_responses,
    reject_unknown_query_params,
    require_permission,
    valid_time_zone,
    validation_problem,
)
from crm_shared.csv_export import CsvSeparator

funnel_router = APIRouter(prefix="/analytics", tags=["analytics"])


class AnalyticsSettingsPublic(BaseModel):
    """The tenant's analytics settings."""

    time_zone: str = Field(
        description="IANA time zone whose days the funnel and attribution periods are (`UTC` "
        "until an admin sets one)."
    )
    updated_at: datetime | None = Field(description="When an admin last saved them (null: never).")


class AnalyticsSettingsUpdate(BaseModel):
    """The tenant's analytics settings, replaced."""

    model_config = {"extra": "forbid"}

    time_zone: str = Field(description="An IANA time zone name, e.g. `Europe/Berlin`.")

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return valid_time_zone(value)


class FunnelStepPublic(BaseModel):
    step: str = Field(description="sourced, engaged, responded, applied, interviewed, hired")
    count: int = Field(description="People of the group who reached this step or a later one.")
    conversion_from_previous: float | None = Field(
        description="`count` over the previous step's (null for the first, or a previous of 0)."
    )
    conversion_from_first: float | None = Field(description="`count` over the first step's.")
    median_hours_from_previous: float | None = Field(
        description="Median hours from the previous step to this one, over `timed` people."
    )
    timed: int = Field(description="People with both times, this step not before the previous one.")


class FunnelPublic(BaseModel):
    key: str | None = Field(
        description="The value of the split (a source, pool, segment, broadcast, sequence or "
        "event id); null for everyone (`by=none`) or for the people with no value."
    )
    steps: list[FunnelStepPublic]


class FunnelReportPublic(BaseModel):
    start: date = Field(alias="from")
    end: date = Field(alias="to")
    time_zone: str = Field(description="The tenant's zone the days are in.")
    by: str
    cohort: int = Field(description="People first sourced in the period.")
    funnels: list[FunnelPublic]

    model_config = {"populate_by_name": True}


class CreditPublic(BaseModel):
    kind: str = Field(description="broadcast, sequence, event, source, or `no touch`")
    ref: str = Field(description="The broadcast, sequence or event id, or the source's name.")
    credit: float = Field(description="Its share of the outcomes under the model, summed.")
    outcomes: int = Field(description="Outcomes it touched in their lookback window.")


class AttributionReportPublic(BaseModel):
    start: date = Field(alias="from")
    end: date = Field(alias="to")
    time_zone: str
    outcome: str
    model: str
    lookback_days: int
    outcomes: int = Field(description="Applications (or hires) in the period.")
    no_touch: int = Field(description="Of them, those with no touch in their lookback window.")
    by_kind: dict[str, float] = Field(
        description="The credit summed per kind: broadcast, sequence, event, source, no touch."
    )
    credits: list[CreditPublic] = Field(description="Highest credit first.")

    model_config = {"populate_by_name": True}


FirstDay = Annotated[date, Query(alias="from", description="First day, in the tenant's zone.")]
LastDay = Annotated[date, Query(alias="to", description="Last day (included).")]
_REPORT_RESPONSES = {**problem_responses(422), **JSON_OR_CSV}


def _refused(refused: PeriodRefused) -> ProblemError:
    return validation_problem([FieldError.query(refused.field, str(refused))], str(refused))


@funnel_router.get(
    "/settings",
    dependencies=[require_permission("settings:read")],
    response_model=AnalyticsSettingsPublic,
)
async def read_analytics_settings(
    principal: CurrentPrincipal, container: Container
) -> AnalyticsSettingsPublic:
    """The tenant's analytics settings: the time zone whose days the funnel and attribution
    periods are."""
    found = await analytics_settings(container.storage, principal.tenant_id)
    return AnalyticsSettingsPublic(time_zone=found.time_zone, updated_at=found.updated_at)


@funnel_router.put(
    "/settings",
    dependencies=[require_permission("settings:write")],
    response_model=AnalyticsSettingsPublic,
    responses=problem_responses(422),
)
async def replace_analytics_settings(
    body: AnalyticsSettingsUpdate, principal: CurrentPrincipal, container: Container
) -> AnalyticsSettingsPublic:
    """Sets the tenant's analytics time zone (admins). A name that is no IANA zone is a 422
    naming `time_zone`."""
    saved = await save_analytics_settings(
        container.storage, principal.tenant_id, body.time_zone, principal.user_id
    )
    return AnalyticsSettingsPublic(time_zone=saved.time_zone, updated_at=saved.updated_at)


def _funnel_public(found: FunnelReport) -> FunnelReportPublic:
    return FunnelReportPublic(
        start=found.period.first_day,
        end=found.period.last_day,
        time_zone=found.period.time_zone,
        by=found.by.value,
        cohort=found.cohort,
        funnels=[
            FunnelPublic(
                key=f.key,
                steps=[
                    FunnelStepPublic(
                        step=s.step.value,
                        count=s.count,
                        conversion_from_previous=s.from_previous,
                        conversion_from_first=s.from_first,
                        median_hours_from_previous=s.median_hours_from_previous,
                        timed=s.timed,
                    )
                    for s in f.steps
                ],
            )
            for f in found.funnels
        ],
    )


# The CSV's key cell of the group with no value (and of `by=none`'s one funnel).
NO_VALUE = "none"
FUNNEL_COLUMNS = (
    "by",
    "key",
    "step",
    "count",
    "conversion_from_previous",
    "conversion_from_first",
    "median_hours_from_previous",
    "timed",
)


def funnel_rows(report: FunnelReportPublic) -> Iterator[Sequence[object]]:
    """One row per funnel and step, in the JSON's order."""
    yield FUNNEL_COLUMNS
    for f in report.funnels:
        for s in f.steps:
            values = s.model_dump()
            yield [report.by, f.key or NO_VALUE, *(cell(values[c]) for c in FUNNEL_COLUMNS[2:])]


@funnel_router.get(
    "/funnel",
    dependencies=[require_permission("analytics:read"), Depends(reject_unknown_query_params)],
    response_model=FunnelReportPublic,
    response_model_by_alias=True,
    responses=_REPORT_RESPONSES,
)
async def funnel(
    principal: CurrentPrincipal,
    container: Container,
    start: FirstDay,
    end: LastDay,
    by: Annotated[FunnelBy, Query(description="One funnel per value of this.")] = FunnelBy.NONE,
    format: Format = ReportFormat.JSON,
    separator: Separator = CsvSeparator.COMMA,
) -> Response | FunnelReportPublic:
    """The funnel to hire of the people first sourced in the period (days in the tenant's
    zone): per step, how many reached it, conversion from the previous step and from the
    first, median time between steps; one funnel per value of `by`. `format=csv`: one row per
    funnel and step."""
    try:
        found = await funnel_report(container.storage, principal.tenant_id, start, end, by)
    except PeriodRefused as refused:
        raise _refused(refused) from None
    answer = _funnel_public(found)
    if format is ReportFormat.CSV:
        return csv_file(funnel_rows(answer), f"funnel-{start}-to-{end}-by-{by.value}", separator)
    return answer


def _attribution_public(found: AttributionReport) -> AttributionReportPublic:
    result = found.attribution
    by_kind: dict[str, float] = {}
    for c in result.credits:
        by_kind[c.kind] = round(by_kind.get(c.kind, 0.0) + c.credit, 4)
    return AttributionReportPublic(
        start=found.period.first_day,
        end=found.period.last_day,
        time_zone=found.period.time_zone,
        outcome=found.outcome.value,
        model=found.model.value,
        lookback_days=found.lookback_days,
        outcomes=result.outcomes,
        no_touch=result.outcomes - result.touched,
        by_kind=by_kind,
        credits=[
            CreditPublic(kind=c.kind, ref=c.ref, credit=c.credit, outcomes=c.outcomes)
            for c in result.credits
        ],
    )


ATTRIBUTION_COLUMNS = ("kind", "ref", "credit", "outcomes")


def attribution_rows(report: AttributionReportPublic) -> Iterator[Sequence[object]]:
    """One row per credited (kind, ref), highest credit first, as in the JSON."""
    yield ATTRIBUTION_COLUMNS
    for c in report.credits:
        yield [c.kind, c.ref, c.credit, c.outcomes]


@funnel_router.get(
    "/attribution",
    dependencies=[require_permission("analytics:read"), Depends(reject_unknown_query_params)],
    response_model=AttributionReportPublic,
    response_model_by_alias=True,
    responses=_REPORT_RESPONSES,
)
async def attribution(
    principal: CurrentPrincipal,
    container: Container,
    start: FirstDay,
    end: LastDay,
    lookback_days: Annotated[
        int, Query(ge=1, le=MAX_LOOKBACK_DAYS, description="Touches up to this many days before.")
    ] = 90,
    model: Annotated[Model, Query(description="first, last or linear.")] = Model.LAST,
    outcome: Annotated[Outcome, Query(description="application or hire.")] = Outcome.APPLICATION,
    format: Format = ReportFormat.JSON,
    separator: Separator = CsvSeparator.COMMA,
) -> Response | AttributionReportPublic:
    """For each application (or hire) in the period (days in the tenant's zone), the touches
    in the `lookback_days` before it: mails of a broadcast or sequence opened or clicked by a
    person, events attended, and how the person entered the CRM; credited by the model and
    totalled per broadcast, sequence, event and source (`no touch` for outcomes none
    preceded). `format=csv`: one row per credited campaign, sequence, event or source."""
    try:
        found = await attribution_report(
            container.storage, principal.tenant_id, start, end, outcome, model, lookback_days
        )
    except PeriodRefused as refused:
        raise _refused(refused) from None
    answer = _attribution_public(found)
    if format is ReportFormat.CSV:
        name = f"attribution-{outcome.value}-{model.value}-{start}-to-{end}"
        return csv_file(attribution_rows(answer), name, separator)
    return answer
