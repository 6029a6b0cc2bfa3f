"""The upload store in an S3-compatible bucket (AWS S3, MinIO, Ceph, moto), via aiobotocore.

A stream is sent as a multipart upload of `PART_BYTES` parts (S3's minimum part is 5 MiB), so
at most one part is in memory; a file smaller than one part is a single `PutObject`. A stream
that fails aborts its multipart upload, so nothing of it becomes visible.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from aiobotocore.session import get_session
from botocore.config import Config
from botocore.exceptions import ClientError

from crm_shared.uploads import READ_CHUNK_BYTES, UploadMissingError, check_key

PART_BYTES = 8 * 1024 * 1024
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


class S3UploadStore:
    """Uploads as objects `<prefix><tenant>/<name>` of one bucket."""

    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        prefix: str = "uploads/",
    ) -> None:
        self.bucket = bucket
        self._prefix = prefix
        self._session = get_session()
        self._client_args: dict[str, Any] = {
            "endpoint_url": endpoint_url,
            "region_name": region,
            "aws_access_key_id": access_key_id,
            "aws_secret_access_key": secret_access_key,
            # Path-style addressing: what MinIO and most self-hosted S3 servers expect.
            "config": Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
        }

    def _client(self) -> Any:
        return self._session.create_client("s3", **self._client_args)

    def _key(self, tenant_id: str, name: str) -> str:
        return self._prefix + check_key(tenant_id, name)

    async def ensure_bucket(self) -> None:
        """Creates the bucket if it is missing (a service's start; harmless when it exists)."""
        async with self._client() as client:
            try:
                await client.head_bucket(Bucket=self.bucket)
            except ClientError:
                await client.create_bucket(Bucket=self.bucket)

    async def put(self, tenant_id: str, name: str, chunks: AsyncIterable[bytes]) -> int:
        key = self._key(tenant_id, name)
        async with self._client() as client:
            buffer = bytearray()
            size = 0
            upload_id: str | None = None
            parts: list[dict[str, Any]] = []
            try:
                async for chunk in chunks:
                    buffer += chunk
                    size += len(chunk)
                    if len(buffer) >= PART_BYTES:
                        if upload_id is None:
                            started = await client.create_multipart_upload(
                                Bucket=self.bucket, Key=key
                            )
                            upload_id = started["UploadId"]
                        parts.append(await self._part(client, key, upload_id, parts, buffer))
                        buffer = bytearray()
                if upload_id is None:
                    await client.put_object(Bucket=self.bucket, Key=key, Body=bytes(buffer))
                    return size
                if buffer or not parts:
                    parts.append(await self._part(client, key, upload_id, parts, buffer))
                await client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
            except BaseException:
                if upload_id is not None:
                    await client.abort_multipart_upload(
                        Bucket=self.bucket, Key=key, UploadId=upload_id
                    )
                raise
        return size

    async def _part(
        self, client: Any, key: str, upload_id: str, parts: list[dict[str, Any]], data: bytearray
    ) -> dict[str, Any]:
        number = len(parts) + 1
        sent = await client.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=bytes(data)
        )
        return {"ETag": sent["ETag"], "PartNumber": number}

    async def read(self, tenant_id: str, name: str) -> AsyncIterator[bytes]:
        key = self._key(tenant_id, name)
        async with self._client() as client:
            try:
                found = await client.get_object(Bucket=self.bucket, Key=key)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") in _MISSING:
                    raise UploadMissingError(f"no upload {tenant_id}/{name}") from None
                raise
            async with found["Body"] as body:
                while chunk := await body.read(READ_CHUNK_BYTES):
                    yield chunk

    async def delete(self, tenant_id: str, name: str) -> None:
        async with self._client() as client:
            await client.delete_object(Bucket=self.bucket, Key=self._key(tenant_id, name))
