"""Candidate search, the profile page's data, notes, duplicates and merges, GDPR export and
erasure: each page is one or a few API calls (a detail page's run together), never one per row."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from crm_console.adapters.gateway_api import (
    ApiProblem,
    Caller,
    Download,
    GatewayApi,
    SignedOut,
)
from crm_console.application.parts import Part, items, part
from crm_console.application.session_memo import Memo
from crm_console.domain.candidates import CandidateFilters
from crm_console.domain.merging import MergeRow, merge_rows
from crm_console.domain.profile import (
    LabelledValue,
    Placement,
    RepliesPage,
    job_names,
    labelled_custom_fields,
    placements,
    replies_page,
    shown_job,
    suppressed_lines,
    timeline_link,
    timeline_summary,
    unnamed_jobs,
)

API = "/api/v1"
NOTES_SHOWN = 20
DUPLICATES_SHOWN = 20
# A person has an entry per address and reason: a handful at most.
SUPPRESSIONS_READ = 20
# Messages the person replied to, each with its latest replies' excerpts: a page of the
# Replies card, newest first (its "Older replies" asks for the next).
REPLIED_SHOWN = 20
# A person is in a handful of sequences; the panel shows the first page.
ENROLMENTS_SHOWN = 50
# How long the profile page's read of the candidate serves the panels it loads after it (the
# pools' placements, the ATS links): they ask within moments of the page; later, or on
# another console process, a panel reads the candidate itself.
PAGE_READ_SECONDS = 10.0


@dataclass(frozen=True)
class AtsChoices:
    """What the "Send to ATS" form offers: the tenant's connections and their open jobs."""

    connections: Part
    jobs: Part


@dataclass(frozen=True)
class CandidateProfile:
    """What the profile page shows at once: the candidate's own record. Every other panel is a
    call of its own, loaded by the page after it (`CandidateDirectory`'s panel reads)."""

    candidate: dict[str, Any]
    custom_fields: list[LabelledValue]


@dataclass(frozen=True)
class AtsPanel:
    """The profile's ATS panel: where the candidate was sent and the applications the ATS
    reported, each with its job named, and what the "Send to ATS" form offers."""

    candidate: dict[str, Any]
    applications: Part
    ats: AtsChoices


@dataclass(frozen=True)
class FilterChoices:
    # A list the person may not read offers nothing (its filter is then left out).
    pools: list[dict[str, Any]]
    segments: list[dict[str, Any]]


@dataclass(frozen=True)
class MergeComparison:
    kept: dict[str, Any]
    other: dict[str, Any]
    rows: list[MergeRow]


class CandidateDirectory:
    """What the candidate pages read and change."""

    def __init__(self, api: GatewayApi, memo: Memo | None = None) -> None:
        self._api = api
        # The session's recent reads: the profile page leaves its candidate there for its
        # panels (`page_candidate`).
        self._memo = memo

    async def search(self, caller: Caller, filters: CandidateFilters) -> dict[str, Any]:
        """One page of matches: `{items, next_cursor}`."""
        page: dict[str, Any] = await self._api.get(
            caller, f"{API}/candidates", params=filters.query_params()
        )
        return page

    async def filter_choices(self, caller: Caller) -> FilterChoices:
        """The pools (with stages) and segments the list's filters offer: two calls, made
        with the first page's (htmx's later results need none)."""
        pools, segments = await asyncio.gather(
            part(self._api.get(caller, f"{API}/pools")),
            part(self._api.get(caller, f"{API}/segments")),
        )
        return FilterChoices(
            pools=sorted(items(pools.data), key=lambda pool: str(pool.get("name", "")).casefold()),
            segments=sorted(
                items(segments.data), key=lambda segment: str(segment.get("name", "")).casefold()
            ),
        )

    async def profile(self, caller: Caller, candidate_id: str) -> CandidateProfile:
        """The candidate with its custom fields under the tenant's labels (two calls, made
        together): all the profile page waits for. Its problem (404, 403) is the page's."""
        candidate, definitions = await asyncio.gather(
            self._api.get(caller, f"{API}/candidates/{candidate_id}"),
            part(self._api.get(caller, f"{API}/custom-fields")),
        )
        if self._memo is not None:
            # Always read afresh here, and handed to this page's panels as the page shows it.
            self._memo.put(candidate, "candidate", candidate_id, ttl_seconds=PAGE_READ_SECONDS)
        return CandidateProfile(
            candidate=candidate,
            custom_fields=labelled_custom_fields(
                candidate.get("custom_fields") or {}, items(definitions.data)
            ),
        )

    async def page_candidate(self, caller: Caller, candidate_id: str) -> dict[str, Any]:
        """The candidate as the profile page read it a moment ago for this session (the page
        the panel belongs to), else read now. Only a panel loaded after the page uses it: an
        answer to a change reads the candidate again."""
        kept = self._memo.get("candidate", candidate_id) if self._memo is not None else None
        if isinstance(kept, dict):
            return kept
        return await self.candidate(caller, candidate_id)

    # The profile's panels, each one API call (the ATS panel a few of the ATS service's), read
    # when the page asks for it; a refusal becomes the panel's reason (`Part`).

    async def suppressions(self, caller: Caller, candidate_id: str) -> Part:
        """Why mail may not reach the person (the suppression list filtered by them), in
        words: a list of `Suppressed`."""
        answer = await part(
            self._api.get(
                caller,
                f"{API}/suppressions",
                {"candidate_id": candidate_id, "limit": SUPPRESSIONS_READ},
            )
        )
        return answer if answer.unavailable else Part(data=suppressed_lines(items(answer.data)))

    async def segments(self, caller: Caller, candidate_id: str) -> Part:
        """The segments the person is in now, with since when."""
        return await part(self._api.get(caller, f"{API}/candidates/{candidate_id}/segments"))

    async def engagement(self, caller: Caller, candidate_id: str) -> Part:
        """The engagement score with what makes it up."""
        return await part(
            self._api.get(caller, f"{API}/analytics/candidates/{candidate_id}/engagement"),
            # Analytics learns of a candidate from `candidate.created`, a moment after it.
            when_missing="no activity recorded for this person yet",
        )

    async def consents(self, caller: Caller, candidate_id: str) -> Part:
        """The consent state per purpose and the whole ledger."""
        return await part(self._api.get(caller, f"{API}/candidates/{candidate_id}/consents"))

    async def suggestions(self, caller: Caller, candidate_id: str) -> Part:
        """The five likeliest duplicates (the duplicates page shows more)."""
        return await part(
            self._api.get(caller, f"{API}/candidates/{candidate_id}/duplicates", {"limit": 5})
        )

    async def timeline(self, caller: Caller, candidate_id: str) -> Part:
        """The latest 50 activity entries, each with its sentence and link."""
        answer = await part(
            self._api.get(caller, f"{API}/candidates/{candidate_id}/timeline", {"limit": 50})
        )
        if answer.unavailable:
            return answer
        return Part(
            data=[
                {**entry, "summary": timeline_summary(entry), "link": timeline_link(entry)}
                for entry in items(answer.data)
            ]
        )

    async def ats_panel(self, caller: Caller, candidate_id: str, *, may_push: bool) -> Part:
        """An `AtsPanel` (with `may_push`, what the "Send to ATS" form offers too), read
        together: the candidate (its ATS links), its applications and the form's choices."""
        candidate, applications, ats = await asyncio.gather(
            part(self.page_candidate(caller, candidate_id)),
            part(self._api.get(caller, f"{API}/ats/applications", {"candidate_id": candidate_id})),
            self.ats_choices(caller) if may_push else _no_ats_choices(),
        )
        if candidate.unavailable:
            return candidate
        named, applications = await self._jobs_named(caller, candidate.data, applications, ats)
        return Part(data=AtsPanel(candidate=named, applications=applications, ats=ats))

    async def replies(
        self, caller: Caller, candidate_id: str, cursor: str | None = None
    ) -> RepliesPage:
        """A page of the candidate's replies to our mail, newest first: the messages they
        replied to, newest first (`cursor`: the page after the one that gave it)."""
        page = await self._api.get(
            caller,
            f"{API}/messages",
            {
                "candidate_id": candidate_id,
                "replied": "true",
                "sort": "-created_at",
                "limit": REPLIED_SHOWN,
                "cursor": cursor,
            },
        )
        return replies_page(page)

    async def enrolments(self, caller: Caller, candidate_id: str) -> Part:
        """The candidate's enrolments in every sequence (one call), or why they cannot be read."""
        answer = await part(
            self._api.get(
                caller,
                f"{API}/sequences/enrolments",
                {"candidate_id": candidate_id, "limit": ENROLMENTS_SHOWN},
            )
        )
        return answer if answer.unavailable else Part(data=items(answer.data))

    async def placements(
        self, caller: Caller, candidate_id: str, *, as_the_page_read: bool = False
    ) -> tuple[dict[str, Any], list[Placement], list[dict[str, Any]]]:
        """The candidate, their pool placements by name and every pool (read together); the
        candidate as the profile page read it (`as_the_page_read`, the panel loaded after the
        page) or read now (after an addition)."""
        read = self.page_candidate if as_the_page_read else self.candidate
        candidate, pools = await asyncio.gather(
            read(caller, candidate_id),
            part(self._api.get(caller, f"{API}/pools")),
        )
        return (
            candidate,
            placements(candidate.get("pools") or [], items(pools.data)),
            items(pools.data),
        )

    async def notes(self, caller: Caller, candidate_id: str) -> list[dict[str, Any]]:
        """The newest notes on the candidate."""
        return items(
            await self._api.get(
                caller, f"{API}/candidates/{candidate_id}/notes", {"limit": NOTES_SHOWN}
            )
        )

    async def add_note(self, caller: Caller, candidate_id: str, body: str) -> dict[str, Any]:
        """Writes a note as the caller; a refusal (empty, too long) raises `ApiProblem`."""
        note: dict[str, Any] = await self._api.send(
            caller, "POST", f"{API}/candidates/{candidate_id}/notes", {"body": body}
        )
        return note

    async def duplicates(
        self, caller: Caller, candidate_id: str
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The candidate and the records that may be the same person, best first."""
        path = f"{API}/candidates/{candidate_id}"
        candidate, suggestions = await asyncio.gather(
            self._api.get(caller, path),
            self._api.get(caller, f"{path}/duplicates", {"limit": DUPLICATES_SHOWN}),
        )
        return candidate, items(suggestions)

    async def comparison(
        self,
        caller: Caller,
        kept_id: str,
        other_id: str,
        owner_name: Callable[[str | None], str] | None = None,
    ) -> MergeComparison:
        """Both records side by side, with the choice proposed for each field (owners named
        by `owner_name`)."""
        kept, other, definitions = await asyncio.gather(
            self._api.get(caller, f"{API}/candidates/{kept_id}"),
            self._api.get(caller, f"{API}/candidates/{other_id}"),
            self.definitions(caller),
        )
        rows = merge_rows(kept, other, definitions, owner_name)
        return MergeComparison(kept=kept, other=other, rows=rows)

    async def merge(
        self, caller: Caller, kept_id: str, other_id: str, choices: dict[str, str]
    ) -> dict[str, Any]:
        """Folds `other_id` into `kept_id` with the person's field choices."""
        merge: dict[str, Any] = await self._api.send(
            caller,
            "POST",
            f"{API}/candidates/merges",
            {"survivor_id": kept_id, "merged_id": other_id, "choices": choices},
        )
        return merge

    async def merge_record(self, caller: Caller, merge_id: str) -> dict[str, Any]:
        """One merge with both records' current state."""
        merge: dict[str, Any] = await self._api.get(caller, f"{API}/candidates/merges/{merge_id}")
        return merge

    async def undo_merge(self, caller: Caller, merge_id: str) -> dict[str, Any]:
        """Restores both records as they were before the merge."""
        merge: dict[str, Any] = await self._api.send(
            caller, "POST", f"{API}/candidates/merges/{merge_id}/undo"
        )
        return merge

    async def candidate(self, caller: Caller, candidate_id: str) -> dict[str, Any]:
        """One candidate."""
        found: dict[str, Any] = await self._api.get(caller, f"{API}/candidates/{candidate_id}")
        return found

    async def holders(
        self, caller: Caller, identifiers: list[str], but: str
    ) -> list[tuple[str, dict[str, Any]]]:
        """Each e-mail or phone number of `identifiers` with the record holding it, if that is
        a record other than `but` (profile links cannot be looked up, so none is named)."""

        async def holder(identifier: str) -> dict[str, Any] | None:
            kind = "email" if "@" in identifier else "phone"
            try:
                page = await self._api.get(
                    caller, f"{API}/candidates", params={kind: identifier, "limit": 1}
                )
            except SignedOut:
                raise
            except ApiProblem:
                return None  # not an address or a number the lookup reads: nothing to name
            found = items(page)
            return found[0] if found and found[0].get("id") != but else None

        looked_up = [
            identifier for identifier in identifiers if "@" in identifier or "/" not in identifier
        ]
        found = await asyncio.gather(*(holder(identifier) for identifier in looked_up))
        return [
            (identifier, record)
            for identifier, record in zip(looked_up, found, strict=True)
            if record is not None
        ]

    async def candidate_as_read(
        self, caller: Caller, candidate_id: str
    ) -> tuple[dict[str, Any], str | None]:
        """One candidate with the revision it was read at (its `ETag`), for a form that edits
        it: the change is sent with it as `If-Match`."""
        response = await self._api.request(caller, "GET", f"{API}/candidates/{candidate_id}")
        found: dict[str, Any] = response.json()
        return found, response.headers.get("etag")

    async def export(self, caller: Caller, candidate_id: str) -> Download:
        """Everything every service holds on the person (GDPR article 15), as the API gives it."""
        return await self._api.download(caller, f"{API}/candidates/{candidate_id}/export")

    async def erase(self, caller: Caller, candidate_id: str) -> dict[str, Any]:
        """Erases the person (GDPR article 17); every service follows."""
        result: dict[str, Any] = await self._api.send(
            caller, "POST", f"{API}/candidates/{candidate_id}/erasure"
        )
        return result

    async def definitions(self, caller: Caller) -> list[dict[str, Any]]:
        """The tenant's custom-field definitions, once per form (a person who may not read
        them gets a form without custom fields)."""
        return items((await part(self._api.get(caller, f"{API}/custom-fields"))).data)

    async def create(self, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        """Creates a candidate, or finds the person on file (`created: false`); a refusal
        raises `ApiProblem` (422 at the field, 409 `duplicate-candidate`)."""
        created: dict[str, Any] = await self._api.send(caller, "POST", f"{API}/candidates", body)
        return created

    async def update(
        self, caller: Caller, candidate_id: str, changes: dict[str, Any], revision: str | None
    ) -> dict[str, Any]:
        """Changes the fields sent (the API merges custom fields by key), only if the record is
        still at `revision` (the API answers 412 otherwise); unconditionally without one."""
        changed: dict[str, Any] = await self._api.send(
            caller,
            "PATCH",
            f"{API}/candidates/{candidate_id}",
            changes,
            headers={"If-Match": revision} if revision else None,
        )
        return changed

    async def _jobs_named(
        self, caller: Caller, candidate: dict[str, Any], applications: Part, ats: AtsChoices
    ) -> tuple[dict[str, Any], Part]:
        """The candidate's ATS links and applications, each with its job as the page says it
        (`job`): by the name the ATS gave, else from the job list (the open jobs the push form
        read already, or, only when a job is still named by id alone, `GET /ats/jobs` once),
        else "Job <id>"."""
        found = items(applications.data)
        # A link without a job is a prospect: a push without a job makes one.
        links = [
            {**link, "prospect": not link.get("ats_job_id")}
            for link in candidate.get("ats_links") or []
        ]
        names = job_names(found, items(ats.jobs.data))
        if unnamed_jobs([*found, *links], names):
            jobs = await part(self._api.get(caller, f"{API}/ats/jobs"))
            names = job_names(found, items(ats.jobs.data), items(jobs.data))
        if links:
            candidate = {
                **candidate,
                "ats_links": [{**link, "job": shown_job(link, names)} for link in links],
            }
        if not applications.unavailable:
            applications = Part(data=[{**a, "job": shown_job(a, names)} for a in found])
        return candidate, applications

    async def ats_choices(self, caller: Caller) -> AtsChoices:
        """The connections and open jobs a candidate can be sent to, fetched together."""
        connections, jobs = await asyncio.gather(
            part(self._api.get(caller, f"{API}/ats/connections")),
            part(self._api.get(caller, f"{API}/ats/jobs", {"status": "open"})),
        )
        return AtsChoices(connections=connections, jobs=jobs)

    async def push_to_ats(
        self, caller: Caller, candidate_id: str, connection_id: str, ats_job_id: str | None
    ) -> dict[str, Any]:
        """Sends the candidate to a connected ATS, as a prospect or for one of its jobs."""
        body: dict[str, Any] = {"candidate_id": candidate_id}
        if ats_job_id:
            body["ats_job_id"] = ats_job_id
        pushed: dict[str, Any] = await self._api.send(
            caller, "POST", f"{API}/ats/connections/{quote(connection_id, safe='')}/pushes", body
        )
        return pushed

    async def record_consent(
        self, caller: Caller, candidate_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """Records a grant or withdrawal in the consent ledger."""
        entry: dict[str, Any] = await self._api.send(
            caller, "POST", f"{API}/candidates/{candidate_id}/consents", body
        )
        return entry


async def _no_ats_choices() -> AtsChoices:
    # Nobody is offered the form: nothing to fetch.
    nothing = Part(data=[])
    return AtsChoices(connections=nothing, jobs=nothing)
