"""The audit log for tenant admins: a paged search and an export (CSV or JSON lines)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from pymongo.errors import PyMongoError

from crm_gateway.api.deps import AuthenticatedPrincipal, Container
from crm_gateway.api.permissions import require_gateway_permission
from crm_gateway.application.audit import AuditLogQueries
from crm_gateway.domain.audit import ActorKind, AuditEntry, AuditQuery, Outcome
from crm_gateway.domain.routing import PUBLIC_API_PREFIX
from crm_shared import (
    MAX_PAGE_SIZE,
    Page,
    ProblemError,
    declare_dependency_problems,
    decode_cursor,
    encode_cursor,
    reject_unknown_query_params,
)
from crm_shared.audit_changes import describe_change
from crm_shared.csv_export import CsvDialect, CsvSeparator, csv_line

router = APIRouter(prefix=PUBLIC_API_PREFIX, tags=["audit"])
logger = logging.getLogger(__name__)

CSV_COLUMNS = (
    "id",
    "at",
    "tenant_id",
    "actor_kind",
    "actor_id",
    "actor_name",
    "action",
    "resource",
    "status",
    "outcome",
    "request_id",
    "trace_id",
    "client_address",
    "reason",
    "changes",
)


# Whoever passed the route's `audit:read` check (admins, API keys with that scope).
AuditReader = AuthenticatedPrincipal


def audit_log(state: Container) -> AuditLogQueries:
    """FastAPI dependency: the reads of the audit log store (a 503 when the gateway runs
    without one; the routes answer 503 too when the store cannot be read)."""
    if state.audit_log is None:
        raise ProblemError(503, "the audit log is not configured", problem_type="unavailable")
    return AuditLogQueries(state.audit_log)


declare_dependency_problems(audit_log, 503)
AuditLogDep = Annotated[AuditLogQueries, Depends(audit_log)]


class AuditEntryPublic(BaseModel):
    """One audited request: who did what to which resource, and how it ended."""

    id: str
    at: datetime
    tenant_id: str | None
    actor_kind: str = Field(
        description="`user`, `api_key`, `anonymous`, or `system` (the gateway itself: a "
        "migration, `actor_id` `migration:<version>`)."
    )
    actor_id: str | None = Field(
        description="The user's or the API key's id (a migration's for `system`); never a secret."
    )
    action: str = Field(description="Method and route template, e.g. `POST /candidates`.")
    resource: dict[str, str] = Field(description="The path parameters' values (ids).")
    status: int
    outcome: Outcome
    request_id: str | None
    trace_id: str | None
    client_address: str | None
    reason: str | None = Field(description="Why authentication failed, when it did.")
    changes: list[dict[str, Any]] | None = Field(
        default=None,
        description="What a settings or member write changed: `{field, before, after}` per "
        "field, or `{field, changed: true}` for a secret or personal data (no value).",
    )

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryPublic:
        return cls(
            id=entry.id,
            at=entry.at,
            tenant_id=entry.tenant_id,
            actor_kind=entry.actor.kind.value,
            actor_id=entry.actor.id,
            action=entry.action,
            resource=entry.resource,
            status=entry.status,
            outcome=entry.outcome,
            request_id=entry.request_id,
            trace_id=entry.trace_id,
            client_address=entry.client_address,
            reason=entry.reason,
            changes=entry.changes,
        )


class ExportFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


class AuditFilters(BaseModel):
    """The filters both the search and the export take."""

    since: datetime | None = Field(default=None, description="Entries at or after this time.")
    until: datetime | None = Field(default=None, description="Entries before this time.")
    actor: str | None = Field(default=None, description="A user's or an API key's id.")
    action: str | None = Field(default=None, description="e.g. `DELETE /candidates/{id}`.")
    outcome: Outcome | None = None

    @field_validator("since", "until")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        """The time in UTC (a time without an offset is UTC); one that has no UTC equivalent
        (`0001-01-01T00:00:00+01:00`) is a 422, not a 500 from the database driver."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("the time is out of range") from None

    @field_validator("until")
    @classmethod
    def _after_since(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        """A range that ends before it starts finds nothing for a reason the person should
        be told (dates typed the wrong way round), not an empty log."""
        since = info.data.get("since")
        if value is not None and since is not None and value < since:
            raise PydanticCustomError("range", "`until` must be on or after `since`")
        return value

    def query(self, before_id: str | None = None) -> AuditQuery:
        return AuditQuery(
            since=self.since,
            until=self.until,
            actor_id=self.actor,
            action=self.action,
            outcome=self.outcome,
            before_id=before_id,
        )


Filters = Annotated[AuditFilters, Query()]


@router.get(
    "/audit",
    dependencies=[require_gateway_permission("audit:read"), Depends(reject_unknown_query_params)],
    summary="Search the tenant's audit log",
    response_model=Page[AuditEntryPublic],
)
async def search_audit(
    principal: AuditReader,
    log: AuditLogDep,
    filters: Filters,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> Page[AuditEntryPublic]:
    """The tenant's audit entries, newest first: writes, refusals, API-key use and exports.
    Admins only."""
    before_id = decode_cursor(cursor) if cursor else None
    try:
        entries, last = await log.search(principal.tenant_id, filters.query(before_id), limit)
    except PyMongoError as error:
        raise _store_unavailable(error) from None
    return Page(
        items=[AuditEntryPublic.of(entry) for entry in entries],
        next_cursor=encode_cursor(last) if last is not None else None,
    )


@router.get(
    "/audit/export",
    dependencies=[require_gateway_permission("audit:read"), Depends(reject_unknown_query_params)],
    summary="Export the tenant's audit log",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The matching entries, newest first, as CSV (cells that a spreadsheet "
            "would read as formulas are prefixed with `'`) or JSON lines.",
            "content": {"text/csv": {}, "application/x-ndjson": {}},
        }
    },
)
async def export_audit(
    principal: AuditReader,
    log: AuditLogDep,
    filters: Filters,
    state: Container,
    format: ExportFormat = ExportFormat.CSV,  # the query parameter's name
    separator: Annotated[
        CsvSeparator,
        Query(
            description="The CSV's: `comma` (RFC 4180), or `semicolon` for Excel where `,` "
            "is the decimal mark."
        ),
    ] = CsvSeparator.COMMA,
) -> StreamingResponse:
    """Every matching entry of the tenant's audit log, streamed. Admins only; the export is
    itself audited."""
    entries = log.export(principal.tenant_id, filters.query())
    names = await actor_names(state, principal.tenant_id) if format is ExportFormat.CSV else {}
    # The first read before the answer starts, so an unreachable store is a 503, not a cut
    # stream.
    try:
        first = await anext(entries, None)
    except PyMongoError as error:
        raise _store_unavailable(error) from None
    entries = _prepended(first, entries)
    extension = "csv" if format is ExportFormat.CSV else "jsonl"
    return StreamingResponse(
        _csv(entries, names, separator.dialect)
        if format is ExportFormat.CSV
        else _json_lines(entries),
        media_type="text/csv; charset=utf-8"
        if format is ExportFormat.CSV
        else "application/x-ndjson",
        headers={
            "Content-Disposition": f'attachment; filename="audit-log.{extension}"',
            "Cache-Control": "no-store",
        },
    )


def _store_unavailable(error: PyMongoError) -> ProblemError:
    return ProblemError(
        503,
        f"the audit log cannot be read now ({type(error).__name__})",
        problem_type="audit-log-unavailable",
        headers={"Retry-After": "5"},
    )


async def _prepended(
    first: AuditEntry | None, rest: AsyncIterator[AuditEntry]
) -> AsyncIterator[AuditEntry]:
    if first is None:
        return
    yield first
    async for entry in rest:
        yield entry


async def actor_names(state: Container, tenant_id: str) -> dict[tuple[str, str], str]:
    """The display names of the tenant's members and API keys, by actor kind and id, as they
    are now (not stored in the entries, so a renamed member shows the new name). Names the
    store cannot give now are left out: the export goes on with ids only."""
    names: dict[tuple[str, str], str] = {}
    try:
        members = await state.identity.user_administration.display_names(tenant_id)
        for user_id, name in members.items():
            names[(ActorKind.USER.value, user_id)] = name
        for key in await state.identity.key_administration.list(tenant_id):
            names[(ActorKind.API_KEY.value, key.key_id)] = key.name
    except PyMongoError:
        logger.warning("audit export without actor names: members cannot be read", exc_info=True)
    return names


async def _csv(
    entries: AsyncIterator[AuditEntry],
    names: dict[tuple[str, str], str],
    dialect: CsvDialect,
) -> AsyncIterator[str]:
    # The BOM: Excel reads the file as UTF-8 only with it (names with accents).
    yield "\ufeff" + csv_line(CSV_COLUMNS, dialect)
    async for entry in entries:
        public = AuditEntryPublic.of(entry).model_dump(mode="json")
        public["resource"] = ";".join(f"{k}={v}" for k, v in sorted(entry.resource.items()))
        public["actor_name"] = names.get((entry.actor.kind.value, entry.actor.id or ""))
        public["changes"] = "; ".join(describe_change(change) for change in entry.changes or [])
        yield csv_line((public[column] for column in CSV_COLUMNS), dialect)


async def _json_lines(entries: AsyncIterator[AuditEntry]) -> AsyncIterator[str]:
    async for entry in entries:
        yield json.dumps(AuditEntryPublic.of(entry).model_dump(mode="json")) + "\n"
