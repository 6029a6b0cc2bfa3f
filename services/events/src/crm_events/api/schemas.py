"""Request and response schemas of the events API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
)

from crm_events.domain.models import (
    MAX_DOOR_UPLOAD,
    DoorCheckInOutcome,
    EventFormat,
    EventKind,
    EventStatus,
    Outcome,
    RecruitingEvent,
    RegistrationStatus,
    as_utc,
)
from crm_events.domain.questions import MAX_QUESTIONS, ConsentPurpose, QuestionKind
from crm_events.domain.sessions import MAX_SESSIONS
from crm_shared import MAX_SITE_ORIGINS, site_origin

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Venue = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
# An http(s) address, kept as given (a meeting link's query string matters to its service).
JoinUrl = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=2000, pattern=r"^https?://[^\s/?#]+\S*$"),
]
TimeZoneName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    Field(
        description="IANA time zone, e.g. `Europe/Berlin`; times without an offset are "
        "wall-clock times there.",
        examples=["Europe/Berlin"],
    ),
]
LocalOrAware = Annotated[
    datetime,
    Field(
        description="With an offset: that instant. Without one: wall-clock time in the "
        "event's `time_zone` (a time the clocks skip is refused)."
    ),
]


def _distinct_descending(minutes: list[int]) -> list[int]:
    return sorted(set(minutes), reverse=True)


Reminders = Annotated[
    list[Annotated[int, Field(ge=5, le=43_200)]],
    AfterValidator(_distinct_descending),
    Field(
        max_length=5,
        description="Reminders mailed to registrants, in minutes before the start (5 minutes "
        "to 30 days); `[]` sends none. Default `[1440, 60]`: 24 hours and 1 hour before.",
        examples=[[1440, 60]],
    ),
]
Organisers = Annotated[
    list[Annotated[str, StringConstraints(min_length=1, max_length=100)]],
    Field(max_length=20, description="User ids of the organisers; the creator if none."),
]


class QuestionSpec(BaseModel):
    """One question of the registration form."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(
        description="Names the answer (`answers.<id>`): 1 to 40 lower-case letters, digits "
        "and underscores, starting with a letter.",
        examples=["role_interest"],
    )
    label: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    kind: QuestionKind = Field(
        description="`text`, `choice` (one of `options`), `yes_no`, or `consent` (a box the "
        "registrant may tick; confirmed by a mailed link before it counts)."
    )
    required: bool = Field(default=False, description="Never for a `consent` question.")
    options: list[
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    ] = Field(default_factory=list, description="A `choice` question's 2 to 30 options.")
    purpose: ConsentPurpose | None = Field(
        default=None, description="What a `consent` question asks for."
    )
    help: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
        | None
    ) = Field(default=None, description="A line of help shown under the question.")


Questions = Annotated[
    list[QuestionSpec],
    Field(
        max_length=MAX_QUESTIONS,
        description="The registration form's own questions, asked after name and e-mail.",
    ),
]


class SessionSpec(BaseModel):
    """One session (time slot) of an event: registrants choose one."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(
        default=None,
        description="Names the session (`session_id` of a registration): 1 to 40 lower-case "
        "letters, digits, `-` and `_`. Omit it for a new session (it is named `slot-<n>`); "
        "keep it in an edit to keep the session and its registrants.",
        examples=["morning"],
    )
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    starts_at: LocalOrAware
    ends_at: LocalOrAware
    capacity: int = Field(
        ge=1, le=100_000, description="Seats in this session; the event's capacity bounds all."
    )


Sessions = Annotated[
    list[SessionSpec],
    Field(
        max_length=MAX_SESSIONS,
        description="Sessions (time slots) within the event's time; a registrant chooses one. "
        "An event with sessions needs an `ends_at`.",
    ),
]


class EventCreate(BaseModel):
    """A recruiting event."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    kind: EventKind
    format: EventFormat = EventFormat.IN_PERSON
    starts_at: LocalOrAware
    ends_at: LocalOrAware | None = None
    time_zone: TimeZoneName = "UTC"
    location: Venue | None = Field(default=None, description="The venue (in person, hybrid).")
    join_url: JoinUrl | None = Field(default=None, description="Where to join (virtual, hybrid).")
    capacity: int = Field(ge=1, le=100_000)
    registration_opens_at: LocalOrAware | None = None
    registration_closes_at: LocalOrAware | None = None
    organisers: Organisers = Field(default_factory=list)
    reminders: Reminders = Field(default_factory=lambda: [1440, 60])
    questions: Questions = Field(default_factory=list)
    sessions: Sessions = Field(default_factory=list)
    status: Literal[EventStatus.DRAFT, EventStatus.PUBLISHED] = Field(
        default=EventStatus.PUBLISHED,
        description="`draft` keeps it private until `POST /events/{id}/publish`.",
    )


class EventUpdate(BaseModel):
    """An edit of an event: the fields given replace the event's."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    kind: EventKind | None = None
    format: EventFormat | None = None
    starts_at: LocalOrAware | None = None
    ends_at: LocalOrAware | None = None
    time_zone: TimeZoneName | None = None
    location: Venue | None = None
    join_url: JoinUrl | None = None
    capacity: int | None = Field(default=None, ge=1, le=100_000)
    registration_opens_at: LocalOrAware | None = None
    registration_closes_at: LocalOrAware | None = None
    organisers: Organisers | None = None
    reminders: Reminders | None = None
    questions: Questions | None = Field(
        default=None,
        description="Replaces the questions; answers given before keep the wording they had.",
    )
    sessions: Sessions | None = Field(
        default=None,
        description="Replaces the sessions. A session people registered for cannot be "
        "removed, nor its capacity go below its seats taken; a larger one seats its waitlist.",
    )
    notify_registrants: bool = Field(
        default=True,
        description="Whether registrants are mailed a change of time or place (`Changed:` "
        "with the new calendar invitation). False for a correction nobody needs to hear "
        "about; the edit itself is the same. Not stored.",
    )


class EventCancellation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class SessionListing(BaseModel):
    """A session as the public registration page shows it."""

    id: str
    name: str
    starts_at: datetime = Field(description="In UTC.")
    ends_at: datetime = Field(description="In UTC.")
    starts_at_local: datetime = Field(description="The start in the event's time zone.")
    ends_at_local: datetime
    places_left: int = Field(
        description="Seats of this session not yet taken (and free at the event); 0: "
        "choosing it joins the waitlist."
    )


class SessionPublic(SessionListing):
    """A session as staff see it."""

    capacity: int
    registered: int = Field(description="Seats taken.")


def sessions_shown(
    event: RecruitingEvent, seated: dict[str | None, int], registered: int
) -> list[dict[str, object]]:
    """Each session of `event` with its seats taken and left (the event's own free seats
    bound every session's)."""
    free_at_event = max(event.capacity - registered, 0)
    return [
        session.model_dump()
        | {
            "starts_at_local": event.local(session.starts_at),
            "ends_at_local": event.local(session.ends_at),
            "registered": seated.get(session.id, 0),
            "places_left": min(max(session.capacity - seated.get(session.id, 0), 0), free_at_event),
        }
        for session in event.sessions
    ]


class EventPublic(BaseModel):
    id: str
    name: str
    kind: EventKind
    format: EventFormat
    starts_at: datetime = Field(description="In UTC.")
    ends_at: datetime | None = Field(description="In UTC.")
    time_zone: str
    starts_at_local: datetime = Field(description="The start in the event's time zone.")
    ends_at_local: datetime | None
    location: str | None
    join_url: str | None
    capacity: int
    registered: int
    registration_opens_at: datetime | None
    registration_closes_at: datetime | None
    organisers: list[str]
    created_at: datetime
    status: EventStatus
    version: int = Field(description="Counts edits; its `ETag` is the version, for `If-Match`.")
    updated_at: datetime | None
    cancelled_at: datetime | None
    cancellation_reason: str | None
    completed_at: datetime | None
    reminders: list[int] = Field(description="Reminders, in minutes before the start.")
    next_reminder_at: datetime | None = Field(
        description="When the next reminder goes out (UTC); null when none is left."
    )
    questions: list[QuestionSpec]
    sessions: list[SessionPublic]

    @classmethod
    def of(
        cls, event: RecruitingEvent, registered: int, seated: dict[str | None, int]
    ) -> EventPublic:
        """The event as the API shows it: instants in UTC, and the start and end again in the
        event's own time zone."""
        utc = {
            name: as_utc(value)
            for name in ("starts_at", "ends_at", "registration_opens_at", "registration_closes_at")
            if (value := getattr(event, name)) is not None
        }
        return cls.model_validate(
            event.model_dump()
            | utc
            | {
                "registered": registered,
                "starts_at_local": event.local(event.starts_at),
                "ends_at_local": event.local(event.ends_at),
                "sessions": sessions_shown(event, seated, registered),
            }
        )


class EventListing(BaseModel):
    """What anyone may know of an event: its public registration page's content."""

    id: str
    name: str
    kind: EventKind
    format: EventFormat
    starts_at: datetime
    ends_at: datetime | None
    time_zone: str
    starts_at_local: datetime
    ends_at_local: datetime | None
    location: str | None
    status: EventStatus
    registration_opens_at: datetime | None
    registration_closes_at: datetime | None
    registration_open: bool = Field(description="Whether a registration is taken now.")
    places_left: int = Field(
        description="Seats not yet taken; 0: a new registration joins the waitlist."
    )
    questions: list[QuestionSpec] = Field(description="What the registration form asks.")
    sessions: list[SessionListing] = Field(
        description="The sessions (time slots) a registrant chooses one of; none: the event "
        "is one session."
    )
    embedding_origins: list[str] = Field(
        default_factory=list,
        description="The sites the tenant lets frame the event's embeddable registration form "
        "(its Content-Security-Policy frame-ancestors); empty: none may.",
    )


class PersonCreate(BaseModel):
    """Who registers or walks in."""

    model_config = ConfigDict(extra="forbid")

    first_name: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
    ]
    last_name: Annotated[
        str,
        StringConstraints(strip_whitespace=True, max_length=100),
        Field(description="Empty for a person with one name."),
    ] = ""
    email: Annotated[EmailStr, StringConstraints(max_length=254)]


class RegistrationCreate(PersonCreate):
    """A public registration for an event (no login)."""

    answers: dict[str, str | bool] = Field(
        default_factory=dict,
        description="Answers to the event's questions by question id: text or the chosen "
        "option, `true`/`false` for yes/no, `true` for a ticked consent.",
        examples=[{"role_interest": "Backend", "needs_parking": False, "job_news": True}],
    )
    session_id: str | None = Field(
        default=None,
        description="The session (time slot) chosen: required for an event with sessions.",
    )
    website: str | None = Field(
        default=None,
        description="Leave empty. A hidden form field people never fill: a registration "
        "with it filled is answered as usual and stored nowhere (spam protection).",
    )


class RegistrationLinks(BaseModel):
    """A registrant's signed links (given to whoever made the registration, never on a repeat
    registration, which anybody knowing the address could send)."""

    manage_url: str | None = Field(
        default=None,
        description="The registration without a login; `POST <manage_url>/cancel` cancels it.",
    )
    manage_page_url: str | None = Field(
        default=None,
        description="The registrant's own page (HTML, no login): the registration, its event "
        "and a button to cancel it. What the mails link to; `manage_url` is the same as JSON.",
    )
    invitation_url: str | None = Field(
        default=None, description="The registration's calendar invitation (`.ics`)."
    )


class RegistrationPublic(RegistrationLinks):
    id: str
    event_id: str
    code: str | None = Field(
        default=None,
        description="What the registrant shows at the door: 8 letters and digits, random; "
        "null on a repeat registration, which anybody knowing the address could send.",
    )
    status: RegistrationStatus
    session_id: str | None = Field(
        default=None, description="The session (time slot) the place is in, if any."
    )
    registered_at: datetime
    promoted_at: datetime | None = Field(
        default=None, description="When a waitlisted registrant got a seat."
    )
    cancelled_at: datetime | None = None


class AnswerPublic(BaseModel):
    """An answer with the question's wording as it was asked."""

    question_id: str
    label: str
    kind: QuestionKind
    value: str | bool
    purpose: ConsentPurpose | None = None


class RegistrationDetail(RegistrationPublic):
    session_name: str | None = Field(
        default=None,
        description="The session's name (in the registrations list and a check-in's answer).",
    )
    email: str
    first_name: str
    last_name: str
    candidate_id: str | None
    checked_in_at: datetime | None
    walk_in: bool
    outcome: Outcome | None = Field(
        default=None,
        description="Once the event is completed: `attended` or `no_show` (null for the "
        "waitlisted and the cancelled).",
    )
    answers: list[AnswerPublic] = Field(
        default_factory=list, description="The answers to the event's questions."
    )


class EventForRegistrant(BaseModel):
    """What a registrant sees of the event they registered for, the join URL included."""

    id: str
    name: str
    kind: EventKind
    format: EventFormat
    status: EventStatus
    starts_at: datetime
    ends_at: datetime | None
    time_zone: str
    starts_at_local: datetime
    ends_at_local: datetime | None
    location: str | None
    join_url: str | None
    cancellation_reason: str | None


class LinkedRegistration(BaseModel):
    """A registration as its signed link shows it to the registrant."""

    id: str
    code: str
    status: RegistrationStatus
    session_id: str | None = None
    session_name: str | None = None
    first_name: str
    last_name: str
    registered_at: datetime
    promoted_at: datetime | None
    cancelled_at: datetime | None
    checked_in_at: datetime | None
    event: EventForRegistrant


class WalkInCreate(PersonCreate):
    """Somebody who came to the event without registering, captured at the door."""


class DoorCheckInItem(BaseModel):
    """One check-in made at the door while offline."""

    model_config = ConfigDict(extra="forbid")

    code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)] = (
        Field(description="The registration's code, as scanned or typed (case and spaces aside).")
    )
    checked_in_at: AwareDatetime = Field(
        description="When the person was checked in at the door, with its offset; kept as the "
        "check-in time. Not in the future (5 minutes' clock skew allowed), not before the "
        "event's day in its time zone."
    )


class DoorCheckInUpload(BaseModel):
    """A batch of check-ins made without network, uploaded later (safe to upload again)."""

    model_config = ConfigDict(extra="forbid")

    check_ins: list[DoorCheckInItem] = Field(min_length=1, max_length=MAX_DOOR_UPLOAD)


class DoorCheckInResultPublic(BaseModel):
    """What one uploaded check-in did."""

    index: int = Field(description="The item's place in the upload, from 0.")
    code: str = Field(description="The code as compared (capitals, no spaces).")
    outcome: DoorCheckInOutcome = Field(
        description="`checked_in`; `already_checked_in` (unchanged); `unknown_code` (no "
        "registration of this event has it); `ambiguous_code` (two have it: nobody checked "
        "in); `waitlisted` (checked in, although on the waitlist); `registration_cancelled` "
        "(they had cancelled: registered again and checked in)."
    )
    registration_id: str | None = None
    checked_in_at: datetime | None = Field(
        default=None, description="The registration's check-in time as stored now."
    )


class DoorCheckInReport(BaseModel):
    """Per item what an upload did, and how many items had each outcome."""

    results: list[DoorCheckInResultPublic]
    counts: dict[DoorCheckInOutcome, int]


SiteOrigin = Annotated[str, AfterValidator(site_origin)]


class EmbeddingSettingsUpdate(BaseModel):
    """The sites that may frame the tenant's embeddable registration forms."""

    model_config = ConfigDict(extra="forbid")

    site_origins: list[SiteOrigin] = Field(
        max_length=MAX_SITE_ORIGINS,
        description="Site origins: https, a host and an optional port, no path "
        "(`https://careers.example.com`); `https://*.example.com` allows every subdomain, "
        "`http://localhost:<port>` a page tried out locally. An empty list: no site may.",
    )


class EmbeddingSettings(BaseModel):
    """The sites that may frame the tenant's embeddable registration forms."""

    site_origins: list[str] = Field(description="Each once, in the order given.")
