"""The S3 upload store against a real S3-compatible server: moto's, run as its own process."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from aiobotocore.session import get_session

from crm_devstack.infra import free_ports
from crm_shared import UploadMissingError, UploadTooLargeError, limited
from crm_shared.s3_uploads import PART_BYTES, S3UploadStore

pytestmark = pytest.mark.integration

BUCKET = "crm-uploads"
CREDENTIALS = {"access_key_id": "test", "secret_access_key": "test-secret"}


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    (port,) = free_ports(1)
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(endpoint, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the moto S3 server did not start") from None
                time.sleep(0.2)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
async def store(s3_endpoint: str) -> S3UploadStore:
    async with get_session().create_client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=CREDENTIALS["access_key_id"],
        aws_secret_access_key=CREDENTIALS["secret_access_key"],
    ) as client:
        buckets = await client.list_buckets()
        if BUCKET not in {bucket["Name"] for bucket in buckets.get("Buckets", [])}:
            await client.create_bucket(Bucket=BUCKET)
    return S3UploadStore(bucket=BUCKET, endpoint_url=s3_endpoint, **CREDENTIALS)


async def pieces(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def read_all(stream: AsyncIterator[bytes]) -> bytes:
    return b"".join([piece async for piece in stream])


async def test_a_small_file_is_stored_read_back_and_deleted(store: S3UploadStore) -> None:
    assert await store.put("acme", "small", pieces(b"First,Last\nAda,Lovelace\n")) == 24
    assert await read_all(store.read("acme", "small")) == b"First,Last\nAda,Lovelace\n"
    await store.delete("acme", "small")
    with pytest.raises(UploadMissingError):
        await read_all(store.read("acme", "small"))
    await store.delete("acme", "small")


async def test_a_file_of_several_parts_streams_both_ways(store: S3UploadStore) -> None:
    data = bytes(range(256)) * (PART_BYTES * 2 // 256 + 1000)  # two full parts and a rest
    assert await store.put("acme", "big", pieces(data)) == len(data)
    read = [piece async for piece in store.read("acme", "big")]
    assert len(read) > 1
    assert b"".join(read) == data
    await store.delete("acme", "big")


async def test_files_are_kept_per_tenant_and_a_failed_stream_leaves_nothing(
    store: S3UploadStore,
) -> None:
    await store.put("acme", "same", pieces(b"acme"))
    await store.put("globex", "same", pieces(b"globex"))
    assert await read_all(store.read("globex", "same")) == b"globex"
    data = b"x" * (PART_BYTES + 10)  # fails after a part was sent
    with pytest.raises(UploadTooLargeError):
        await store.put("acme", "over", limited(pieces(data), PART_BYTES + 5))
    with pytest.raises(UploadMissingError):
        await read_all(store.read("acme", "over"))
    assert await read_all(store.read("acme", "same")) == b"acme"


async def test_the_bucket_is_created_at_start_if_missing(s3_endpoint: str) -> None:
    fresh = S3UploadStore(bucket="fresh-uploads", endpoint_url=s3_endpoint, **CREDENTIALS)
    await fresh.ensure_bucket()
    await fresh.ensure_bucket()  # and left alone when it exists
    await fresh.put("acme", "f", pieces(b"data"))
    assert await read_all(fresh.read("acme", "f")) == b"data"
