"""What the CSV imports expose for `/metrics`.

The row and finish counters are this process's (Prometheus sums them over replicas); the
figures of imports in progress are sampled from the database, the same in every replica
(combined with `max`)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from crm_candidates.domain.models import ImportCounts, ImportStatus
from crm_candidates.repositories.imports import active_import_figures
from crm_shared import Database


class ImportMetrics:
    """Rows processed by outcome, imports finished, and the imports in progress."""

    def __init__(self, database: Database, registry: CollectorRegistry) -> None:
        self._database = database
        self._rows = Counter(
            "crm_import_rows",
            "Import rows processed, by outcome: created (a new candidate), merged (a person "
            "already on file or earlier in the file) or failed (refused, with its error)",
            ["outcome"],
            registry=registry,
        )
        self._finished = Counter(
            "crm_imports_finished",
            "Imports that reached an end, by status: completed or failed",
            ["status"],
            registry=registry,
        )
        self._active = Gauge(
            "crm_imports_active",
            "Imports queued or running, by status, at the last sample",
            ["status"],
            registry=registry,
        )
        self._without_progress = Gauge(
            "crm_import_longest_without_progress_seconds",
            "The longest any queued or running import whose file is in has gone without a "
            "chunk processed, at the last sample (0: none)",
            registry=registry,
        )
        for outcome in ("created", "merged", "failed"):
            self._rows.labels(outcome)
        for status in (ImportStatus.COMPLETED, ImportStatus.FAILED):
            self._finished.labels(status.value)

    def chunk_processed(self, counts: ImportCounts) -> None:
        """One committed chunk's rows."""
        for outcome, count in (
            ("created", counts.created),
            ("merged", counts.merged),
            ("failed", counts.failed),
        ):
            if count:
                self._rows.labels(outcome).inc(count)

    def finished(self, status: ImportStatus) -> None:
        """An import completed or failed."""
        self._finished.labels(status.value).inc()

    async def sample(self) -> None:
        """Reads the imports in progress."""
        by_status, longest = await active_import_figures(self._database)
        for status, count in by_status.items():
            self._active.labels(status.value).set(count)
        self._without_progress.set(longest)
