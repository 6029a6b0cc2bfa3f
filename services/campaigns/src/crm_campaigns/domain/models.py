"""What the campaigns service stores: recipients, templates, sequences, enrolments, messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date as date_type
from datetime import datetime, timedelta
from datetime import time as time_type
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_serializer,
)

from crm_shared import new_id, utc_now


class Recipient(BaseModel):
    """The campaigns service's own copy of what it needs to know about a candidate."""

    model_config = ConfigDict(frozen=True)

    candidate_id: str
    tenant_id: str
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    current_title: str | None = None
    current_company: str | None = None
    location: str | None = None
    marketing_consent: bool = False
    active: bool = Field(
        default=True, description="False for an archived or merged record: no marketing mail."
    )
    time_zone: str | None = None
    owner_id: str | None = None
    email_sha256: list[str] = Field(
        default_factory=list, description="SHA-256 of each of the candidate's normalised emails."
    )
    skills: list[str] = Field(
        default_factory=list, description="Normalised skills, to match open jobs to the person."
    )
    custom_fields: dict[str, Any] = Field(
        default_factory=dict,
        description="The tenant's custom field values by key, as candidate events carry them, "
        "for templates' `candidate.custom_fields.<key>`.",
    )
    profile_as_of: datetime | None = Field(
        default=None,
        description="When the candidates service published the profile held here: an older "
        "one arriving later (its topics are consumed apart) does not replace it.",
    )


class CustomField(BaseModel):
    """Campaigns' copy of one of the tenant's custom fields (`profile.custom_field_changed`):
    which keys a template may merge, and what the merge-field picker says of them."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    key: str
    label: str
    type: str
    allowed_values: list[str] = Field(default_factory=list)
    deleted: bool = False
    changed_at: datetime


class Template(BaseModel):
    """A message template with merge fields."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    tenant_id: str
    name: str
    subject: str
    html: str
    text: str
    created_by: str
    # The language the template is written in (a language tag: `fr`, `de-AT`); the footer
    # added to its mail is in that language (`contact_links.footer_language`).
    language: str | None = None
    created_at: datetime = Field(default_factory=utc_now)
    version: int = 1
    updated_by: str | None = None
    updated_at: datetime | None = None
    archived_at: datetime | None = None
    # When a sequence last started using it (written to make archiving and new uses conflict).
    last_used_at: datetime | None = None


StepLabel = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=60, pattern=r"^[A-Za-z_][\w-]*$"
    ),
]
# A branch's target: a step index, a step label, or `END` to complete the enrolment.
StepTarget = int | StepLabel
END = "end"


class SendStep(BaseModel):
    """Send a template to the enrolled candidate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["send"] = "send"
    label: StepLabel | None = None
    template_id: str


class WaitStep(BaseModel):
    """Wait a fixed time before the next step (the enrolment stays active meanwhile)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["wait"] = "wait"
    label: StepLabel | None = None
    days: int = Field(default=0, ge=0, le=365)
    hours: int = Field(default=0, ge=0, le=23)
    minutes: int = Field(default=0, ge=0, le=59)

    @property
    def duration(self) -> timedelta:
        return timedelta(days=self.days, hours=self.hours, minutes=self.minutes)


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @property
    def number(self) -> int:
        """Monday is 0, as `datetime.weekday()` counts."""
        return list(Weekday).index(self)


class WaitUntilStep(BaseModel):
    """Wait until the next of some weekdays at a local time of the candidate's time zone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["wait_until"] = "wait_until"
    label: StepLabel | None = None
    weekdays: list[Weekday] = Field(
        min_length=1, max_length=7, description='Days it may continue on, e.g. `["tue", "thu"]`.'
    )
    time: time_type = Field(description="Local time of day, e.g. `09:30`.")

    @field_serializer("time")
    def _time_as_text(self, value: time_type) -> str:
        # BSON has no time-of-day type; `HH:MM` is stored and shown.
        return value.strftime("%H:%M")


class BranchCondition(StrEnum):
    OPENED = "opened"
    CLICKED = "clicked"
    REPLIED = "replied"
    REGISTERED = "registered"


class BranchStep(BaseModel):
    """Go one way if the candidate reacted to an earlier send within a window, else another.

    `opened`, `clicked` and `replied` look at the message of `after_send` (default: the nearest
    send step before the branch); `registered` at registrations for `event_id` (any event when
    unset). The branch waits until the window after that send has passed unless the reaction
    came earlier. A target is a step index, a step label or `end`; unset means the next step.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["branch"] = "branch"
    label: StepLabel | None = None
    condition: BranchCondition
    after_send: StepTarget | None = None
    event_id: str | None = None
    within_days: int = Field(default=0, ge=0, le=365)
    within_hours: int = Field(default=0, ge=0, le=23)
    if_yes: StepTarget | None = None
    if_no: StepTarget | None = None

    @property
    def window(self) -> timedelta:
        return timedelta(days=self.within_days, hours=self.within_hours)


TagName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class AddTagStep(BaseModel):
    """Ask the candidates service to add tags to the candidate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["add_tag"] = "add_tag"
    label: StepLabel | None = None
    tags: list[TagName] = Field(min_length=1, max_length=20)


class RemoveTagStep(BaseModel):
    """Ask the candidates service to remove tags from the candidate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["remove_tag"] = "remove_tag"
    label: StepLabel | None = None
    tags: list[TagName] = Field(min_length=1, max_length=20)


class MoveStageStep(BaseModel):
    """Ask the candidates service to move the candidate to a stage of a talent pool."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["move_stage"] = "move_stage"
    label: StepLabel | None = None
    pool_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    stage: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class NotifyOwnerStep(BaseModel):
    """Leave a notification for the candidate's owner (the sequence's author when none).

    Title and body may use the template merge fields, e.g. `{{ candidate.first_name }}`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["notify_owner"] = "notify_owner"
    label: StepLabel | None = None
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    body: Annotated[str, StringConstraints(max_length=2000)] = ""


Step = Annotated[
    SendStep
    | WaitStep
    | WaitUntilStep
    | BranchStep
    | AddTagStep
    | RemoveTagStep
    | MoveStageStep
    | NotifyOwnerStep,
    Field(discriminator="type"),
]
STEP_TYPES: dict[str, type[BaseModel]] = {
    "send": SendStep,
    "wait": WaitStep,
    "wait_until": WaitUntilStep,
    "branch": BranchStep,
    "add_tag": AddTagStep,
    "remove_tag": RemoveTagStep,
    "move_stage": MoveStageStep,
    "notify_owner": NotifyOwnerStep,
}

Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class SegmentTrigger(BaseModel):
    """Enrol candidates when they enter a segment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["segment_entered"] = "segment_entered"
    segment_id: Identifier


class PoolStageTrigger(BaseModel):
    """Enrol candidates when they reach a stage of a talent pool."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["pool_stage_reached"] = "pool_stage_reached"
    pool_id: Identifier
    stage: Identifier


class EventCheckedInTrigger(BaseModel):
    """Enrol candidates who attended an event (any event when `event_id` is unset)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["event_checked_in"] = "event_checked_in"
    event_id: Identifier | None = None


class EventAttendedTrigger(BaseModel):
    """Enrol candidates who attended an event, once it is completed (any event when
    `event_id` is unset): a follow-up for attendees."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["event_attended"] = "event_attended"
    event_id: Identifier | None = None


class EventNoShowTrigger(BaseModel):
    """Enrol candidates who held a seat at an event but did not come, once it is completed
    (any event when `event_id` is unset): a follow-up for no-shows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["event_no_show"] = "event_no_show"
    event_id: Identifier | None = None


class AtsRejectedTrigger(BaseModel):
    """Enrol candidates rejected in the ATS; with `stages`, only those rejected after reaching
    one of them (silver medalists), compared case-insensitively."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["ats_rejected"] = "ats_rejected"
    stages: list[Identifier] = Field(default_factory=list, max_length=50)

    def admits(self, stage: str | None) -> bool:
        """Whether a rejection at `stage` enrols."""
        if not self.stages:
            return True
        return stage is not None and stage.casefold() in {s.casefold() for s in self.stages}


class ManualTrigger(BaseModel):
    """Candidates are enrolled only by a recruiter (`POST /sequences/{id}/enrolments`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["manual"] = "manual"


Trigger = Annotated[
    SegmentTrigger
    | PoolStageTrigger
    | EventCheckedInTrigger
    | EventAttendedTrigger
    | EventNoShowTrigger
    | AtsRejectedTrigger
    | ManualTrigger,
    Field(discriminator="type"),
]
TRIGGER_TYPES: dict[str, type[BaseModel]] = {
    "segment_entered": SegmentTrigger,
    "pool_stage_reached": PoolStageTrigger,
    "event_checked_in": EventCheckedInTrigger,
    "event_attended": EventAttendedTrigger,
    "event_no_show": EventNoShowTrigger,
    "ats_rejected": AtsRejectedTrigger,
    "manual": ManualTrigger,
}


class ReentryPolicy(StrEnum):
    NEVER = "never"
    AFTER_DAYS = "after_days"
    ALWAYS = "always"


class Reentry(BaseModel):
    """Whether a candidate whose enrolment ended may enrol in the sequence again."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    policy: ReentryPolicy = ReentryPolicy.NEVER
    days: int = Field(
        default=0, ge=0, le=3650, description="For `after_days`: days since the last one ended."
    )


class ExitReason(StrEnum):
    APPLIED = "applied"
    HIRED = "hired"
    REPLIED = "replied"
    UNSUBSCRIBED = "unsubscribed"
    REMOVED = "removed"
    # The candidate's record was merged into another that is in the same sequence already.
    MERGED = "merged"
    # The sequence was archived (deleted) while the enrolment was in progress.
    SEQUENCE_ARCHIVED = "sequence_archived"
    # A send step's message was suppressed for a reason that lasts (`exit_step` names the
    # step): the rest of the sequence would branch on a mail nobody received.
    NO_MARKETING_CONSENT = "no_marketing_consent"
    NO_EMAIL_ADDRESS = "no_email_address"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    ERASED = "erased"
    # The address is on the suppression list by hand (`manual`).
    SUPPRESSED = "suppressed"


# What ends an enrolment early unless a sequence says otherwise (manual removal always does).
DEFAULT_EXIT_ON = (
    ExitReason.APPLIED,
    ExitReason.HIRED,
    ExitReason.REPLIED,
    ExitReason.UNSUBSCRIBED,
)


class SequenceStatus(StrEnum):
    """active <-> paused -> archived; active -> archived. Archived is final."""

    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"


class Sequence(BaseModel):
    """A nurture sequence: a trigger that enrols candidates and the steps they go through.

    `version` counts edits, for optimistic concurrency: an edit names the version it was made
    from and is refused if the sequence changed since.
    """

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    tenant_id: str
    name: str
    trigger: Trigger
    steps: list[Step]
    reentry: Reentry = Field(default_factory=Reentry)
    exit_on: list[ExitReason] = Field(default_factory=lambda: list(DEFAULT_EXIT_ON))
    created_by: str
    created_at: datetime = Field(default_factory=utc_now)
    status: SequenceStatus = SequenceStatus.ACTIVE
    version: int = 1
    updated_by: str | None = None
    updated_at: datetime | None = None


class EnrolmentStatus(StrEnum):
    """active -> completed | exited; active -> failed (a step could not run) -> active (retried)
    or exited; active <-> paused with its sequence, or on its own (`paused_by`: a person paused
    this enrolment, and only resuming it ends that). Failed and paused enrolments still hold the
    candidate's place in the sequence."""

    ACTIVE = "active"
    COMPLETED = "completed"
    EXITED = "exited"
    FAILED = "failed"
    PAUSED = "paused"


class EnrolmentState(StrEnum):
    """What a recruiter sees of an enrolment: its status, with `active` split into those due now
    (`active`) and those waiting for a timer or a branch's signal (`waiting`)."""

    ACTIVE = "active"
    WAITING = "waiting"
    PAUSED = "paused"
    FAILED = "failed"
    COMPLETED = "completed"
    EXITED = "exited"


def enrolment_state(
    status: EnrolmentStatus, next_run_at: datetime | None, now: datetime
) -> EnrolmentState:
    """The state a recruiter sees for an enrolment's status and next run."""
    if status is EnrolmentStatus.ACTIVE and next_run_at is not None and next_run_at > now:
        return EnrolmentState.WAITING
    return EnrolmentState(status.value)


# Enrolments that still hold the candidate's place in their sequence: exit conditions end them,
# and the re-entry policy does not start another beside them.
ENROLMENTS_IN_PROGRESS = (EnrolmentStatus.ACTIVE, EnrolmentStatus.FAILED, EnrolmentStatus.PAUSED)


class EnrolmentRefused(StrEnum):
    """Why a candidate was not enrolled."""

    ALREADY_ACTIVE = "already_active"
    REENTRY_NOT_ALLOWED = "reentry_not_allowed"
    REENTRY_TOO_SOON = "reentry_too_soon"
    # An exit condition of the sequence holds already (see `domain/exits.py`).
    HIRED = "hired"
    APPLIED = "applied"
    UNSUBSCRIBED = "unsubscribed"


class StepProblem(BaseModel):
    """A step the enrolment went past that did nothing: the candidates service refused the
    change it asked for (a stage its pool does not have, a pool deleted since). The enrolment
    goes on; this says why the step had no effect."""

    model_config = ConfigDict(frozen=True)

    step: int
    reason: str
    at: datetime
    # The refused `candidate.change_requested`: a refusal is recorded once.
    request_id: str


class Enrolment(BaseModel):
    """One candidate's progress through one sequence (one entry of it, when re-entry is allowed).

    `step_count` counts the steps executed so far, so ids derived from it (messages,
    notifications) stay unique when a branch leads back to an earlier step. `sent_messages`
    maps a send step's index to the message it last queued, for branches to look at.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    tenant_id: str
    sequence_id: str
    candidate_id: str
    entry: int = 1
    status: EnrolmentStatus = EnrolmentStatus.ACTIVE
    step_index: int = 0
    step_count: int = 0
    next_run_at: datetime | None = Field(default_factory=utc_now)
    sent_messages: dict[str, str] = Field(default_factory=dict)
    awaiting_signal: bool = False
    exit_reason: ExitReason | None = None
    # The send step whose suppressed message ended the enrolment (it may have moved on since).
    exit_step: int | None = None
    enrolled_by: str | None = None
    enrolled_at: datetime = Field(default_factory=utc_now)
    ended_at: datetime | None = None
    failure_reason: str | None = None
    failed_at: datetime | None = None
    last_error: str | None = None
    step_errors: int = 0
    # Who paused this enrolment on its own, and when: it stays paused when its sequence resumes.
    paused_by: str | None = None
    paused_at: datetime | None = None
    # The latest steps that did nothing, oldest first (at most `MAX_STEP_PROBLEMS`).
    step_problems: list[StepProblem] = Field(default_factory=list)


# An enrolment looping through a branch may refuse the same step again and again.
MAX_STEP_PROBLEMS = 20


def enrolment_id(sequence_id: str, candidate_id: str, entry: int) -> str:
    """The id of a candidate's `entry`-th enrolment in a sequence.

    Derived, not random: two writers enrolling the same candidate at once collide on it, so a
    candidate never holds two enrolments of one entry.
    """
    return f"{sequence_id}.{candidate_id}.{entry}"


NotificationKind = Literal["step", "reply"]


class Notification(BaseModel):
    """Something a recruiter should look at: left by a sequence's `notify_owner` step (`step`),
    or a candidate's reply to a message (`reply`, naming the message and its sequence or
    broadcast)."""

    model_config = ConfigDict(frozen=True)

    id: str
    tenant_id: str
    user_id: str
    kind: NotificationKind = "step"
    candidate_id: str
    sequence_id: str | None = None
    enrolment_id: str | None = None
    broadcast_id: str | None = None
    message_id: str | None = None
    title: str
    body: str
    created_at: datetime = Field(default_factory=utc_now)
    read_at: datetime | None = None


def notification_page_key(notification: Notification) -> str:
    """Where a page of notifications ended: its last one's time and id (ids do not follow
    time: a step's is its enrolment's, a reply's a digest)."""
    return f"{notification.created_at.isoformat()}|{notification.id}"


def read_notification_page_key(key: str) -> tuple[datetime, str]:
    """The time and id of `notification_page_key`; ValueError if it is not one."""
    made, separator, notification_id = key.partition("|")
    if not separator:
        raise ValueError("not a notification page key")
    return datetime.fromisoformat(made), notification_id


class MessageStatus(StrEnum):
    """queued -> sending -> sent | failed, or queued -> suppressed (a send rule skipped it).

    `sending` is the claim: only the worker that moved a message from queued to sending hands
    it to SMTP, so a message is never sent twice. Its `attempt_started_at` is set (durably)
    right before its SMTP transaction starts; a claim abandoned without it goes back to
    `queued`, one abandoned with it is `sent` if its `message.sent` was staged, else `failed`
    with `outcome_unknown`. A broadcast's paused
    messages are `held`, its cancelled ones `cancelled`.
    """

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    SUPPRESSED = "suppressed"
    FAILED = "failed"
    HELD = "held"
    CANCELLED = "cancelled"


class SuppressionReason(StrEnum):
    """Why a message was not sent (suppressed, or skipped by the contact policy)."""

    NO_MARKETING_CONSENT = "no_marketing_consent"
    NO_EMAIL_ADDRESS = "no_email_address"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    ERASED = "erased"
    MANUAL = "manual"
    FREQUENCY_CAP = "frequency_cap"
    ARCHIVED = "archived"


# The failure reason of a message that SMTP refused (the dispatcher records the detail as
# `last_error` and leaves `failure_reason` unset).
DELIVERY_FAILED = "delivery_failed"


def failure_reason_of(status: MessageStatus, failure_reason: str | None) -> str | None:
    """Why a message failed, as the API shows it: the recorded reason, else `delivery_failed`
    for one the dispatcher failed (it records the SMTP detail in `last_error` only)."""
    if status is MessageStatus.FAILED and failure_reason is None:
        return DELIVERY_FAILED
    return failure_reason


# The failure reason of a message whose SMTP transaction had started when its worker died: it
# may or may not have reached the server, and is not sent again (at most once).
OUTCOME_UNKNOWN = "outcome_unknown"


class MessageCategory(StrEnum):
    """What a message is for, which decides the rules it is sent under.

    Marketing mail needs consent and obeys the contact policy (frequency cap, quiet hours);
    transactional mail (a confirmation the person just asked for) needs neither, but never goes
    to an address that bounced or was erased.
    """

    MARKETING = "marketing"
    TRANSACTIONAL = "transactional"


@dataclass(frozen=True)
class MessageFilter:
    """Which of the tenant's messages a list shows; the filters given combine."""

    candidate_id: str | None = None
    broadcast_id: str | None = None
    sequence_id: str | None = None
    status: MessageStatus | None = None
    replied: bool | None = None


class MessageSort(StrEnum):
    """Orders a message list is read in, both by creation (message ids are ObjectIds, so id
    order is creation order): oldest first, or newest first (`-created_at`)."""

    CREATED_AT = "created_at"
    NEWEST_FIRST = "-created_at"


class Reply(BaseModel):
    """A reply the candidate sent to a message: when it came and an excerpt of what they wrote
    (`domain.reply_text`); `id` names it as the provider does, the same on every redelivery."""

    model_config = ConfigDict(frozen=True)

    id: str
    received_at: datetime
    excerpt: str


# A message keeps the excerpts of its latest replies only: enough for the recruiter to see the
# conversation's state, and a bound on the document's size.
REPLIES_KEPT = 5


class Message(BaseModel):
    """One email to one candidate, rendered when queued and sent by the dispatcher."""

    model_config = ConfigDict(frozen=True)

    id: str
    tenant_id: str
    candidate_id: str
    template_id: str
    sequence_id: str | None = None
    enrolment_id: str | None = None
    broadcast_id: str | None = None
    step_index: int | None = Field(
        default=None, description="The sequence step that queued it (its place when it did)."
    )
    step_label: str | None = None
    variant: str | None = None
    in_ab_test: bool = Field(
        default=False, description="Sent to the A/B test group (not the winner's rest)."
    )
    to_email: str | None
    subject: str
    html: str
    text: str
    links: list[str] = Field(default_factory=list)
    category: MessageCategory = MessageCategory.MARKETING
    unsubscribe_url: str | None = Field(
        default=None, description="One-click unsubscribe (RFC 8058) URL, for marketing mail."
    )
    preferences_url: str | None = None
    status: MessageStatus = MessageStatus.QUEUED
    suppression_reason: str | None = None
    policy_reason: str | None = Field(
        default=None, description="Why the contact policy last deferred or skipped the message."
    )
    deferrals: int = 0
    deferred_until: datetime | None = None
    attempts: int = 0
    last_error: str | None = None
    opens: int = 0
    clicks: int = 0
    automated_opens: int = 0
    automated_clicks: int = 0
    last_click_index: int | None = None
    last_click_at: datetime | None = None
    failure_reason: str | None = Field(
        default=None,
        description="Why a failed message failed: `render_failed`, `template_missing`, ...",
    )
    bounce_type: str | None = None
    bounce_reason: str | None = None
    bounced_at: datetime | None = None
    complained_at: datetime | None = None
    complaint_type: str | None = None
    replied_at: datetime | None = None
    replies: list[Reply] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utc_now)
    next_attempt_at: datetime | None = None
    sent_at: datetime | None = None

    @property
    def may_have_left(self) -> bool:
        """Whether the message may have reached a mail server, so that a bounce, complaint or
        reply can be about it: it was sent, its SMTP transaction is under way, or it was
        interrupted during one (`outcome_unknown`). A message skipped, cancelled, still queued
        or failed before SMTP never left."""
        if self.sent_at is not None:
            return True
        if self.status in (MessageStatus.SENT, MessageStatus.SENDING):
            return True
        return self.status is MessageStatus.FAILED and self.failure_reason == OUTCOME_UNKNOWN


class BroadcastStatus(StrEnum):
    """draft -> preparing (audience snapshot, messages queued) -> sending -> completed; paused
    and resumed in between; cancelled from anything not finished."""

    DRAFT = "draft"
    PREPARING = "preparing"
    SENDING = "sending"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class SegmentAudience(BaseModel):
    """The members of a segment when the send starts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["segment"] = "segment"
    segment_id: str = Field(min_length=1)


class PoolAudience(BaseModel):
    """The candidates in a talent pool, optionally only those at one stage."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["pool"] = "pool"
    pool_id: str = Field(min_length=1)
    stage: str | None = None


class ListAudience(BaseModel):
    """An inline list of candidate ids, given with the broadcast."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["list"] = "list"
    candidate_ids: list[Annotated[str, Field(min_length=1)]] = Field(
        min_length=1, max_length=100_000
    )


class StoredListAudience(BaseModel):
    """The members of a stored static list (`/lists`) when the send starts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["stored_list"] = "stored_list"
    list_id: str = Field(min_length=1)


Audience = Annotated[
    SegmentAudience | PoolAudience | ListAudience | StoredListAudience,
    Field(discriminator="type"),
]


class SendNow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["now"] = "now"


class SendAt(BaseModel):
    """Everyone at one moment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["at"] = "at"
    send_at: AwareDatetime


class SendAtLocalTime(BaseModel):
    """Each recipient at the same wall-clock time in their own time zone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["local_time"] = "local_time"
    date: date_type
    local_time: time_type = Field(description="Wall-clock time, e.g. `09:00`.")


Schedule = Annotated[SendNow | SendAt | SendAtLocalTime, Field(discriminator="type")]


class AbMetric(StrEnum):
    OPEN_RATE = "open_rate"
    CLICK_RATE = "click_rate"


class AbVariant(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9_-]+$")]
    subject: Annotated[str, Field(min_length=1, max_length=500)]


class AbTest(BaseModel):
    """Send `test_percentage` of the audience the variants (split evenly), then the winner to
    the rest once `decide_after_minutes` passed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    variants: list[AbVariant] = Field(min_length=2, max_length=5)
    test_percentage: int = Field(ge=1, le=100)
    metric: AbMetric = AbMetric.OPEN_RATE
    decide_after_minutes: int = Field(ge=1, le=7 * 24 * 60)


class Broadcast(BaseModel):
    """One message to an audience, snapshotted when the send starts."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    tenant_id: str
    name: str
    template_id: str
    audience: Audience
    schedule: Schedule = Field(default_factory=SendNow)
    ab_test: AbTest | None = None
    status: BroadcastStatus = BroadcastStatus.DRAFT
    pause_reason: str | None = None
    paused_from: BroadcastStatus | None = None
    created_by: str
    created_at: datetime = Field(default_factory=utc_now)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    audience_size: int = 0
    queued: int = 0
    # While preparing: how many of the audience campaigns does not know yet (their
    # `candidate.created` still on its way); the preparation waits a little for them.
    awaiting_recipients: int = 0
    materialized: bool = False
    test_ends_at: datetime | None = None
    winner: str | None = None
    winner_decided_at: datetime | None = None
    stats: dict[str, Any] = Field(default_factory=dict)
    version: int = 1


class Block(BaseModel):
    """A reusable piece of a template (employer-branding footer, signature), per tenant."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    tenant_id: str
    key: str
    name: str
    html: str
    text: str
    created_by: str
    updated_at: datetime = Field(default_factory=utc_now)
