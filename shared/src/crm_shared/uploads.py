"""Where uploaded files live while they are processed: outside the operational database.

One port, `UploadStore`: put a stream, read it back as a stream, delete, each file keyed by
tenant and a name. `LocalUploadStore` keeps files in a directory (the devstack and the tests);
`S3UploadStore` (in `crm_shared.s3_uploads`) keeps them in an S3-compatible bucket. Neither
ever holds a whole file in memory.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from pathlib import Path
from time import monotonic
from typing import Protocol

import anyio

READ_CHUNK_BYTES = 256 * 1024
# Tenant ids and file names become path segments and object keys: nothing that could climb out.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


class UploadTooLargeError(Exception):
    """The stream went past the size it was allowed; nothing of it is kept."""

    def __init__(self, limit_bytes: int) -> None:
        super().__init__(f"the upload is larger than {limit_bytes:,} bytes")
        self.limit_bytes = limit_bytes


class UploadMissingError(LookupError):
    """No file is stored under this tenant and name."""


class UploadStore(Protocol):
    """Files of tenants, each a stream of bytes under (tenant, name)."""

    async def put(self, tenant_id: str, name: str, chunks: AsyncIterable[bytes]) -> int:
        """Stores the stream as the file `name` of the tenant; returns its size in bytes.

        The file appears only once the stream is complete; a stream that fails (for instance
        `UploadTooLargeError` from `limited`) leaves nothing behind.
        """
        ...

    def read(self, tenant_id: str, name: str) -> AsyncIterator[bytes]:
        """The file's bytes in pieces; raises `UploadMissingError` on first use if it is gone."""
        ...

    async def delete(self, tenant_id: str, name: str) -> None:
        """Removes the file; a file that is not there is no error."""
        ...


def check_key(tenant_id: str, name: str) -> str:
    """`tenant/name`, refusing a tenant id or name that is not a plain file name."""
    for part in (tenant_id, name):
        if not _SAFE_NAME.match(part):
            raise ValueError(f"{part!r} cannot name an upload")
    return f"{tenant_id}/{name}"


async def limited(chunks: AsyncIterable[bytes], limit_bytes: int) -> AsyncIterator[bytes]:
    """The stream, raising `UploadTooLargeError` as soon as it passes `limit_bytes`."""
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > limit_bytes:
            raise UploadTooLargeError(limit_bytes)
        yield chunk


async def with_heartbeat(
    chunks: AsyncIterable[bytes], beat: Callable[[], Awaitable[None]], every_seconds: float
) -> AsyncIterator[bytes]:
    """The stream, calling `beat` at most every `every_seconds` while pieces keep arriving."""
    last = monotonic()
    async for chunk in chunks:
        if monotonic() - last >= every_seconds:
            await beat()
            last = monotonic()
        yield chunk


class LocalUploadStore:
    """Uploads as files under `root/<tenant>/<name>`, written to a temporary name first."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, tenant_id: str, name: str) -> Path:
        return self.root / check_key(tenant_id, name)

    async def put(self, tenant_id: str, name: str, chunks: AsyncIterable[bytes]) -> int:
        path = self._path(tenant_id, name)
        await anyio.Path(path.parent).mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.part")
        size = 0
        try:
            async with await anyio.open_file(partial, "wb") as file:
                async for chunk in chunks:
                    await file.write(chunk)
                    size += len(chunk)
            await anyio.Path(partial).rename(path)
        except BaseException:
            await anyio.Path(partial).unlink(missing_ok=True)
            raise
        return size

    async def read(self, tenant_id: str, name: str) -> AsyncIterator[bytes]:
        path = self._path(tenant_id, name)
        try:
            file = await anyio.open_file(path, "rb")
        except FileNotFoundError:
            raise UploadMissingError(f"no upload {tenant_id}/{name}") from None
        async with file:
            while chunk := await file.read(READ_CHUNK_BYTES):
                yield chunk

    async def delete(self, tenant_id: str, name: str) -> None:
        await anyio.Path(self._path(tenant_id, name)).unlink(missing_ok=True)
