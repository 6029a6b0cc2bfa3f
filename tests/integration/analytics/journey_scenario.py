"""A seeded recruiting workload with a known answer for the funnels and attribution: candidates
from several sources (one created late in the evening before the period in New York, which is
already the period's first day in UTC), a broadcast and a two-step sequence opened and clicked
by people and by bots, replies, an event registered for (once by an address only) and
attended, applications (and a prospect, which is none), interview stages, hires, and one merge.

`expected_funnel` and `expected_attribution` compute the figures from the raw events with plain
loops (sets and dicts of the raw facts), never through the service's code."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from crm_shared import (
    ATS_APPLICATION_CREATED,
    ATS_APPLICATION_HIRED,
    ATS_APPLICATION_REJECTED,
    ATS_APPLICATION_STAGE_CHANGED,
    CANDIDATE_CREATED,
    CANDIDATE_MERGED,
    EVENT_ATTENDED,
    EVENT_REGISTERED,
    MESSAGE_CLICKED,
    MESSAGE_OPENED,
    MESSAGE_REPLIED,
    MESSAGE_SENT,
    AtsApplicationCreated,
    AtsApplicationHired,
    AtsApplicationRejected,
    AtsApplicationStageChanged,
    CandidateCreated,
    CandidateMerged,
    CandidateProfile,
    EventAttended,
    EventEnvelope,
    EventRegistered,
    MessageClicked,
    MessageOpened,
    MessageReplied,
    MessageSent,
    TopicSpec,
)

ZONE = ZoneInfo("America/New_York")
# The period: November 2026 in New York.
FIRST_DAY = datetime(2026, 11, 1, tzinfo=ZONE)
PERIOD = (FIRST_DAY, datetime(2026, 12, 1, tzinfo=ZONE))
SOURCES = ("sourced", "referral", "career_site", "event")
STEPS = ("sourced", "engaged", "responded", "applied", "interviewed", "hired")


@dataclass(frozen=True)
class Ids:
    tenant_id: str
    broadcast_id: str
    sequence_id: str
    event_id: str

    def candidate(self, n: int) -> str:
        return f"{self.tenant_id}-jc{n}"

    def email(self, n: int) -> str:
        return f"jc{n}@{self.tenant_id}.example.org"


# Candidate 14 is merged into candidate 13; candidate 0 is created the evening before the
# period in New York (already November 1 in UTC); candidate 15 after the period.
MERGED, SURVIVOR, EARLY, LATE = 14, 13, 0, 15
CANDIDATES = 16


def scenario(ids: Ids, seed: int) -> list[EventEnvelope[Any]]:
    """Every event of the workload, in the order things happened."""
    rng = random.Random(seed)
    events: list[EventEnvelope[Any]] = []

    def add(spec: TopicSpec, subject: str, data: BaseModel, at: datetime) -> None:
        events.append(
            EventEnvelope[Any](
                type=spec.name,
                source="test",
                tenant_id=ids.tenant_id,
                subject=subject,
                schema_version=spec.schema_version,
                time=at,
                data=data,
            )
        )

    app = 0
    for n in range(CANDIDATES):
        cid = ids.candidate(n)
        if n == EARLY:
            created = FIRST_DAY - timedelta(hours=2)
        elif n == LATE:
            created = PERIOD[1] + timedelta(days=2)
        else:
            created = FIRST_DAY + timedelta(days=n, hours=rng.randrange(1, 20))
        profile = CandidateCreated(
            candidate_id=cid,
            first_name="J",
            last_name=f"C{n}",
            emails=[ids.email(n)],
            source=SOURCES[n % len(SOURCES)],
        )
        add(CANDIDATE_CREATED, cid, profile, created)
        at = created
        # The broadcast to everyone, the sequence's two steps to every third.
        mails: list[tuple[str, dict[str, Any]]] = [
            (f"{ids.broadcast_id}-{n}", {"broadcast_id": ids.broadcast_id, "variant": "A"})
        ]
        if n % 3 == 0:
            for step in (0, 1):
                mails.append(
                    (
                        f"{ids.sequence_id}-{n}-{step}",
                        {
                            "sequence_id": ids.sequence_id,
                            "enrolment_id": f"{ids.sequence_id}-e{n}",
                            "step_index": step,
                            "step_label": f"Step {step}",
                        },
                    )
                )
        for message_id, source in mails:
            at += timedelta(hours=rng.randrange(2, 40))
            ref = {"message_id": message_id, "candidate_id": cid}
            add(MESSAGE_SENT, cid, MessageSent(**ref, template_id="t", subject="Hi", **source), at)
            if rng.random() < 0.4:  # a prefetcher: never engagement
                add(MESSAGE_OPENED, cid, MessageOpened(**ref, automated=True), at)
            if rng.random() < 0.6:
                at += timedelta(hours=rng.randrange(1, 30))
                add(MESSAGE_OPENED, cid, MessageOpened(**ref), at)
                if rng.random() < 0.5:
                    click = MessageClicked(**ref, link_index=0, url="https://x.test")
                    add(MESSAGE_CLICKED, cid, click, at + timedelta(minutes=5))
            elif rng.random() < 0.5:  # a link scanner only
                scan = MessageClicked(**ref, link_index=0, url="https://x.test", automated=True)
                add(MESSAGE_CLICKED, cid, scan, at)
            if rng.random() < 0.25:
                at += timedelta(hours=rng.randrange(1, 50))
                add(MESSAGE_REPLIED, cid, MessageReplied(**ref, received_at=at), at)
        if n % 2 == 0 or n == MERGED:
            at += timedelta(days=rng.randrange(1, 5))
            known = n != 4  # candidate 4 registers by address only (a new registrant's form)
            registration = EventRegistered(
                event_id=ids.event_id,
                event_name="Open day",
                registration_id=f"{ids.event_id}-r{n}",
                candidate_id=cid if known else None,
                email=ids.email(n),
                first_name="J",
                last_name=f"C{n}",
                registered_at=at,
            )
            add(EVENT_REGISTERED, cid, registration, at)
            if rng.random() < 0.7:
                attended_at = at + timedelta(days=2)
                attended = EventAttended(
                    tenant_id=ids.tenant_id,
                    event_id=ids.event_id,
                    event_name="Open day",
                    registration_id=registration.registration_id,
                    candidate_id=cid,
                    email=ids.email(n),
                    occurred_at=attended_at,
                    checked_in_at=attended_at,
                )
                add(EVENT_ATTENDED, cid, attended, attended_at)
        if n == 3:  # a prospect: in the ATS, no application
            application = AtsApplicationCreated(
                provider="greenhouse",
                connection_id="conn",
                ats_application_id=f"{ids.tenant_id}-prospect",
                ats_candidate_id=f"ats-{n}",
                candidate_id=cid,
                prospect=True,
            )
            add(ATS_APPLICATION_CREATED, cid, application, at + timedelta(hours=1))
        if rng.random() < 0.6 or n in (MERGED, 6):
            app += 1
            at += timedelta(days=rng.randrange(1, 6))
            app_id = f"{ids.tenant_id}-app{app}"
            by_address = n == 6  # the ATS matched nobody: only the address
            common: dict[str, Any] = {
                "provider": "greenhouse",
                "connection_id": "conn",
                "ats_application_id": app_id,
                "ats_candidate_id": f"ats-{n}",
                "candidate_id": None if by_address else cid,
                "email": ids.email(n),
            }
            created_at = at + timedelta(minutes=30)  # published after the ATS's applied time
            # Some start at an interview stage already (as an ATS's history gives them).
            starts_at = "Hiring Manager Interview" if app % 4 == 2 else None
            add(
                ATS_APPLICATION_CREATED,
                cid,
                AtsApplicationCreated(**common, applied_at=at, stage=starts_at),
                created_at,
            )
            if rng.random() < 0.7:
                at += timedelta(days=rng.randrange(1, 7))
                stage = rng.choice(("Phone Interview", "Onsite interview", "Offer"))
                moved = AtsApplicationStageChanged(**common, stage=stage, occurred_at=at)
                add(ATS_APPLICATION_STAGE_CHANGED, cid, moved, at)
                if rng.random() < 0.6:
                    at += timedelta(days=rng.randrange(1, 10))
                    hired = AtsApplicationHired(**common, stage="Hired", occurred_at=at)
                    add(ATS_APPLICATION_HIRED, cid, hired, at)
            else:
                # Never moved on the topic, then rejected: at the furthest stage it reached,
                # an interview stage for some (interviewed), not for others.
                reached = "Final Interview" if app % 3 else "Application Review"
                rejected_at = at + timedelta(days=4)
                rejected = AtsApplicationRejected(**common, stage=reached, occurred_at=rejected_at)
                add(ATS_APPLICATION_REJECTED, cid, rejected, rejected_at)
    merged_at = FIRST_DAY + timedelta(days=29)
    survivor = CandidateProfile(
        candidate_id=ids.candidate(SURVIVOR),
        first_name="J",
        last_name="C",
        emails=[ids.email(SURVIVOR), ids.email(MERGED)],
        source=SOURCES[SURVIVOR % len(SOURCES)],
    )
    merge = CandidateMerged(
        merge_id=f"{ids.tenant_id}-merge",
        survivor_candidate_id=ids.candidate(SURVIVOR),
        merged_candidate_id=ids.candidate(MERGED),
        survivor=survivor,
    )
    add(CANDIDATE_MERGED, ids.candidate(SURVIVOR), merge, merged_at)
    return events


def shuffled_with_repeats(events: list[EventEnvelope[Any]], seed: int) -> list[EventEnvelope[Any]]:
    """The events out of order, some twice (as a redelivery under the same envelope)."""
    rng = random.Random(seed)
    mixed = events + rng.sample(events, len(events) // 4)
    rng.shuffle(mixed)
    return mixed


# The independent computation.


def _people(events: list[EventEnvelope[Any]]) -> tuple[dict[str, str], dict[str, str]]:
    """Each candidate id's person (merges), and each address's candidate."""
    person: dict[str, str] = {}
    address: dict[str, str] = {}
    for e in events:
        if e.type == CANDIDATE_CREATED.name:
            person.setdefault(e.data.candidate_id, e.data.candidate_id)
            for email in e.data.emails:
                address[email] = e.data.candidate_id
    for e in events:
        if e.type == CANDIDATE_MERGED.name:
            person[e.data.merged_candidate_id] = e.data.survivor_candidate_id
    return person, address


def _who(e: EventEnvelope[Any], person: dict[str, str], address: dict[str, str]) -> str | None:
    cid = getattr(e.data, "candidate_id", None) or address.get(getattr(e.data, "email", None) or "")
    return person.get(cid, cid) if cid else None


def step_times(events: list[EventEnvelope[Any]]) -> dict[str, dict[str, datetime]]:
    """Each person's first time of each step, straight from the events."""
    person, address = _people(events)
    times: dict[str, dict[str, list[datetime]]] = {}

    def note(who: str | None, step: str, at: datetime) -> None:
        if who is not None:
            times.setdefault(who, {}).setdefault(step, []).append(at)

    for e in events:
        who = _who(e, person, address)
        d = e.data
        if e.type == CANDIDATE_CREATED.name:
            note(who, "sourced", e.time)
        elif e.type in (MESSAGE_OPENED.name, MESSAGE_CLICKED.name) and not d.automated:
            note(who, "engaged", e.time)
        elif e.type == MESSAGE_REPLIED.name:
            note(who, "responded", d.received_at)
        elif e.type == EVENT_REGISTERED.name:
            note(who, "responded", d.registered_at)
        elif e.type == ATS_APPLICATION_CREATED.name and not d.prospect:
            note(who, "applied", d.applied_at or e.time)
            if d.stage and "interview" in d.stage.lower():
                note(who, "interviewed", d.applied_at or e.time)
        elif (
            e.type in (ATS_APPLICATION_STAGE_CHANGED.name, ATS_APPLICATION_REJECTED.name)
            and "interview" in d.stage.lower()
        ):
            note(who, "interviewed", d.occurred_at)
        elif e.type == ATS_APPLICATION_HIRED.name:
            note(who, "hired", d.occurred_at)
    return {p: {s: min(ts) for s, ts in steps.items()} for p, steps in times.items()}


def memberships(events: list[EventEnvelope[Any]], by: str) -> dict[str, set[str]]:
    """Each person's values of a split, straight from the events."""
    person, address = _people(events)
    sent_by = {e.data.message_id: e.data for e in events if e.type == MESSAGE_SENT.name}
    values: dict[str, set[str]] = {}
    for e in events:
        who = _who(e, person, address)
        if who is None:
            continue
        d = e.data
        if by == "source" and e.type == CANDIDATE_CREATED.name and d.candidate_id == who:
            values.setdefault(who, set()).add(d.source)
        elif by == "event" and e.type in (EVENT_REGISTERED.name, EVENT_ATTENDED.name):
            values.setdefault(who, set()).add(d.event_id)
        elif (
            by in ("broadcast", "sequence")
            and e.type in (MESSAGE_OPENED.name, MESSAGE_CLICKED.name)
            and not d.automated
        ):
            ref = getattr(sent_by[d.message_id], f"{by}_id")
            if ref:
                values.setdefault(who, set()).add(ref)
    return values


def expected_funnel(
    events: list[EventEnvelope[Any]], by: str
) -> dict[str | None, list[tuple[str, int, float | None]]]:
    """Per group: (step, count, median hours from the previous step) of the people first
    sourced in the period; a person counts at a step they or a later step reached."""
    times = step_times(events)
    cohort = {
        p for p, t in times.items() if "sourced" in t and PERIOD[0] <= t["sourced"] < PERIOD[1]
    }
    groups: dict[str | None, set[str]] = {}
    if by == "none":
        groups[None] = cohort
    else:
        values = memberships(events, by)
        for p in cohort:
            keys: set[str | None] = set(values.get(p, set()))
            if not keys:
                keys.add(None)
            for v in keys:
                groups.setdefault(v, set()).add(p)
    answer: dict[str | None, list[tuple[str, int, float | None]]] = {}
    for key, members in groups.items():
        rows = []
        for i, step in enumerate(STEPS):
            count = sum(1 for p in members if any(s in times[p] for s in STEPS[i:]))
            hours = [
                (times[p][step] - times[p][STEPS[i - 1]]).total_seconds() / 3600
                for p in members
                if i
                and step in times[p]
                and STEPS[i - 1] in times[p]
                and times[p][step] >= times[p][STEPS[i - 1]]
            ]
            rows.append((step, count, round(median(hours), 2) if hours else None))
        answer[key] = rows
    return answer


def expected_attribution(
    events: list[EventEnvelope[Any]], outcome: str, model: str, lookback: timedelta
) -> dict[tuple[str, str], float]:
    """Each (kind, ref)'s credit over the outcomes in the period: touches are, per person
    (records merged into one count as one), the first human open or click of each broadcast
    and of each sequence step, the first check-in of each event attended, and the first
    sign-up under its source (one per person: the record sourced first)."""
    person, address = _people(events)
    sent_by = {e.data.message_id: e.data for e in events if e.type == MESSAGE_SENT.name}
    first: dict[tuple[str, str, str], tuple[datetime, str, str]] = {}

    def touch(who: str | None, key: str, at: datetime, kind: str, ref: str) -> None:
        if who is None:
            return
        before = first.get((who, key, kind))
        if before is None or at < before[0]:
            first[(who, key, kind)] = (at, kind, ref)

    for e in events:
        d = e.data
        if e.type == CANDIDATE_CREATED.name:
            # the person's first sign-up, whichever record it was
            touch(person.get(d.candidate_id, d.candidate_id), "source", e.time, "source", d.source)
        elif e.type in (MESSAGE_OPENED.name, MESSAGE_CLICKED.name) and not d.automated:
            sent = sent_by[d.message_id]
            who = _who(e, person, address)
            if sent.broadcast_id:
                touch(who, f"b-{sent.broadcast_id}", e.time, "broadcast", sent.broadcast_id)
            elif sent.sequence_id:
                key = f"s-{sent.sequence_id}-{sent.step_index}"
                touch(who, key, e.time, "sequence", sent.sequence_id)
        elif e.type == EVENT_ATTENDED.name:
            touch(
                _who(e, person, address),
                f"e-{d.event_id}",
                d.checked_in_at,
                "event",
                d.event_id,
            )
    by_person: dict[str, list[tuple[datetime, str, str]]] = {}
    for (who, _, _), t in first.items():
        by_person.setdefault(who, []).append(t)
    outcomes: dict[str, tuple[str | None, datetime]] = {}
    for e in events:
        d = e.data
        if outcome == "application" and e.type == ATS_APPLICATION_CREATED.name and not d.prospect:
            at = d.applied_at or e.time
        elif outcome == "hire" and e.type == ATS_APPLICATION_HIRED.name:
            at = d.occurred_at
        else:
            continue
        before = outcomes.get(d.ats_application_id)
        if before is None or at < before[1]:
            outcomes[d.ats_application_id] = (_who(e, person, address), at)
    credit: dict[tuple[str, str], float] = {}
    for who, at in outcomes.values():
        if not PERIOD[0] <= at < PERIOD[1]:
            continue
        window = sorted(t for t in by_person.get(who or "", []) if at - lookback <= t[0] <= at)
        if not window:
            shares = [("no touch", "no touch", 1.0)]
        elif model == "first":
            shares = [(window[0][1], window[0][2], 1.0)]
        elif model == "last":
            shares = [(window[-1][1], window[-1][2], 1.0)]
        else:
            shares = [(k, r, 1 / len(window)) for _, k, r in window]
        for kind, ref, share in shares:
            credit[(kind, ref)] = credit.get((kind, ref), 0.0) + share
    return {k: round(v, 4) for k, v in credit.items()}


def one_person(ids: Ids, *, two_records: bool) -> list[EventEnvelope[Any]]:
    """One person (Zoë Müller) who came by referral, opened the broadcast, attended the event,
    applied twice and was hired: as one record, or as two records merged at the end (Zoe
    Mueller, the same person, came by the same referral an hour later, opened her own mail of
    the same broadcast first, and made the second application). Attribution must not tell the
    two apart: counting per record gave the hire broadcast 0.4, referral 0.4, event 0.2."""
    zoe, zoe_too = ids.candidate(100), ids.candidate(101)
    other = zoe_too if two_records else zoe
    start = FIRST_DAY + timedelta(days=3, hours=9)
    events: list[EventEnvelope[Any]] = []

    def add(spec: TopicSpec, data: BaseModel, at: datetime) -> None:
        subject = getattr(data, "candidate_id", None) or zoe
        events.append(
            EventEnvelope[Any](
                type=spec.name,
                source="test",
                tenant_id=ids.tenant_id,
                subject=subject,
                schema_version=spec.schema_version,
                time=at,
                data=data,
            )
        )

    def created(cid: str, at: datetime) -> None:
        profile = CandidateCreated(
            candidate_id=cid, first_name="Zoë", last_name="Müller", emails=[], source="referral"
        )
        add(CANDIDATE_CREATED, profile, at)

    def opened(cid: str, message_id: str, at: datetime) -> None:
        ref = {"message_id": message_id, "candidate_id": cid}
        sent = MessageSent(
            **ref, template_id="t", subject="Hi", broadcast_id=ids.broadcast_id, variant="A"
        )
        add(MESSAGE_SENT, sent, at - timedelta(hours=1))
        add(MESSAGE_OPENED, MessageOpened(**ref), at)

    def attended(cid: str, registration: str, at: datetime) -> None:
        add(
            EVENT_ATTENDED,
            EventAttended(
                tenant_id=ids.tenant_id,
                event_id=ids.event_id,
                event_name="Open day",
                registration_id=registration,
                candidate_id=cid,
                email=f"{cid}@{ids.tenant_id}.example.org",
                occurred_at=at,
                checked_in_at=at,
            ),
            at,
        )

    def applied(cid: str, app_id: str, at: datetime, hired_at: datetime | None) -> None:
        common: dict[str, Any] = {
            "provider": "greenhouse",
            "connection_id": "conn",
            "ats_application_id": app_id,
            "ats_candidate_id": f"ats-{cid}",
            "candidate_id": cid,
        }
        add(ATS_APPLICATION_CREATED, AtsApplicationCreated(**common, applied_at=at), at)
        if hired_at is not None:
            hired = AtsApplicationHired(**common, stage="Hired", occurred_at=hired_at)
            add(ATS_APPLICATION_HIRED, hired, hired_at)

    created(zoe, start)
    if two_records:
        created(zoe_too, start + timedelta(hours=1))
    opened(other, f"{ids.broadcast_id}-zoe-too", start + timedelta(days=1))
    opened(zoe, f"{ids.broadcast_id}-zoe", start + timedelta(days=2))
    attended(zoe, f"{ids.event_id}-r-zoe", start + timedelta(days=3))
    applied(zoe, "app-zoe", start + timedelta(days=4), start + timedelta(days=6))
    applied(other, "app-zoe-too", start + timedelta(days=5), None)
    if two_records:
        survivor = CandidateProfile(
            candidate_id=zoe, first_name="Zoë", last_name="Müller", emails=[], source="referral"
        )
        merge = CandidateMerged(
            merge_id=f"{ids.tenant_id}-zoe-merge",
            survivor_candidate_id=zoe,
            merged_candidate_id=zoe_too,
            survivor=survivor,
        )
        add(CANDIDATE_MERGED, merge, start + timedelta(days=7))
    return events
