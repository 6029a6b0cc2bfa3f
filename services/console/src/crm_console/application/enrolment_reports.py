"""The analytics API's enrolment report of a sequence (JSON for the page's panel, or the API's
CSV file)."""

from __future__ import annotations

from urllib.parse import quote

from crm_console.adapters.gateway_api import Caller, Download, GatewayApi
from crm_console.application.lookups import API
from crm_console.application.parts import Part, part

# What a 404 of the report means: analytics saw nobody enrolled.
NOBODY_ENROLLED_YET = "nobody has been enrolled in this sequence yet"


def _path(sequence_id: str) -> str:
    return f"{API}/analytics/sequences/{quote(sequence_id, safe='')}/enrolments"


class EnrolmentReports:
    """Enrolment reports, for one caller at a time."""

    def __init__(self, api: GatewayApi) -> None:
        self._api = api

    async def report(self, caller: Caller, sequence_id: str) -> Part:
        """The report, or why it cannot be shown: a 404 says nobody was enrolled yet, a refusal
        (no `analytics:read`) the API's reason."""
        return await part(
            self._api.get(caller, _path(sequence_id)), when_missing=NOBODY_ENROLLED_YET
        )

    async def csv(self, caller: Caller, sequence_id: str, params: dict[str, str]) -> Download:
        """The report as the analytics API's CSV file (`params`: its separator)."""
        return await self._api.download(caller, _path(sequence_id), {"format": "csv", **params})
