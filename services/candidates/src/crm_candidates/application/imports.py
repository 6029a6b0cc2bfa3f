"""CSV import as a background job: the file goes to the upload store, then is processed in chunks.

Upload: the request body streams into the upload store (`crm_shared.UploadStore`: a directory or
an S3 bucket, never the database), within the caller's quota, and is read back once to check it
and count its rows; only the import's metadata and progress are in MongoDB, and neither the
file nor all its rows are ever in memory.
Processing: each turn of the worker claims one chunk of `IMPORT_CHUNK_ROWS` rows of the tenant
that waited longest and handles it in one MongoDB transaction, reading the rows from the stored
file: each row is validated (errors are stored with row number and field), resolved against the
identity keys of existing candidates and of earlier rows of the file, and the chunk's new
candidates, identity keys and `candidate.created` events are written with one insert each; rows
that are a known person add their identifiers and the import's tags to that record
(`candidate.updated`, segments re-evaluated, as for any change). Which
record each merged row ended on is kept beside the row errors. The same
transaction records the chunk as done, so a restart resumes at the next chunk and no chunk is
applied twice. A finished import's file is deleted.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import AsyncIterable
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial
from time import monotonic
from typing import Any

from prometheus_client import CollectorRegistry
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from crm_candidates.application.candidates import CandidateWriter, TenantSegments, with_identifiers
from crm_candidates.application.consent_flags import ConsentFlags
from crm_candidates.application.import_metrics import ImportMetrics
from crm_candidates.domain.candidate_input import CandidateCreate, CandidateUpdate
from crm_candidates.domain.consent import ConsentSource
from crm_candidates.domain.csv_import import (
    BOOLEAN_FIELDS,
    CUSTOM_FIELD_PREFIX,
    LIST_SEPARATORS,
    ColumnPlan,
    CsvFormatError,
    CsvStream,
    column_of,
    row_fields,
)
from crm_candidates.domain.custom_fields import CustomFieldType
from crm_candidates.domain.identity import (
    key_kind,
    phones_held,
    someone_else_on_a_shared_phone,
)
from crm_candidates.domain.import_values import (
    DateColumnEvidence,
    column_date_reading,
    not_yes_or_no,
    read_date,
    read_number,
    yes_or_no,
)
from crm_candidates.domain.models import (
    Candidate,
    CandidateImport,
    ImportCounts,
    ImportDateColumn,
    ImportStatus,
    ProfileError,
    unique_in_order,
)
from crm_candidates.domain.profile import (
    ProfileRules,
    changed_tags,
    normalise_profile_fields,
    read_phone,
)
from crm_candidates.domain.timeline import imported_entry
from crm_candidates.publishers import to_candidates_updated
from crm_candidates.repositories.candidates import CandidateRepository, candidate_identity_keys
from crm_candidates.repositories.imports import ImportRepository, claim_import, fail_stalled_uploads
from crm_candidates.repositories.profile_rules import ProfileRulesRepository
from crm_candidates.repositories.segments import SegmentRepository
from crm_candidates.repositories.timeline import TimelineRepository
from crm_shared import (
    CANDIDATE_CREATED,
    BatchWorker,
    CandidateCreated,
    Database,
    EventEnvelope,
    Limits,
    MongoClient,
    Outbox,
    Session,
    UploadMissingError,
    UploadStore,
    UploadTooLargeError,
    Wakeup,
    in_transaction,
    limited,
    new_id,
    utc_now,
    validation_detail,
    with_heartbeat,
)
from crm_shared.tombstones import email_sha256, erased_addresses_among

IMPORT_CHUNK_ROWS = 250
# How often a worker looks for stalled uploads (a cheap indexed query that finds none).
STALL_CHECK_SECONDS = 5.0
# An upload still receiving data says so at least this often (see `fail_stalled_uploads`).
UPLOAD_HEARTBEAT_SECONDS = 30.0
# Files kept open between two chunks of their import (the worker takes turns between imports).
OPEN_FILES = 16
logger = logging.getLogger(__name__)


class TooManyRowsError(Exception):
    """The file has more rows than the caller's quota allows."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the file has more than {limit:,} rows")
        self.limit = limit


async def receive_file(
    imports: ImportRepository,
    store: UploadStore,
    job: CandidateImport,
    body: AsyncIterable[bytes],
    limits: Limits,
    *,
    encoding: str | None = None,
) -> int:
    """Stores a streamed CSV file in the upload store, checks it and counts its rows.

    The file goes to the store as it arrives (at most `limits.max_upload_bytes`, else
    `UploadTooLargeError`), then is read back once: its header must hold the mapped columns, every
    record must be CSV (`CsvFormatError`) and there may be at most `limits.max_import_rows`
    rows (`TooManyRowsError`). Only the counts, the dialect and the number of chunks go to the
    database. The encoding and delimiter are the import's, else `encoding` (the upload's
    charset), else detected.
    """

    async def beat() -> None:
        # A slow upload still arriving is not a stalled one (see `fail_stalled_uploads`).
        await imports.touch_upload(job.id)

    await store.put(
        job.tenant_id,
        job.id,
        with_heartbeat(limited(body, limits.max_upload_bytes), beat, UPLOAD_HEARTBEAT_SECONDS),
    )
    stream = CsvStream(
        with_heartbeat(store.read(job.tenant_id, job.id), beat, UPLOAD_HEARTBEAT_SECONDS),
        encoding=job.encoding or encoding,
        delimiter=job.delimiter,
        expected_columns=[column for column, _ in job.mapping],
    )
    plan: ColumnPlan | None = None
    # A custom field's column may hold dates: whether day or month comes first is the whole
    # column's question, answered by this one reading of the file.
    dates: list[tuple[int, DateColumnEvidence]] = []
    rows = 0
    async for record in stream.records():
        if not any(cell.strip() for cell in record):
            continue
        if plan is None:
            plan = ColumnPlan.from_header(record, job.mapping)
            dates = [
                (index, DateColumnEvidence(column))
                for index, column, target in plan.columns
                if target.startswith(CUSTOM_FIELD_PREFIX)
            ]
            continue
        rows += 1
        if rows > limits.max_import_rows:
            raise TooManyRowsError(limits.max_import_rows)
        for index, evidence in dates:
            if index < len(record):
                evidence.see(record[index])
    if plan is None:
        raise CsvFormatError("the file is empty: a header row is needed")
    await imports.finish_upload(
        job.id,
        -(-rows // IMPORT_CHUNK_ROWS),
        rows_read=rows,
        delimiter=stream.delimiter or ",",
        encoding=stream.encoding or "utf-8",
        encoding_note=stream.encoding_note,
        date_columns=[
            ImportDateColumn(
                column=evidence.column,
                day_first_example=evidence.day_first_example,
                month_first_example=evidence.month_first_example,
            )
            for _, evidence in dates
            if evidence.informative
        ],
    )
    return rows


class FileChunks:
    """The mapped rows of a stored import file, `IMPORT_CHUNK_ROWS` at a time, from any chunk.

    The file is read with the encoding and delimiter the upload recorded, so its chunks are the
    ones the upload counted. Starting at chunk `n` reads past the rows before it.
    """

    def __init__(self, store: UploadStore, job: CandidateImport) -> None:
        self.import_id = job.id
        self.next_seq = 0
        self._file = store.read(job.tenant_id, job.id)
        stream = CsvStream(
            self._file,
            encoding=job.encoding,
            delimiter=job.delimiter,
            expected_columns=[column for column, _ in job.mapping],
        )
        self._records = stream.records()
        self._mapping = job.mapping
        self._plan: ColumnPlan | None = None
        # Records of the file read so far, blank ones included: a row's number is its line in
        # the file less one (the header's), as a spreadsheet numbers it, blank rows and all.
        self._records_read = 0

    async def _next_row(self) -> tuple[int, list[str]] | None:
        async for record in self._records:
            self._records_read += 1
            if not any(cell.strip() for cell in record):
                continue
            if self._plan is None:
                self._plan = ColumnPlan.from_header(record, self._mapping)
                continue
            return self._records_read - 1, self._plan.cells(record)
        return None

    async def chunk(self, seq: int) -> list[tuple[int, list[str]]] | None:
        """The rows of chunk `seq` (each with its number: the rows after the file's first,
        blank ones counted), at or after the last one read."""
        if seq < self.next_seq:
            raise ValueError(f"chunk {seq} was read already; open the file again")
        while self.next_seq < seq:
            for _ in range(IMPORT_CHUNK_ROWS):
                if await self._next_row() is None:
                    break
            self.next_seq += 1
        rows: list[tuple[int, list[str]]] = []
        while len(rows) < IMPORT_CHUNK_ROWS and (row := await self._next_row()) is not None:
            rows.append(row)
        self.next_seq += 1
        return rows or None

    async def close(self) -> None:
        """Closes the file now (an open S3 response or file handle), not when collected."""
        await self._records.aclose()
        close_file = getattr(self._file, "aclose", None)
        if close_file is not None:
            await close_file()


@dataclass
class _Row:
    number: int
    candidate: Candidate


# Fields without which a row is no candidate: a fault in one refuses the row. A fault in any
# other field drops that value (or list item) and imports the row with a warning.
ROW_REQUIRED_FIELDS = frozenset({"first_name", "last_name"})
ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class RowProblem:
    """One invalid field of a row: `error` refuses the row, `warning` drops the value."""

    field: str
    message: str
    severity: str
    # A phone number read in a region the row did not give: the cell's value and that region.
    value: str | None = None
    assumed_region: str | None = None


@dataclass(frozen=True)
class RowResult:
    """What one row becomes: a candidate (possibly with warnings), or only problems."""

    candidate: Candidate | None
    problems: list[RowProblem]


def _pydantic_problems(invalid: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    return [
        (prefix + (".".join(str(part) for part in error["loc"]) or "row"), _in_words(error))
        for error in invalid.errors()
    ]


def _in_words(error: ErrorDetails) -> str:
    """The reason a report's reader understands: a value the row lacks is said so, not as
    the model library's "Field required"."""
    if error["type"] == "missing":
        return "required, and the row has no value for it"
    return validation_detail(error).removeprefix("Value error, ")


def _value_problems(
    name: str, value: Any, rules: ProfileRules
) -> tuple[Any, list[tuple[str, str]]]:
    """One field's value with its invalid parts removed, and what was wrong with them.

    Each item of a list and each custom field is checked on its own, so a row reports every
    invalid value with the index or key it has in the file.
    """
    if name == "custom_fields" and isinstance(value, dict):
        kept: dict[str, Any] = {}
        problems: list[tuple[str, str]] = []
        for key, item in value.items():
            _, found = _value_problems_single(name, {key: item}, rules)
            if found:
                problems.extend(found)
            else:
                kept[key] = item
        return kept, problems
    if isinstance(value, list):
        items: list[Any] = []
        problems = []
        for index, item in enumerate(value):
            _, found = _value_problems_single(name, [item], rules)
            if found:
                problems.extend(
                    (path.replace(f"{name}.0", f"{name}.{index}", 1), message)
                    for path, message in found
                )
            else:
                items.append(item)
        return items, problems
    return _value_problems_single(name, value, rules)


def _value_problems_single(
    name: str, value: Any, rules: ProfileRules
) -> tuple[Any, list[tuple[str, str]]]:
    try:
        checked = CandidateUpdate.model_validate({name: value}).model_dump(exclude_unset=True)
    except ValidationError as invalid:
        return None, _pydantic_problems(invalid)
    if name == "custom_fields":
        # Checked alone, a value is checked against its definition only: whether required
        # fields are all there is a question for the whole row.
        definitions = {k: d for k, d in rules.custom_fields.items() if k in (value or {})}
        rules = ProfileRules(rules.phone_region, rules.vocabulary, definitions)
    try:
        normalise_profile_fields(checked, rules, current_custom_fields=None)
    except ProfileError as invalid:
        return None, list(invalid.errors)
    return value, []


def _spreadsheet_values(
    job: CandidateImport, rules: ProfileRules, fields: dict[str, Any]
) -> dict[str, list[tuple[str, str]]]:
    """Turns a row's yes/no words, numbers, choice lists and dates into the values they say
    (in place), the way
    `crm_candidates.domain.import_values` reads them; a cell that says none is dropped, its
    reason given under the row field's name."""
    problems: list[tuple[str, str]] = []
    for name in BOOLEAN_FIELDS:
        if isinstance(fields.get(name), str):
            problems.append((name, not_yes_or_no(fields[name])))
            fields[name] = None
    custom: dict[str, Any] = fields.get("custom_fields", {})
    for key, value in list(custom.items()):
        definition = rules.custom_fields.get(key)
        if definition is None or not isinstance(value, str):
            continue
        if definition.type is CustomFieldType.BOOLEAN:
            answer = yes_or_no(value)
            if answer is None:
                problems.append((f"custom_fields.{key}", not_yes_or_no(value)))
                del custom[key]
            else:
                custom[key] = answer
        elif definition.type is CustomFieldType.NUMBER:
            try:
                custom[key] = read_number(value)
            except ValueError as invalid:
                problems.append((f"custom_fields.{key}", str(invalid)))
                del custom[key]
        elif definition.type is CustomFieldType.MULTI_ENUM:
            # Several choices in one cell, separated as a list cell is (`;`, `,` or `|`).
            custom[key] = [item.strip() for item in LIST_SEPARATORS.split(value) if item.strip()]
        elif definition.type is CustomFieldType.DATE:
            column = column_of(job.mapping, f"custom_fields.{key}") or key
            evidence = next((d for d in job.date_columns if d.column == column), None)
            reading = column_date_reading(
                column,
                evidence.day_first_example if evidence else None,
                evidence.month_first_example if evidence else None,
                rules.named_region,
            )
            try:
                custom[key] = read_date(value, reading)
            except ValueError as invalid:
                problems.append((f"custom_fields.{key}", str(invalid)))
                del custom[key]
    by_field: dict[str, list[tuple[str, str]]] = {}
    for path, message in problems:
        by_field.setdefault(path.split(".")[0], []).append((path, message))
    return by_field


def validate_row(job: CandidateImport, rules: ProfileRules, cells: list[str]) -> RowResult:
    """The candidate one row describes, with every invalid field of the row reported.

    A fault in the name or in every e-mail address refuses the row (`error`); a fault in any
    other value (a phone, a URL, a too-long title, a custom field) drops that value and the
    row is imported without it (`warning`).
    """
    fields = row_fields(job.mapping, cells)
    cleaned: dict[str, Any] = {}
    unread = _spreadsheet_values(job, rules, fields)
    problems: list[RowProblem] = []
    for name, value in fields.items():
        problems.extend(
            RowProblem(path, message, WARNING) for path, message in unread.get(name, [])
        )
        if value is None:
            continue
        if name == "phones":
            # Read here, not by `normalise_profile_fields`: the region a number without
            # country code is read in is an assumption the report must show, and a number not
            # valid in it is kept as typed rather than made into that region's (wrong) number.
            cleaned[name], phone_problems = _read_phones(job, rules, value)
            problems.extend(phone_problems)
            continue
        kept, found = _value_problems(name, value, rules)
        severity = ERROR if name in ROW_REQUIRED_FIELDS else WARNING
        problems.extend(RowProblem(path, message, severity) for path, message in found)
        if not found or (isinstance(kept, list | dict) and kept):
            cleaned[name] = kept
    if not cleaned.get("emails"):
        problems = [
            RowProblem(p.field, p.message, ERROR) if p.field.startswith("emails") else p
            for p in problems
        ]
        if not any(p.field.startswith("emails") for p in problems):
            problems.append(RowProblem("emails", "at least one e-mail address is needed", ERROR))
    if any(problem.severity == ERROR for problem in problems):
        return RowResult(None, problems)
    cleaned["tags"] = [*cleaned.get("tags", []), *job.tags]
    cleaned["source"] = job.source
    row_required = ROW_REQUIRED_FIELDS | {"emails", "tags", "source"}
    for last_attempt in (False, True):
        try:
            body = CandidateCreate.model_validate(cleaned)
            normalised = normalise_profile_fields(
                body.model_dump(exclude={"default_region", "phones"}), rules
            )
            normalised["phones"] = unique_in_order(body.phones)
            break
        except ValidationError as invalid:
            found = _pydantic_problems(invalid)
        except ProfileError as invalid:
            found = list(invalid.errors)
        # What only the whole row shows (too many phones, a required custom field missing).
        optional = [path.split(".")[0] not in row_required for path, _ in found]
        if last_attempt or not all(optional) or any(p.startswith("custom") for p, _ in found):
            return RowResult(None, _with(problems, found, ERROR))
        problems = _with(problems, found, WARNING)
        for path, _ in found:
            cleaned.pop(path.split(".")[0], None)
    if any(problem.severity == ERROR for problem in problems):
        return RowResult(None, problems)
    candidate = Candidate.model_validate(
        {
            **normalised,
            "tenant_id": job.tenant_id,
            "created_by": job.created_by,
            "owner_id": body.owner_id or job.created_by,
        }
    )
    return RowResult(candidate, problems)


def _region_source(job: CandidateImport, rules: ProfileRules) -> str:
    """Where the region national phone numbers of an import are read in comes from."""
    if job.default_region:
        return "the import's default_region"
    if rules.named_region:
        return "the tenant's default phone region"
    return "the platform default, as neither the import nor the tenant names a region"


def _read_phones(
    job: CandidateImport, rules: ProfileRules, phones: list[str]
) -> tuple[list[str], list[RowProblem]]:
    """A row's phone numbers as they are stored, and a warning for each one left out (not a
    phone number, or not valid in the region it was read in) or read in a region the import
    did not name (see `read_phone`)."""
    kept: list[str] = []
    problems: list[RowProblem] = []
    for index, raw in enumerate(phones):
        path = f"phones.{index}"
        try:
            CandidateUpdate.model_validate({"phones": [raw]})
            reading = read_phone(raw, rules.phone_region)
        except ValidationError as invalid:
            problems.extend(
                RowProblem(where.replace("phones.0", path, 1), message, WARNING)
                for where, message in _pydantic_problems(invalid)
            )
            continue
        except ValueError as invalid:
            problems.append(RowProblem(path, str(invalid), WARNING))
            continue
        region = reading.assumed_region
        if reading.as_typed:
            # Left out rather than kept as typed: phone numbers are E.164 in the stored
            # profile and in the events' contract.
            message = (
                f"{raw!r} has no country code and is not a valid {region} number ({region}: "
                f"{_region_source(job, rules)}); left out: write it with its country code "
                f"(e.g. +351 21 123 4567)"
            )
        else:
            kept.append(reading.number)
            # A region the import names is the user's own statement about its numbers; only
            # one it inherits (the tenant's, the platform's) is worth a warning per row.
            if region is None or job.default_region:
                continue
            message = (
                f"{raw!r} has no country code and was read as a {region} number, "
                f"{reading.number} ({region}: {_region_source(job, rules)}); if it is not, "
                f"write it with its country code (e.g. +351 21 123 4567) or name the "
                f"import's default_region"
            )
        problems.append(RowProblem(path, message, WARNING, value=raw, assumed_region=region))
    return kept, problems


def _with(
    problems: list[RowProblem], found: list[tuple[str, str]], severity: str
) -> list[RowProblem]:
    """`problems` and `found`; a field reported already is reported once, with both reasons."""
    merged = list(problems)
    for path, message in found:
        same = next((i for i, p in enumerate(merged) if p.field == path), None)
        if same is None:
            merged.append(RowProblem(path, message, severity))
        else:
            earlier = merged[same]
            worst = ERROR if ERROR in (earlier.severity, severity) else WARNING
            merged[same] = replace(earlier, message=f"{earlier.message}; {message}", severity=worst)
    return merged


def merged_row(
    base: Candidate, incoming: Candidate, foreign: set[str], import_tags: list[str]
) -> Candidate:
    """The record `base` after a row that is the same person (`incoming`) merged into it.

    It gains the row's identifiers no other record holds (`with_identifiers`) and the import's
    tags it lacks (matched ignoring case and spacing, as any tagging; none removed). The row's
    other values do not overwrite what is on file.
    """
    grown = with_identifiers(base, incoming, foreign)
    tags = changed_tags(grown.tags, add=import_tags, remove=())
    return grown if tags == grown.tags else grown.model_copy(update={"tags": tags})


async def _rows_of_erased_people(
    database: Database, tenant_id: str, rows: list[_Row], session: Session
) -> set[int]:
    """The numbers of the rows naming an e-mail address an erased person held (the
    tombstones keep its digest), in one query."""
    digests = {row.number: {email_sha256(email) for email in row.candidate.emails} for row in rows}
    erased = await erased_addresses_among(
        database, tenant_id, sorted(set().union(*digests.values())), session=session
    )
    return {number for number, held in digests.items() if held & erased}


class _ChunkTakenError(Exception):
    """Another worker completed this chunk first."""


@dataclass(frozen=True)
class ImportProcessor:
    """Processes one tenant's claimed import chunk by chunk."""

    mongo: MongoClient
    database: Database
    outbox: Outbox

    async def process_chunk(self, job: CandidateImport, chunks: FileChunks) -> ImportCounts:
        """Processes the import's next chunk, read from its file, in one transaction; returns
        what became of its rows."""
        rules = await ProfileRulesRepository(self.database, job.tenant_id).rules(
            default_region=job.default_region
        )
        # Read before the transaction: a retried transaction processes the very same rows.
        stored = await chunks.chunk(job.next_chunk)
        counts = await in_transaction(self.mongo, partial(self._chunk, job, rules, stored))
        self.outbox.notify_committed()
        return counts

    async def run(self, job: CandidateImport, store: UploadStore) -> None:
        """Processes all the import's remaining chunks (the benchmark's path; no turns taken)."""
        imports = ImportRepository(self.database, job.tenant_id)
        chunks = FileChunks(store, job)
        try:
            current: CandidateImport | None = job
            while current is not None and current.status is ImportStatus.RUNNING:
                await self.process_chunk(current, chunks)
                current = await imports.get(job.id)
        finally:
            await chunks.close()

    async def _chunk(
        self,
        job: CandidateImport,
        rules: ProfileRules,
        stored: list[tuple[int, list[str]]] | None,
        session: Session,
    ) -> ImportCounts:
        imports = ImportRepository(self.database, job.tenant_id)
        counts = ImportCounts()
        rows: list[_Row] = []
        errors: list[dict[str, Any]] = []
        if stored is not None:
            counts.rows_processed = len(stored)
            for number, cells in stored:
                result = validate_row(job, rules, cells)
                if result.candidate is not None:
                    rows.append(_Row(number, result.candidate))
                    counts.with_warnings += 1 if result.problems else 0
                else:
                    counts.failed += 1
                errors.extend(
                    {
                        "_id": new_id(),
                        "import_id": job.id,
                        "row": number,
                        "field": problem.field,
                        "column": column_of(job.mapping, problem.field),
                        "message": problem.message,
                        "severity": problem.severity,
                    }
                    | (
                        {"value": problem.value, "assumed_region": problem.assumed_region}
                        if problem.assumed_region
                        else {}
                    )
                    for problem in result.problems
                )
        erased = await _rows_of_erased_people(self.database, job.tenant_id, rows, session)
        if erased:
            # Their data is not taken in again, not even into the report: only why not.
            warned = {error["row"] for error in errors}
            counts.with_warnings -= len(erased & warned)
            counts.failed += len(erased)
            rows = [row for row in rows if row.number not in erased]
            errors = [error for error in errors if error["row"] not in erased]
            errors.extend(
                {
                    "_id": new_id(),
                    "import_id": job.id,
                    "row": number,
                    "field": "emails",
                    "column": column_of(job.mapping, "emails"),
                    "message": (
                        "not imported: an e-mail address of this row belonged to a person "
                        "erased at their request (GDPR), whom an import must not bring back"
                    ),
                    "severity": "error",
                }
                for number in sorted(erased)
            )
        merged, kept_apart = await self._store(job, rows, counts, session)
        errors.extend(
            {
                "_id": new_id(),
                "import_id": job.id,
                "row": number,
                "field": "phones",
                "column": column_of(job.mapping, "phones"),
                "message": (
                    f"{phone} left out: another candidate, with another name and e-mail, has "
                    "this number (a shared phone?), so the row was imported as a person of its "
                    "own, not merged into theirs; merge them by hand if they are one person"
                ),
                "severity": "warning",
            }
            for number, phone in kept_apart
        )
        # A warning of an imported row may quote its values (an invalid second address, a
        # phone): it is the person's data, so it names the record and is erased with it.
        person_of_row = {row.number: row.candidate.id for row in rows} | dict(merged)
        for error in errors:
            if error["row"] in person_of_row:
                error["candidate_id"] = person_of_row[error["row"]]
        await imports.add_errors(errors, session=session)
        await imports.add_merged_rows(job.id, merged, session=session)
        if not await imports.complete_chunk(job, counts, session=session):
            raise _ChunkTakenError(job.id)
        return counts

    async def _store(
        self, job: CandidateImport, rows: list[_Row], counts: ImportCounts, session: Session
    ) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
        """Resolves the rows against known people and earlier rows, then writes in batches;
        returns (row number, candidate id) of each row that merged into a record, and (row
        number, phone) of each number left out of a row that another person holds (a row found
        by a shared phone alone is that person's, not the holder's:
        `someone_else_on_a_shared_phone`)."""
        tenant = job.tenant_id
        candidates = CandidateRepository(self.database, tenant)
        segments = SegmentRepository(self.database, tenant)
        writer = CandidateWriter(self.mongo, self.outbox, candidates, segments)
        keys_of = {row.number: candidate_identity_keys(row.candidate) for row in rows}
        every_key = sorted({key for keys in keys_of.values() for key in keys})
        holder_of = await candidates.holders_of(every_key, session=session)
        existing = await candidates.get_many(sorted(set(holder_of.values())), session=session)
        new: dict[str, Candidate] = {}
        extended: dict[str, Candidate] = {}
        merged: list[tuple[int, str]] = []
        kept_apart: list[tuple[int, str]] = []
        for row in rows:
            keys = keys_of[row.number]
            target = next((holder_of[key] for key in keys if key in holder_of), None)
            held = (
                (new.get(target) or extended.get(target) or existing.get(target))
                if target
                else None
            )
            if held is not None and someone_else_on_a_shared_phone(
                {key_kind(key) for key in keys if holder_of.get(key) == target},
                row.candidate.emails,
                held.emails,
                (row.candidate.first_name, row.candidate.last_name),
                (held.first_name, held.last_name),
            ):
                # Identity keys are unique: the number stays its holder's alone.
                taken = phones_held(row.candidate.phones, holder_of.keys())
                kept_apart.extend((row.number, phone) for phone in taken)
                apart = row.candidate.model_copy(
                    update={"phones": [p for p in row.candidate.phones if p not in taken]}
                )
                row = _Row(row.number, apart)
                keys = candidate_identity_keys(apart)
                target = next((holder_of[key] for key in keys if key in holder_of), None)
            if target is None:
                new[row.candidate.id] = row.candidate
                holder_of.update(dict.fromkeys(keys, row.candidate.id))
                counts.created += 1
                continue
            base = new.get(target) or extended.get(target) or existing.get(target)
            if base is None:
                raise LookupError(f"identity keys name candidate {target}, which is gone")
            counts.merged += 1
            merged.append((row.number, target))
            foreign = {key for key in keys if holder_of.get(key, target) != target}
            grown = merged_row(base, row.candidate, foreign, job.tags)
            for key in candidate_identity_keys(grown):
                holder_of.setdefault(key, target)
            if target in new:
                new[target] = grown
            elif grown != base:
                extended[target] = grown
        await candidates.add_many(list(new.values()), session=session)
        envelopes: list[EventEnvelope[Any]] = [
            self.outbox.envelope(
                CANDIDATE_CREATED,
                tenant_id=tenant,
                subject=candidate.id,
                data=CandidateCreated.model_validate(candidate.profile()),
            )
            for candidate in new.values()
        ]
        await self.outbox.add_many(envelopes, session=session)
        entries = [imported_entry(envelope, job.id, created=True) for envelope in envelopes]
        # A known person who gained identifiers or tags: a change like any other (its revision,
        # `candidate.updated`, segment entries and exits on its timeline).
        changed_at = utc_now()
        updated = [
            grown.model_copy(update={"updated_at": changed_at}) for grown in extended.values()
        ]
        for candidate in updated:
            await candidates.replace(candidate, previous=existing[candidate.id], session=session)
        entries += [
            imported_entry(envelope, job.id, created=False)
            for envelope in await to_candidates_updated(self.outbox, updated, session=session)
        ]
        # A `marketing_consent` column grants (or withdraws) consent: into the ledger with the
        # tenant's validity, like any grant, for the whole chunk at once.
        await ConsentFlags(
            self.database, self.outbox, tenant, ConsentSource.IMPORT, job.created_by
        ).record(
            [(False, candidate) for candidate in new.values()]
            + [(existing[c.id].marketing_consent, c) for c in updated],
            session=session,
        )
        # Which import created or changed the person, on their timeline.
        await TimelineRepository(self.database, tenant).record_many(entries, session=session)
        # Segment membership as for any create or change (references, relative dates and
        # their rechecks included), for the whole chunk at once: the segments read once, the
        # memberships of the known people read with one query (the new have none), and the
        # entries, events, timeline and rechecks written in bulk (one by one, a chunk of 250
        # rows cost over a thousand round trips). A tenant without segments costs one read.
        tenant_segments = await TenantSegments.load(segments, session=session)
        if tenant_segments.ordered:
            members = {candidate_id: set[str]() for candidate_id in new}
            members |= await segments.memberships_of_many(list(extended), session=session)
            await writer.reevaluate_many(
                [*new.values(), *updated],
                session=session,
                tenant=tenant_segments,
                members=members,
            )
        return merged, kept_apart


class ImportJobs:
    """Runs uploaded imports in the background, one chunk per turn, taking turns by tenant.

    Each turn claims the next chunk of the tenant that waited longest (`claim_import`), so a
    tenant's 100,000-row import and another tenant's 10-row import advance side by side; any
    replica resumes an interrupted import at its next chunk. The files of the imports in
    progress stay open between turns (at most `OPEN_FILES`; another is read up to its chunk).
    """

    def __init__(
        self,
        mongo: MongoClient,
        database: Database,
        outbox: Outbox,
        store: UploadStore,
        *,
        poll_seconds: float = 1.0,
        upload_stall: timedelta = timedelta(minutes=10),
        metrics: ImportMetrics | None = None,
    ) -> None:
        self._database = database
        self._store = store
        self._metrics = metrics or ImportMetrics(database, CollectorRegistry())
        self._upload_stall = upload_stall
        self._next_stall_check = 0.0
        self._processor = ImportProcessor(mongo, database, outbox)
        self._owner = new_id()
        self._open: OrderedDict[str, FileChunks] = OrderedDict()
        self.wakeup = Wakeup()
        self._worker = BatchWorker(
            "candidate-imports",
            self.run_once,
            batch_size=1,
            wakeup=self.wakeup,
            poll_interval_seconds=poll_seconds,
        )

    async def run_once(self) -> int:
        """Claims one chunk of any tenant's import and processes it; returns 1 if there was one.

        Every few seconds it first fails uploads that stalled (see `fail_stalled_uploads`).
        """
        if monotonic() >= self._next_stall_check:
            self._next_stall_check = monotonic() + STALL_CHECK_SECONDS
            for tenant_id, import_id in await fail_stalled_uploads(
                self._database, stalled_for=self._upload_stall
            ):
                logger.warning("import %s failed: its upload stalled", import_id)
                self._metrics.finished(ImportStatus.FAILED)
                await self._store.delete(tenant_id, import_id)
        job = await claim_import(self._database, self._owner)
        if job is None:
            return 0
        imports = ImportRepository(self._database, job.tenant_id)
        # Whether this turn did the import's work (so that its end, if it came, is counted by
        # this process only): not when another worker had processed the chunk already.
        worked = True
        try:
            counts = await self._processor.process_chunk(job, await self._chunks_of(job))
            self._metrics.chunk_processed(counts)
        except _ChunkTakenError:
            logger.info("import %s is being processed by another worker", job.id)
            worked = False
            await self._forget(job.id)
        except UploadMissingError:
            await imports.fail(job.id, "the uploaded file is gone; send it again with a new import")
        except Exception:
            # The chunk's transaction rolled back; the lease is released so it is retried.
            logger.exception("import %s failed on chunk %d; retrying", job.id, job.next_chunk)
            await self._forget(job.id)
            await imports.release(job.id)
        current = await imports.get(job.id)
        if current is None or current.status in (ImportStatus.COMPLETED, ImportStatus.FAILED):
            if worked and current is not None:
                self._metrics.finished(current.status)
            # Finished: only its counts and report stay; the file goes.
            await self._forget(job.id)
            await self._store.delete(job.tenant_id, job.id)
        return 1

    async def _chunks_of(self, job: CandidateImport) -> FileChunks:
        """The import's open file if it is at the job's next chunk, else the file opened anew."""
        chunks = self._open.pop(job.id, None)
        if chunks is not None and chunks.next_seq != job.next_chunk:
            await chunks.close()
            chunks = None
        if chunks is None:
            chunks = FileChunks(self._store, job)
        self._open[job.id] = chunks
        while len(self._open) > OPEN_FILES:
            _, oldest = self._open.popitem(last=False)
            await oldest.close()
        return chunks

    async def _forget(self, import_id: str) -> None:
        chunks = self._open.pop(import_id, None)
        if chunks is not None:
            await chunks.close()

    def start(self) -> None:
        """Starts processing in the background."""
        self._worker.start()

    async def stop(self) -> None:
        """Stops processing; an interrupted chunk is rolled back and redone on resume."""
        await self._worker.stop()
        for import_id in list(self._open):
            await self._forget(import_id)


class ImportNotFoundError(LookupError):
    """The tenant has no import with this id."""


class ImportStartedError(Exception):
    """The import already has its file (or another upload of it is under way)."""


class TooManyImportsError(Exception):
    """The tenant already has as many imports uploading or in progress as its quota allows."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} imports at once")
        self.limit = limit


@dataclass(frozen=True)
class ImportUploads:
    """Receives the file of one tenant's import and hands the import to the background jobs."""

    imports: ImportRepository
    store: UploadStore
    jobs: ImportJobs

    async def upload(
        self,
        import_id: str,
        body: AsyncIterable[bytes],
        limits: Limits,
        *,
        encoding: str | None,
    ) -> CandidateImport:
        """Stores and checks the file as it streams in (see `receive_file`); a file refused or
        an upload cut short fails the import, with the reason, and the error propagates."""
        job = await self.imports.get(import_id)
        if job is None:
            raise ImportNotFoundError(import_id)
        if job.status is not ImportStatus.AWAITING_FILE:
            raise ImportStartedError(import_id)
        if not await self.imports.start_upload(import_id):
            raise ImportStartedError(import_id)
        # Counted after this upload claimed its place: of two uploads racing for the last one,
        # the later count sees both and gives its place back, so the quota is never exceeded
        # (at worst both give back, and both callers retry).
        if await self.imports.active_count() > limits.max_concurrent_imports:
            await self.imports.release_upload(import_id)
            raise TooManyImportsError(limits.max_concurrent_imports)
        try:
            await receive_file(self.imports, self.store, job, body, limits, encoding=encoding)
        except CsvFormatError as invalid:
            await self._give_up(job, str(invalid))
            raise
        except UploadTooLargeError as too_large:
            await self._give_up(job, f"{too_large}, the upload quota")
            raise
        except TooManyRowsError as too_many:
            await self._give_up(job, f"{too_many}, the quota of rows per import")
            raise
        except BaseException:
            await self._give_up(job, "the upload was interrupted")
            raise
        self.jobs.wakeup.notify()
        stored = await self.imports.get(import_id)
        if stored is None:
            raise ImportNotFoundError(import_id)
        return stored

    async def _give_up(self, job: CandidateImport, reason: str) -> None:
        """Fails the import with `reason` and deletes whatever of its file was stored."""
        await self.imports.fail(job.id, reason)
        await self.store.delete(job.tenant_id, job.id)


@dataclass(frozen=True)
class ImportRecords:
    """Creates one tenant's imports and reads them back with their row errors."""

    imports: ImportRepository
    candidates: CandidateRepository

    async def create(self, job: CandidateImport) -> None:
        """Stores a new import, waiting for its file."""
        await self.imports.add(job)

    async def get(self, import_id: str) -> CandidateImport | None:
        return await self.imports.get(import_id)

    async def page(self, *, before: str | None, limit: int) -> list[CandidateImport]:
        """Up to `limit` imports, newest first, before the import id `before`."""
        return await self.imports.page(before=before, limit=limit)

    async def errors(
        self, import_id: str, *, after: tuple[int, str] | None, limit: int
    ) -> list[dict[str, Any]]:
        """Row errors of an import in row order, after `(row, id)`."""
        return await self.imports.errors(import_id, after=after, limit=limit)

    async def merged_rows(
        self, import_id: str, *, after: int | None, limit: int
    ) -> list[dict[str, Any]]:
        """(row, candidate id) of the rows that merged into a record, in row order, each with
        that record's name as it is stored now (None for a record erased since)."""
        rows = await self.imports.merged_rows(import_id, after=after, limit=limit)
        # Read at report time, not kept with the row: a renamed person shows their name today,
        # and an erased one leaves no name behind in the import's report.
        people = await self.candidates.get_many(sorted({row["candidate_id"] for row in rows}))
        for row in rows:
            person = people.get(row["candidate_id"])
            row["first_name"] = person.first_name if person else None
            row["last_name"] = person.last_name if person else None
        return rows
