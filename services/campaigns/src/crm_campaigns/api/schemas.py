"""Request and response schemas of the campaigns API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from crm_campaigns.domain.contact_policy import ContactPolicy, PolicyRelease
from crm_campaigns.domain.enrolments import paused_on_its_own
from crm_campaigns.domain.models import (
    DEFAULT_EXIT_ON,
    AbMetric,
    AbTest,
    AbVariant,
    Audience,
    BroadcastStatus,
    Enrolment,
    EnrolmentRefused,
    EnrolmentState,
    EnrolmentStatus,
    ExitReason,
    Message,
    MessageCategory,
    MessageStatus,
    Recipient,
    Reentry,
    Schedule,
    SendNow,
    Sequence,
    SequenceStatus,
    Step,
    Trigger,
    enrolment_state,
    failure_reason_of,
)
from crm_campaigns.domain.suppression import ListReason
from crm_shared import EveryFieldRequired, utc_now

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# A BCP 47 language tag as templates name their language: `en`, `fr`, `de-AT`.
LanguageTag = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, max_length=35, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$"
    ),
]
LANGUAGE_DESCRIPTION = (
    "The language the template is written in, a language tag (`en`, `fr`, `de-AT`). The "
    "unsubscribe footer added to its mail is in this language (English, French and German; "
    "English for any other); when absent, in the `lang` of the HTML's `<html>` element, else "
    "English."
)


class TemplateCreate(BaseModel):
    """A message template; merge fields are `{{ candidate.first_name | default("there") }}`."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    subject: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    html: Annotated[str, StringConstraints(min_length=1, max_length=200_000)]
    text: Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
    language: LanguageTag | None = Field(default=None, description=LANGUAGE_DESCRIPTION)


class TemplatePublic(BaseModel):
    id: str
    name: str
    subject: str
    html: str
    text: str
    language: str | None = Field(description=LANGUAGE_DESCRIPTION)
    created_by: str
    created_at: datetime
    version: int = Field(description="Counts edits; its `ETag` is the version, for `If-Match`.")
    updated_at: datetime | None
    archived_at: datetime | None = Field(
        description="When it was archived (`DELETE`): sent messages keep naming it, nothing new "
        "may use it."
    )


class TemplateUserPublic(BaseModel):
    kind: Literal["broadcast", "sequence"]
    id: str
    name: str
    status: str
    detail: str = Field(description="What of it is rendered from the template from now on.")


class TemplateInUse(TemplatePublic):
    """One template (read, or just replaced) and who sends its current version from now on."""

    sends_this_version: list[TemplateUserPublic] = Field(
        description="The unfinished broadcasts and live sequences that render this template "
        "from now on, so send this version (and the next one saved); a broadcast part-way "
        "through (preparing, or an A/B test's rest awaiting the winner) goes out in two "
        "versions: what was rendered before a save keeps the old one. Empty when nothing does."
    )


class TemplatePreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    candidate_id: str


class TemplatePreview(BaseModel):
    subject: str
    html: str
    text: str


class TemplateDraftPreviewRequest(BaseModel):
    """Unsaved template parts (an editor's draft) to render for one candidate."""

    model_config = ConfigDict(extra="forbid")

    candidate_id: str
    subject: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    html: Annotated[str, StringConstraints(min_length=1, max_length=200_000)]
    text: Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
    language: LanguageTag | None = Field(default=None, description=LANGUAGE_DESCRIPTION)


class MergeFieldPublic(BaseModel):
    name: str = Field(description="e.g. `candidate.first_name`, `unsubscribe_url`, `blocks.footer`")
    description: str
    insert: str = Field(description="What to type in a template: `{{ candidate.first_name }}`.")


class MergeFieldCatalogue(BaseModel):
    """What a template may use: merge fields, the signed links, the tenant's blocks, filters."""

    fields: list[MergeFieldPublic]
    filters: list[str] = Field(
        description='Filters a merge field may go through, e.g. `default("there")`, `upper`.'
    )


class SequenceCreate(BaseModel):
    """A nurture sequence: who gets enrolled, the steps they go through, and what ends it.

    `trigger` and `steps` take the shapes shown in `SequencePublic`; they are checked as a
    whole (branch targets exist, every loop waits), and a 422 names each bad field as
    `trigger.<field>` or `steps.<i>.<field>`.
    """

    model_config = ConfigDict(extra="forbid")

    name: Name
    trigger: dict[str, Any] = Field(
        description="`segment_entered`, `pool_stage_reached`, `event_checked_in`, "
        "`event_attended`, `event_no_show`, "
        '`ats_rejected` or `manual`, e.g. `{"type": "segment_entered", "segment_id": ...}`.'
    )
    steps: list[Any] = Field(
        min_length=1,
        max_length=50,
        description="`send`, `wait`, `wait_until`, `branch`, `add_tag`, `remove_tag`, "
        "`move_stage` or `notify_owner` steps, run in order unless a branch says otherwise.",
    )
    reentry: Reentry = Field(default_factory=Reentry)
    exit_on: list[ExitReason] = Field(
        default_factory=lambda: list(DEFAULT_EXIT_ON),
        max_length=len(ExitReason),
        description="What ends an enrolment early; a recruiter can always remove a candidate.",
    )
    enrol_current_members: bool = Field(
        default=True,
        description="For a segment trigger: also enrol the candidates already in the segment, "
        "not only those entering it from now on.",
    )


class SequencePublic(BaseModel):
    id: str
    name: str
    trigger: Trigger
    steps: list[Step]
    reentry: Reentry
    exit_on: list[ExitReason]
    created_by: str
    created_at: datetime
    status: SequenceStatus
    version: int = Field(description="Counts edits; its `ETag` is the version, for `If-Match`.")
    updated_by: str | None
    updated_at: datetime | None


class SequenceUpdate(BaseModel):
    """An edit of a sequence: the fields given replace the sequence's (same shapes as on
    create). Enrolments in progress go on from their step index in the edited steps."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    trigger: dict[str, Any] | None = None
    steps: list[Any] | None = Field(default=None, min_length=1, max_length=50)
    reentry: Reentry | None = None
    exit_on: list[ExitReason] | None = Field(default=None, max_length=len(ExitReason))


class StepProblemPublic(BaseModel):
    step: int = Field(description="The step's index in the sequence.")
    reason: str = Field(description="Why it did nothing, in words.")
    at: datetime


class EnrolmentPublic(BaseModel):
    id: str
    sequence_id: str
    candidate_id: str
    entry: int
    status: EnrolmentStatus
    state: EnrolmentState = Field(
        description="`status` as a recruiter reads it: `active` enrolments are due now, "
        "`waiting` ones wait for a timer or for a branch's signal."
    )
    step_index: int
    step_count: int
    next_run_at: datetime | None
    awaiting_signal: bool
    exit_reason: ExitReason | None
    exit_step: int | None = Field(
        default=None,
        description="For an enrolment that exited because a send step's mail could not be sent "
        "(`exit_reason` `no_marketing_consent`, `no_email_address`, `unsubscribed`, `bounced`, "
        "`complained`, `erased` or `suppressed`): that send step's index. The message is in "
        "`GET /messages` as `suppressed`.",
    )
    failure_reason: str | None = Field(
        description="Why the enrolment failed at `step_index` (a failed enrolment waits for a "
        "retry: `POST .../enrolments/{candidate_id}/retry`)."
    )
    failed_at: datetime | None
    last_error: str | None = Field(
        description="The last unexpected error of the current step, while it is retried."
    )
    enrolled_by: str | None
    enrolled_at: datetime
    ended_at: datetime | None
    paused_by: str | None = Field(
        default=None,
        description="Who paused this enrolment on its own (`POST .../enrolments/{candidate_id}/"
        "pause`): it stays `paused` until resumed, whatever its sequence does. Null for an "
        "enrolment not paused, or paused only with its sequence.",
    )
    paused_at: datetime | None = None
    step_problems: list[StepProblemPublic] = Field(
        default_factory=list,
        description="Steps the enrolment went past that did nothing, oldest first (the latest "
        "20): the candidates service refused the change a tag or move-stage step asked for (a "
        "stage its pool does not have, a pool deleted since). The enrolment went on.",
    )

    @classmethod
    def of(cls, enrolment: Enrolment) -> EnrolmentPublic:
        state = enrolment_state(enrolment.status, enrolment.next_run_at, utc_now())
        held = paused_on_its_own(enrolment)
        return cls.model_validate(
            enrolment.model_dump()
            | {
                "state": state,
                "paused_by": enrolment.paused_by if held else None,
                "paused_at": enrolment.paused_at if held else None,
            }
        )


class EnrolmentListed(EnrolmentPublic):
    """An enrolment in a sequence's list, with the candidate's name (one read for the list)."""

    first_name: str | None = Field(
        description="The candidate's first name as campaigns knows it; null (with `last_name`) "
        "while campaigns has not learnt of the candidate yet, or after erasure."
    )
    last_name: str | None

    @classmethod
    def listed(cls, enrolment: Enrolment, recipient: Recipient | None) -> EnrolmentListed:
        public = EnrolmentPublic.of(enrolment)
        return cls.model_validate(
            public.model_dump()
            | {
                "first_name": recipient.first_name if recipient else None,
                "last_name": recipient.last_name if recipient else None,
            }
        )


class CandidateEnrolment(EnrolmentPublic):
    """One of a candidate's enrolments, with its sequence's name and status (one read for the
    page), so a profile needs no call per sequence."""

    sequence_name: str
    sequence_status: SequenceStatus = Field(
        description="`paused` holds every enrolment of the sequence; `archived` ended them."
    )
    step_label: str | None = Field(
        default=None, description="The label of the step at `step_index`, if it has one."
    )

    @classmethod
    def of_sequence(cls, enrolment: Enrolment, sequence: Sequence) -> CandidateEnrolment:
        step = (
            sequence.steps[enrolment.step_index]
            if 0 <= enrolment.step_index < len(sequence.steps)
            else None
        )
        return cls.model_validate(
            EnrolmentPublic.of(enrolment).model_dump()
            | {
                "sequence_name": sequence.name,
                "sequence_status": sequence.status,
                "step_label": getattr(step, "label", None),
            }
        )


class SequenceEnrolmentStates(BaseModel):
    """How many of a sequence's enrolments are in each state, and why those that failed did."""

    sequence_id: str
    states: dict[EnrolmentState, int]
    failure_reasons: dict[str, int]


CandidateId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class EnrolmentRequest(BaseModel):
    """Candidates a recruiter enrols by hand."""

    model_config = ConfigDict(extra="forbid")

    candidate_ids: list[CandidateId] = Field(min_length=1, max_length=500)


class RefusedEnrolment(BaseModel):
    candidate_id: str
    reason: EnrolmentRefused | str = Field(
        description="`already_active`, `reentry_not_allowed`, `reentry_too_soon`, `hired`, "
        "`applied` or `unsubscribed` (an exit condition of the sequence holds already), or "
        "`unknown_candidate` (not a candidate of this tenant, or not known to campaigns yet)."
    )


class EnrolmentOutcome(BaseModel):
    enrolled: list[EnrolmentPublic]
    refused: list[RefusedEnrolment]


class NotificationPublic(BaseModel):
    id: str
    kind: Literal["step", "reply"] = Field(
        description="`step`: a sequence's `notify_owner` step; `reply`: the candidate replied "
        "to `message_id` (the body is an excerpt of the reply)."
    )
    candidate_id: str
    sequence_id: str | None = Field(
        description="The sequence of the step, or of the message replied to (null for a "
        "broadcast's message)."
    )
    enrolment_id: str | None
    broadcast_id: str | None = Field(
        default=None, description="The broadcast of the message replied to."
    )
    message_id: str | None = Field(default=None, description="The message replied to.")
    title: str
    body: str
    created_at: datetime
    read_at: datetime | None


class ReplyPublic(BaseModel):
    received_at: datetime
    excerpt: str


class MessagePublic(BaseModel):
    id: str
    candidate_id: str
    template_id: str
    sequence_id: str | None
    enrolment_id: str | None
    to_email: str | None
    subject: str
    category: MessageCategory
    status: MessageStatus
    broadcast_id: str | None
    variant: str | None
    suppression_reason: str | None
    failure_reason: str | None = Field(
        description="Why a failed message failed: `render_failed`, `template_missing`, "
        "`delivery_failed` (SMTP; `last_error` has the server's answer), or `outcome_unknown` "
        "(the service stopped during its SMTP transaction: it may have been delivered, and is "
        "not sent again)."
    )
    last_error: str | None
    policy_reason: str | None = Field(
        description="Why the contact policy last deferred or skipped it (`quiet_hours`, "
        "`frequency_cap`)."
    )
    deferrals: int
    deferred_until: datetime | None
    attempts: int
    opens: int
    clicks: int
    automated_opens: int
    automated_clicks: int
    bounce_type: str | None
    bounce_reason: str | None
    bounced_at: datetime | None
    complained_at: datetime | None = Field(
        default=None, description="When the recipient reported it as spam (a feedback loop)."
    )
    complaint_type: str | None = Field(
        default=None, description="The feedback type of that report (`abuse`, ...)."
    )
    replied_at: datetime | None = Field(description="When the first reply came.")
    replies: list[ReplyPublic] = Field(
        default_factory=list,
        description="The latest replies (at most 5, oldest first), each with an excerpt of "
        "what the candidate wrote: the text part (or the HTML as text) without the quoted "
        "original and the signature, whitespace collapsed, at most 1,000 characters.",
    )
    created_at: datetime
    next_attempt_at: datetime | None = Field(
        description="When the message is due (its scheduled time, or its next retry)."
    )
    sent_at: datetime | None

    @classmethod
    def of(cls, message: Message) -> MessagePublic:
        failure_reason = failure_reason_of(message.status, message.failure_reason)
        return cls.model_validate(message.model_dump() | {"failure_reason": failure_reason})


class MessageListed(MessagePublic):
    """A message in a list, with its recipient's name and time zone (one read for the page)."""

    first_name: str | None = Field(
        description="The recipient's first name as campaigns knows it; null (with `last_name`) "
        "while campaigns has not learnt of the candidate, or after erasure."
    )
    last_name: str | None
    time_zone: str | None = Field(
        description="The recipient's own time zone (IANA), in which quiet hours and a "
        "broadcast's local send time are kept; null when the candidate has none (the contact "
        "policy's default zone applies) or is unknown."
    )

    @classmethod
    def listed(cls, message: Message, recipient: Recipient | None) -> MessageListed:
        public = MessagePublic.of(message)
        return cls.model_validate(
            public.model_dump()
            | {
                "first_name": recipient.first_name if recipient else None,
                "last_name": recipient.last_name if recipient else None,
                "time_zone": recipient.time_zone if recipient else None,
            }
        )


class BroadcastCreate(BaseModel):
    """A broadcast: a template to an audience, now, at a time or at each recipient's local
    time, optionally with an A/B subject test."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    template_id: str = Field(min_length=1)
    audience: Audience
    schedule: Schedule = Field(default_factory=SendNow)
    ab_test: AbTest | None = None


class VariantResultPublic(BaseModel):
    name: str
    subject: str
    messages: int
    sent: int
    delivered: int = Field(description="Messages sent with no bounce reported.")
    opened: int = Field(
        description="Delivered messages opened by a person (automated opens excluded; an open "
        "of a message that bounced later is not counted)."
    )
    clicked: int = Field(description="Delivered messages with a link followed by a person.")
    open_rate: float = Field(description="opened / delivered (0 when nothing was delivered).")
    click_rate: float = Field(description="clicked / delivered.")


class AbTestPublic(BaseModel):
    variants: list[AbVariant]
    test_percentage: int
    metric: AbMetric
    decide_after_minutes: int
    test_ends_at: datetime | None
    winner: str | None
    winner_decided_at: datetime | None
    results: list[VariantResultPublic]


class BroadcastProgress(BaseModel):
    audience_size: int = Field(
        description="Candidates in the snapshot taken at send (recorded when the preparation "
        "reads the audience, so also for a broadcast paused or cancelled while prepared)."
    )
    queued: int = Field(description="Messages queued so far (the A/B rest once decided).")
    awaiting_recipients: int = Field(
        default=0,
        description="While `preparing`: people of the audience the campaigns service does not "
        "know yet (just created, their profile still on its way). The broadcast waits up to "
        "3 minutes from its send for them; those still unknown then are skipped as "
        "`unknown_candidate`.",
    )
    awaiting_winner: int = Field(
        default=0,
        description="A/B broadcasts: people outside the test group, whose mail is made with "
        "the winning variant once the test is decided (`ab_test.test_ends_at`); 0 once it is.",
    )
    unprepared: int = Field(
        default=0,
        description="While the broadcast is prepared, or was paused during its preparation: "
        "people of the audience whose message is not made yet (a resume prepares them). "
        "Cancelled, they count under `cancelled`.",
    )
    pending: int = Field(description="Queued messages without an outcome yet.")
    sent: int
    failed: int
    failed_reasons: dict[str, int] = Field(
        description="Failed messages by reason: `render_failed` (the template cannot be "
        "rendered for the recipient), `delivery_failed` (SMTP refused it: each message's "
        "`last_error` says why), `outcome_unknown` (the service stopped during the message's "
        "SMTP transaction: it may have been delivered, and is not sent again)."
    )
    skipped: int
    skipped_reasons: dict[str, int]
    held: int = Field(description="Messages held while the broadcast is paused.")
    cancelled: int = Field(
        default=0,
        description="Messages that were not sent because the broadcast was cancelled, and the "
        "people without a message then: an A/B test's rest still waiting for the winner, and "
        "those a preparation had not reached yet.",
    )


class BroadcastPublic(BaseModel):
    id: str
    name: str
    template_id: str
    audience: Audience
    schedule: Schedule
    status: BroadcastStatus
    pause_reason: str | None
    created_by: str
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    progress: BroadcastProgress
    ab_test: AbTestPublic | None
    version: int = Field(description="Counts edits; its `ETag` is the version, for `If-Match`.")


BlockKey = Annotated[
    str, StringConstraints(min_length=1, max_length=60, pattern=r"^[a-z][a-z0-9_]*$")
]


class BlockCreate(BaseModel):
    """A reusable template block, included as `{{ blocks.<key> }}` in a template."""

    model_config = ConfigDict(extra="forbid")

    key: BlockKey
    name: Name
    html: Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
    text: Annotated[str, StringConstraints(min_length=1, max_length=50_000)]


class BlockUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    html: Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
    text: Annotated[str, StringConstraints(min_length=1, max_length=50_000)]


class BlockPublic(BaseModel):
    key: str
    name: str
    html: str
    text: str
    created_by: str
    updated_at: datetime


def _an_address(value: str) -> str:
    """Any string with an `@`: a suppression must take whatever address mail went to, so no
    stricter syntax than that; said in words, not as pydantic's "should match pattern '@'"."""
    if "@" not in value:
        raise PydanticCustomError("email", "not an e-mail address")
    return value


class SuppressionCreate(BaseModel):
    """Suppresses an address by hand (e.g. a person asked by phone never to be mailed)."""

    model_config = ConfigDict(extra="forbid")

    email: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=3, max_length=320),
        AfterValidator(_an_address),
    ]
    reason: Literal[ListReason.MANUAL, ListReason.UNSUBSCRIBED] = ListReason.MANUAL
    note: Annotated[str, StringConstraints(max_length=500)] | None = None


class SuppressionPublic(BaseModel):
    """One suppression: the address is only ever stored as its SHA-256."""

    id: str
    email_sha256: str
    reason: ListReason
    source: str
    candidate_id: str | None = Field(
        description="The candidate whose address it is: the one mail went to, or for an entry "
        "made by hand the one on file with the address when it was made."
    )
    candidate_name: str | None = Field(
        default=None,
        description="The candidate's name as campaigns knows it now; null when the entry names "
        "no candidate or the candidate is no longer on file (erased).",
    )
    message_id: str | None
    note: str | None
    created_at: datetime
    lifted_at: datetime | None = Field(
        default=None, description="When it was lifted (`DELETE`); null while it is listed."
    )
    lifted_by: str | None = Field(default=None, description="Who lifted it (`user:<id>`).")


class ContactPolicyPut(ContactPolicy, EveryFieldRequired):
    """`PUT /settings/contact-policy`'s body: the whole policy, every field given (null for no
    cap or no quiet hours); a field left out is a 422, not reset to its default."""


class ContactPolicyPublic(ContactPolicy):
    """The tenant's contact policy and how often it held messages back, by outcome and reason."""

    outcomes: dict[str, int] = Field(
        default_factory=dict, description="e.g. `defer.quiet_hours`, `skip.frequency_cap`."
    )
    release: PolicyRelease | None = Field(
        default=None,
        description="The latest re-evaluation of mail the policy held (quiet hours, the cap), "
        "started by a change of either; null if there never was one.",
    )


class InboundMailUrls(BaseModel):
    """Where to point the mail provider (the token in each URL is the tenant's credential)."""

    dsn_url: str = Field(description="POST a raw RFC 3464 delivery status notification here.")
    postmark_bounce_url: str = Field(description="Postmark bounce and spam complaint webhook URL.")
    postmark_inbound_url: str = Field(description="Postmark inbound (reply) webhook URL.")
    replies_url: str = Field(
        description="POST a reply as the mail server received it here: the raw mail "
        "(`message/rfc822`, e.g. an MTA piping it to curl), or a `multipart/form-data` post "
        "with the raw mail in its `email` field (SendGrid Inbound Parse, raw mode).",
    )
    ses_url: str = Field(
        description="HTTPS endpoint of an Amazon SNS subscription to the topic SES publishes "
        "bounce and complaint notifications to (signatures are verified, the subscription "
        "confirmed automatically)."
    )


class DkimRecordPublic(BaseModel):
    """The DKIM key the tenant's mail is signed with: where and what to publish in DNS."""

    domain: str
    selector: str
    dns_name: str = Field(
        description="Where the TXT record goes: `<selector>._domainkey.<domain>`."
    )
    dns_txt: str = Field(description="The TXT record's value (`v=DKIM1; k=rsa; p=<public key>`).")


class SenderAccountPublic(BaseModel):
    """The tenant's own mail server account (its password is never shown)."""

    host: str
    port: int
    security: str
    username: str
    rate_per_second: float


class SenderSettingsPublic(BaseModel):
    """How the tenant's mail goes out. The operator configures it (`TENANT_SENDERS`); the DKIM
    private key and the account's password are never returned."""

    own_sender: bool = Field(description="False: the tenant sends as the platform's sender.")
    sender: str = Field(description="The From address of the tenant's mail.")
    envelope_sender: str = Field(description="MAIL FROM, where bounces go.")
    dkim: DkimRecordPublic | None = Field(description="None: the tenant's mail is not signed here.")
    account: SenderAccountPublic | None = Field(
        description="None: the tenant's mail goes through the platform's mail server."
    )


class FeedbackResult(BaseModel):
    """What an inbound report did."""

    outcome: Literal[
        "bounced", "complained", "replied", "duplicate", "unmatched", "ignored", "subscribed"
    ]
    message_id: str | None = None
    bounce_type: str | None = None
    suppressed: bool = Field(
        default=False,
        description="Whether the address of the message named is on the suppression list (for "
        "any reason) once the report is applied; false when no message matched.",
    )
    detail: str | None = Field(
        default=None,
        description="Why nothing was recorded (`ignored`, `duplicate`, `unmatched`).",
    )
