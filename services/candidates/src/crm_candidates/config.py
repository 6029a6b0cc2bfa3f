"""Settings of the candidates service."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from crm_shared import Quotas, ServiceSettings
from crm_shared.links import SIGNUP_LINK_LIFETIME


def _hours(lifetime: timedelta) -> int:
    return int(lifetime.total_seconds() // 3600)


class CandidatesSettings(ServiceSettings):
    """Candidates service settings, read from the environment."""

    service_name: str = "candidates"
    # Where the gateway is reachable from outside: consent confirmation links point there.
    public_base_url: str = "http://127.0.0.1:8000"
    signup_pending_hours: int = Field(
        default=_hours(SIGNUP_LINK_LIFETIME),
        gt=0,
        description="How long a talent-community sign-up waits for its double opt-in (and its "
        "link works); after that it is purged and the person signs up again.",
    )
    signups_per_hour_per_tenant: int = Field(
        default=500,
        gt=0,
        description="Talent-community sign-ups one tenant takes per hour (each may mail an "
        "unverified address on the tenant's behalf); more are refused with a 429.",
    )
    # Double opt-in mails to one address: at most this many within the window (durable).
    confirmation_max_per_address: int = 3
    confirmation_window_hours: int = 24
    consent_expiry_poll_interval_seconds: float = 30.0
    consent_expiry_lease_seconds: float = 60.0
    consent_expiry_batch_size: int = 100
    segment_recheck_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How often the worker looks for candidates whose membership of a segment "
        "with relative dates is due to change by time alone (the precision of such changes).",
    )
    import_poll_interval_seconds: float = 1.0
    import_upload_stall_seconds: float = Field(
        default=600.0,
        gt=0,
        description="An upload that stored nothing for this long (its process was killed, its "
        "client vanished) fails with that reason, so the import never stays `queued`.",
    )
    upload_store: Literal["local", "s3"] = Field(
        default="local",
        description="Where import files wait to be processed (never the database): `local`, "
        "the directory `upload_dir`; `s3`, the S3-compatible bucket `upload_s3_bucket`.",
    )
    upload_dir: Path = Field(
        default=Path(tempfile.gettempdir()) / "crm-uploads",
        description="The directory of the `local` upload store.",
    )
    upload_s3_endpoint_url: str | None = Field(
        default=None, description="The S3-compatible server (MinIO, Ceph); None for AWS S3."
    )
    upload_s3_bucket: str = "crm-uploads"
    upload_s3_region: str = "us-east-1"
    upload_s3_access_key_id: str | None = None
    upload_s3_secret_access_key: SecretStr | None = None
    quotas: Quotas = Field(
        default_factory=Quotas,
        description="Upload size, rows per import and concurrent imports: defaults, per-tenant "
        "overrides and per-role caps (JSON, see docs/security.md).",
    )
