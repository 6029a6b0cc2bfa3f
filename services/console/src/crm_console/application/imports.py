"""CSV imports through the API: preview a file's start, create the import with the mapping a
person chose and stream the file to it, follow its progress, fetch its error report and the
rows that merged into people on file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable
from dataclasses import dataclass
from typing import Any

from crm_console.adapters.gateway_api import ApiProblem, Caller, Download, GatewayApi, SignedOut

API = "/api/v1"
CSV_HEADERS = {"Content-Type": "text/csv"}
# The first refused rows a finished import's page lists (the whole report is a download).
REPORT_ROWS = 20
# The first merged rows a finished import's page lists, each linking the record it joined.
MERGED_ROWS = 50


@dataclass(frozen=True)
class FilePreview:
    """The API's reading of a file's start, and the custom fields a column may feed."""

    preview: dict[str, Any]
    custom_fields: list[dict[str, Any]]


@dataclass(frozen=True)
class NewImport:
    mapping: dict[str, str]
    source: str
    tags: list[str]
    delimiter: str | None
    encoding: str | None
    # Where numbers without a country code are from; None: the tenant's default.
    default_region: str | None = None


class ImportDesk:
    """What the import pages ask the API."""

    def __init__(self, api: GatewayApi) -> None:
        self._api = api

    async def recent(self, caller: Caller) -> list[dict[str, Any]]:
        """The newest imports with their status and counts (one call)."""
        page = await self._api.get(caller, f"{API}/imports", {"limit": 20})
        return list(page.get("items", []))

    async def preview(self, caller: Caller, head: bytes, *, truncated: bool) -> FilePreview:
        """The file's columns and suggested fields; custom fields when the person may read
        them (a recruiter without `settings:read` maps to the profile's fields only)."""
        preview, custom = await asyncio.gather(
            self._api.request(
                caller,
                "POST",
                f"{API}/imports/preview",
                params={"truncated": "true" if truncated else None},
                content=head,
                headers=CSV_HEADERS,
            ),
            self._custom_fields(caller),
        )
        return FilePreview(preview.json(), custom)

    async def _custom_fields(self, caller: Caller) -> list[dict[str, Any]]:
        try:
            fields: list[dict[str, Any]] = await self._api.get(caller, f"{API}/custom-fields")
        except SignedOut:
            raise
        except ApiProblem:
            return []
        return fields

    async def start(
        self, caller: Caller, new: NewImport, file: AsyncIterable[bytes]
    ) -> dict[str, Any]:
        """Creates the import, then streams the file to it; the import's state after upload.

        A refused file leaves the import waiting for its file (the API keeps nothing of it);
        its problem is raised for the form to show.
        """
        created = await self._api.send(
            caller,
            "POST",
            f"{API}/imports",
            {
                "mapping": new.mapping,
                "source": new.source,
                "tags": new.tags,
                "delimiter": new.delimiter,
                "encoding": new.encoding,
                "default_region": new.default_region,
            },
        )
        uploaded = await self._api.request(
            caller,
            "PUT",
            f"{API}/imports/{created['id']}/file",
            content=file,
            headers=CSV_HEADERS,
        )
        job: dict[str, Any] = uploaded.json()
        return job

    async def job(self, caller: Caller, import_id: str) -> dict[str, Any]:
        job: dict[str, Any] = await self._api.get(caller, f"{API}/imports/{import_id}")
        return job

    async def first_errors(self, caller: Caller, import_id: str) -> list[dict[str, Any]]:
        page = await self._api.get(
            caller, f"{API}/imports/{import_id}/errors", {"limit": REPORT_ROWS}
        )
        return list(page.get("items", []))

    async def first_merged_rows(self, caller: Caller, import_id: str) -> dict[str, Any]:
        """The first rows that merged into a record (`items` of row, candidate id and that
        record's name now), with the API's `next_cursor` when there are more."""
        page: dict[str, Any] = await self._api.get(
            caller, f"{API}/imports/{import_id}/merged-rows", {"limit": MERGED_ROWS}
        )
        return page

    async def report(self, caller: Caller, import_id: str, params: dict[str, str]) -> Download:
        """The API's CSV error report, passed through as it is (`params`: its separator)."""
        return await self._api.download(caller, f"{API}/imports/{import_id}/errors.csv", params)
