"""Payloads from an ATS the CRM could not map or store, kept for an admin to see why: a signed
webhook it does not understand, a record of a backfill or reconciliation page it skipped.

Each is kept once per connection and body, its body cut at `MAX_BODY_BYTES`, for
`RETENTION_DAYS`, and at most `MAX_PER_CONNECTION` per connection (the oldest go first): an ATS
sending the same broken thing many times cannot fill the database."""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields, is_dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from crm_shared import new_id, utc_now

MAX_BODY_BYTES = 64 * 1024
MAX_REASON_CHARS = 1000
RETENTION_DAYS = 30
MAX_PER_CONNECTION = 1000


class PayloadSource(StrEnum):
    """Where a rejected payload came from."""

    WEBHOOK = "webhook"
    BACKFILL = "backfill"
    RECONCILE = "reconcile"


class RejectedPayload(BaseModel):
    """One payload an ATS sent (or answered) that the CRM could not map or store."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    tenant_id: str
    connection_id: str
    source: PayloadSource
    reason: str
    # The ATS's id of the record, where the payload names one.
    ats_id: str | None = None
    received_at: datetime = Field(default_factory=utc_now)
    # The payload as text (UTF-8; bytes that are not are replaced), cut at `MAX_BODY_BYTES`.
    body: str
    # Its whole size in bytes, and whether `body` was cut.
    size: int
    truncated: bool
    # The SHA-256 of the whole payload: the same payload is kept once per connection.
    digest: str


def rejected_payload(
    tenant_id: str,
    connection_id: str,
    source: PayloadSource,
    reason: str,
    payload: bytes,
    *,
    ats_id: str | None = None,
) -> RejectedPayload:
    """A payload as it is kept: its reason and body capped."""
    return RejectedPayload(
        tenant_id=tenant_id,
        connection_id=connection_id,
        source=source,
        reason=reason[:MAX_REASON_CHARS],
        ats_id=ats_id,
        body=payload[:MAX_BODY_BYTES].decode("utf-8", errors="replace"),
        size=len(payload),
        truncated=len(payload) > MAX_BODY_BYTES,
        digest=hashlib.sha256(payload).hexdigest(),
    )


def as_json_bytes(record: Any) -> bytes:
    """A record read from an ATS's API (JSON, or a dataclass the CRM mapped it into when the
    record itself is not at hand) as the bytes kept; what JSON cannot say is written as text."""
    if is_dataclass(record) and not isinstance(record, type):
        record = {f.name: getattr(record, f.name) for f in fields(record) if f.name != "source"}
    return json.dumps(record, default=str, ensure_ascii=False).encode()
