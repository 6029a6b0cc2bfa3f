"""Open jobs of the tenant's ATS and which of them a mail offers a recipient.

A template lists "the open jobs matching the recipient" with `{% for job in open_jobs %}`. A job
matches a recipient when

- one of its locations and the recipient's location name the same place: the first
  comma-separated part of one (the city, or a country, or "Remote") is one of the parts of the
  other, ignoring case (`Berlin` matches `Berlin, Germany`; `Germany` matches
  `Berlin, Germany`; `Munich, Germany` does not match `Berlin, Germany`); or
- one of the recipient's skills is a whole word or phrase of the job's name or of one of its
  departments, ignoring case (`python` matches `Senior Python Engineer`, not `Pythonista`).

The newest matching jobs (by the ATS's change time) come first, at most `MAX_OPEN_JOBS` of them.
There is no fallback to unrelated jobs: a mail that says "jobs for you" and lists jobs that are
not is worse than one that says there are none, so a recipient with no match gets an empty list
and the template's `{% else %}` (or `{% if open_jobs %}`) decides what they read instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from crm_campaigns.domain.models import Recipient

# A few jobs read as a suggestion; a long list in a nurture mail reads as a job board.
MAX_OPEN_JOBS = 5
# What a template may read of a job in the loop: `{{ job.name }}`.
JOB_FIELDS = frozenset({"name", "departments", "locations"})
_WORD = re.compile(r"[\w+#]+")
_EARLIEST = datetime.min.replace(tzinfo=UTC)


class Job(BaseModel):
    """The campaigns service's copy of one job of a connected ATS, as `job.changed` last said."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    connection_id: str
    ats_job_id: str
    provider: str
    name: str
    status: Literal["open", "closed", "draft"]
    departments: list[str] = Field(default_factory=list)
    locations: list[str] = Field(default_factory=list)
    changed_at: datetime | None = None

    def is_newer_than(self, other: Job) -> bool:
        """Whether this state replaces `other`: a state without a time replaces any, since the
        ATS gave nothing to order it by and it arrived last."""
        if self.changed_at is None or other.changed_at is None:
            return True
        return self.changed_at >= other.changed_at


def _parts(location: str) -> list[str]:
    return [part.strip().casefold() for part in location.split(",") if part.strip()]


def _same_place(first: str, second: str) -> bool:
    one, other = _parts(first), _parts(second)
    return bool(one and other) and (one[0] in other or other[0] in one)


def _phrase(text: str) -> str:
    """Text as its words, space-separated and padded, so a phrase matches whole words only."""
    return f" {' '.join(_WORD.findall(text.casefold()))} "


def matches(recipient: Recipient, job: Job) -> bool:
    """Whether the job is one to offer the recipient (the rule in the module docstring)."""
    if recipient.location and any(_same_place(recipient.location, at) for at in job.locations):
        return True
    described = [_phrase(text) for text in (job.name, *job.departments)]
    for skill in recipient.skills:
        phrase = _phrase(skill)
        if phrase.strip() and any(phrase in text for text in described):
            return True
    return False


def matching_open_jobs(
    recipient: Recipient, jobs: Iterable[Job], limit: int = MAX_OPEN_JOBS
) -> list[Job]:
    """The open jobs to offer the recipient, newest first, at most `limit`."""
    matching = [job for job in jobs if job.status == "open" and matches(recipient, job)]
    matching.sort(key=lambda job: (job.changed_at or _EARLIEST, job.name), reverse=True)
    return matching[:limit]


def job_context(job: Job) -> dict[str, str]:
    """What a template reads of a job; lists are joined, missing values left out (they render
    empty and test false, like a candidate's)."""
    values = {
        "name": job.name,
        "departments": ", ".join(job.departments),
        "locations": ", ".join(job.locations),
    }
    return {key: value for key, value in values.items() if value}


def open_jobs_context(recipient: Recipient, jobs: Sequence[Job]) -> list[dict[str, str]]:
    """The `open_jobs` a template loops over for this recipient."""
    return [job_context(job) for job in matching_open_jobs(recipient, jobs)]
