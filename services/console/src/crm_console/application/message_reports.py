"""The analytics API's message reports of a broadcast, a sequence or a template (JSON for the
page's panel, or the API's CSV file), and the names a template's report needs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from crm_console.adapters.gateway_api import Caller, Download, GatewayApi
from crm_console.application.analytics import AnalyticsDesk
from crm_console.application.lookups import API, Choices
from crm_console.application.parts import Part, part
from crm_console.domain.message_reports import SourceNames

Kind = Literal["broadcast", "sequence", "template"]
# What a 404 of a message report means: analytics saw none of that mail sent.
NO_MAIL_YET: dict[Kind, str] = {
    "broadcast": "no mail of this broadcast has been sent yet",
    "sequence": "no mail of this sequence has been sent yet",
    "template": "no mail made from this template has been sent yet",
}
# The kinds of a template report's groups that have names to look up.
NAMED = frozenset({"broadcast", "sequence"})


def _path(kind: Kind, source_id: str) -> str:
    return f"{API}/analytics/{kind}s/{quote(source_id, safe='')}"


@dataclass(frozen=True)
class NamedReport:
    """A template's report and the names of what sent it; `names_unavailable` says why some
    keep their ids (a list the person may not read)."""

    report: Part
    names: SourceNames
    names_unavailable: list[str]


class MessageReports:
    """Message reports, for one caller at a time."""

    def __init__(self, api: GatewayApi) -> None:
        self._api = api

    async def report(self, caller: Caller, kind: Kind, source_id: str) -> Part:
        """The report (totals, per group, per day), or why it cannot be shown: a 404 says no
        mail was sent yet, a refusal (no `analytics:read`) the API's reason."""
        return await part(
            self._api.get(caller, _path(kind, source_id)), when_missing=NO_MAIL_YET[kind]
        )

    async def csv(
        self, caller: Caller, kind: Kind, source_id: str, params: dict[str, str]
    ) -> Download:
        """The report as the analytics API's CSV file (`params`: its separator)."""
        return await self._api.download(caller, _path(kind, source_id), {"format": "csv", **params})

    async def named_template_report(self, caller: Caller, template_id: str) -> NamedReport:
        """A template's report per broadcast, sequence step or direct mail, then the names of
        the broadcasts and sequences among its groups (analytics knows only their ids; only
        the lists needed are read, together)."""
        report = await self.report(caller, "template", template_id)
        groups = (report.data or {}).get("groups") or []
        kinds = sorted({str(g.get("key") or "").partition(":")[0] for g in groups} & NAMED)
        desk = AnalyticsDesk(self._api)
        found = await asyncio.gather(*(desk.names(caller, kind) for kind in kinds))
        listed = dict(zip(kinds, found, strict=True))
        empty = Choices()
        return NamedReport(
            report=report,
            names=SourceNames(
                listed.get("broadcast", empty).names(), listed.get("sequence", empty).names()
            ),
            names_unavailable=[
                f"{kind}s: {choices.unavailable}"
                for kind, choices in listed.items()
                if choices.unavailable
            ],
        )
