"""An in-memory ATS behind the `AtsApi` port, for tests of the provider-neutral sync engine
(backfill, reconciliation, id-only webhooks) before and beside the simulators.

It holds applications and jobs with the times the ATS changed them, lists them oldest change
first in pages behind an opaque cursor (a keyset of the last item's time and id, as a real
ATS's `Link` URL or offset token would be: the caller stores it as is), honours
`updated_after`, and can be told to fail a page (`AtsUnavailableError`) to test retries."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TypeVar

from crm_ats_sync.application.ports import AtsCredentialsRefused, AtsUnavailableError
from crm_ats_sync.domain.changes import (
    ApplicationSnapshot,
    ApplicationStatus,
    AtsJob,
    JobStatus,
    Page,
    Prospect,
    PushedProspect,
    UnmappedRecord,
)

Item = TypeVar("Item", ApplicationSnapshot, AtsJob)


def _encode(at: datetime | None, ats_id: str) -> str:
    raw = json.dumps([at.isoformat() if at else None, ats_id]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode(cursor: str) -> tuple[str, str]:
    at, ats_id = json.loads(base64.urlsafe_b64decode(cursor))
    return at or "", ats_id


@dataclass
class FakeAts:
    """One ATS account: its history, and the API each connection of it opens."""

    page_size: int = 5
    applications: dict[str, ApplicationSnapshot] = field(default_factory=dict)
    jobs: dict[str, AtsJob] = field(default_factory=dict)
    # Pages still to fail (counted across both lists), each raising `AtsUnavailableError`.
    failing_pages: int = 0
    # Pages served before the failures start.
    fail_after_pages: int = 0
    # Whether every page is refused for the connection's credentials (401).
    credentials_refused: bool = False
    pages_served: int = 0
    # Whether reading one application fails (an API that does not answer a read-back).
    reads_unavailable: bool = False
    api_keys_seen: list[str] = field(default_factory=list)
    # People created through the API, in order (an ATS makes a new person on every push).
    pushed: list[Prospect] = field(default_factory=list)
    # Records the adapter could not map, answered with the first page of applications.
    unmapped: list[UnmappedRecord] = field(default_factory=list)
    opened: int = 0
    closed: int = 0

    def add(
        self,
        ats_application_id: str,
        *,
        email: str,
        stage: str | None,
        at: datetime,
        status: ApplicationStatus = ApplicationStatus.ACTIVE,
        rejection_reason: str | None = None,
        prospect: bool = False,
        job_name: str | None = "Data Engineer",
    ) -> ApplicationSnapshot:
        snapshot = ApplicationSnapshot(
            ats_application_id=ats_application_id,
            ats_candidate_id=f"c-{ats_application_id}",
            emails=[email],
            first_name="Zoë",
            last_name="Ångström",
            job_name=job_name,
            applied_at=at,
            stage=stage,
            status=status,
            changed_at=at,
            rejection_reason=rejection_reason,
            ats_job_id="job-1",
            prospect=prospect,
        )
        self.applications[ats_application_id] = snapshot
        return snapshot

    def change(
        self,
        ats_application_id: str,
        *,
        at: datetime,
        stage: str | None = None,
        status: ApplicationStatus = ApplicationStatus.ACTIVE,
        rejection_reason: str | None = None,
    ) -> ApplicationSnapshot:
        """Moves, rejects or hires an application, bumping its changed time."""
        before = self.applications[ats_application_id]
        after = replace(
            before,
            stage=stage if stage is not None else before.stage,
            status=status,
            rejection_reason=rejection_reason,
            changed_at=at,
        )
        self.applications[ats_application_id] = after
        return after

    def add_job(
        self, ats_job_id: str, name: str, *, at: datetime, status: JobStatus = JobStatus.OPEN
    ) -> AtsJob:
        job = AtsJob(
            ats_job_id=ats_job_id,
            name=name,
            status=status,
            changed_at=at,
            departments=["Engineering"],
            locations=["Zürich"],
        )
        self.jobs[ats_job_id] = job
        return job

    def open_api(
        self, *, base_url: str | None, api_key: str, on_behalf_of: str | None = None
    ) -> FakeAtsApi:
        """The `AtsApiFactory` of this account."""
        self.api_keys_seen.append(api_key)
        self.opened += 1
        return FakeAtsApi(self)

    def _page(
        self, items: list[Item], updated_after: datetime | None, cursor: str | None
    ) -> Page[Item]:
        self.pages_served += 1
        if self.credentials_refused:
            raise AtsCredentialsRefused("GET /applications was refused (401): check the API key")
        if self.failing_pages and self.pages_served > self.fail_after_pages:
            self.failing_pages -= 1
            raise AtsUnavailableError("GET /applications answered 503 (5 attempts)")

        def key(item: Item) -> tuple[str, str]:
            at = item.changed_at.isoformat() if item.changed_at else ""
            return at, _id_of(item)

        ordered = sorted(
            (
                item
                for item in items
                if updated_after is None
                or item.changed_at is None
                or item.changed_at > updated_after
            ),
            key=key,
        )
        if cursor is not None:
            after = _decode(cursor)
            ordered = [item for item in ordered if key(item) > after]
        page = ordered[: self.page_size]
        more = len(ordered) > self.page_size
        last = page[-1] if page else None
        next_cursor = _encode(last.changed_at, _id_of(last)) if more and last else None
        return Page(items=page, next_cursor=next_cursor)


def _id_of(item: ApplicationSnapshot | AtsJob) -> str:
    return item.ats_application_id if isinstance(item, ApplicationSnapshot) else item.ats_job_id


@dataclass
class FakeAtsApi:
    """The `AtsApi` one connection opens on a `FakeAts`."""

    ats: FakeAts

    async def applications_page(
        self, *, updated_after: datetime | None, cursor: str | None
    ) -> Page[ApplicationSnapshot]:
        page = self.ats._page(list(self.ats.applications.values()), updated_after, cursor)
        return page if cursor else replace(page, rejected=list(self.ats.unmapped))

    async def application(self, ats_application_id: str) -> ApplicationSnapshot | None:
        if self.ats.reads_unavailable:
            raise AtsUnavailableError("GET /applications/1 answered 503 (5 attempts)")
        return self.ats.applications.get(ats_application_id)

    async def jobs_page(
        self, *, updated_after: datetime | None, cursor: str | None
    ) -> Page[AtsJob]:
        return self.ats._page(list(self.ats.jobs.values()), updated_after, cursor)

    async def push_prospect(self, prospect: Prospect) -> PushedProspect:
        self.ats.pushed.append(prospect)
        number = len(self.ats.pushed)
        return PushedProspect(
            ats_candidate_id=f"pushed-{number}",
            ats_application_id=f"pushed-app-{number}" if prospect.ats_job_id else None,
        )

    async def aclose(self) -> None:
        self.ats.closed += 1


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
