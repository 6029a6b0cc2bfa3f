"""Per-tenant and per-role quotas: how much of the shared machinery one tenant may hold.

A setting, `Quotas`, gives the defaults, overrides per tenant and caps per role; `limits_for`
answers the limits of one caller. Pure rules: the services check them where the work starts
(an upload, a broadcast) and answer 413 or 429 with the limit (`quota_exceeded`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from crm_shared.errors import ProblemError

MIB = 1024 * 1024


class Limits(BaseModel):
    """The limits one caller works under."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_upload_bytes: int = Field(default=64 * MIB, gt=0, description="Largest import file.")
    max_import_rows: int = Field(default=200_000, gt=0, description="Most rows of one import.")
    max_concurrent_imports: int = Field(
        default=2, gt=0, description="Imports of one tenant uploading or being processed at once."
    )
    max_concurrent_broadcasts: int = Field(
        default=2, gt=0, description="Broadcasts of one tenant sending at once."
    )


class LimitOverrides(BaseModel):
    """Some of the limits; the others are left as they were."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_upload_bytes: int | None = Field(default=None, gt=0)
    max_import_rows: int | None = Field(default=None, gt=0)
    max_concurrent_imports: int | None = Field(default=None, gt=0)
    max_concurrent_broadcasts: int | None = Field(default=None, gt=0)

    def given(self) -> dict[str, int]:
        return {name: value for name, value in self.model_dump().items() if value is not None}


class Quotas(BaseModel):
    """Defaults, then a tenant's overrides, then the caps of the caller's roles.

    A role's cap lowers the tenant's limit, never raises it; a caller with several roles gets
    the most generous of them (a role without a cap for a limit leaves it uncapped).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    defaults: Limits = Limits()
    tenants: dict[str, LimitOverrides] = Field(default_factory=dict)
    roles: dict[str, LimitOverrides] = Field(default_factory=dict)

    def limits_for(self, tenant_id: str, roles: Iterable[str] = ()) -> Limits:
        """The limits of a caller of `tenant_id` with `roles` (no roles: the tenant's own)."""
        values: dict[str, Any] = self.defaults.model_dump()
        values |= self.tenants.get(tenant_id, LimitOverrides()).given()
        caps = [self.roles.get(role, LimitOverrides()).given() for role in roles]
        if caps:
            for name in values:
                role_caps = [cap.get(name) for cap in caps]
                if None not in role_caps:
                    values[name] = min(values[name], max(c for c in role_caps if c is not None))
        return Limits.model_validate(values)


def quota_exceeded(
    status: int, detail: str, *, problem_type: str, limit_name: str, limit: int
) -> ProblemError:
    """The problem document of a quota: 413 for a size, 429 for concurrency, with the limit."""
    headers = {"Retry-After": "60"} if status == 429 else None
    return ProblemError(
        status,
        detail,
        problem_type=problem_type,
        headers=headers,
        extensions={"limit": {"name": limit_name, "value": limit}},
    )
