"""Payload models, one per topic.

These are a public contract: change them backward compatibly, or give the topic a new version.
Consumers ignore fields they do not know, so adding an optional field is compatible.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class WorkPreferences(_Payload):
    """How and where a candidate wants to work."""

    arrangements: list[Literal["remote", "hybrid", "onsite"]] = Field(default_factory=list)
    open_to_relocation: bool | None = None
    relocation_locations: list[str] = Field(default_factory=list)


class PoolPlacement(_Payload):
    """The stage a candidate is at in one talent pool."""

    pool_id: str
    stage: str


class CandidateProfile(_Payload):
    """The full current profile of a candidate, as carried by candidate events."""

    candidate_id: str = Field(description="The candidate's id in the candidates service.")
    first_name: str
    last_name: str
    emails: list[str] = Field(description="Normalised (lower-cased) email addresses.")
    phones: list[str] = Field(default_factory=list, description="Phone numbers in E.164.")
    headline: str | None = None
    current_title: str | None = None
    current_company: str | None = None
    location: str | None = None
    skills: list[str] = Field(default_factory=list, description="Normalised (lower-cased) skills.")
    tags: list[str] = Field(default_factory=list)
    source: str = Field(description="How the candidate entered the CRM, e.g. `sourced`.")
    owner_id: str | None = Field(default=None, description="The recruiter who owns the candidate.")
    marketing_consent: bool = Field(
        default=False, description="Whether the candidate agreed to receive marketing messages."
    )
    time_zone: str | None = Field(
        default=None, description="IANA time zone, e.g. `Europe/Berlin`, for local-time sends."
    )
    locale: str | None = Field(default=None, description="Preferred language, e.g. `en`.")
    profile_urls: list[str] = Field(
        default_factory=list, description="Canonical social and portfolio profile URLs."
    )
    seniority: str | None = None
    custom_fields: dict[str, Any] = Field(
        default_factory=dict, description="Tenant-defined custom field values by field key."
    )
    desired_roles: list[str] = Field(default_factory=list)
    work_preferences: WorkPreferences | None = None
    pools: list[PoolPlacement] = Field(
        default_factory=list, description="The talent pools the candidate is in, with the stage."
    )
    status: Literal["active", "archived", "merged"] = Field(
        default="active",
        description="`active` for a live person; an `archived` record (restorable) and a "
        "`merged` one get no marketing mail (added in v1, optional).",
    )


class CandidateCreated(CandidateProfile):
    """A candidate record was created in the candidates service."""


class CandidateUpdated(CandidateProfile):
    """A candidate's profile changed; carries the whole profile after the change."""


class SegmentMembership(_Payload):
    """A candidate's membership of a dynamic segment changed."""

    segment_id: str
    segment_name: str
    candidate_id: str


class SegmentEntered(SegmentMembership):
    """A candidate started matching a segment's rule."""


class SegmentExited(SegmentMembership):
    """A candidate stopped matching a segment's rule."""


class MessageSent(_Payload):
    """A message left for a candidate through a delivery channel."""

    message_id: str
    candidate_id: str
    channel: str = Field(default="email")
    template_id: str
    subject: str
    sequence_id: str | None = None
    enrolment_id: str | None = None
    broadcast_id: str | None = None
    variant: str | None = Field(default=None, description="A/B test variant, e.g. `A`.")
    step_index: int | None = Field(
        default=None,
        description="The sequence step that sent it (0-based, its place in the sequence when "
        "it sent), for a sequence's message (added in v1, optional).",
    )
    step_label: str | None = Field(
        default=None,
        description="That step's label, if it has one (added in v1, optional).",
    )


class MessageOpened(_Payload):
    """A candidate's mail client loaded a message's tracking pixel."""

    message_id: str
    candidate_id: str
    automated: bool = Field(
        default=False, description="True when the open came from a known prefetcher or bot."
    )


class MessageClicked(_Payload):
    """A candidate followed a tracked link of a message."""

    message_id: str
    candidate_id: str
    link_index: int
    url: str
    automated: bool = Field(
        default=False,
        description="True when a link scanner, not a person, followed the link (not engagement).",
    )


class RegistrationAnswer(_Payload):
    """A registrant's answer to one of the event's registration questions."""

    question_id: str
    label: str = Field(description="The question as the registrant saw it.")
    kind: Literal["text", "choice", "yes_no", "consent"]
    value: str | bool = Field(
        description="Text or the chosen option; true or false for yes/no; true for a ticked "
        "consent (an unticked one is not an answer)."
    )
    purpose: str | None = Field(
        default=None, description="What a consent covers: `marketing`, `talent_community`."
    )


class _InSession(_Payload):
    """The session (time slot) of an event with sessions a registration is for."""

    session_id: str | None = Field(
        default=None,
        description="The session (time slot) the registration is for; null for an event "
        "without sessions, and for walk-ins.",
    )
    session_name: str | None = Field(default=None, description="The session's name.")
    event_starts_at: datetime | None = Field(
        default=None,
        description="When the event itself starts (UTC), whichever session the registration "
        "is for; a payload's `starts_at` is the registrant's session's start where they chose "
        "one (added in v1, optional).",
    )


class EventRegistered(_InSession):
    """Somebody registered for a recruiting event."""

    event_id: str
    event_name: str
    registration_id: str
    candidate_id: str | None = Field(
        default=None, description="The matched candidate; null when the registrant is new."
    )
    email: str
    first_name: str
    last_name: str
    registered_at: datetime
    manage_url: str | None = Field(
        default=None,
        description="The registrant's signed link: their registration, and `POST <link>/cancel` "
        "to cancel it; absent in events published before it existed.",
    )
    manage_page_url: str | None = Field(
        default=None,
        description="The registrant's own page (HTML, no login) showing the registration with a "
        "button to cancel it: the link for people (added in v1, optional).",
    )
    invitation_url: str | None = Field(
        default=None,
        description="The registration's calendar invitation (`.ics`), through the signed link.",
    )
    walk_in: bool = Field(
        default=False,
        description="Registered at the door (a walk-in, or somebody who had cancelled and came "
        "after all): nobody mails them a confirmation.",
    )
    promoted: bool = Field(
        default=False,
        description="Given a seat that came free, from the waitlist (added in v1, optional): "
        "the confirmation says so.",
    )
    starts_at: datetime | None = Field(
        default=None,
        description="When the registrant's session starts where they chose one, else when "
        "the event starts (UTC); the event's own start is `event_starts_at`.",
    )
    ends_at: datetime | None = None
    time_zone: str | None = Field(default=None, description="The event's IANA time zone.")
    location: str | None = Field(default=None, description="The venue, if any.")
    join_url: str | None = Field(default=None, description="Where to join online, if anywhere.")
    invitation_ics: str | None = Field(
        default=None,
        description="The registration's calendar invitation (iCalendar text) as it was when "
        "the registration committed; absent in events published before it existed.",
    )
    answers: list[RegistrationAnswer] = Field(
        default_factory=list,
        description="The answers to the event's registration questions (added in v1, "
        "optional). A ticked consent is not yet a consent: the candidates service mails the "
        "registrant a link to confirm it (double opt-in) and records it in the ledger then.",
    )
    code: str | None = Field(
        default=None,
        description="The registration's code for the door (8 letters and digits); absent in "
        "events published before it was carried.",
    )
    check_in_url: str | None = Field(
        default=None,
        description="The console's check-in page of the event with this registration's code "
        "filled in (staff must be signed in): what the confirmation's QR code encodes.",
    )


class EventWaitlisted(_InSession):
    """Somebody registered for a full recruiting event and joined its waitlist: no seat yet,
    so no invitation; `event.registered` follows if a seat comes free."""

    event_id: str
    event_name: str
    registration_id: str
    candidate_id: str | None = Field(
        default=None, description="The matched candidate; null when the registrant is new."
    )
    email: str
    first_name: str
    last_name: str
    registered_at: datetime = Field(description="When they joined the waitlist.")
    manage_url: str | None = Field(
        default=None, description="The registrant's signed link, to see or cancel it."
    )
    manage_page_url: str | None = Field(
        default=None,
        description="The registrant's own page (HTML, no login) showing the registration with a "
        "button to cancel it: the link for people (added in v1, optional).",
    )
    starts_at: datetime | None = Field(
        default=None,
        description="When the registrant's session starts where they chose one, else when "
        "the event starts (UTC); the event's own start is `event_starts_at`.",
    )
    ends_at: datetime | None = None
    time_zone: str | None = Field(default=None, description="The event's IANA time zone.")
    location: str | None = Field(default=None, description="The venue, if any.")
    answers: list[RegistrationAnswer] = Field(
        default_factory=list,
        description="The answers to the event's registration questions, as on "
        "`event.registered` (added in v1, optional).",
    )


class EventTimeAndPlace(_Payload):
    """When and where a registrant's event (or session) takes place; times are UTC, shown in
    the event's `time_zone`."""

    starts_at: datetime
    ends_at: datetime | None = None
    location: str | None = None
    join_url: str | None = None


class EventInvitationChanged(_InSession):
    """A registrant's calendar invitation changed: their event moved (its time or venue) or
    was cancelled. One per registrant not cancelled, carrying the new copy of the invitation
    (same UID, higher SEQUENCE; METHOD:CANCEL for a cancellation)."""

    event_id: str
    event_name: str
    registration_id: str
    candidate_id: str | None = None
    email: str
    first_name: str
    last_name: str
    change: Literal["updated", "cancelled"]
    changed_fields: list[str] = Field(
        default_factory=list,
        description="For `updated`: which of starts_at, ends_at, location, join_url changed.",
    )
    starts_at: datetime
    ends_at: datetime | None = None
    time_zone: str
    location: str | None = None
    join_url: str | None = None
    cancellation_reason: str | None = None
    sequence: int = Field(ge=0, description="The invitation's SEQUENCE.")
    invitation_ics: str = Field(description="The new copy of the invitation (iCalendar text).")
    manage_url: str | None = None
    manage_page_url: str | None = Field(
        default=None,
        description="The registrant's own page (HTML, no login) showing the registration with a "
        "button to cancel it: the link for people (added in v1, optional).",
    )
    invitation_url: str | None = None
    occurred_at: datetime
    notify_registrant: bool = Field(
        default=True,
        description="False when the organiser edited the event without telling registrants "
        "(a typo, a past event put on its real date): no mail goes out; the new details are "
        "for the record (added in v1, optional).",
    )
    previous: EventTimeAndPlace | None = Field(
        default=None,
        description="For `updated`: the registrant's time and place before the edit, so the "
        "notice can say what changed, old against new; null for a cancellation and from "
        "producers that predate it (added in v1, optional).",
    )
    waitlisted: bool = Field(
        default=False,
        description="The registrant holds no seat, only a place on the waitlist: the notice "
        "says so and carries no calendar invitation (they never got one); `invitation_ics` is "
        "the tentative copy, for the record (added in v1, optional).",
    )


class EventReminderRequested(_InSession):
    """A registrant is due a reminder of their event (sent once per reminder and registrant;
    campaigns mails it with the current invitation)."""

    event_id: str
    event_name: str
    registration_id: str
    candidate_id: str | None = None
    email: str
    first_name: str
    last_name: str
    minutes_before: int = Field(ge=1, description="Which reminder: minutes before the start.")
    starts_at: datetime
    ends_at: datetime | None = None
    time_zone: str
    location: str | None = None
    join_url: str | None = None
    manage_url: str | None = None
    manage_page_url: str | None = Field(
        default=None,
        description="The registrant's own page (HTML, no login) showing the registration with a "
        "button to cancel it: the link for people (added in v1, optional).",
    )
    invitation_url: str | None = None
    invitation_ics: str = Field(description="The invitation as it is now (iCalendar text).")
    sequence: int = Field(ge=0, description="The invitation's SEQUENCE.")


class EventOutcome(_InSession):
    """What a completed event's outcome topics carry for one registration."""

    tenant_id: str
    event_id: str
    event_name: str
    registration_id: str
    candidate_id: str
    email: str
    occurred_at: datetime = Field(description="When the event was completed.")


class EventAttended(EventOutcome):
    """A completed event's registrant (or walk-in) was checked in."""

    checked_in_at: datetime
    walk_in: bool = False


class EventNoShow(EventOutcome):
    """A completed event's registrant held a seat but was never checked in."""


class EventRegistrationCancelled(_InSession):
    """A registration was cancelled: by the registrant through their signed link, or by a
    coordinator on their behalf. Its seat (if it held one) goes to the waitlist."""

    event_id: str
    event_name: str
    registration_id: str
    candidate_id: str | None = None
    email: str
    cancelled_at: datetime
    held: Literal["seat", "waitlist"] = Field(
        description="What the registration held when it was cancelled: a seat, or a place on "
        "the waitlist."
    )


class EventRegistrationPromoted(_InSession):
    """A waitlisted registrant got a seat: somebody cancelled, or the capacity grew."""

    event_id: str
    event_name: str
    registration_id: str
    candidate_id: str | None = None
    email: str
    first_name: str
    last_name: str
    registered_at: datetime = Field(description="When they joined the waitlist.")
    promoted_at: datetime
    reason: Literal["cancellation", "capacity"]
    manage_url: str | None = None
    manage_page_url: str | None = Field(
        default=None,
        description="The registrant's own page (HTML, no login) showing the registration with a "
        "button to cancel it: the link for people (added in v1, optional).",
    )
    invitation_url: str | None = None


class AtsApplicationCreated(_Payload):
    """An application was created in the applicant tracking system."""

    provider: str = Field(description="The ATS, e.g. `greenhouse`.")
    connection_id: str
    ats_application_id: str
    ats_candidate_id: str
    candidate_id: str | None = Field(
        default=None, description="The matched CRM candidate; null when nobody matched."
    )
    email: str | None = None
    job_name: str | None = None
    applied_at: datetime | None = None
    stage: str | None = Field(
        default=None, description="The stage the application starts in (added in v1, optional)."
    )
    prospect: bool = Field(
        default=False,
        description="A prospect: in the ATS, but with no application for a job yet (a sourced "
        "person); added in v1, optional.",
    )
    first_name: str | None = Field(
        default=None,
        description="The person's first name as the ATS has it (the candidates service creates "
        "a candidate from it for a person nobody knew); added in v1, optional.",
    )
    last_name: str | None = Field(
        default=None, description="The person's last name as the ATS has it; added in v1."
    )


class AtsCandidatePushed(_Payload):
    """A CRM candidate was created in a connected ATS, as a prospect or an application."""

    provider: str = Field(description="The ATS, e.g. `greenhouse`.")
    connection_id: str
    candidate_id: str = Field(description="The CRM candidate that was pushed.")
    ats_candidate_id: str = Field(description="The ATS's id for the person.")
    ats_application_id: str | None = Field(
        default=None,
        description="The ATS's id for the application (or prospect record); null when the ATS "
        "did not answer it.",
    )
    ats_job_id: str | None = Field(
        default=None, description="The ATS job applied for; null for a prospect."
    )
    pushed_at: datetime


class CandidateMerged(_Payload):
    """Two candidate records were found to be one person and merged into the survivor.

    Every service re-keys what it holds under `merged_candidate_id` to `survivor_candidate_id`.
    """

    merge_id: str = Field(description="Id of the merge; an undo refers to it.")
    survivor_candidate_id: str
    merged_candidate_id: str = Field(description="The record folded into the survivor.")
    survivor: CandidateProfile = Field(description="The survivor's profile after the merge.")


class CandidateUnmerged(_Payload):
    """A merge was undone: the merged record exists again with its own profile."""

    merge_id: str
    survivor_candidate_id: str
    restored_candidate_id: str
    survivor: CandidateProfile = Field(description="The survivor's profile after the undo.")
    restored: CandidateProfile = Field(description="The restored record's profile.")


class CandidateErased(_Payload):
    """A person was erased (GDPR article 17): every service deletes or anonymises their data.

    The payload carries no personal data itself: emails are given as SHA-256 hex digests of the
    normalised (lower-cased, trimmed) address so services holding records by email can find them.
    """

    candidate_id: str
    email_sha256: list[str] = Field(default_factory=list)
    erased_at: datetime


class ConsentChanged(_Payload):
    """A candidate's consent for one purpose was granted, withdrawn or lapsed."""

    candidate_id: str
    purpose: str = Field(description="What the consent covers, e.g. `marketing`.")
    status: Literal["granted", "withdrawn", "expired"]
    lawful_basis: str = Field(description="E.g. `consent`, `legitimate_interest`.")
    source: str = Field(description="Where the change came from, e.g. `preference_centre`.")
    expires_at: datetime | None = None
    marketing_consent: bool = Field(description="Marketing consent state after the change.")
    message_id: str | None = Field(
        default=None, description="The message whose unsubscribe link caused the change, if any."
    )


class ConsentConfirmationRequested(_Payload):
    """The candidates service asks campaigns to mail a consent confirmation link.

    `reason` is `double_opt_in` for a talent-community sign-up and `re_permission` before a
    consent expires.
    """

    candidate_id: str = Field(
        description="The candidate the consent is for. For a sign-up of an address the tenant "
        "does not know yet, the id the candidate will get once the link is used: until then "
        "no such candidate exists."
    )
    email: str
    first_name: str
    purpose: str
    reason: Literal["double_opt_in", "re_permission"]
    confirm_url: str = Field(description="The signed link that confirms the consent.")
    expires_at: datetime | None = None
    locale: str | None = Field(
        default=None,
        description="The person's language (`de-CH`), when known: the profile's locale, or for "
        "a sign-up the form's `locale` else the browser's first accepted language. The mail "
        "is written in it where campaigns writes that language (English otherwise); added in "
        "v1, optional.",
    )


class UserInvited(_Payload):
    """A tenant admin (or the platform operator) invited a person to the tenant's team: the
    gateway asks campaigns to mail the invitation. One event per invitation; inviting a removed
    member again is a new invitation (a new `invitation_id`)."""

    invitation_id: str = Field(
        description="Names this invitation; the mail is sent once per invitation id."
    )
    user_id: str = Field(description="The invited person's user id in the gateway.")
    email: str = Field(description="The invited address, which the person signs in with.")
    name: str = Field(default="", description="The person's display name, if known.")
    roles: list[str] = Field(description="The roles the person will hold, sorted.")
    invited_by_user_id: str | None = Field(
        default=None, description="Who invited them; null for the platform operator."
    )
    invited_by_name: str = Field(
        default="", description="The inviter's display name; empty when it is not known."
    )
    tenant_name: str = Field(description="The tenant's display name.")
    sign_in_url: str = Field(
        description="Where the person signs in: the console's sign-in page for the tenant."
    )
    invited_at: datetime


class CandidateChangeRequested(_Payload):
    """Another service (e.g. a nurture sequence step) asks the candidates service for a change."""

    candidate_id: str
    add_tags: list[str] = Field(default_factory=list)
    remove_tags: list[str] = Field(default_factory=list)
    pool_id: str | None = Field(default=None, description="Pool to move the candidate in.")
    stage: str | None = Field(default=None, description="Target stage in `pool_id`.")
    requested_by: str = Field(description="Who asked, e.g. `sequence:<id>`.")
    enrolment_id: str | None = Field(
        default=None,
        description="The sequence enrolment whose step asks, if one does; a refusal "
        "(`candidate.change_refused`) names it again. Added in v1, optional.",
    )
    step: int | None = Field(
        default=None,
        description="The index of that step in its sequence; named again by a refusal. Added in "
        "v1, optional.",
    )


class CandidateChangeRefused(_Payload):
    """A `candidate.change_requested` that could not be made, so none of it was: the candidate,
    the pool or the stage it names is not (or no longer) in the tenant. Whoever asked records
    why where its users look (a sequence, on the enrolment whose step asked)."""

    request_id: str = Field(description="The id of the refused `candidate.change_requested`.")
    candidate_id: str = Field(description="The candidate as the request named them.")
    requested_by: str = Field(description="As in the request, e.g. `sequence:<id>`.")
    enrolment_id: str | None = Field(default=None, description="As in the request.")
    step: int | None = Field(default=None, description="As in the request.")
    pool_id: str | None = Field(default=None, description="As in the request.")
    stage: str | None = Field(default=None, description="As in the request.")
    reason: str = Field(
        description="Why, in words for a recruiter, e.g. `'Ofer' is not a stage of pool "
        "'Engineering': Sourced, Contacted, Offer`."
    )
    refused_at: datetime


class PoolStageChanged(_Payload):
    """A candidate was added to a talent pool, moved between its stages, or removed."""

    pool_id: str
    pool_name: str
    candidate_id: str
    from_stage: str | None = Field(default=None, description="Null when newly added.")
    to_stage: str | None = Field(default=None, description="Null when removed from the pool.")
    moved_by: str = Field(description="A user id, or `sequence:<id>` for automation.")
    moved_at: datetime


class PoolSaved(_Payload):
    """A talent pool was created or changed (its name, its stages): the whole definition each
    time, so a consumer keeps the one with the highest `version`."""

    pool_id: str
    name: str
    stages: list[str] = Field(description="The pool's stages, in order, as it spells them.")
    version: int = Field(description="Counts the pool's changes; a higher one is later.")
    saved_at: datetime


class PoolStageRenamed(_Payload):
    """A talent pool's stage was renamed; whatever refers to the stage by name follows."""

    pool_id: str
    pool_name: str
    from_stage: str = Field(description="The stage's name before, as moves until now carried it.")
    to_stage: str = Field(description="The stage's name from now on.")
    renamed_by: str
    renamed_at: datetime = Field(
        description="Moves stamped before this carry the old name; map them to the new one."
    )


class CustomFieldChanged(_Payload):
    """A tenant's custom field was defined, edited, deleted or restored; carries its whole
    definition after the change, so a service that merges custom fields (campaigns' templates)
    knows which keys exist and what type their values are."""

    key: str = Field(description="The field's key, as candidate profiles' `custom_fields` use it.")
    label: str
    type: Literal["string", "number", "boolean", "date", "enum", "multi_enum"]
    allowed_values: list[str] = Field(
        default_factory=list, description="The choices of an `enum` or `multi_enum` field."
    )
    deleted: bool = Field(
        default=False,
        description="Deleted: it takes no new values; what candidates hold stays on them.",
    )
    changed_at: datetime = Field(
        description="When the definition changed: an older change consumed later is ignored."
    )


class CandidateCustomFieldsBackfilled(_Payload):
    """The custom field values a candidate held before campaigns kept them from profile events
    (December 2026), sent once per candidate by the candidates service's migration 10. Not a
    change: a projection fills them only where it never learnt the candidate's custom fields,
    so a newer profile event (which carries them) is never undone, whichever comes first."""

    candidate_id: str
    custom_fields: dict[str, Any] = Field(
        description="Tenant-defined custom field values by field key, as profile events carry them."
    )


class ListMembership(_Payload):
    """A candidate's membership of a stored static list."""

    list_id: str
    list_name: str
    candidate_id: str
    changed_by: str = Field(description="The user id who added or removed the candidate.")
    changed_at: datetime


class ListMemberAdded(ListMembership):
    """A candidate was added to a stored static list."""


class ListMemberRemoved(ListMembership):
    """A candidate was taken out of a stored static list."""


class ListArchived(_Payload):
    """A stored static list was archived: its members are frozen, broadcasts to it not sent."""

    list_id: str
    list_name: str
    archived_by: str
    archived_at: datetime


class EngagementScored(_Payload):
    """The analytics service recomputed a candidate's engagement score."""

    candidate_id: str
    score: float = Field(description="Decayed engagement score, 0 when nothing happened.")
    last_activity_at: datetime | None = None
    contributions: dict[str, float] = Field(
        default_factory=dict, description="Score contributed by each kind of activity."
    )


class MessageBounced(_Payload):
    """A message could not be delivered; a hard bounce suppresses the address."""

    message_id: str
    candidate_id: str
    bounce_type: Literal["hard", "soft"]
    reason: str
    source: str = Field(description="`dsn` or the provider webhook that reported it.")


class MessageComplained(_Payload):
    """The recipient reported a message as spam (a feedback loop); the address is suppressed."""

    message_id: str
    candidate_id: str
    feedback_type: str = Field(description="The report's feedback type (`abuse`, ...).")
    source: str = Field(description="The provider that reported it: `postmark`, `ses`.")


class MessageReplied(_Payload):
    """A candidate replied to a message."""

    message_id: str
    candidate_id: str
    received_at: datetime
    sequence_id: str | None = None
    enrolment_id: str | None = None


class EventCheckedIn(_InSession):
    """A registrant (or a walk-in) attended a recruiting event."""

    event_id: str
    event_name: str
    registration_id: str
    candidate_id: str | None = None
    email: str
    checked_in_at: datetime
    walk_in: bool = False


class AtsApplicationChange(_Payload):
    """What every change of an ATS application carries."""

    provider: str
    connection_id: str
    ats_application_id: str
    ats_candidate_id: str
    candidate_id: str | None = None
    email: str | None = None
    job_name: str | None = None
    stage: str | None = Field(default=None, description="The stage the application is in now.")
    occurred_at: datetime
    first_name: str | None = Field(
        default=None,
        description="The person's first name as the ATS has it, where it said (the candidates "
        "service creates a candidate from it for a person nobody knew); added in v1, optional.",
    )
    last_name: str | None = Field(
        default=None, description="The person's last name as the ATS has it; added in v1."
    )


class AtsApplicationStageChanged(AtsApplicationChange):
    """An application moved to another stage in the ATS."""

    from_stage: str | None = None


class AtsApplicationRejected(AtsApplicationChange):
    """An application was rejected; `stage` is the furthest stage it reached (silver medalists)."""

    rejection_reason: str | None = None


class AtsApplicationHired(AtsApplicationChange):
    """The candidate was hired for the application's job."""


class JobChanged(_Payload):
    """A job of a connected ATS is new to the CRM or changed (name, status, departments or
    locations): its whole state after, so a consumer keeps the latest."""

    provider: str = Field(description="The ATS, e.g. `greenhouse`.")
    connection_id: str
    ats_job_id: str
    name: str
    status: Literal["open", "closed", "draft"]
    departments: list[str] = Field(default_factory=list)
    locations: list[str] = Field(default_factory=list)
    created: bool = Field(description="Whether the CRM saw the job for the first time.")
    changed_at: datetime | None = Field(
        default=None, description="When the ATS last changed the job; later states are higher."
    )


class PoolStageReference(_Payload):
    """A stage of a talent pool, as a sequence names it."""

    pool_id: str
    stage: str


class SequenceSaved(_Payload):
    """A nurture sequence was created, edited, paused, resumed or archived: its state after.

    Other services learn from it what a sequence depends on (the candidates service refuses to
    delete a segment a live sequence enrols from, or a pool stage it enrols at or moves to).
    """

    sequence_id: str
    name: str
    status: Literal["active", "paused", "archived"]
    version: int = Field(ge=1, description="Counts the sequence's edits; later saves are higher.")
    trigger_segment_ids: list[str] = Field(
        default_factory=list, description="Segments whose entrants the sequence enrols."
    )
    pool_stages: list[PoolStageReference] = Field(
        default_factory=list,
        description="Pool stages the sequence enrols at (its `pool_stage_reached` trigger) or "
        "moves candidates to (its `move_stage` steps); empty in events staged before "
        "2026-12-07.",
    )


class EnrolmentStarted(_Payload):
    """A candidate was enrolled in a nurture sequence (one entry of it)."""

    enrolment_id: str
    sequence_id: str
    sequence_name: str = Field(description="The sequence's name when the candidate entered it.")
    candidate_id: str
    entry: int = Field(ge=1, description="Which entry of the sequence (re-entry counts up).")
    enrolled_by: str | None = Field(
        default=None,
        description="What enrolled them: `user:<id>`, `segment:<id>`, `pool:<id>`, ... .",
    )
    enrolled_at: datetime


class EnrolmentEnded(_Payload):
    """A candidate's enrolment in a nurture sequence ended: it ran through its steps
    (`completed`) or ended early (`exited`, with the reason)."""

    enrolment_id: str
    sequence_id: str
    sequence_name: str = Field(
        description="The sequence's name when the enrolment ended (its id when the sequence is "
        "gone)."
    )
    candidate_id: str
    entry: int = Field(ge=1)
    outcome: Literal["completed", "exited"]
    exit_reason: str | None = Field(
        default=None,
        description="Why an `exited` enrolment ended: `replied`, `applied`, `hired`, "
        "`unsubscribed`, `removed`, `merged`, `sequence_archived`, or the lasting suppression "
        "of one of its mails (`no_marketing_consent`, `no_email_address`, `bounced`, "
        "`complained`, `erased`, `suppressed`); null when completed.",
    )
    exit_step: int | None = Field(
        default=None,
        description="The send step whose suppressed mail ended it (0-based), if that was why.",
    )
    enrolled_at: datetime
    ended_at: datetime


class MessageSuppressed(_Payload):
    """A message was not sent: a send rule stopped it right before delivery (no marketing
    consent, unsubscribed, a hard bounce, the frequency cap, ...). It is final: the message is
    never sent."""

    message_id: str
    candidate_id: str
    channel: str = Field(default="email")
    template_id: str
    subject: str
    reason: str = Field(
        description="Why it was not sent: `no_marketing_consent`, `no_email_address`, "
        "`unsubscribed`, `bounced`, `complained`, `erased`, `manual` (the address is on the "
        "suppression list by hand), `frequency_cap`, `archived` (the record was archived)."
    )
    broadcast_id: str | None = None
    broadcast_name: str | None = Field(
        default=None, description="The broadcast's name, for a broadcast's message."
    )
    variant: str | None = Field(
        default=None,
        description="The broadcast's A/B variant of the message (`A`, `B`), if it has a test "
        "(added in v1, optional).",
    )
    sequence_id: str | None = None
    sequence_name: str | None = Field(
        default=None, description="The sequence's name, for a sequence's message."
    )
    enrolment_id: str | None = None
    step_index: int | None = Field(
        default=None, description="The sequence's send step (0-based) that queued it."
    )
    step_label: str | None = None
    suppressed_at: datetime
