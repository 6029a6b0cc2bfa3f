"""CSV import as a background job: the file is stored as it streams in, then processed in chunks.

Upload: the request body is parsed as it arrives (`csv_records`) and stored in chunks of
`IMPORT_CHUNK_ROWS` mapped rows, so neither the file nor all its rows are ever in memory.
Processing: a worker leases one import at a time and handles one chunk per MongoDB transaction:
each row is validated (errors are stored with row number and field), resolved against the
identity keys of existing candidates and of earlier rows of the file, and the chunk's new
candidates, identity keys and `candidate.created` events are written with one insert each; rows
that are a known person add their identifiers to that record (`candidate.updated`). The same
transaction records the chunk as done, so a restart resumes at the next chunk and no chunk is
applied twice.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from pydantic import ValidationError

from crm_candidates.api.schemas import CandidateCreate
from crm_candidates.commands import CandidateWriter, TenantSegments, with_identifiers
from crm_candidates.domain.csv_import import (
    ColumnPlan,
    CsvFormatError,
    column_of,
    csv_records,
    row_fields,
)
from crm_candidates.domain.models import (
    Candidate,
    CandidateImport,
    ImportCounts,
    ImportStatus,
    ProfileError,
)
from crm_candidates.domain.profile import ProfileRules, normalise_profile_fields
from crm_candidates.repository import (
    CandidateRepository,
    ImportRepository,
    ProfileRulesRepository,
    SegmentRepository,
    candidate_identity_keys,
    claim_import,
)
from crm_shared import (
    CANDIDATE_CREATED,
    BatchWorker,
    CandidateCreated,
    Database,
    EventEnvelope,
    MongoClient,
    Outbox,
    Session,
    Wakeup,
    in_transaction,
    new_id,
)

IMPORT_CHUNK_ROWS = 250
logger = logging.getLogger(__name__)


async def receive_file(
    imports: ImportRepository, job: CandidateImport, body: AsyncIterator[bytes]
) -> int:
    """Stores the rows of a streamed CSV file in chunks; returns how many rows it had.

    Raises `CsvFormatError` for a file that is not CSV or lacks a mapped column.
    """
    plan: ColumnPlan | None = None
    batch: list[list[str]] = []
    seq = rows = 0
    async for record in csv_records(body):
        if not any(cell.strip() for cell in record):
            continue
        if plan is None:
            plan = ColumnPlan.from_header(record, job.mapping)
            continue
        rows += 1
        batch.append(plan.cells(record))
        if len(batch) == IMPORT_CHUNK_ROWS:
            await imports.add_chunk(job.id, seq, rows - len(batch) + 1, batch)
            seq, batch = seq + 1, []
    if plan is None:
        raise CsvFormatError("the file is empty: a header row is needed")
    if batch:
        await imports.add_chunk(job.id, seq, rows - len(batch) + 1, batch)
        seq += 1
    await imports.finish_upload(job.id, seq)
    return rows


@dataclass
class _Row:
    number: int
    candidate: Candidate


def _row_candidate(
    job: CandidateImport, rules: ProfileRules, cells: list[str]
) -> Candidate | list[tuple[str, str]]:
    """The candidate one row describes, or its errors as `(field path, message)`."""
    fields = row_fields(job.mapping, cells)
    fields["tags"] = [*fields.get("tags", []), *job.tags]
    fields["source"] = job.source
    try:
        body = CandidateCreate.model_validate(fields)
    except ValidationError as invalid:
        return [
            (".".join(str(part) for part in error["loc"]) or "row", error["msg"])
            for error in invalid.errors()
        ]
    try:
        normalised = normalise_profile_fields(body.model_dump(exclude={"default_region"}), rules)
    except ProfileError as invalid:
        return list(invalid.errors)
    return Candidate.model_validate(
        {
            **normalised,
            "tenant_id": job.tenant_id,
            "created_by": job.created_by,
            "owner_id": body.owner_id or job.created_by,
        }
    )


class _ChunkTakenError(Exception):
    """Another worker completed this chunk first."""


@dataclass(frozen=True)
class ImportProcessor:
    """Processes one tenant's claimed import chunk by chunk."""

    mongo: MongoClient
    database: Database
    outbox: Outbox

    async def run(self, job: CandidateImport) -> None:
        """Processes the import's remaining chunks."""
        tenant = job.tenant_id
        imports = ImportRepository(self.database, tenant)
        rules = await ProfileRulesRepository(self.database, tenant).rules(
            default_region=job.default_region
        )
        current: CandidateImport | None = job
        while current is not None and current.status is ImportStatus.RUNNING:
            await in_transaction(self.mongo, partial(self._chunk, current, rules))
            self.outbox.notify_committed()
            current = await imports.get(job.id)

    async def _chunk(self, job: CandidateImport, rules: ProfileRules, session: Session) -> None:
        tenant = job.tenant_id
        imports = ImportRepository(self.database, tenant)
        counts = ImportCounts()
        stored = await imports.chunk(job.id, job.next_chunk, session=session)
        rows: list[_Row] = []
        errors: list[dict[str, Any]] = []
        if stored is not None:
            first_row, cells_of_rows = stored
            counts.rows_processed = len(cells_of_rows)
            for offset, cells in enumerate(cells_of_rows):
                parsed = _row_candidate(job, rules, cells)
                if isinstance(parsed, Candidate):
                    rows.append(_Row(first_row + offset, parsed))
                    continue
                counts.failed += 1
                errors.extend(
                    {
                        "_id": new_id(),
                        "import_id": job.id,
                        "row": first_row + offset,
                        "field": path,
                        "column": column_of(job.mapping, path),
                        "message": message,
                    }
                    for path, message in parsed
                )
        await self._store(job, rows, counts, session)
        await imports.add_errors(errors, session=session)
        if not await imports.complete_chunk(job, counts, session=session):
            raise _ChunkTakenError(job.id)

    async def _store(
        self, job: CandidateImport, rows: list[_Row], counts: ImportCounts, session: Session
    ) -> None:
        """Resolves the rows against known people and earlier rows, then writes in batches."""
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
        for row in rows:
            keys = keys_of[row.number]
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
            foreign = {key for key in keys if holder_of.get(key, target) != target}
            grown = with_identifiers(base, row.candidate, foreign)
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
        # Segment membership as for any create (references, relative dates and their
        # rechecks included); a tenant without segments costs one read per chunk.
        if (await TenantSegments.load(segments, session=session)).ordered:
            for candidate in new.values():
                await writer.reevaluate(candidate, session=session)
        for target, grown in extended.items():
            await writer.store_change(grown, previous=existing[target], session=session)


class ImportJobs:
    """Runs uploaded imports in the background; any replica resumes an interrupted one."""

    def __init__(
        self, mongo: MongoClient, database: Database, outbox: Outbox, *, poll_seconds: float = 1.0
    ) -> None:
        self._database = database
        self._processor = ImportProcessor(mongo, database, outbox)
        self._owner = new_id()
        self.wakeup = Wakeup()
        self._worker = BatchWorker(
            "candidate-imports",
            self.run_once,
            batch_size=1,
            wakeup=self.wakeup,
            poll_interval_seconds=poll_seconds,
        )

    async def run_once(self) -> int:
        """Claims one import and processes it to the end; returns 1 if there was one."""
        job = await claim_import(self._database, self._owner)
        if job is None:
            return 0
        imports = ImportRepository(self._database, job.tenant_id)
        try:
            await self._processor.run(job)
        except _ChunkTakenError:
            logger.info("import %s is being processed by another worker", job.id)
        except Exception:
            # The chunk's transaction rolled back; the lease is released so it is retried.
            logger.exception("import %s failed on chunk %d; retrying", job.id, job.next_chunk)
            await imports.release(job.id)
        return 1

    def start(self) -> None:
        """Starts processing in the background."""
        self._worker.start()

    async def stop(self) -> None:
        """Stops processing; an interrupted chunk is rolled back and redone on resume."""
        await self._worker.stop()
