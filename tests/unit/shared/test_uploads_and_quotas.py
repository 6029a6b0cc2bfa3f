"""The local upload store and the quota rules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from crm_shared import (
    LimitOverrides,
    Limits,
    LocalUploadStore,
    ProblemError,
    Quotas,
    UploadMissingError,
    UploadTooLargeError,
    limited,
    quota_exceeded,
)

pytestmark = pytest.mark.unit


async def pieces(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def read_all(stream: AsyncIterator[bytes]) -> bytes:
    return b"".join([piece async for piece in stream])


async def test_a_file_is_stored_read_back_in_pieces_and_deleted(tmp_path: Path) -> None:
    store = LocalUploadStore(tmp_path)
    big = bytes(range(256)) * 4096  # 1 MiB: read back in several pieces
    assert await store.put("acme", "imp1", pieces(b"head,", big)) == len(big) + 5
    read = [piece async for piece in store.read("acme", "imp1")]
    assert len(read) > 1
    assert b"".join(read) == b"head," + big
    await store.delete("acme", "imp1")
    with pytest.raises(UploadMissingError):
        await read_all(store.read("acme", "imp1"))
    await store.delete("acme", "imp1")  # deleting what is gone is no error


async def test_files_are_kept_per_tenant(tmp_path: Path) -> None:
    store = LocalUploadStore(tmp_path)
    await store.put("acme", "same", pieces(b"acme's"))
    await store.put("globex", "same", pieces(b"globex's"))
    assert await read_all(store.read("acme", "same")) == b"acme's"
    assert await read_all(store.read("globex", "same")) == b"globex's"


async def test_a_failed_stream_leaves_nothing_and_replaces_nothing(tmp_path: Path) -> None:
    store = LocalUploadStore(tmp_path)
    with pytest.raises(UploadTooLargeError) as too_large:
        await store.put("acme", "f", limited(pieces(b"12345", b"67890"), 8))
    assert too_large.value.limit_bytes == 8
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # noqa: ASYNC240
    with pytest.raises(UploadMissingError):
        await read_all(store.read("acme", "f"))
    assert await store.put("acme", "f", limited(pieces(b"12345", b"678"), 8)) == 8


@pytest.mark.parametrize(
    ("tenant", "name"), [("..", "x"), ("acme", "../globex"), ("a/b", "x"), ("acme", ""), ("", "x")]
)
async def test_names_that_could_leave_the_tenant_directory_are_refused(
    tmp_path: Path, tenant: str, name: str
) -> None:
    store = LocalUploadStore(tmp_path / "root")
    with pytest.raises(ValueError, match="cannot name an upload"):
        await store.put(tenant, name, pieces(b"x"))


def test_limits_are_the_defaults_then_the_tenant_then_capped_by_role() -> None:
    quotas = Quotas(
        defaults=Limits(max_upload_bytes=100, max_import_rows=1000, max_concurrent_imports=2),
        tenants={"big": LimitOverrides(max_upload_bytes=500, max_concurrent_imports=4)},
        roles={
            "recruiter": LimitOverrides(max_upload_bytes=200, max_import_rows=300),
            "viewer": LimitOverrides(max_upload_bytes=10),
        },
    )
    assert quotas.limits_for("small").max_upload_bytes == 100
    assert quotas.limits_for("big").max_upload_bytes == 500
    assert quotas.limits_for("big").max_concurrent_imports == 4
    # A role caps the tenant's limit and never raises it.
    recruiter = quotas.limits_for("big", ["recruiter"])
    assert (recruiter.max_upload_bytes, recruiter.max_import_rows) == (200, 300)
    assert quotas.limits_for("small", ["recruiter"]).max_upload_bytes == 100
    # Several roles: the most generous; a role without a cap leaves the limit uncapped.
    assert quotas.limits_for("big", ["recruiter", "viewer"]).max_upload_bytes == 200
    assert quotas.limits_for("big", ["recruiter", "admin"]).max_upload_bytes == 500
    assert quotas.limits_for("big", ["viewer"]).max_import_rows == 1000


def test_quotas_come_from_json_settings_and_refuse_typos() -> None:
    quotas = Quotas.model_validate_json(
        '{"tenants": {"acme": {"max_import_rows": 5}},'
        ' "roles": {"viewer": {"max_upload_bytes": 1}}}'
    )
    assert quotas.limits_for("acme").max_import_rows == 5
    assert quotas.limits_for("other").max_import_rows == Limits().max_import_rows
    with pytest.raises(ValueError, match="max_rows"):
        Quotas.model_validate_json('{"tenants": {"acme": {"max_rows": 5}}}')
    with pytest.raises(ValueError, match="greater than 0"):
        Quotas.model_validate_json('{"defaults": {"max_import_rows": 0}}')


def test_a_quota_problem_names_its_limit() -> None:
    problem = quota_exceeded(
        429,
        "too many",
        problem_type="too-many-imports",
        limit_name="max_concurrent_imports",
        limit=2,
    )
    assert isinstance(problem, ProblemError)
    assert problem.status == 429
    assert problem.headers["Retry-After"] == "60"
    assert problem.extensions == {"limit": {"name": "max_concurrent_imports", "value": 2}}
    assert (
        "Retry-After"
        not in quota_exceeded(
            413, "big", problem_type="upload-too-large", limit_name="max_upload_bytes", limit=1
        ).headers
    )
