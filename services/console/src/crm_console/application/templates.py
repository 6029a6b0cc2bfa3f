"""Templates and blocks: the list, the editor with its live preview and merge-field picker."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from crm_console.adapters.gateway_api import ApiProblem, Caller, GatewayApi, SignedOut
from crm_console.application.lookups import API, Choices, choices, if_match
from crm_console.domain.problems import Problem
from crm_console.domain.templates import (
    PartProblem,
    TemplateDraft,
    part_problems,
    previewable_html,
)

# Candidates the preview offers before the person searches.
CANDIDATE_CHOICES = 10


@dataclass(frozen=True)
class Library:
    templates: Choices
    blocks: Choices


@dataclass(frozen=True)
class Editor:
    """What the editor page shows besides the template itself."""

    merge_fields: list[dict[str, Any]]
    filters: list[str]
    merge_fields_unavailable: str | None
    candidates: Choices


@dataclass(frozen=True)
class Preview:
    """A draft rendered for a candidate, or what stops it, each problem at its line."""

    rendered: dict[str, Any] | None = None
    problem: Problem | None = None
    problems: list[PartProblem] = field(default_factory=list)


class TemplateStudio:
    """What the template and block pages read and write."""

    def __init__(self, api: GatewayApi) -> None:
        self._api = api

    async def library(self, caller: Caller) -> Library:
        templates, blocks = await asyncio.gather(
            choices(self._api.get(caller, f"{API}/templates")),
            choices(self._api.get(caller, f"{API}/blocks")),
        )
        return Library(templates, blocks)

    async def template(self, caller: Caller, template_id: str) -> dict[str, Any]:
        found: dict[str, Any] = await self._api.get(caller, f"{API}/templates/{template_id}")
        return found

    async def editor(self, caller: Caller) -> Editor:
        (fields, filters, unavailable), candidates = await asyncio.gather(
            self._merge_fields(caller), self.candidates(caller, "")
        )
        return Editor(fields, filters, unavailable, candidates)

    async def _merge_fields(
        self, caller: Caller
    ) -> tuple[list[dict[str, Any]], list[str], str | None]:
        try:
            document = await self._api.get(caller, f"{API}/templates/merge-fields")
        except SignedOut:
            raise
        except ApiProblem as refused:
            return [], [], refused.problem.message
        return list(document["fields"]), list(document["filters"]), None

    async def candidates(self, caller: Caller, query: str) -> Choices:
        """Candidates to preview for: the newest, or those matching `query`."""
        return await choices(
            self._api.get(
                caller,
                f"{API}/candidates",
                {"q": query.strip()[:200] or None, "limit": CANDIDATE_CHOICES},
            )
        )

    async def preview(self, caller: Caller, draft: TemplateDraft, candidate_id: str) -> Preview:
        try:
            rendered = await self._api.send(
                caller, "POST", f"{API}/templates/preview", draft.preview_body(candidate_id)
            )
        except SignedOut:
            raise
        except ApiProblem as refused:
            return Preview(problem=refused.problem, problems=part_problems(refused.problem, draft))
        return Preview(rendered={**rendered, "html": previewable_html(str(rendered["html"]))})

    async def save(
        self, caller: Caller, template_id: str | None, draft: TemplateDraft, version: str
    ) -> dict[str, Any]:
        """Creates the template, or replaces it from the version the person edited."""
        if template_id is None:
            created: dict[str, Any] = await self._api.send(
                caller, "POST", f"{API}/templates", draft.body()
            )
            return created
        replaced: dict[str, Any] = await self._api.send(
            caller,
            "PUT",
            f"{API}/templates/{template_id}",
            draft.body(),
            headers=if_match(version),
        )
        return replaced

    async def archive(self, caller: Caller, template_id: str) -> None:
        await self._api.send(caller, "DELETE", f"{API}/templates/{template_id}")

    async def block(self, caller: Caller, key: str) -> dict[str, Any]:
        found: dict[str, Any] = await self._api.get(caller, f"{API}/blocks/{key}")
        return found

    async def save_block(
        self, caller: Caller, key: str | None, fields: dict[str, str]
    ) -> dict[str, Any]:
        """Creates a block (its key given in `fields`) or changes the block `key`."""
        if key is None:
            created: dict[str, Any] = await self._api.send(caller, "POST", f"{API}/blocks", fields)
            return created
        changes = {name: fields[name] for name in ("name", "html", "text")}
        changed: dict[str, Any] = await self._api.send(
            caller, "PUT", f"{API}/blocks/{key}", changes
        )
        return changed

    async def delete_block(self, caller: Caller, key: str) -> None:
        await self._api.send(caller, "DELETE", f"{API}/blocks/{key}")
