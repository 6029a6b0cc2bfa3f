"""What the application layer needs from an ATS, whichever it is: the ports each adapter in
`crm_ats_sync.adapters` implements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from crm_ats_sync.domain.changes import (
    ApplicationSnapshot,
    AtsJob,
    Page,
    Prospect,
    PushedProspect,
    WebhookReport,
)


class WebhookFormat(Protocol):
    """How one ATS signs, identifies and words its webhooks."""

    # What a delivery taken for processing is answered with: an ATS that counts anything but
    # its documented code as a failure would otherwise send it again.
    accepted_status: int

    def verify(self, secrets: Sequence[str], headers: Mapping[str, str], body: bytes) -> None:
        """Raises `WebhookRejectedError` unless the delivery is signed under one of `secrets`
        (the current one and, during a rotation's grace, the previous one)."""
        ...

    def delivery_id(self, headers: Mapping[str, str], body: bytes) -> str:
        """The id the ATS gives this delivery (the same on its retries); "" when it has none."""
        ...

    def parse(self, body: bytes) -> tuple[str, WebhookReport]:
        """The webhook's event name and what it reports (None: acknowledged, not used); raises
        `WebhookRejectedError` for a body that is not this ATS's webhook."""
        ...


class AtsUnavailableError(Exception):
    """The ATS's API did not answer usefully after retries (down, refusing the credentials, or
    rate-limiting beyond the retry budget); the message says which."""


class AtsCredentialsRefused(AtsUnavailableError):
    """The ATS refused the connection's credentials (401, 403, or its token endpoint saying
    no): asking again cannot help until someone changes them."""


class AtsRequestRefused(ValueError):
    """The ATS answered and refused this one request (a 4xx other than 401, 403 and 429: an
    unknown job, a field it would not take): the request's fault, not the ATS's health, so the
    circuit breaker does not count it."""


class AtsApi(Protocol):
    """One connected ATS account's API. Implementations retry transient failures (429 after
    its `Retry-After`, 5xx with backoff and jitter) and raise `AtsUnavailableError` when they
    give up."""

    async def applications_page(
        self, *, updated_after: datetime | None, cursor: str | None
    ) -> Page[ApplicationSnapshot]:
        """One page of applications (and prospects) changed after `updated_after` (all when
        None), oldest first where the ATS allows; `cursor` from the previous page's
        `next_cursor`, None for the first."""
        ...

    async def application(self, ats_application_id: str) -> ApplicationSnapshot | None:
        """One application's current state; None when the ATS no longer has it."""
        ...

    async def jobs_page(
        self, *, updated_after: datetime | None, cursor: str | None
    ) -> Page[AtsJob]:
        """One page of jobs changed after `updated_after` (all when None)."""
        ...

    async def push_prospect(self, prospect: Prospect) -> PushedProspect:
        """Creates the person in the ATS as a prospect, or as an application for
        `prospect.ats_job_id`; `AtsRequestRefused` when the ATS refuses this person or job."""
        ...

    async def aclose(self) -> None:
        """Releases the HTTP connections."""
        ...


class AtsApiFactory(Protocol):
    """Opens the API of one connected account (each adapter module has one: `open_api`)."""

    def __call__(
        self, *, base_url: str | None, api_key: str, on_behalf_of: str | None = None
    ) -> AtsApi:
        """The API of the account `api_key` opens; writes made for the ATS user `on_behalf_of`
        where the ATS asks for one."""
        ...
