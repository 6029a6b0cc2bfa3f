"""The topic catalog: every topic on the bus, its payload model, key and partition count."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from crm_shared.contracts.events import (
    AtsApplicationCreated,
    AtsApplicationHired,
    AtsApplicationRejected,
    AtsApplicationStageChanged,
    AtsCandidatePushed,
    CandidateChangeRefused,
    CandidateChangeRequested,
    CandidateCreated,
    CandidateCustomFieldsBackfilled,
    CandidateErased,
    CandidateMerged,
    CandidateUnmerged,
    CandidateUpdated,
    ConsentChanged,
    ConsentConfirmationRequested,
    CustomFieldChanged,
    EngagementScored,
    EnrolmentEnded,
    EnrolmentStarted,
    EventAttended,
    EventCheckedIn,
    EventInvitationChanged,
    EventNoShow,
    EventRegistered,
    EventRegistrationCancelled,
    EventRegistrationPromoted,
    EventReminderRequested,
    EventWaitlisted,
    JobChanged,
    ListArchived,
    ListMemberAdded,
    ListMemberRemoved,
    MessageBounced,
    MessageClicked,
    MessageComplained,
    MessageOpened,
    MessageReplied,
    MessageSent,
    MessageSuppressed,
    PoolSaved,
    PoolStageChanged,
    PoolStageRenamed,
    SegmentEntered,
    SegmentExited,
    SequenceSaved,
    UserInvited,
)
from crm_shared.contracts.reports import ReportCompiled

DEAD_LETTER_SUFFIX = ".dlq"


@dataclass(frozen=True)
class TopicSpec:
    """One topic of the catalog."""

    name: str
    payload: type[BaseModel]
    schema_version: int
    key: str
    partitions: int
    description: str

    @property
    def dead_letter_topic(self) -> str:
        """Where messages that cannot be processed from this topic end up."""
        return self.name + DEAD_LETTER_SUFFIX


# Every event about a known candidate is keyed by candidate id so one person's events stay in
# order; an event about somebody not yet matched is keyed by their normalised email.
CANDIDATE_KEY = "candidate id"
CANDIDATE_OR_EMAIL_KEY = "candidate id, or the normalised email when no candidate is matched"

CANDIDATE_CREATED = TopicSpec(
    name="candidate.created",
    payload=CandidateCreated,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="A candidate was created (manually, by import or from another service).",
)
CANDIDATE_UPDATED = TopicSpec(
    name="candidate.updated",
    payload=CandidateUpdated,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="A candidate's profile changed; the payload is the whole profile after it.",
)
SEGMENT_ENTERED = TopicSpec(
    name="segment.entered",
    payload=SegmentEntered,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="A candidate started matching a dynamic segment.",
)
SEGMENT_EXITED = TopicSpec(
    name="segment.exited",
    payload=SegmentExited,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="A candidate stopped matching a dynamic segment.",
)
MESSAGE_SENT = TopicSpec(
    name="message.sent",
    payload=MessageSent,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="A message was handed to its delivery channel (SMTP).",
)
MESSAGE_OPENED = TopicSpec(
    name="message.opened",
    payload=MessageOpened,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="A message's tracking pixel was loaded.",
)
MESSAGE_CLICKED = TopicSpec(
    name="message.clicked",
    payload=MessageClicked,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="A tracked link of a message was followed.",
)
EVENT_REGISTERED = TopicSpec(
    name="event.registered",
    payload=EventRegistered,
    schema_version=1,
    key=CANDIDATE_OR_EMAIL_KEY,
    partitions=6,
    description="Somebody registered for a recruiting event.",
)
ATS_APPLICATION_CREATED = TopicSpec(
    name="ats.application_created",
    payload=AtsApplicationCreated,
    schema_version=1,
    key=CANDIDATE_OR_EMAIL_KEY,
    partitions=6,
    description="An application was created in a connected applicant tracking system.",
)

CANDIDATE_MERGED = TopicSpec(
    name="candidate.merged",
    payload=CandidateMerged,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="Two candidate records were merged; re-key what you hold to the survivor.",
)
CANDIDATE_UNMERGED = TopicSpec(
    name="candidate.unmerged",
    payload=CandidateUnmerged,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="A merge was undone; the restored record exists again.",
)
CANDIDATE_ERASED = TopicSpec(
    name="candidate.erased",
    payload=CandidateErased,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="A person was erased; delete or anonymise everything held on them.",
)
CANDIDATE_CHANGE_REQUESTED = TopicSpec(
    name="candidate.change_requested",
    payload=CandidateChangeRequested,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="Another service asks for a tag or pool-stage change of a candidate.",
)
CANDIDATE_CHANGE_REFUSED = TopicSpec(
    name="candidate.change_refused",
    payload=CandidateChangeRefused,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="A requested tag or pool-stage change named a candidate, pool or stage the "
    "tenant does not have; nothing of it was made.",
)
CONSENT_CHANGED = TopicSpec(
    name="consent.changed",
    payload=ConsentChanged,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="A candidate's consent for a purpose was granted, withdrawn or lapsed.",
)
CONSENT_CONFIRMATION_REQUESTED = TopicSpec(
    name="consent.confirmation_requested",
    payload=ConsentConfirmationRequested,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="A consent confirmation mail (double opt-in, re-permission) must be sent.",
)
USER_INVITED = TopicSpec(
    name="user.invited",
    payload=UserInvited,
    schema_version=1,
    key="user id",
    partitions=3,
    description="A person was invited to a tenant's team; campaigns mails the invitation.",
)
POOL_STAGE_CHANGED = TopicSpec(
    name="pool.stage_changed",
    payload=PoolStageChanged,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="A candidate was added to, moved within or removed from a talent pool.",
)
POOL_SAVED = TopicSpec(
    name="pool.saved",
    payload=PoolSaved,
    schema_version=1,
    key="pool id",
    partitions=3,
    description="A talent pool was created or changed; its name and stages as they are now.",
)
POOL_STAGE_RENAMED = TopicSpec(
    name="pool.stage_renamed",
    payload=PoolStageRenamed,
    schema_version=1,
    key="pool id",
    partitions=3,
    description="A talent pool's stage was renamed; members and references keep their place.",
)
CUSTOM_FIELD_CHANGED = TopicSpec(
    name="profile.custom_field_changed",
    payload=CustomFieldChanged,
    schema_version=1,
    key="custom field id",
    partitions=3,
    description="A custom field of candidates was defined, edited, deleted or restored.",
)
CANDIDATE_CUSTOM_FIELDS_BACKFILLED = TopicSpec(
    name="candidate.custom_fields_backfilled",
    payload=CandidateCustomFieldsBackfilled,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="Once per database: a candidate's custom field values as stored before "
    "campaigns kept them; fills a projection that never learnt them, changes nothing else.",
)
LIST_MEMBER_ADDED = TopicSpec(
    name="list.member_added",
    payload=ListMemberAdded,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="A candidate was added to a stored static list.",
)
LIST_MEMBER_REMOVED = TopicSpec(
    name="list.member_removed",
    payload=ListMemberRemoved,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="A candidate was taken out of a stored static list.",
)
LIST_ARCHIVED = TopicSpec(
    name="list.archived",
    payload=ListArchived,
    schema_version=1,
    key="list id",
    partitions=3,
    description="A stored static list was archived; broadcasts to it are no longer sent.",
)
ENGAGEMENT_SCORED = TopicSpec(
    name="engagement.scored",
    payload=EngagementScored,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="A candidate's engagement score was recomputed.",
)
MESSAGE_BOUNCED = TopicSpec(
    name="message.bounced",
    payload=MessageBounced,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="A message bounced; a hard bounce suppresses the address.",
)
MESSAGE_REPLIED = TopicSpec(
    name="message.replied",
    payload=MessageReplied,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="A candidate replied to a message.",
)
MESSAGE_COMPLAINED = TopicSpec(
    name="message.complained",
    payload=MessageComplained,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="A recipient reported a message as spam; the address is suppressed.",
)
EVENT_CHECKED_IN = TopicSpec(
    name="event.checked_in",
    payload=EventCheckedIn,
    schema_version=1,
    key=CANDIDATE_OR_EMAIL_KEY,
    partitions=6,
    description="A registrant or walk-in attended a recruiting event.",
)
EVENT_REGISTRATION_PROMOTED = TopicSpec(
    name="event.registration_promoted",
    payload=EventRegistrationPromoted,
    schema_version=1,
    key=CANDIDATE_OR_EMAIL_KEY,
    partitions=6,
    description="A waitlisted registrant got a seat (a cancellation, or a larger capacity).",
)
EVENT_ATTENDED = TopicSpec(
    name="event.attended",
    payload=EventAttended,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="A completed event's registrant or walk-in was checked in (once per "
    "registration, when the event is completed or a late check-in to a completed event).",
)
EVENT_NO_SHOW = TopicSpec(
    name="event.no_show",
    payload=EventNoShow,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="A completed event's registrant held a seat but was never checked in "
    "(once per registration).",
)
EVENT_REGISTRATION_CANCELLED = TopicSpec(
    name="event.registration_cancelled",
    payload=EventRegistrationCancelled,
    schema_version=1,
    key=CANDIDATE_OR_EMAIL_KEY,
    partitions=6,
    description="A registration (a seat or a place on the waitlist) was cancelled, by the "
    "registrant's link or by a coordinator.",
)
EVENT_INVITATION_CHANGED = TopicSpec(
    name="event.invitation_changed",
    payload=EventInvitationChanged,
    schema_version=1,
    key=CANDIDATE_OR_EMAIL_KEY,
    partitions=6,
    description="A registrant's calendar invitation changed: the event moved (time, venue) or "
    "was cancelled; carries the new copy.",
)
EVENT_REMINDER_REQUESTED = TopicSpec(
    name="event.reminder_requested",
    payload=EventReminderRequested,
    schema_version=1,
    key=CANDIDATE_OR_EMAIL_KEY,
    partitions=6,
    description="A registrant is due a reminder of their event (24 h, 1 h before, ...); "
    "campaigns mails it.",
)
EVENT_WAITLISTED = TopicSpec(
    name="event.waitlisted",
    payload=EventWaitlisted,
    schema_version=1,
    key=CANDIDATE_OR_EMAIL_KEY,
    partitions=6,
    description="Somebody registered for a full recruiting event and joined its waitlist "
    "(campaigns mails them that their place is not confirmed).",
)
ATS_APPLICATION_STAGE_CHANGED = TopicSpec(
    name="ats.application_stage_changed",
    payload=AtsApplicationStageChanged,
    schema_version=1,
    key=CANDIDATE_OR_EMAIL_KEY,
    partitions=6,
    description="An application moved to another stage in a connected ATS.",
)
ATS_APPLICATION_REJECTED = TopicSpec(
    name="ats.application_rejected",
    payload=AtsApplicationRejected,
    schema_version=1,
    key=CANDIDATE_OR_EMAIL_KEY,
    partitions=6,
    description="An application was rejected in a connected ATS.",
)
ATS_APPLICATION_HIRED = TopicSpec(
    name="ats.application_hired",
    payload=AtsApplicationHired,
    schema_version=1,
    key=CANDIDATE_OR_EMAIL_KEY,
    partitions=6,
    description="A candidate was hired through a connected ATS.",
)
JOB_CHANGED = TopicSpec(
    name="job.changed",
    payload=JobChanged,
    schema_version=1,
    key="connection id and ATS job id",
    partitions=3,
    description="A job of a connected ATS is new or changed (campaigns can promote open jobs).",
)
ATS_CANDIDATE_PUSHED = TopicSpec(
    name="ats.candidate_pushed",
    payload=AtsCandidatePushed,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="A CRM candidate was sent to a connected ATS (the candidates service shows the "
    "ATS's ids on the candidate).",
)

SEQUENCE_SAVED = TopicSpec(
    name="sequence.saved",
    payload=SequenceSaved,
    schema_version=1,
    key="sequence id",
    partitions=3,
    description="A nurture sequence was created, edited, paused, resumed or archived.",
)

ENROLMENT_STARTED = TopicSpec(
    name="enrolment.started",
    payload=EnrolmentStarted,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="A candidate was enrolled in a nurture sequence (the candidates service shows "
    "it in their timeline).",
)
ENROLMENT_ENDED = TopicSpec(
    name="enrolment.ended",
    payload=EnrolmentEnded,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="A candidate's enrolment in a nurture sequence completed or exited early, "
    "with the reason.",
)
MESSAGE_SUPPRESSED = TopicSpec(
    name="message.suppressed",
    payload=MessageSuppressed,
    schema_version=1,
    key=CANDIDATE_KEY,
    partitions=6,
    description="A message was not sent: a send rule (consent, suppression list, frequency "
    "cap, ...) stopped it for good, with the reason and its broadcast or sequence.",
)

REPORT_COMPILED = TopicSpec(
    name="report.compiled",
    payload=ReportCompiled,
    schema_version=1,
    key="tenant id",
    partitions=3,
    description="Analytics compiled a tenant's scheduled (weekly) report, rendered for its "
    "recipients.",
)

TOPICS: tuple[TopicSpec, ...] = (
    CANDIDATE_CREATED,
    CANDIDATE_UPDATED,
    SEGMENT_ENTERED,
    SEGMENT_EXITED,
    MESSAGE_SENT,
    MESSAGE_OPENED,
    MESSAGE_CLICKED,
    EVENT_REGISTERED,
    ATS_APPLICATION_CREATED,
    CANDIDATE_MERGED,
    CANDIDATE_UNMERGED,
    CANDIDATE_ERASED,
    CANDIDATE_CHANGE_REQUESTED,
    CANDIDATE_CHANGE_REFUSED,
    CONSENT_CHANGED,
    CONSENT_CONFIRMATION_REQUESTED,
    POOL_STAGE_CHANGED,
    POOL_SAVED,
    POOL_STAGE_RENAMED,
    LIST_MEMBER_ADDED,
    LIST_MEMBER_REMOVED,
    LIST_ARCHIVED,
    ENGAGEMENT_SCORED,
    MESSAGE_BOUNCED,
    MESSAGE_REPLIED,
    EVENT_CHECKED_IN,
    ATS_APPLICATION_STAGE_CHANGED,
    ATS_APPLICATION_REJECTED,
    ATS_APPLICATION_HIRED,
    SEQUENCE_SAVED,
    EVENT_REGISTRATION_PROMOTED,
    EVENT_ATTENDED,
    EVENT_NO_SHOW,
    EVENT_REGISTRATION_CANCELLED,
    EVENT_INVITATION_CHANGED,
    EVENT_REMINDER_REQUESTED,
    EVENT_WAITLISTED,
    JOB_CHANGED,
    ATS_CANDIDATE_PUSHED,
    MESSAGE_COMPLAINED,
    REPORT_COMPILED,
    CUSTOM_FIELD_CHANGED,
    CANDIDATE_CUSTOM_FIELDS_BACKFILLED,
    ENROLMENT_STARTED,
    ENROLMENT_ENDED,
    MESSAGE_SUPPRESSED,
    USER_INVITED,
)

_BY_NAME = {spec.name: spec for spec in TOPICS}


def topic_spec(name: str) -> TopicSpec:
    """The catalog entry of a topic; unknown names are a programming error."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"topic {name!r} is not in the catalog") from None


def all_topic_names() -> list[str]:
    """Every topic that must exist on the broker, dead-letter topics included."""
    names: list[str] = []
    for spec in TOPICS:
        names.extend((spec.name, spec.dead_letter_topic))
    return names
