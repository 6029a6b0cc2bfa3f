"""Request and response schemas of the candidates API, kept apart from the stored record."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from crm_candidates.domain.candidate_input import (
    DEFAULT_REGION_DESCRIPTION,
    Label,
    Name,
    Region,
    ShortText,
)
from crm_candidates.domain.candidate_input import CandidateCreate as CandidateCreate
from crm_candidates.domain.candidate_input import CandidateUpdate as CandidateUpdate
from crm_candidates.domain.custom_fields import CUSTOM_FIELD_KEY_PATTERN, CustomFieldType
from crm_candidates.domain.merging import FieldChoice
from crm_candidates.domain.models import (
    AtsStatus,
    CandidateSource,
    CandidateStatus,
    ImportCounts,
    ImportStatus,
    MergeStatus,
    PoolPlacement,
    SegmentStatus,
    WorkPreferences,
)
from crm_candidates.domain.segments import SEGMENTABLE_FIELDS

RULE_DESCRIPTION = (
    'A group `{"all"|"any"|"none": [...]}` of conditions `{"field", "op", "value"}`, '
    'segment references `{"segment": "<segment id>"}` and nested groups. Operators: equals, '
    "not_equals, in, contains, exists, range (`{gte, lte, gt, lt}` of numbers or ISO dates), "
    'before/after (an ISO date in `value`, or `"relative": "-30d"` resolved at evaluation '
    'time), in_pool (`{"pool_id", "stage"}`, stage optional). Fields: '
    f"{', '.join(SEGMENTABLE_FIELDS)}, custom_fields.<key>. Text matches ignore case and "
    "spacing; a condition on a list field holds when any element satisfies it. See "
    "docs/segments.md."
)


class AtsLinkPublic(BaseModel):
    """The candidate in one connected ATS, since they were pushed to it."""

    provider: str = Field(description="`greenhouse`, `lever` or `workable`.")
    connection_id: str
    candidate_id: str = Field(description="The CRM record that was pushed.")
    ats_candidate_id: str = Field(description="The ATS's id for the person.")
    ats_application_id: str | None = Field(
        description="The ATS's id for the application or prospect record, when it answered one."
    )
    ats_job_id: str | None = Field(description="The ATS job applied for; null for a prospect.")
    linked_at: datetime


class CandidatePublic(BaseModel):
    """A candidate as the API returns it."""

    id: str
    first_name: str
    last_name: str
    emails: list[str]
    phones: list[str]
    headline: str | None
    current_title: str | None
    current_company: str | None
    location: str | None
    skills: list[str]
    tags: list[str]
    source: CandidateSource
    owner_id: str | None
    marketing_consent: bool
    profile_urls: list[str]
    time_zone: str | None
    locale: str | None
    seniority: str | None
    desired_roles: list[str]
    work_preferences: WorkPreferences | None
    custom_fields: dict[str, Any]
    pools: list[PoolPlacement] = Field(description="The talent pools the candidate is in.")
    engagement_score: float = Field(description="Decaying engagement score from analytics.")
    last_activity_at: datetime | None
    events_registered: list[str] = Field(description="Ids of events registered for.")
    events_attended: list[str] = Field(description="Ids of events checked in at.")
    events_no_show: list[str] = Field(
        default_factory=list,
        description="Ids of completed events the candidate held a seat at but did not come to.",
    )
    ats_status: AtsStatus | None = Field(description="Latest application's status in the ATS.")
    ats_stage: str | None
    ats_links: list[AtsLinkPublic] = Field(
        default_factory=list,
        description="Where the candidate was sent to a connected ATS, with the ATS's ids.",
    )
    created_by: str
    created_at: datetime
    updated_at: datetime
    status: CandidateStatus
    merged_into: str | None = Field(
        default=None, description="For a merged record, the survivor it was folded into."
    )
    provenance: dict[str, Any] = Field(
        default_factory=dict,
        description="For merged-into records: field -> where its value(s) came from.",
    )


class CandidateUpserted(CandidatePublic):
    """The result of a create: the new record (201) or the person already on file (200)."""

    created: bool = Field(description="False when the person was already on file.")
    matched_on: list[str] = Field(
        default_factory=list,
        description="The identifier kinds (`email`, `phone`, `url`) that matched a record.",
    )
    identifiers_left_out: list[str] = Field(
        default_factory=list,
        description=(
            "E-mails, phones and profile URLs of the request that another record holds: they "
            "stay that record's and are not on this one (merge the two if they are one "
            "person). A phone number shared with someone else (a family's or an office's: "
            "found by that number alone, both with e-mails, none in common, names not alike) "
            "is one of them, and the request then creates a record of its own."
        ),
    )


class SegmentCreate(BaseModel):
    """A dynamic segment: the candidates matching `rule`, kept current on every change."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    rule: dict[str, Any] = Field(description=RULE_DESCRIPTION)


class SegmentUpdate(BaseModel):
    """A change of a segment's name or rule; a new rule recomputes its membership."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    rule: dict[str, Any] | None = Field(default=None, description=RULE_DESCRIPTION)


class SegmentPreviewRequest(BaseModel):
    """A rule to count before saving it as a segment."""

    model_config = ConfigDict(extra="forbid")

    rule: dict[str, Any] = Field(description=RULE_DESCRIPTION)
    sample_size: int = Field(default=10, ge=0, le=50)
    segment_id: str | None = Field(
        default=None,
        description="The segment whose rule this is, when editing one: a segment reference "
        "leading back to it, directly or through others, is refused here as saving it would "
        "refuse it (a cycle).",
    )


class SegmentPreview(BaseModel):
    """How many candidates a rule matches now, and a few of them."""

    count: int
    sample: list[CandidatePublic]


class SegmentPublic(BaseModel):
    """A segment as the API returns it."""

    id: str
    name: str
    rule: dict[str, Any]
    status: SegmentStatus = Field(
        description="`computing` until the full evaluation of its (latest) rule ends."
    )
    member_count: int
    time_dependent: bool = Field(
        description="Whether membership can change with time alone: relative dates in its "
        "rule, or in a segment it refers to (at any depth)."
    )
    created_by: str
    created_at: datetime
    updated_at: datetime | None


class CandidateSegmentPublic(BaseModel):
    """A segment a candidate is a member of."""

    id: str
    name: str
    entered_at: datetime | None = Field(description="When the candidate entered it.")


class ProfileSettings(BaseModel):
    """A tenant's settings for normalising profiles."""

    model_config = ConfigDict(extra="forbid")

    default_phone_region: Region = Field(
        description="Two-letter region national phone numbers are read in, e.g. DE."
    )


class SkillEntry(BaseModel):
    """A canonical skill and the spellings that mean it."""

    model_config = ConfigDict(extra="forbid")

    canonical: Label
    synonyms: list[Label] = Field(default_factory=list, max_length=50)


class SkillVocabularyBody(BaseModel):
    """A tenant's whole skill vocabulary (a PUT replaces it)."""

    model_config = ConfigDict(extra="forbid")

    skills: list[SkillEntry] = Field(max_length=2000)


class SkillVocabularySaved(SkillVocabularyBody):
    """The vocabulary as saved, and the segments whose rules it re-spelled."""

    segments_respelled: list[str] = Field(
        default_factory=list,
        description="The names of the segments whose rules named a skill the new vocabulary "
        "spells differently: their skill values were re-spelled in the same change, so they "
        "keep their members.",
    )


class CustomFieldCreate(BaseModel):
    """A new custom field of the tenant's candidates."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(
        pattern=CUSTOM_FIELD_KEY_PATTERN, description="Lower-case, e.g. `notice_period`."
    )
    label: Label
    type: CustomFieldType
    required: bool = False
    allowed_values: list[Label] = Field(
        default_factory=list, max_length=200, description="The choices of enum and multi_enum."
    )


class SkillRenormalisationPublic(BaseModel):
    """How far re-normalising the stored candidates' skills after a vocabulary change got."""

    status: Literal["running", "completed"]
    processed: int = Field(description="Candidates holding skills looked at so far.")
    changed: int = Field(description="Of those, the ones whose skills were re-spelled.")
    started_at: datetime
    finished_at: datetime | None


class CustomFieldUpdate(BaseModel):
    """An edit of a custom field: the fields sent change; key and type never do."""

    model_config = ConfigDict(extra="forbid")

    label: Label | None = None
    required: bool | None = None
    allowed_values: list[Label] | None = Field(
        default=None,
        max_length=200,
        description="The whole new list of choices: existing ones may not be left out.",
    )


class CustomFieldPublic(BaseModel):
    """A custom field as the API returns it."""

    id: str
    key: str
    label: str
    type: CustomFieldType
    required: bool
    allowed_values: list[str]
    created_by: str
    created_at: datetime
    archived_at: datetime | None = Field(
        description="When it was deleted: it takes no new values; values held stay."
    )


class NoteCreate(BaseModel):
    """A note on a candidate."""

    model_config = ConfigDict(extra="forbid")

    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10000)]


class NotePublic(BaseModel):
    """A note as the API returns it."""

    id: str
    candidate_id: str
    author_id: str
    body: str
    created_at: datetime


class PoolCreate(BaseModel):
    """A new talent pool with its ordered stages."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    description: ShortText | None = None
    stages: list[Label] = Field(min_length=1, max_length=30, description="In pipeline order.")
    owner_ids: list[Label] = Field(
        default_factory=list, max_length=20, description="Defaults to the creator."
    )


class PoolUpdate(BaseModel):
    """A change to a pool: only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: ShortText | None = None
    stages: list[Label] | None = Field(
        default=None,
        min_length=1,
        max_length=30,
        description="Reordered or extended; every current stage must stay (members may be in it).",
    )
    owner_ids: list[Label] | None = Field(default=None, min_length=1, max_length=20)


class PoolPublic(BaseModel):
    """A talent pool as the API returns it, with its member count per stage."""

    id: str
    name: str
    description: str | None
    stages: list[str]
    owner_ids: list[str]
    member_counts: dict[str, int]
    created_by: str
    created_at: datetime
    version: int = Field(description="Counts changes; also the `ETag` (rename a stage with it).")


class StageRename(BaseModel):
    """A stage's new name."""

    model_config = ConfigDict(extra="forbid")

    name: Label


class PoolMemberAdd(BaseModel):
    """A candidate to add to a pool."""

    model_config = ConfigDict(extra="forbid")

    candidate_id: Label
    stage: Label | None = Field(default=None, description="Defaults to the pool's first stage.")


# How many candidates one bulk action (add to a pool, tag) takes: a page of a board or a list.
MAX_SELECTION = 200


class PoolMembersAdd(BaseModel):
    """A selection of candidates to add to a pool."""

    model_config = ConfigDict(extra="forbid")

    candidate_ids: list[Label] = Field(min_length=1, max_length=MAX_SELECTION)
    stage: Label | None = Field(default=None, description="Defaults to the pool's first stage.")


class PoolMembersAdded(BaseModel):
    """What became of each candidate of the selection, and the pool's counts after."""

    added: list[str]
    already_members: list[str] = Field(description="Members already: left where they are.")
    unknown: list[str] = Field(description="Not candidates of your tenant.")
    not_active: list[str] = Field(description="Archived or merged records.")
    member_counts: dict[str, int]


class CandidatesTag(BaseModel):
    """Tags to add to a selection of candidates."""

    model_config = ConfigDict(extra="forbid")

    candidate_ids: list[Label] = Field(min_length=1, max_length=MAX_SELECTION)
    tags: list[Label] = Field(min_length=1, max_length=20)


class CandidatesTagged(BaseModel):
    """What became of each candidate of the selection."""

    tagged: list[str]
    already_tagged: list[str] = Field(description="Held every tag already: unchanged.")
    unknown: list[str] = Field(description="Not candidates of your tenant.")
    not_active: list[str] = Field(description="Archived or merged records (not changed).")


class StageMove(BaseModel):
    """The stage to move a pool member to."""

    model_config = ConfigDict(extra="forbid")

    stage: Label


class PoolMemberPublic(BaseModel):
    """A candidate's current place in a pool."""

    pool_id: str
    candidate_id: str
    stage: str
    added_by: str
    added_at: datetime
    moved_at: datetime


class CandidateSummary(BaseModel):
    """What a list of candidates shows of each: name, current role, where they stand."""

    id: str
    first_name: str
    last_name: str
    headline: str | None
    current_title: str | None
    current_company: str | None
    location: str | None
    status: CandidateStatus
    ats_status: AtsStatus | None
    ats_stage: str | None


class PoolMemberListed(PoolMemberPublic):
    """A pool member in the members list, with the candidate to show."""

    candidate: CandidateSummary | None = Field(
        description="The candidate (null if the record no longer exists, e.g. erased)."
    )


class StageChangePublic(BaseModel):
    """One move in a pool: from_stage null when added, to_stage null when removed."""

    from_stage: str | None
    to_stage: str | None
    moved_by: str
    moved_at: datetime


class PoolMemberDetail(BaseModel):
    """A candidate's place in a pool (null once removed) and every move they made in it."""

    pool_id: str
    candidate_id: str
    stage: str | None
    history: list[StageChangePublic]


class DuplicateSuggestion(BaseModel):
    """Another record that may be the same person, with how alike they are and why."""

    candidate: CandidatePublic
    score: float = Field(description="0-100: how likely the two records are one person.")
    reason: str = Field(description='In words, e.g. "same name, same company".')


class MergeCreate(BaseModel):
    """Fold `merged_id` into `survivor_id`, choosing per field which value wins."""

    model_config = ConfigDict(extra="forbid")

    survivor_id: str = Field(min_length=1, max_length=64)
    merged_id: str = Field(min_length=1, max_length=64)
    choices: dict[str, FieldChoice] = Field(
        default_factory=dict,
        description="Field -> `survivor`, `merged` or (lists and custom fields) `union`. By "
        "default lists and custom fields are united and other fields keep the survivor's "
        "value unless it has none.",
    )


class MergePublic(BaseModel):
    """A merge as the API returns it."""

    id: str
    survivor_id: str
    merged_id: str
    choices: dict[str, str]
    provenance: dict[str, Any] = Field(
        description="Field -> the origin of each value: `{value, candidate_id, source}`."
    )
    status: MergeStatus
    created_by: str
    created_at: datetime
    undone_at: datetime | None
    undone_by: str | None


class TimelineEntryPublic(BaseModel):
    """One entry of a candidate's activity timeline."""

    event_id: str = Field(description="The event the entry was built from.")
    type: str = Field(description="What happened: the event's topic, e.g. `message.clicked`.")
    source: str = Field(description="The service that reported it.")
    occurred_at: datetime
    data: dict[str, Any] = Field(description="The event's details (no contact details).")


class ImportCreate(BaseModel):
    """A CSV import: which column feeds which profile field; the file is sent next."""

    model_config = ConfigDict(extra="forbid")

    mapping: dict[str, str] = Field(
        min_length=1,
        max_length=100,
        description="CSV header -> profile field (first_name, last_name, emails, phones, "
        "skills, tags, profile_urls, desired_roles, headline, current_title, current_company, "
        "location, time_zone, locale, seniority, owner_id, marketing_consent, "
        "custom_fields.<key>). Several columns may feed one list field; a list cell may hold "
        "several values separated by `;`, `,` or `|`. first_name, last_name and emails are "
        "required.",
    )
    source: CandidateSource = CandidateSource.SOURCED
    tags: list[Label] = Field(default_factory=list, max_length=20)
    default_region: Region | None = Field(default=None, description=DEFAULT_REGION_DESCRIPTION)
    delimiter: Literal[",", ";", "\t", "|"] | None = Field(
        default=None,
        description="The file's delimiter; by default the one of `,` `;` tab `|` whose split "
        "of the header line finds the most mapped columns.",
    )
    encoding: str | None = Field(
        default=None,
        max_length=40,
        description="The file's encoding: utf-8, utf-16 (-le, -be), windows-1252, "
        "windows-1250, iso-8859-1, iso-8859-15 or iso-8859-2 (any usual spelling). By default "
        "the upload's `charset`, else detected: a byte order mark, UTF-16 without one, UTF-8, "
        "else windows-1250 if the text reads as Central European names, else windows-1252.",
    )


class ImportPreviewColumn(BaseModel):
    """One column of the file's header."""

    name: str
    suggested_field: str | None = Field(
        description="The profile field the column's name suggests (`E-Mail`, `Vorname`, "
        "`Prénom`...), null when none does."
    )
    samples: list[str] = Field(description="Its first non-empty values.")


class ImportPreview(BaseModel):
    """How the file reads: encoding, delimiter, columns, and the mapping they suggest."""

    encoding: str
    encoding_note: str | None = Field(
        default=None,
        description="Set when the encoding was detected and the file reads as plausibly in "
        "another: which was assumed, a word as each reads it, and how to name the other.",
    )
    encoding_alternative: str | None = Field(
        default=None, description="That other encoding, to name on `POST /imports` if wanted."
    )
    delimiter: str
    columns: list[ImportPreviewColumn]
    suggested_mapping: dict[str, str] = Field(
        description="Column -> field for every column with a suggestion: a starting point "
        "for `POST /imports`."
    )
    missing_required: list[str] = Field(
        description="Required fields (first_name, last_name, emails) no column suggests."
    )
    fields: list[str] = Field(
        description="Every field a column can be mapped to (and `custom_fields.<key>`)."
    )


class ImportDateColumnPublic(BaseModel):
    """What one mapped date column's values said about the order of day and month, read over
    the whole file while it was uploaded."""

    column: str
    day_first_example: str | None = Field(
        description="A value whose first part is above 12 (`31/12/2025`): day first."
    )
    month_first_example: str | None = Field(
        description="A value whose second part is above 12 (`12/31/2025`): month first."
    )


class ImportPublic(BaseModel):
    """An import with its progress."""

    id: str
    status: ImportStatus
    mapping: dict[str, str]
    source: CandidateSource
    tags: list[str]
    delimiter: str | None = Field(description="As named, or as detected once the file is in.")
    encoding: str | None = Field(description="As named, or as detected once the file is in.")
    encoding_note: str | None = Field(
        default=None,
        description="Set when the encoding was detected and the file reads as plausibly in "
        "another (a short Hungarian file in windows-1250 or windows-1252): which was assumed, "
        "a word as each reads it, and how to name the other.",
    )
    counts: ImportCounts
    chunks_total: int | None = Field(description="Chunks of rows stored from the file.")
    chunks_done: int
    date_columns: list[ImportDateColumnPublic] = Field(
        default_factory=list,
        description="The date custom fields' columns in which a value showed the order of "
        "day and month, with one value of each order found: with one kind the column is read "
        "that way, with both its ambiguous values are refused; a column not listed is read in "
        "the region's order (docs/identity.md).",
    )
    error: str | None
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ImportMergedRow(BaseModel):
    """A row of an import that was a person already on file, or made by an earlier row."""

    row: int = Field(description="1 for the first row after the header.")
    candidate_id: str = Field(description="The candidate the row merged into.")
    first_name: str | None = Field(
        default=None,
        description="That candidate's first name as stored when the report is read; null if "
        "the record was erased since.",
    )
    last_name: str | None = Field(
        default=None,
        description="That candidate's last name as stored when the report is read; null if "
        "the record was erased since.",
    )


class ImportRowError(BaseModel):
    """Why one row of an import was not imported."""

    row: int = Field(description="1 for the first row after the header.")
    field: str = Field(description="The profile field path, e.g. `emails.0`.")
    column: str | None = Field(description="The CSV column the field came from.")
    message: str
    severity: Literal["error", "warning"] = Field(
        default="error",
        description="`error`: the row was not imported. `warning`: the row was imported "
        "without this value, or (with `assumed_region`) with a phone number read in a region "
        "the row did not give.",
    )
    value: str | None = Field(
        default=None,
        description="The phone number as the file has it, when `assumed_region` is set.",
    )
    assumed_region: str | None = Field(
        default=None,
        description="The region a phone number without country code was read in (the "
        "import's `default_region`, else the tenant's default phone region, else US); null "
        "for any other entry.",
    )
    candidate_id: str | None = Field(
        default=None,
        description="The record an imported row created or joined (warnings only; added in "
        "December 2026, absent from earlier reports). Erasing that person deletes the row's "
        "entries, since a message may quote the person's values.",
    )
