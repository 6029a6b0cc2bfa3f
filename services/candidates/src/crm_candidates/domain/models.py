"""The candidate as the service stores it, and the normalisation applied on every write."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from crm_shared import new_id, utc_now


class CandidateSource(StrEnum):
    """How a candidate entered the CRM."""

    SOURCED = "sourced"
    REFERRAL = "referral"
    EVENT = "event"
    CAREER_SITE = "career_site"
    ATS_IMPORT = "ats_import"


class CandidateStatus(StrEnum):
    """Whether a record is a live person (`active`), folded into another, or archived."""

    ACTIVE = "active"
    MERGED = "merged"
    ARCHIVED = "archived"


# Fields that describe the record rather than the person: never carried as profile, never merged.
RECORD_FIELDS = frozenset(
    {
        "id",
        "tenant_id",
        "created_by",
        "created_at",
        "updated_at",
        "status",
        "merged_into",
        "provenance",
    }
)


PROJECTED = frozenset(
    {
        "engagement_score",
        "last_activity_at",
        "events_registered",
        "events_attended",
        "events_no_show",
        "ats_status",
        "ats_stage",
        "ats_changed_at",
        "ats_links",
    }
)
"""Candidate fields that are projections of other services' facts, not part of the profile."""


def normalise_skill(skill: str) -> str:
    """The canonical form of a skill: trimmed, lower-case, single-spaced."""
    return " ".join(skill.split()).lower()


def unique_in_order(values: list[str]) -> list[str]:
    """`values` without repeats or blanks, first occurrence kept."""
    return [value for value in dict.fromkeys(values) if value]


class DuplicateKeyInTenantError(Exception):
    """The tenant already has a record with this unique name or key."""


class ProfileError(ValueError):
    """Profile fields that cannot be normalised: `errors` holds `(field path, reason)` pairs."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{path}: {reason}" for path, reason in errors))
        self.errors = errors


WorkArrangement = Literal["remote", "hybrid", "onsite"]


class WorkPreferences(BaseModel):
    """How and where a candidate wants to work."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    arrangements: list[WorkArrangement] = Field(default_factory=list)
    open_to_relocation: bool | None = None
    relocation_locations: list[str] = Field(default_factory=list)


class PoolPlacement(BaseModel):
    """The stage a candidate is at in one talent pool (denormalised for segment rules)."""

    model_config = ConfigDict(frozen=True)

    pool_id: str
    stage: str


class AtsStatus(StrEnum):
    """Where the candidate's latest application stands in the applicant tracking system."""

    APPLIED = "applied"
    IN_PROCESS = "in_process"
    REJECTED = "rejected"
    HIRED = "hired"


class AtsLink(BaseModel):
    """The candidate as a connected ATS knows them, since they were pushed to it."""

    model_config = ConfigDict(frozen=True)

    provider: str
    connection_id: str
    # The CRM record that was pushed: after a merge the survivor holds the links of both
    # records, and an undo gives each record its own back.
    candidate_id: str
    ats_candidate_id: str
    ats_application_id: str | None = None
    ats_job_id: str | None = None
    linked_at: datetime

    def same_as(self, other: AtsLink) -> bool:
        """Whether both name one push: one connection, ATS person and job."""
        return (self.connection_id, self.ats_candidate_id, self.ats_job_id) == (
            other.connection_id,
            other.ats_candidate_id,
            other.ats_job_id,
        )


def with_link(links: list[AtsLink], link: AtsLink) -> list[AtsLink]:
    """`links` with `link` in place of the one naming the same push (a redelivery), else added."""
    return [*(known for known in links if not known.same_as(link)), link]


def links_back_after_unmerge(
    current: list[AtsLink], survivor: list[AtsLink], merged: list[AtsLink], merged_id: str
) -> tuple[list[AtsLink], list[AtsLink]]:
    """Each record's links once a merge is undone: its own from before the merge, plus those
    learned since, given to the record that was pushed (the survivor, unless the push named the
    merged record)."""
    before = [*survivor, *merged]
    since = [link for link in current if not any(link.same_as(old) for old in before)]
    to_merged = [link for link in since if link.candidate_id == merged_id]
    to_survivor = [link for link in since if link.candidate_id != merged_id]
    return [*survivor, *to_survivor], [*merged, *to_merged]


class Candidate(BaseModel):
    """A person in the talent pipeline, as stored by the candidates service."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    tenant_id: str
    first_name: str
    last_name: str
    emails: list[str]
    phones: list[str] = Field(default_factory=list)
    headline: str | None = None
    current_title: str | None = None
    current_company: str | None = None
    location: str | None = None
    skills: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    source: CandidateSource = CandidateSource.SOURCED
    owner_id: str | None = None
    marketing_consent: bool = False
    profile_urls: list[str] = Field(default_factory=list)
    time_zone: str | None = None
    locale: str | None = None
    seniority: str | None = None
    desired_roles: list[str] = Field(default_factory=list)
    work_preferences: WorkPreferences | None = None
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    # Kept by the talent pool commands only, inside the transaction of each stage change.
    pools: list[PoolPlacement] = Field(default_factory=list)
    # Facts projected from other services' events (kept by the handlers, never by the API).
    engagement_score: float = 0.0
    last_activity_at: datetime | None = None
    events_registered: list[str] = Field(default_factory=list)
    events_attended: list[str] = Field(default_factory=list)
    # Completed events the candidate held a seat at but did not come to (`event.no_show`).
    events_no_show: list[str] = Field(default_factory=list)
    ats_status: AtsStatus | None = None
    ats_stage: str | None = None
    ats_changed_at: datetime | None = None
    # Where the candidate was pushed to a connected ATS (`ats.candidate_pushed`).
    ats_links: list[AtsLink] = Field(default_factory=list)
    created_by: str
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)
    status: CandidateStatus = CandidateStatus.ACTIVE
    merged_into: str | None = None
    provenance: dict[str, Any] = Field(
        default_factory=dict,
        description="Where merged values came from: field -> origin, set by merges.",
    )

    def profile(self) -> dict[str, Any]:
        """The fields carried by candidate events (the person, not the record or its facts)."""
        return self.model_dump(mode="json", exclude=set(RECORD_FIELDS | PROJECTED)) | {
            "candidate_id": self.id
        }

    @property
    def is_active(self) -> bool:
        """Whether the record is a live person: only these appear in lists, search, segments."""
        return self.status is CandidateStatus.ACTIVE

    @property
    def revision(self) -> str:
        """When the record last changed, to the millisecond the database keeps: its `ETag`, so
        an edit can be made conditional on the record being as it was read."""
        changed = self.updated_at if self.updated_at.tzinfo else self.updated_at.replace(tzinfo=UTC)
        seconds = int(changed.timestamp())
        return str(seconds * 1000 + changed.microsecond // 1000)


class SegmentStatus(StrEnum):
    """Where a segment's full evaluation stands."""

    COMPUTING = "computing"
    READY = "ready"
    # Deleted: gone from lists and from every evaluation; its members are being let go (each
    # with `segment.exited`), then it is removed.
    DELETING = "deleting"


class Segment(BaseModel):
    """A dynamic segment of one tenant's candidates."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    tenant_id: str
    name: str
    rule: dict[str, Any]
    status: SegmentStatus = SegmentStatus.COMPUTING
    created_by: str
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime | None = None

    @property
    def name_key(self) -> str:
        """What makes the name unique among the tenant's segments: two differing only in case
        or spacing could not be told apart where pages and pickers list them."""
        return segment_name_key(self.name)


def segment_name_key(name: str) -> str:
    """A segment's name as its uniqueness compares it: case and spacing aside."""
    return " ".join(name.split()).casefold()


class TimelineEntry(BaseModel):
    """One thing that happened to or with a candidate, from any service's event."""

    model_config = ConfigDict(frozen=True)

    event_id: str = Field(description="The id of the event it was built from (idempotency key).")
    candidate_id: str
    type: str = Field(description="The event's topic, e.g. `message.opened`.")
    source: str = Field(description="The service that emitted the event.")
    occurred_at: datetime
    data: dict[str, Any] = Field(
        default_factory=dict, description="What the event says, without contact details."
    )

    @property
    def sort_key(self) -> str:
        """Orders entries by time, then event id: fixed-width UTC time sorts as text (to the
        millisecond, as MongoDB keeps the time, so a key rebuilt from a stored entry is equal)."""
        moment = self.occurred_at.astimezone(UTC)
        return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z|{self.event_id}"


class MergeStatus(StrEnum):
    """Whether a merge stands or was undone."""

    DONE = "done"
    UNDONE = "undone"


class Merge(BaseModel):
    """Two records of one person folded into the survivor; reversible."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    tenant_id: str
    survivor_id: str
    merged_id: str
    choices: dict[str, str] = Field(default_factory=dict)
    provenance: dict[str, Any] = Field(default_factory=dict)
    status: MergeStatus = MergeStatus.DONE
    created_by: str
    created_at: datetime = Field(default_factory=utc_now)
    undone_at: datetime | None = None
    undone_by: str | None = None


@dataclass(frozen=True)
class MergeSnapshot:
    """Both records and the identity keys each held just before a merge: what an undo restores."""

    survivor: dict[str, Any]
    merged: dict[str, Any]
    survivor_keys: list[str]
    merged_keys: list[str]
    # The survivor's consent state per purpose (as stored) before the merge carried the merged
    # record's later decisions over; absent in merges recorded before consent was carried.
    survivor_consent: list[dict[str, Any]] = field(default_factory=list)

    def as_document(self) -> dict[str, Any]:
        """The snapshot as stored inside its merge."""
        return {
            "survivor": self.survivor,
            "merged": self.merged,
            "survivor_keys": self.survivor_keys,
            "merged_keys": self.merged_keys,
            "survivor_consent": self.survivor_consent,
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> MergeSnapshot:
        """A stored snapshot."""
        return cls(
            survivor=document["survivor"],
            merged=document["merged"],
            survivor_keys=list(document["survivor_keys"]),
            merged_keys=list(document["merged_keys"]),
            survivor_consent=list(document.get("survivor_consent", [])),
        )


class ImportStatus(StrEnum):
    """Where a CSV import stands."""

    AWAITING_FILE = "awaiting_file"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class ImportCounts(BaseModel):
    """Progress of an import: rows read from the file, and what became of those processed."""

    rows_read: int = 0
    rows_processed: int = 0
    created: int = 0
    merged: int = Field(
        default=0, description="Rows that were a person already on file or earlier in the file."
    )
    failed: int = Field(default=0, description="Rows refused (each has an `error`).")
    with_warnings: int = Field(
        default=0,
        description="Rows imported without some invalid optional value (each has a `warning`).",
    )


class ImportDateColumn(BaseModel):
    """What a mapped column's values said about the order of day and month, from the upload's
    reading of the whole file (`crm_candidates.domain.import_values`)."""

    model_config = ConfigDict(frozen=True)

    column: str
    day_first_example: str | None = None
    month_first_example: str | None = None


class CandidateImport(BaseModel):
    """A CSV import of candidates, run as a background job that resumes after a restart."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    tenant_id: str
    # (CSV column, profile field) pairs: a list, since column names may hold `.` or `$`.
    mapping: list[tuple[str, str]]
    source: CandidateSource = CandidateSource.SOURCED
    tags: list[str] = Field(default_factory=list)
    default_region: str | None = None
    # Mapped custom-field columns holding `dd/mm/yyyy` or `mm/dd/yyyy` dates that tell the order.
    date_columns: list[ImportDateColumn] = Field(default_factory=list)
    # As named by the import, else None until the upload has detected them.
    delimiter: str | None = None
    encoding: str | None = None
    # Set when the encoding was detected and another reads the file as plausibly: which one
    # was assumed and how to name the other (`crm_candidates.domain.csv_import`).
    encoding_note: str | None = None
    status: ImportStatus = ImportStatus.AWAITING_FILE
    counts: ImportCounts = Field(default_factory=ImportCounts)
    chunks_total: int | None = None
    next_chunk: int = 0
    error: str | None = None
    created_by: str
    created_at: datetime = Field(default_factory=utc_now)
    started_at: datetime | None = None
    finished_at: datetime | None = None
