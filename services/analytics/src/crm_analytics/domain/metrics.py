"""The per-tenant counters analytics keeps."""

from __future__ import annotations

from enum import StrEnum


class TenantMetric(StrEnum):
    """A running total kept per tenant, fed by one kind of event."""

    CANDIDATES_CREATED = "candidates_created"
