"""Routes of CSV imports: create with a column mapping, stream the file, follow the progress."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from crm_candidates.api.deps import (
    ImportRecordsDep,
    ImportUploadsDep,
    ProfileConfigurationDep,
    container_of,
)
from crm_candidates.api.routes import Cursor, PageSize
from crm_candidates.api.schemas import (
    ImportCreate,
    ImportMergedRow,
    ImportPreview,
    ImportPreviewColumn,
    ImportPublic,
    ImportRowError,
)
from crm_candidates.application.imports import (
    ImportNotFoundError,
    ImportStartedError,
    TooManyImportsError,
    TooManyRowsError,
)
from crm_candidates.application.profile_settings import ProfileConfiguration
from crm_candidates.domain.csv_import import (
    CUSTOM_FIELD_PREFIX,
    IMPORTABLE_FIELDS,
    SNIFF_BYTES,
    CsvFormatError,
    encoding_name,
    mapping_errors,
    preview_csv,
)
from crm_candidates.domain.models import CandidateImport
from crm_shared import (
    MAX_PAGE_SIZE,
    CurrentPrincipal,
    FieldError,
    Page,
    ProblemError,
    Quotas,
    UploadTooLargeError,
    decode_cursor,
    first_page_of,
    quota_exceeded,
    reject_unknown_query_params,
    require_permission,
    validation_problem,
)
from crm_shared.csv_export import CsvSeparator, csv_line, excel_text

imports_router = APIRouter(prefix="/imports", tags=["imports"])
CSV_MEDIA_TYPES = ("text/csv", "application/csv", "text/plain")


def _public(job: CandidateImport) -> ImportPublic:
    return ImportPublic.model_validate(
        {
            **job.model_dump(),
            "mapping": dict(job.mapping),
            "chunks_done": min(job.next_chunk, job.chunks_total or 0),
        }
    )


def _charset(content_type: str) -> str | None:
    """The `charset` parameter of a Content-Type, if it names an encoding imports read.

    An unknown charset is a 415 rather than a guess.
    """
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            try:
                return encoding_name(value.strip().strip('"'))
            except ValueError as unknown:
                raise ProblemError(
                    415, str(unknown), problem_type="unsupported-media-type"
                ) from None
    return None


def _not_found(import_id: str) -> ProblemError:
    return ProblemError(404, f"no import {import_id}", problem_type="not-found")


def _started(import_id: str) -> ProblemError:
    return ProblemError(
        409, f"import {import_id} already has its file", problem_type="import-started"
    )


def _too_large(limit_bytes: int) -> ProblemError:
    return quota_exceeded(
        413,
        f"the file is larger than {limit_bytes:,} bytes, the upload quota; split it into "
        "several imports",
        problem_type="upload-too-large",
        limit_name="max_upload_bytes",
        limit=limit_bytes,
    )


def _unreadable(invalid: CsvFormatError, detail: str) -> ProblemError:
    """A 422 naming the file, the whole body of its upload, as what cannot be read."""
    return validation_problem([FieldError.whole_body(str(invalid), field="file")], detail)


@imports_router.post(
    "",
    dependencies=[require_permission("imports:write")],
    status_code=201,
    response_model=ImportPublic,
)
async def create_import(
    body: ImportCreate,
    principal: CurrentPrincipal,
    imports: ImportRecordsDep,
    request: Request,
    response: Response,
) -> ImportPublic:
    """Creates an import; send the CSV file next with `PUT /imports/{id}/file`."""
    errors = mapping_errors(body.mapping)
    encoding = None
    if body.encoding is not None:
        try:
            encoding = encoding_name(body.encoding)
        except ValueError as unknown:
            errors.append(("encoding", str(unknown)))
    if errors:
        raise validation_problem(
            [FieldError(path, reason) for path, reason in errors], "the import is not valid"
        )
    job = CandidateImport(
        tenant_id=principal.tenant_id,
        mapping=list(body.mapping.items()),
        source=body.source,
        tags=body.tags,
        default_region=body.default_region.upper() if body.default_region else None,
        delimiter=body.delimiter,
        encoding=encoding,
        created_by=principal.user_id,
    )
    await imports.create(job)
    response.headers["Location"] = f"{request.url.path.rstrip('/')}/{job.id}"
    return _public(job)


_PREVIEW_BODY = {
    "required": True,
    "description": f"The CSV file, or its first bytes (at most {SNIFF_BYTES:,} are read; "
    "send `truncated=true` when the body is only the start of a larger file).",
    "content": {
        media_type: {
            "schema": {"type": "string", "format": "binary"},
            "example": "\ufeffVorname;Nachname;E-Mail\r\nJürgen;Groß;juergen.gross@example.de\r\n",
        }
        for media_type in CSV_MEDIA_TYPES
    },
}


@imports_router.post(
    "/preview",
    dependencies=[require_permission("imports:write")],
    response_model=ImportPreview,
    openapi_extra={"requestBody": _PREVIEW_BODY},
    responses={
        415: {"description": "The body is not `text/csv` (or `application/csv`, `text/plain`)."},
        422: {
            "description": "The bytes cannot be read as CSV, or are a spreadsheet (.xlsx, .xls, "
            ".ods), PDF or other binary file (`errors[].field` is `file`)."
        },
    },
)
async def preview_import(
    request: Request,
    settings: ProfileConfigurationDep,
    truncated: Annotated[
        bool, Query(description="The body is the start of a larger file, not all of it.")
    ] = False,
) -> ImportPreview:
    """Reads the start of a file as an import would, without keeping it: the encoding and
    delimiter detected, the header's columns with their first values, and the field each
    column's name suggests (a custom field's by its label or key), so a person can map the
    columns before creating the import."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() not in CSV_MEDIA_TYPES:
        raise ProblemError(415, "send the file as text/csv", problem_type="unsupported-media-type")
    head = b""
    async for piece in request.stream():
        head += piece
        if len(head) > SNIFF_BYTES:
            truncated = True
            break
    try:
        preview = preview_csv(
            head[:SNIFF_BYTES],
            complete=not truncated,
            encoding=_charset(content_type),
            custom_fields=await _custom_field_names(settings),
        )
    except CsvFormatError as invalid:
        reason = str(invalid)
        # A reason that is its own sentence ("This is an Excel workbook...") continues this one.
        reason = reason[:1].lower() + reason[1:] if reason.startswith("This ") else reason
        raise _unreadable(invalid, f"the file cannot be read: {reason}") from None
    return ImportPreview(
        encoding=preview.encoding,
        encoding_note=preview.encoding_note,
        encoding_alternative=preview.encoding_alternative,
        delimiter=preview.delimiter,
        columns=[
            ImportPreviewColumn(
                name=column.name, suggested_field=column.suggested_field, samples=column.samples
            )
            for column in preview.columns
        ],
        suggested_mapping={
            column.name: column.suggested_field
            for column in preview.columns
            if column.suggested_field
        },
        missing_required=preview.missing_required,
        fields=sorted(IMPORTABLE_FIELDS),
    )


async def _custom_field_names(settings: ProfileConfiguration) -> dict[str, str]:
    """The names a column may give the tenant's live custom fields: key and label, each the
    field's import target (a label wins over another field's key)."""
    live = [field for field in await settings.custom_fields() if field.archived_at is None]
    names = {field.key: f"{CUSTOM_FIELD_PREFIX}{field.key}" for field in live}
    return names | {field.label: f"{CUSTOM_FIELD_PREFIX}{field.key}" for field in live}


_CSV_BODY = {
    "required": True,
    "description": "The CSV file as it is, header row first: comma, semicolon, tab or `|` "
    "separated, in UTF-8 (with or without BOM), UTF-16, Windows-1252 or Windows-1250 "
    "(`charset` of the Content-Type, else detected). A spreadsheet (.xlsx, .xls, .ods) or "
    "other binary file is a 422 naming `file`: save it as CSV first. At most the caller's "
    "upload quota (64 MiB and 200,000 rows by default) and the gateway's upload cap (256 MiB "
    "by default).",
    "content": {
        media_type: {
            "schema": {"type": "string", "format": "binary"},
            "example": "Vorname;Nachname;E-Mail\r\nJürgen;Groß;juergen.gross@example.de\r\n",
        }
        for media_type in CSV_MEDIA_TYPES
    },
}


@imports_router.put(
    "/{import_id}/file",
    dependencies=[require_permission("imports:write")],
    status_code=202,
    response_model=ImportPublic,
    openapi_extra={"requestBody": _CSV_BODY},
    responses={
        404: {"description": "No such import."},
        409: {"description": "The import has its file already."},
        413: {
            "description": "The file is larger than the caller's upload quota "
            "(`upload-too-large`) or has more rows than it allows (`too-many-rows`); "
            "`limit` names the limit and its value. Nothing of the file is kept."
        },
        415: {"description": "The body is not `text/csv` (or `application/csv`, `text/plain`)."},
        422: {"description": "The file cannot be read as CSV, or lacks a mapped column."},
        429: {
            "description": "The tenant has as many imports uploading, queued or running as its "
            "quota allows (`too-many-imports`, with `limit`); try again when one has finished."
        },
    },
)
async def upload_import_file(
    import_id: str, uploads: ImportUploadsDep, principal: CurrentPrincipal, request: Request
) -> ImportPublic:
    """Receives the CSV file (`text/csv` body, header row first) as it streams in.

    The encoding is the import's, else the `charset` of the Content-Type, else detected; the
    delimiter is the import's, else detected from the header. The rows are stored as they
    arrive and processed in the background: follow `GET /imports/{id}`. A file that cannot be
    read as CSV (see the import's `error`), or lacks a mapped column, is a 422. The file is
    kept in the upload store (not the database) until the import has finished.
    """
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";")[0].strip().lower()
    if media_type not in CSV_MEDIA_TYPES:
        raise ProblemError(415, "send the file as text/csv", problem_type="unsupported-media-type")
    charset = _charset(content_type)
    quotas: Quotas = container_of(request).quotas
    limits = quotas.limits_for(principal.tenant_id, principal.roles)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.max_upload_bytes:
        raise _too_large(limits.max_upload_bytes)
    try:
        stored = await uploads.upload(import_id, request.stream(), limits, encoding=charset)
    except ImportNotFoundError:
        raise _not_found(import_id) from None
    except ImportStartedError:
        raise _started(import_id) from None
    except TooManyImportsError as too_many_imports:
        raise quota_exceeded(
            429,
            f"the tenant has {too_many_imports.limit} imports uploading or in progress, "
            "as many as its quota allows; send the file when one has finished",
            problem_type="too-many-imports",
            limit_name="max_concurrent_imports",
            limit=too_many_imports.limit,
        ) from None
    except CsvFormatError as invalid:
        raise _unreadable(invalid, f"the file cannot be imported: {invalid}") from None
    except UploadTooLargeError as too_large:
        raise _too_large(too_large.limit_bytes) from None
    except TooManyRowsError as too_many:
        raise quota_exceeded(
            413,
            f"{too_many}, the quota of rows per import; split it into several imports",
            problem_type="too-many-rows",
            limit_name="max_import_rows",
            limit=too_many.limit,
        ) from None
    return _public(stored)


@imports_router.get(
    "",
    response_model=Page[ImportPublic],
    dependencies=[require_permission("imports:read"), Depends(reject_unknown_query_params)],
)
async def list_imports(
    imports: ImportRecordsDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> Page[ImportPublic]:
    """The tenant's imports with their status and progress, newest first."""
    before = decode_cursor(cursor) if cursor else None
    found = await imports.page(before=before, limit=limit + 1)
    items, next_cursor = first_page_of(found, limit, lambda job: job.id)
    return Page[ImportPublic](items=[_public(job) for job in items], next_cursor=next_cursor)


@imports_router.get(
    "/{import_id}", dependencies=[require_permission("imports:read")], response_model=ImportPublic
)
async def get_import(import_id: str, imports: ImportRecordsDep) -> ImportPublic:
    """An import's status and progress: rows read, processed, created, merged, failed."""
    job = await imports.get(import_id)
    if job is None:
        raise _not_found(import_id)
    return _public(job)


REPORT_COLUMNS = (
    "row",
    "column",
    "field",
    "severity",
    "message",
    "value",
    "assumed_region",
    "spreadsheet_row",
)
REPORT_BATCH = 500


@imports_router.get(
    "/{import_id}/errors.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "The report as CSV."}},
    dependencies=[require_permission("imports:read"), Depends(reject_unknown_query_params)],
)
async def import_errors_csv(
    import_id: str,
    imports: ImportRecordsDep,
    separator: Annotated[
        CsvSeparator,
        Query(
            description="`comma` (RFC 4180), or `semicolon`, as Excel opens a file by "
            "double-click where the decimal mark is a comma (German, French, Spanish...)."
        ),
    ] = CsvSeparator.COMMA,
) -> StreamingResponse:
    """The whole report as a CSV file (UTF-8 with BOM, for Excel), in row order; each line
    also says the row as a spreadsheet numbers it (`spreadsheet_row`: the header is row 1).

    Cells that a spreadsheet would evaluate as a formula (`=`, `+`, `-`, `@`, tab, CR first)
    are written with a leading `'`.
    """
    if await imports.get(import_id) is None:
        raise _not_found(import_id)

    suffix = separator.file_suffix

    async def lines() -> AsyncIterator[str]:
        yield "\ufeff" + csv_line(REPORT_COLUMNS, separator.dialect)
        after: tuple[int, str] | None = None
        while True:
            batch = await imports.errors(import_id, after=after, limit=REPORT_BATCH)
            for item in batch:
                entry = ImportRowError.model_validate(item)
                yield csv_line(
                    [
                        entry.row,
                        entry.column,
                        entry.field,
                        entry.severity,
                        entry.message,
                        # A phone number as typed, which Excel would make a number.
                        excel_text(entry.value),
                        entry.assumed_region,
                        entry.row + 1,
                    ],
                    separator.dialect,
                )
            if len(batch) < REPORT_BATCH:
                return
            after = (batch[-1]["row"], batch[-1]["_id"])

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="import-{import_id}-report{suffix}.csv"'
        },
    )


@imports_router.get(
    "/{import_id}/errors",
    response_model=Page[ImportRowError],
    dependencies=[require_permission("imports:read"), Depends(reject_unknown_query_params)],
)
async def import_errors(
    import_id: str,
    imports: ImportRecordsDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> Page[ImportRowError]:
    """The validation report: each refused row with its field, column and message."""
    if await imports.get(import_id) is None:
        raise _not_found(import_id)
    after: tuple[int, str] | None = None
    if cursor:
        try:
            row, error_id = json.loads(decode_cursor(cursor))
            after = (int(row), str(error_id))
        except (ValueError, TypeError):
            raise ProblemError(
                400, "the cursor is not valid", problem_type="invalid-cursor"
            ) from None
    found = await imports.errors(import_id, after=after, limit=limit + 1)
    items, next_cursor = first_page_of(
        found, limit, lambda error: json.dumps([error["row"], error["_id"]])
    )
    return Page[ImportRowError](
        items=[ImportRowError.model_validate(item) for item in items], next_cursor=next_cursor
    )


@imports_router.get(
    "/{import_id}/merged-rows",
    response_model=Page[ImportMergedRow],
    dependencies=[require_permission("imports:read"), Depends(reject_unknown_query_params)],
)
async def import_merged_rows(
    import_id: str, imports: ImportRecordsDep, limit: PageSize = 50, cursor: Cursor = None
) -> Page[ImportMergedRow]:
    """The rows that were a person already on file (or made by an earlier row of the file),
    in row order, each with the candidate it merged into."""
    if await imports.get(import_id) is None:
        raise _not_found(import_id)
    after: int | None = None
    if cursor:
        try:
            after = int(decode_cursor(cursor))
        except ValueError:
            raise ProblemError(
                400, "the cursor is not valid", problem_type="invalid-cursor"
            ) from None
    found = await imports.merged_rows(import_id, after=after, limit=limit + 1)
    items, next_cursor = first_page_of(found, limit, lambda merged: str(merged["row"]))
    return Page[ImportMergedRow](
        items=[ImportMergedRow.model_validate(item) for item in items], next_cursor=next_cursor
    )
