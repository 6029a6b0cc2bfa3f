"""3. CSV import: rows/s of an import job with validation and dedupe against a raw `insert_many`
of the same documents on the same database, and the import's memory growth (it must stay flat).

The CSV comes from the workload generator (about 5% near-duplicates of earlier people, found
through their phone number) and is written to disk first. The import runs the candidates
service's own code path: the file streamed through `receive_file` in 64 KiB reads (as the
upload endpoint does), then the job's `ImportProcessor` chunk by chunk, each chunk one
transaction with its identity keys and `candidate.created` outbox records (the outbox relay is
not running: publishing is measured by the outbox benchmark). The baseline inserts the very
candidate documents the import stored (read back, untimed) with `insert_many` in batches of
the same size into a collection with the same indexes: no parsing, validation, dedupe,
identity keys, outbox or transactions. Its rows/s counts documents, the import's CSV rows.
Memory is the process's resident set, sampled every 20 ms during the import, above what it was
just before.

The suite runs it as `import` (`python -m bench --mode full --only import` for 100,000 rows,
`--mode small` for 2,000); each run also writes `bench/results/import-<rows>.json`.
"""

from __future__ import annotations

import asyncio
import csv
import gc
import json
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from bench.report import RESULTS_DIR, Figure
from crm_candidates.application.imports import IMPORT_CHUNK_ROWS, ImportProcessor, receive_file
from crm_candidates.domain.models import CandidateImport, Segment, SegmentStatus
from crm_candidates.repositories.collections import MEMBERSHIPS_COLLECTION
from crm_candidates.repositories.imports import (
    ImportRepository,
    claim_import,
    ensure_import_indexes,
)
from crm_candidates.repositories.indexes import ensure_indexes
from crm_candidates.repositories.segments import SegmentRepository
from crm_devstack.workload import Workload
from crm_shared import Limits, LocalUploadStore, Outbox

COLUMNS = {
    "First name": "first_name",
    "Last name": "last_name",
    "Email": "emails",
    "Phone": "phones",
    "Title": "current_title",
    "Company": "current_company",
    "City": "location",
    "Skills": "skills",
    "Tags": "tags",
}
READ_BYTES = 65_536
TENANT = "bench-import"


def write_csv(path: Path, rows: int) -> None:
    """The workload's candidates as a CSV file, streamed to disk."""
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(COLUMNS)
        for profile in Workload().candidates(rows):
            writer.writerow(
                [
                    profile["first_name"],
                    profile["last_name"],
                    ";".join(profile["emails"]),
                    ";".join(profile["phones"]),
                    profile["current_title"],
                    profile["current_company"],
                    profile["location"],
                    ";".join(profile["skills"]),
                    ";".join(profile["tags"]),
                ]
            )


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as file:
        while chunk := file.read(READ_BYTES):
            yield chunk


def _resident_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class _PeakMemory:
    """Samples the resident set while running; `growth` is the peak above the start."""

    def __init__(self) -> None:
        self.start = _resident_bytes()
        self.peak = self.start
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, _resident_bytes())
            await asyncio.sleep(0.02)

    def __enter__(self) -> _PeakMemory:
        self._task = asyncio.get_running_loop().create_task(self._sample())
        return self

    def __exit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()
        self.peak = max(self.peak, _resident_bytes())

    @property
    def growth(self) -> int:
        return self.peak - self.start


async def import_file(
    client: AsyncMongoClient[dict[str, Any]],
    database_name: str,
    path: Path,
    tenant_id: str = TENANT,
) -> dict[str, Any]:
    """Imports the CSV at `path` into `tenant_id`'s candidates with the service's own code."""
    database = client[database_name]
    await ensure_indexes(database)
    await ensure_import_indexes(database)
    outbox = Outbox(database, "bench")
    await outbox.ensure_indexes()
    imports = ImportRepository(database, tenant_id)
    # The upload store beside the generated file, as the devstack keeps it on local disk.
    store = LocalUploadStore(path.parent / "uploads")
    job = CandidateImport(
        tenant_id=tenant_id,
        mapping=list(COLUMNS.items()),
        default_region="DE",
        created_by="bench",
    )
    await imports.add(job)
    gc.collect()
    with _PeakMemory() as memory:
        started = time.perf_counter()
        assert await imports.start_upload(job.id)
        rows = await receive_file(imports, store, job, _file_chunks(path), Limits())
        uploaded = time.perf_counter()
        claimed = await claim_import(database, "bench")
        assert claimed is not None
        assert claimed.id == job.id
        await ImportProcessor(client, database, outbox).run(claimed, store)
        finished = time.perf_counter()
    done = await imports.get(job.id)
    assert done is not None
    return {
        "rows": rows,
        "upload_seconds": uploaded - started,
        "process_seconds": finished - uploaded,
        "seconds": finished - started,
        "counts": done.counts.model_dump(),
        "status": done.status.value,
        "memory_growth_bytes": memory.growth,
        "candidates": await database["candidates"].count_documents({"tenant_id": tenant_id}),
    }


# The tenant's segments of the import-with-segments case: bench/segments.py's typical rule, one
# referring to it (evaluated after it, in the same transaction) and one by a relative date that
# every new candidate enters (a `segment.entered`, a timeline entry and a recheck time each).
SEGMENT_RULES: dict[str, dict[str, Any]] = {
    "python-berlin": {
        "all": [
            {"field": "skills", "op": "equals", "value": "python"},
            {"field": "location", "op": "equals", "value": "Berlin"},
        ]
    },
    "python-berlin-or-munich": {
        "any": [
            {"segment": "bench-seg-python-berlin"},
            {"field": "location", "op": "equals", "value": "Munich"},
        ]
    },
    "new-this-month": {"all": [{"field": "created_at", "op": "after", "relative": "-30d"}]},
}


async def add_segments(client: AsyncMongoClient[dict[str, Any]], database_name: str) -> None:
    """`SEGMENT_RULES` as the import tenant's segments (evaluated, empty: the tenant is new)."""
    database = client[database_name]
    segments = SegmentRepository(database, TENANT)
    for name, rule in SEGMENT_RULES.items():
        await segments.add(
            Segment(
                id=f"bench-seg-{name}",
                tenant_id=TENANT,
                name=name,
                rule=rule,
                status=SegmentStatus.READY,
                created_by="bench",
            )
        )


async def measure_with_segments(mongodb_uri: str, rows: int) -> dict[str, Any]:
    """The import of `rows` rows into a tenant with `SEGMENT_RULES`, and without segments."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    run = uuid.uuid4().hex[:8]
    result: dict[str, Any] = {"rows": rows}
    try:
        with tempfile.TemporaryDirectory(prefix="crm-bench-import-") as directory:
            path = Path(directory) / "candidates.csv"
            write_csv(path, rows)
            for case in ("segments", "plain"):
                name = f"bench_import_{case}_{run}"
                if case == "segments":
                    await add_segments(client, name)
                result[case] = await import_file(client, name, path)
                if case == "segments":
                    memberships = client[name][MEMBERSHIPS_COLLECTION]
                    result[case]["memberships"] = await memberships.count_documents({})
                print(f"import of {rows:,} rows ({case}): {json.dumps(result[case])}", flush=True)
                with suppress(Exception):
                    await client.drop_database(name)
    finally:
        await client.close()
    return result


async def run_with_segments(mongodb_uri: str, rows: int) -> list[Figure]:
    """The suite's `import-segments`: writes `bench/results/import-segments-<rows>.json`."""
    result = await measure_with_segments(mongodb_uri, rows)
    ours, plain = result["segments"], result["plain"]
    found = [
        Figure(
            "import",
            f"rows/s into a tenant with {len(SEGMENT_RULES)} segments",
            rows / ours["seconds"],
            "rows/s",
            rows / plain["seconds"],
            "the same import without segments",
            f"{rows:,} rows; {ours['memberships']:,} segment entries",
        )
    ]
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / f"import-segments-{rows}.json").write_text(
        json.dumps(
            {"result": result, "figures": [asdict(f) | {"ratio": f.ratio} for f in found]},
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    return found


async def _raw(
    client: AsyncMongoClient[dict[str, Any]], source_database: str, database_name: str
) -> dict[str, Any]:
    """Inserts the documents the import stored, as they are, into an indexed twin collection."""
    database = client[database_name]
    await ensure_indexes(database)
    collection = database["candidates"]
    seconds = 0.0
    rows = 0
    source = client[source_database]["candidates"]
    after = ""
    # Read a page, then insert it: no cursor stays open on the server while it writes.
    while (
        batch := await source.find({"tenant_id": TENANT, "_id": {"$gt": after}})
        .sort("_id", 1)
        .limit(IMPORT_CHUNK_ROWS)
        .to_list()
    ):
        after = batch[-1]["_id"]
        started = time.perf_counter()
        await collection.insert_many(batch)
        seconds += time.perf_counter() - started
        rows += len(batch)
    return {"rows": rows, "seconds": seconds}


async def measure(mongodb_uri: str, rows: int) -> dict[str, Any]:
    """Runs the import and the raw baseline on `rows` workload rows; returns the raw figures."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    run = uuid.uuid4().hex[:8]
    try:
        with tempfile.TemporaryDirectory(prefix="crm-bench-import-") as directory:
            path = Path(directory) / "candidates.csv"
            write_csv(path, rows)
            size = path.stat().st_size
            ours = await import_file(client, f"bench_import_{run}", path)
            print(f"import of {rows:,} rows: {json.dumps(ours)}", flush=True)
            raw = await _raw(client, f"bench_import_{run}", f"bench_import_raw_{run}")
        for name in (f"bench_import_{run}", f"bench_import_raw_{run}"):
            with suppress(Exception):
                await client.drop_database(name)
    finally:
        await client.close()
    return {"rows": rows, "file_bytes": size, "import": ours, "raw": raw}


def figures(result: dict[str, Any]) -> list[Figure]:
    ours, raw = result["import"], result["raw"]
    counts = ours["counts"]
    note = (
        f"{result['rows']:,} rows, {result['file_bytes'] / 2**20:.1f} MiB CSV; "
        f"created {counts['created']:,}, merged {counts['merged']:,}, failed {counts['failed']:,}"
    )
    return [
        Figure(
            "import",
            "rows/s (upload + processing)",
            result["rows"] / ours["seconds"],
            "rows/s",
            raw["rows"] / raw["seconds"],
            "insert_many of the stored documents",
            note,
        ),
        Figure("import", "upload (parse and store)", ours["upload_seconds"], "s"),
        Figure("import", "processing (validate, dedupe, write)", ours["process_seconds"], "s"),
        Figure(
            "import",
            "peak resident memory growth",
            ours["memory_growth_bytes"] / 2**20,
            "MiB",
            note=f"{result['rows']:,} rows",
        ),
    ]


async def run(mongodb_uri: str, rows: int) -> list[Figure]:
    """The suite's entry: measures, writes `bench/results/import-<rows>.json`, returns figures."""
    result = await measure(mongodb_uri, rows)
    found = figures(result)
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / f"import-{rows}.json").write_text(
        json.dumps(
            {"result": result, "figures": [asdict(f) | {"ratio": f.ratio} for f in found]},
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    return found


async def _insert_rate(collection: Any, documents: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    for start in range(0, len(documents), IMPORT_CHUNK_ROWS):
        await collection.insert_many(
            [dict(document) for document in documents[start : start + IMPORT_CHUNK_ROWS]]
        )
    return len(documents) / (time.perf_counter() - started)


async def index_costs(mongodb_uri: str, rows: int) -> list[Figure]:
    """What each index of `candidates` costs a raw `insert_many` of the documents an import
    stored: the rate with all of them, and with each one left out, against `_id` alone."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    run = uuid.uuid4().hex[:8]
    source, target = f"bench_index_src_{run}", f"bench_index_{run}"
    try:
        with tempfile.TemporaryDirectory(prefix="crm-bench-index-") as directory:
            path = Path(directory) / "candidates.csv"
            write_csv(path, rows)
            await import_file(client, source, path)
        stored = client[source]["candidates"]
        documents = await stored.find({"tenant_id": TENANT}).sort("_id", 1).to_list()
        indexes = {
            name: info["key"]
            for name, info in (await stored.index_information()).items()
            if name != "_id_"
        }
        tokens = sum(len(d.get("search_tokens", [])) for d in documents) / len(documents)
        database = client[target]
        bare = await _insert_rate(database["only_id"], documents)

        async def rate_without(left_out: str | None) -> float:
            collection = database[f"without_{left_out or 'none'}"]
            for name, key in indexes.items():
                if name != left_out:
                    await collection.create_index(key, name=name)
            return await _insert_rate(collection, documents)

        figures = [
            Figure(
                "import index cost",
                f"insert_many, all {len(indexes)} indexes",
                await rate_without(None),
                "docs/s",
                bare,
                "insert_many with only _id",
                f"{len(documents):,} stored candidates, {tokens:.0f} search tokens each",
            )
        ]
        for name in indexes:
            figures.append(
                Figure(
                    "import index cost",
                    f"insert_many, all but {name}",
                    await rate_without(name),
                    "docs/s",
                    bare,
                    "insert_many with only _id",
                )
            )
        return figures
    finally:
        for name in (source, target):
            with suppress(Exception):
                await client.drop_database(name)
        await client.close()
