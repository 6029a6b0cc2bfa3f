"""The event reports' fold against the real database: one scenario's events applied in order,
one by one, and shuffled, repeated and batched, leave the same report with the known answer
(a promotion before the waitlisting, a hire before the registration, a redelivery); a merge,
folded before or after the registrations, makes two records one person, and its undo two."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from crm_analytics.application.activity import ActivityRecorder
from crm_analytics.application.event_reports import (
    EventReportFolder,
    UnknownEvent,
    event_report,
    period_report,
)
from crm_analytics.application.merges import MergeFollower
from crm_analytics.application.storage import AnalyticsStorage
from crm_analytics.config import AnalyticsSettings
from crm_analytics.repositories.event_reports import backfill_address_digests
from crm_shared import (
    ATS_APPLICATION_CREATED,
    ATS_APPLICATION_HIRED,
    CANDIDATE_CREATED,
    EVENT_ATTENDED,
    EVENT_CHECKED_IN,
    EVENT_INVITATION_CHANGED,
    EVENT_NO_SHOW,
    EVENT_REGISTERED,
    EVENT_REGISTRATION_CANCELLED,
    EVENT_WAITLISTED,
    AtsApplicationCreated,
    AtsApplicationHired,
    CandidateCreated,
    CandidateMerged,
    CandidateProfile,
    CandidateUnmerged,
    EventAttended,
    EventCheckedIn,
    EventEnvelope,
    EventInvitationChanged,
    EventNoShow,
    EventRegistered,
    EventRegistrationCancelled,
    EventWaitlisted,
    MongoClient,
    PersonalDataEraser,
    Session,
    TopicSpec,
    email_sha256,
    in_transaction,
)

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
STARTS = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)
MOVED = STARTS + timedelta(days=1)
EVENT = "ev-fair"


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def scenario() -> list[EventEnvelope[Any]]:
    """Ada, Bob and Cat register (3 seats); Dan and Eve are waitlisted; Cat cancels and Dan is
    promoted; the event moves a day; Wes walks in; Ada and Wes come, Bob and Dan do not. Ada
    applies 10 days after and is hired 30 days after; Bob applies 120 days after."""
    events: list[EventEnvelope[Any]] = []

    def add(spec: TopicSpec, data: BaseModel, when: datetime, subject: str = "s") -> None:
        events.append(
            EventEnvelope[Any](
                type=spec.name,
                source="test",
                tenant_id="acme",
                subject=subject,
                schema_version=spec.schema_version,
                time=when,
                data=data,
            )
        )

    people = {"ada": "c-ada", "bob": "c-bob", "cat": None, "dan": "c-dan", "eve": None}

    def who(name: str) -> dict[str, Any]:
        return {
            "event_id": EVENT,
            "event_name": "Career fair",
            "registration_id": f"r-{name}",
            "candidate_id": None,
            "email": f"{name.title()}@Example.org",
            "first_name": name.title(),
            "last_name": "Doe",
        }

    for minute, name in enumerate(("ada", "bob", "cat"), start=1):
        add(
            EVENT_REGISTERED,
            EventRegistered(**who(name), registered_at=at(minute), starts_at=STARTS),
            at(minute),
        )
    for minute, name in ((4, "dan"), (5, "eve")):
        add(
            EVENT_WAITLISTED,
            EventWaitlisted(**who(name), registered_at=at(minute), starts_at=STARTS),
            at(minute),
        )
    attendee = {k: v for k, v in who("cat").items() if k not in ("first_name", "last_name")}
    add(
        EVENT_REGISTRATION_CANCELLED,
        EventRegistrationCancelled(**attendee, cancelled_at=at(10), held="seat"),
        at(10),
    )
    add(
        EVENT_REGISTERED,
        EventRegistered(**who("dan"), registered_at=at(4), starts_at=STARTS),
        at(10),
    )
    add(
        EVENT_INVITATION_CHANGED,
        EventInvitationChanged(
            **who("ada"),
            change="updated",
            changed_fields=["starts_at"],
            starts_at=MOVED,
            time_zone="UTC",
            sequence=1,
            invitation_ics="BEGIN:VCALENDAR",
            occurred_at=at(20),
        ),
        at(20),
    )
    add(
        EVENT_REGISTERED,
        EventRegistered(**who("wes"), registered_at=MOVED, walk_in=True, starts_at=MOVED),
        MOVED,
    )
    for name in ("ada", "wes"):
        candidate = people.get(name) or "c-wes"
        checked = {k: v for k, v in who(name).items() if k not in ("first_name", "last_name")}
        add(
            EVENT_CHECKED_IN,
            EventCheckedIn(
                **checked | {"candidate_id": candidate}, checked_in_at=MOVED, walk_in=name == "wes"
            ),
            MOVED,
        )
        add(
            EVENT_ATTENDED,
            EventAttended(
                **checked | {"candidate_id": candidate},
                tenant_id="acme",
                occurred_at=MOVED + timedelta(hours=3),
                checked_in_at=MOVED,
                walk_in=name == "wes",
            ),
            MOVED + timedelta(hours=3),
        )
    for name in ("bob", "dan"):
        settled = {k: v for k, v in who(name).items() if k not in ("first_name", "last_name")}
        add(
            EVENT_NO_SHOW,
            EventNoShow(
                **settled | {"candidate_id": people[name]},
                tenant_id="acme",
                occurred_at=MOVED + timedelta(hours=3),
            ),
            MOVED + timedelta(hours=3),
        )
    ats = {"provider": "greenhouse", "connection_id": "k1", "ats_candidate_id": "x"}
    for application_id, person, days, hired in (
        ("a1", {"candidate_id": "c-ada"}, 10, True),
        ("a2", {"email": "bob@example.org"}, 120, False),
    ):
        applied = MOVED + timedelta(days=days)
        named = ats | person | {"ats_application_id": application_id}
        add(ATS_APPLICATION_CREATED, AtsApplicationCreated(**named, applied_at=applied), applied)
        if hired:
            hired_at = applied + timedelta(days=20)
            add(ATS_APPLICATION_HIRED, AtsApplicationHired(**named, occurred_at=hired_at), hired_at)
    return events


def sources() -> list[EventEnvelope[Any]]:
    """The candidates analytics learns of, with their source and addresses: Eve's registration
    created her (never checked in, so only her address ties her to it), Cat was sourced before
    (she registered by address alone)."""
    return [
        EventEnvelope[Any](
            type=CANDIDATE_CREATED.name,
            source="test",
            tenant_id="acme",
            subject=candidate_id,
            schema_version=1,
            data=CandidateCreated(
                candidate_id=candidate_id,
                first_name="X",
                last_name="Doe",
                emails=[f"{candidate_id}@example.org", *emails],
                source=source,
            ),
        )
        for candidate_id, source, emails in (
            ("c-ada", "event", []),
            ("c-bob", "referral", []),
            ("c-wes", "event", []),
            ("c-eve", "event", ["eve@example.org"]),
            ("c-cat", "sourced", ["cat@example.org"]),
        )
    ]


async def fold(mongo: MongoClient, storage: AnalyticsStorage, batches: list[list[Any]]) -> None:
    folder = EventReportFolder(storage)
    recorder = ActivityRecorder(storage, AnalyticsSettings().engagement_model())
    for batch in batches:
        reports = [e for e in batch if e.type != CANDIDATE_CREATED.name]
        created = [e for e in batch if e.type == CANDIDATE_CREATED.name]

        async def apply(
            session: Session, reports: list[Any] = reports, created: list[Any] = created
        ) -> None:
            if reports:
                await folder.record_batch(reports, session)
            if created:
                await recorder.record_batch(created, session)

        await in_transaction(mongo, apply)


async def test_the_report_is_the_same_in_order_or_shuffled_repeated_and_batched(
    stores: list[tuple[MongoClient, AnalyticsStorage]],
) -> None:
    (mongo, in_order), (other_mongo, shuffled) = stores
    events = scenario() + sources()
    await fold(mongo, in_order, [[e] for e in events])
    rng = random.Random(20)
    mixed = events + rng.sample(events, 12)  # some announced twice (a replay, a new id)
    rng.shuffle(mixed)
    batches, start = [], 0
    while start < len(mixed):
        size = rng.choice((1, 3, 8))
        batches.append(mixed[start : start + size])
        start += size
    await fold(other_mongo, shuffled, batches)

    report = await event_report(in_order, "acme", EVENT, within_days=90)
    assert report == await event_report(shuffled, "acme", EVENT, within_days=90)
    assert report.event.starts_at == MOVED
    assert report.event.completed_at == MOVED + timedelta(hours=3)
    f = report.figures
    assert (f.registrations, f.registered, f.waitlisted, f.cancelled) == (6, 4, 1, 1)
    assert (f.checked_in, f.walk_ins, f.attended, f.no_shows) == (2, 1, 2, 2)
    assert f.no_show_rate == 0.5
    assert f.by_channel == {"online": 5, "walk_in": 1}
    # Eve and Cat are named by their addresses, before (or without) any check-in; Dan became
    # a candidate, but analytics never consumed his creation: his source is unknown.
    assert f.by_source == {"event": 3, "referral": 1, "sourced": 1, "unknown": 1}
    assert (f.applied.count, f.applied.candidate_ids) == (1, ["c-ada"])
    assert (f.hired.count, f.hired.candidate_ids) == (1, ["c-ada"])
    wider = await event_report(shuffled, "acme", EVENT, within_days=150)
    assert wider.figures.applied.candidate_ids == ["c-ada", "c-bob"]

    period = await period_report(
        shuffled, "acme", MOVED - timedelta(hours=1), MOVED + timedelta(hours=1), 90
    )
    assert [r.event.event_id for r in period.events] == [EVENT]
    assert period.totals == f
    # Its first start is not in the period any more: the event moved.
    assert (
        await period_report(shuffled, "acme", STARTS, STARTS + timedelta(hours=1), 90)
    ).events == []
    with pytest.raises(UnknownEvent):
        await event_report(shuffled, "globex", EVENT, within_days=90)


def told(spec: TopicSpec, data: BaseModel, when: datetime = T0) -> EventEnvelope[Any]:
    return EventEnvelope[Any](
        type=spec.name,
        source="test",
        tenant_id="acme",
        subject="s",
        schema_version=spec.schema_version,
        time=when,
        data=data,
    )


async def test_an_erasure_takes_a_registrant_known_only_by_address_and_keeps_them_out(
    stores: list[tuple[MongoClient, AnalyticsStorage]],
) -> None:
    """Nia's registration created her candidate: nothing analytics holds under her candidate id
    has her address, yet her erasure (which names it by digest) takes her registration and
    application, and a late redelivery does not bring them back."""
    [(mongo, storage), _] = stores
    registered = told(
        EVENT_REGISTERED,
        EventRegistered(
            event_id="ev-nia",
            event_name="Open day",
            registration_id="r-nia",
            email="Nia@Example.org",
            first_name="Nia",
            last_name="Doe",
            registered_at=T0,
            starts_at=STARTS,
        ),
    )
    applied = told(
        ATS_APPLICATION_CREATED,
        AtsApplicationCreated(
            provider="greenhouse",
            connection_id="k1",
            ats_candidate_id="x",
            ats_application_id="a-nia",
            email="nia@example.org",
            applied_at=STARTS + timedelta(days=3),
        ),
        STARTS + timedelta(days=3),
    )
    created = told(
        CANDIDATE_CREATED,
        CandidateCreated(
            candidate_id="c-nia",
            first_name="Nia",
            last_name="Doe",
            emails=["nia@example.org"],
            source="event",
        ),
    )
    await fold(mongo, storage, [[registered, applied, created]])
    report = await event_report(storage, "acme", "ev-nia", within_days=90)
    assert report.figures.by_source == {"event": 1}
    assert report.figures.applied.candidate_ids == ["c-nia"]

    eraser = PersonalDataEraser(storage.database)
    collections, emails = await eraser.prepare("acme", "c-nia")
    assert emails == []  # the digest is the only way to her registration

    async def erase(session: Session) -> None:
        await eraser.erase(
            "acme",
            "c-nia",
            collections=collections,
            emails=emails,
            email_hashes=[email_sha256("nia@example.org")],
            erased_at=T0,
            session=session,
        )

    await in_transaction(mongo, erase)
    await fold(mongo, storage, [[registered, applied]])  # late: a redelivery after the erasure
    database = storage.database
    for collection in ("event_registrants", "ats_milestones", "known_candidates"):
        assert await database[collection].count_documents({"tenant_id": "acme"}) == 0, collection
    after = await event_report(storage, "acme", "ev-nia", within_days=90)
    assert (after.figures.registrations, after.figures.by_source) == (0, {})


async def test_registrations_stored_before_the_digests_get_theirs(
    stores: list[tuple[MongoClient, AnalyticsStorage]],
) -> None:
    [(_, storage), _] = stores
    database = storage.database
    before = {"tenant_id": "acme", "event_id": "e", "registration_id": "r", "email": "a@x.org"}
    await database["event_registrants"].insert_one(dict(before))
    await database["event_registrants"].insert_one(
        before | {"registration_id": "r2"} | {"email": None}
    )
    await database["ats_milestones"].insert_one({"tenant_id": "acme", "email": "b@x.org"})
    await backfill_address_digests(database)
    await backfill_address_digests(database)  # a second run finds nothing to do
    registrants = (
        await database["event_registrants"].find({}, sort=[("registration_id", 1)]).to_list()
    )
    assert [r.get("address_sha256") for r in registrants] == [email_sha256("a@x.org"), None]
    [milestone] = await database["ats_milestones"].find({}).to_list()
    assert milestone["address_sha256"] == email_sha256("b@x.org")


def merge_scenario() -> list[EventEnvelope[Any]]:
    """Zoe registered twice for one event: under her old record (known only by the address
    her old record holds, waitlisted) and as c-zoe (a seat, attended); Ann once. The ATS has
    an application under the old record's id alone, and a hire under c-zoe."""
    event = {"event_id": "ev-merge", "event_name": "Meetup", "last_name": "Doe"}
    ats = {"provider": "greenhouse", "connection_id": "k1", "ats_candidate_id": "x"}

    def created(candidate_id: str, source: str) -> CandidateCreated:
        return CandidateCreated(
            candidate_id=candidate_id,
            first_name="X",
            last_name="Doe",
            emails=[f"{candidate_id}@example.org"],
            source=source,
        )

    return [
        told(CANDIDATE_CREATED, created("c-old", "referral")),
        told(CANDIDATE_CREATED, created("c-zoe", "sourced")),
        told(CANDIDATE_CREATED, created("c-ann", "event")),
        told(
            EVENT_WAITLISTED,
            EventWaitlisted(
                **event,
                registration_id="r-old",
                email="C-Old@Example.org",
                first_name="Zoe",
                registered_at=at(1),
                starts_at=STARTS,
            ),
            at(1),
        ),
        told(
            EVENT_REGISTERED,
            EventRegistered(
                **event,
                registration_id="r-zoe",
                candidate_id="c-zoe",
                email="c-zoe@example.org",
                first_name="Zoe",
                registered_at=at(2),
                starts_at=STARTS,
            ),
            at(2),
        ),
        told(
            EVENT_REGISTERED,
            EventRegistered(
                **event,
                registration_id="r-ann",
                candidate_id="c-ann",
                email="c-ann@example.org",
                first_name="Ann",
                registered_at=at(3),
                starts_at=STARTS,
            ),
            at(3),
        ),
        told(
            EVENT_ATTENDED,
            EventAttended(
                event_id="ev-merge",
                event_name="Meetup",
                registration_id="r-zoe",
                candidate_id="c-zoe",
                email="c-zoe@example.org",
                tenant_id="acme",
                occurred_at=STARTS + timedelta(hours=3),
                checked_in_at=STARTS,
            ),
            STARTS + timedelta(hours=3),
        ),
        told(
            ATS_APPLICATION_CREATED,
            AtsApplicationCreated(
                **ats,
                ats_application_id="a-old",
                candidate_id="c-old",
                applied_at=STARTS + timedelta(days=5),
            ),
        ),
        told(
            ATS_APPLICATION_HIRED,
            AtsApplicationHired(
                **ats,
                ats_application_id="a-zoe",
                candidate_id="c-zoe",
                occurred_at=STARTS + timedelta(days=20),
            ),
        ),
    ]


def profile(candidate_id: str) -> CandidateProfile:
    return CandidateProfile(
        candidate_id=candidate_id,
        first_name="Zoe",
        last_name="Doe",
        emails=[f"{candidate_id}@example.org"],
        source="sourced",
    )


MERGED = CandidateMerged(
    merge_id="merge-zoe",
    survivor_candidate_id="c-zoe",
    merged_candidate_id="c-old",
    survivor=profile("c-zoe"),
)
UNMERGED = CandidateUnmerged(
    merge_id="merge-zoe",
    survivor_candidate_id="c-zoe",
    restored_candidate_id="c-old",
    survivor=profile("c-zoe"),
    restored=profile("c-old"),
)


async def follow(
    mongo: MongoClient, storage: AnalyticsStorage, change: CandidateMerged | CandidateUnmerged
) -> None:
    """Applies a merge or its undo as analytics' subscriber does."""
    follower = MergeFollower(storage, AnalyticsSettings().engagement_model())

    async def apply(session: Session) -> None:
        if isinstance(change, CandidateMerged):
            await follower.fold("acme", change, session=session)
        else:
            await follower.unfold("acme", change, session=session)

    await in_transaction(mongo, apply)


async def test_a_merge_before_or_after_the_registrations_makes_them_one_person(
    stores: list[tuple[MongoClient, AnalyticsStorage]],
) -> None:
    (mongo, merge_first), (other_mongo, merge_last) = stores
    events = merge_scenario()
    await follow(mongo, merge_first, MERGED)
    await fold(mongo, merge_first, [[e] for e in events])
    await fold(other_mongo, merge_last, [events])
    apart = await event_report(merge_last, "acme", "ev-merge", within_days=90)
    await follow(other_mongo, merge_last, MERGED)
    await follow(other_mongo, merge_last, MERGED)  # a redelivery under a new envelope id

    merged = await event_report(merge_first, "acme", "ev-merge", within_days=90)
    assert merged == await event_report(merge_last, "acme", "ev-merge", within_days=90)
    f = merged.figures
    # Zoe once, as her furthest registration (attended): Ann and Zoe, both holding a seat.
    assert (f.registrations, f.registered, f.waitlisted, f.checked_in, f.attended) == (
        2,
        2,
        0,
        1,
        1,
    )
    assert f.by_source == {"event": 1, "sourced": 1}
    # The old record's application is Zoe's: one person applied (and was hired).
    assert (f.applied.count, f.applied.candidate_ids) == (1, ["c-zoe"])
    assert (f.hired.count, f.hired.candidate_ids) == (1, ["c-zoe"])

    # Before the merge, two people: the old record waitlisted, with its own application.
    a = apart.figures
    assert (a.registrations, a.registered, a.waitlisted) == (3, 2, 1)
    assert a.by_source == {"event": 1, "referral": 1, "sourced": 1}
    assert (a.applied.count, a.applied.candidate_ids) == (1, ["c-old"])
    assert (a.hired.count, a.hired.candidate_ids) == (1, ["c-zoe"])

    # The undo gives each record back its own, in both stores, redelivered too.
    for each_mongo, storage in stores:
        await follow(each_mongo, storage, UNMERGED)
        await follow(each_mongo, storage, UNMERGED)
        assert await event_report(storage, "acme", "ev-merge", within_days=90) == apart


async def test_a_registrant_merged_twice_is_the_last_survivor_and_a_stale_undo_keeps_it(
    stores: list[tuple[MongoClient, AnalyticsStorage]],
) -> None:
    """c-old merged into c-zoe, c-zoe into c-ada: all three are one person, c-ada. The undo
    of a merge of c-old that is not the one in force (a late redelivery) changes nothing."""
    [(mongo, storage), _] = stores
    await fold(mongo, storage, [merge_scenario()])
    await follow(mongo, storage, MERGED)
    await follow(
        mongo,
        storage,
        CandidateMerged(
            merge_id="merge-ada",
            survivor_candidate_id="c-ada",
            merged_candidate_id="c-zoe",
            survivor=profile("c-ada"),
        ),
    )
    stale = UNMERGED.model_copy(update={"merge_id": "an-older-merge"})
    await follow(mongo, storage, stale)
    f = (await event_report(storage, "acme", "ev-merge", within_days=90)).figures
    assert (f.registrations, f.by_source) == (2, {"event": 1, "unknown": 1})
    assert (f.applied.count, f.applied.candidate_ids) == (1, ["c-ada"])
    assert (f.hired.count, f.hired.candidate_ids) == (1, ["c-ada"])


async def test_an_event_with_sessions_starts_when_it_starts_not_at_its_last_registrants_slot(
    stores: list[tuple[MongoClient, AnalyticsStorage]],
) -> None:
    """A registration's `starts_at` is its session's: the report took the last registrant's
    (an afternoon slot, 5 hours late) as the event's start until 2026-12-07, moving the window
    applications count in and the period the event is filed under."""
    (mongo, storage), _ = stores
    morning, afternoon = STARTS, STARTS + timedelta(hours=5)

    def registered(
        name: str, minute: int, session: str, starts: datetime, event_starts: datetime | None
    ) -> EventEnvelope[Any]:
        data = EventRegistered(
            event_id="ev-sessions",
            event_name="Journée carrière - يوم",
            registration_id=f"r-{name}",
            email=f"{name}@example.org",
            first_name=name.title(),
            last_name="Ørsted",
            registered_at=at(minute),
            session_id=session,
            session_name=session.title(),
            starts_at=starts,
            event_starts_at=event_starts,
        )
        return told(EVENT_REGISTERED, data, at(minute))

    await fold(
        mongo,
        storage,
        [
            [registered("zoe", 1, "morning", morning, morning)],
            [registered("ana", 2, "afternoon", afternoon, morning)],
        ],
    )
    report = await event_report(storage, "acme", "ev-sessions", within_days=90)
    assert report.event.starts_at == morning
    # Told before `event_starts_at` existed, a session's start is not taken for the event's.
    await fold(mongo, storage, [[registered("bo", 3, "afternoon", afternoon, None)]])
    again = await event_report(storage, "acme", "ev-sessions", within_days=90)
    assert again.event.starts_at == morning
