"""Funnels and attribution, read from the journeys: the people as they are now (records merged
into one person read as one, people known only by an address as the candidate holding it),
over a period of days in the tenant's time zone."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from crm_analytics.application.settings import tenant_time_zone
from crm_analytics.application.storage import AnalyticsStorage
from crm_analytics.domain.attribution import (
    Attribution,
    Credited,
    Model,
    Outcome,
    Touch,
    attribute,
    person_touches,
)
from crm_analytics.domain.funnel import (
    Funnel,
    FunnelBy,
    Journey,
    StepTimes,
    funnels_of,
    sourced_in,
    step_times,
)
from crm_analytics.domain.time_zone import days_in_zone
from crm_analytics.domain.timeseries import refused_range
from crm_analytics.repositories.journeys import journey_of, split_values, step_times_of

# The longest period a funnel or attribution report covers, and the most people (a funnel's
# cohort) and outcomes (attribution) one request folds: a request above is refused (422) and
# asks for a shorter period, so no request reads more than this many journeys or outcomes.
MAX_PERIOD_DAYS = 400
MAX_COHORT = 100_000
MAX_OUTCOMES = 50_000
MAX_LOOKBACK_DAYS = 730


class PeriodRefused(Exception):
    """A period a report cannot answer (reversed, too long, or too many people in it)."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field


@dataclass(frozen=True)
class Period:
    first_day: date
    last_day: date
    time_zone: str
    start: datetime
    end: datetime


async def period(
    storage: AnalyticsStorage, tenant_id: str, first_day: date, last_day: date
) -> Period:
    """The days `first_day` to `last_day` in the tenant's time zone, as instants."""
    if refusal := refused_range(first_day, last_day, MAX_PERIOD_DAYS):
        raise PeriodRefused("to", refusal)
    zone = await tenant_time_zone(storage, tenant_id)
    start, end = days_in_zone(first_day, last_day, zone)
    return Period(first_day, last_day, zone.key, start, end)


@dataclass
class People:
    """Who each record and address is now: the person (a candidate id, the survivor of every
    merge) standing for it."""

    survivors: dict[str, str]
    holders: dict[str, str]

    def of(self, candidate_id: str | None, digest: str | None = None) -> str | None:
        if candidate_id:
            return self.survivors.get(candidate_id, candidate_id)
        if digest and digest in self.holders:
            holder = self.holders[digest]
            return self.survivors.get(holder, holder)
        return None


async def _cohort(
    storage: AnalyticsStorage, tenant_id: str, days: Period, by: FunnelBy
) -> list[tuple[StepTimes, frozenset[str | None]]]:
    """The people first sourced in the period, each as their time of each step and the
    values of `by` they count in: every record merged into the person and the steps of the
    person's addresses combined. `PeriodRefused` above `MAX_COHORT` records.

    Most people are one record with no address journey: their figures are taken from the
    stored document as it is. Only the others are built as `Journey`s and combined (a
    quarter's 62,500 `Journey`s cost seconds, docs/performance.md)."""
    journeys = storage.journeys(tenant_id)
    merges = storage.merged_candidates(tenant_id)
    # One more than the bound tells a period above it: one read where a count first cost
    # a second pass over the period's index entries (57 ms of a quarter's 480 here).
    sourced = await journeys.sourced_between(days.start, days.end, by, limit=MAX_COHORT + 1)
    if len(sourced) > MAX_COHORT:
        raise PeriodRefused(
            "from", f"more than {MAX_COHORT} candidates were sourced in the period: shorten it"
        )
    loaded = {d["candidate_id"]: d for d in sourced}
    start, end = _naive_utc(days.start), _naive_utc(days.end)  # as the journeys' times

    async def merge_records() -> tuple[dict[str, str], list[dict[str, Any]]]:
        """Each record's person, and the records of the cohort's people not yet read."""
        survivors = await merges.survivors_of(list(loaded))
        persons = list({survivors.get(c, c) for c in loaded})
        absorbed = await merges.absorbed_by(persons)
        missing = sorted((set(persons) | set(absorbed)) - set(loaded))
        return survivors | absorbed, await journeys.journeys_of(missing, by)

    # Only an address someone known by it alone did something with needs its holder: the
    # holders of every address of a large cohort would be a multikey lookup per address.
    # The merges and the address journeys do not depend on each other: asked together.
    digests = _digests(loaded.values())
    (survivors, others), by_address = await asyncio.gather(
        merge_records(), journeys.addresses(list(digests))
    )
    for document in others:
        loaded[document["candidate_id"]] = document
    if more := _digests(others) - digests:
        by_address |= await journeys.addresses(sorted(more))
    people = People(survivors, await journeys.holders(sorted(by_address)))
    # The records of each person with more than one (a merge), their own among them.
    merged: dict[str, list[str]] = {}
    for candidate_id, person in survivors.items():
        if candidate_id in loaded:
            merged.setdefault(person, []).append(candidate_id)
    for person, ids in merged.items():
        if person in loaded and person not in survivors:
            ids.append(person)
    addressed: dict[str, list[Journey]] = {}
    for digest, address in by_address.items():
        holder = people.of(None, digest)
        if holder is not None and (
            holder in merged or (holder in loaded and holder not in survivors)
        ):
            addressed.setdefault(holder, []).append(address)
    cohort: list[tuple[StepTimes, frozenset[str | None]]] = []
    for person in {*merged, *addressed}:
        ids = merged.get(person, [person])
        journey = _combined(person, [loaded[c] for c in sorted(ids)], addressed.get(person, []))
        times = step_times(journey)
        # The person's first record decides the period (a record merged into one sourced
        # earlier leaves it).
        if sourced_in(times, start, end):
            cohort.append((times, journey.values(by)))
    # Everyone else is one record of the period, read for it: its document as it is.
    combined = survivors.keys() | merged.keys() | addressed.keys()
    for candidate_id, document in loaded.items():
        if candidate_id not in combined:
            cohort.append((step_times_of(document), split_values(document, by)))
    return cohort


def _naive_utc(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(tzinfo=None)


def _digests(documents: Iterable[dict[str, Any]]) -> set[str]:
    return {d for document in documents for d in document.get("address_digests") or ()}


def _combined(
    person: str, records: Sequence[dict[str, Any]], addresses: Sequence[Journey]
) -> Journey:
    """One person's records (stored journeys, by id) and address journeys as one: each step's
    earliest time, the source of the record sourced first, every set's union."""
    theirs = sorted(
        (journey_of(document) for document in records), key=lambda j: j.person_id != person
    )  # the person's own record first
    journey = replace(theirs[0], person_id=person)
    for other in theirs[1:]:
        journey = journey.combined(other)
    for address in addresses:
        # An address's steps carry no source: the person's own stays.
        journey = journey.combined(address)
    return journey


@dataclass(frozen=True)
class FunnelReport:
    period: Period
    by: FunnelBy
    cohort: int
    funnels: list[Funnel]


async def funnel_report(
    storage: AnalyticsStorage, tenant_id: str, first_day: date, last_day: date, by: FunnelBy
) -> FunnelReport:
    """The funnel of the people sourced in the period (first sourced, over all their records),
    split by `by`; `PeriodRefused` for a period it cannot answer."""
    days = await period(storage, tenant_id, first_day, last_day)
    cohort = await _cohort(storage, tenant_id, days, by)
    return FunnelReport(days, by, len(cohort), funnels_of(cohort, by))


@dataclass(frozen=True)
class AttributionReport:
    period: Period
    outcome: Outcome
    model: Model
    lookback_days: int
    attribution: Attribution


async def attribution_report(
    storage: AnalyticsStorage,
    tenant_id: str,
    first_day: date,
    last_day: date,
    outcome: Outcome,
    model: Model,
    lookback_days: int,
) -> AttributionReport:
    """The credit of each campaign, sequence, event and source for the applications (or hires)
    in the period, from each one's person's touches in the lookback before it."""
    days = await period(storage, tenant_id, first_day, last_day)
    journeys = storage.journeys(tenant_id)
    if await journeys.count_outcomes(outcome, days.start, days.end) > MAX_OUTCOMES:
        raise PeriodRefused(
            "from", f"more than {MAX_OUTCOMES} {outcome.value}s fall in the period: shorten it"
        )
    stored = await journeys.outcomes_between(outcome, days.start, days.end)
    lookback = timedelta(days=lookback_days)
    holders = await journeys.holders(
        sorted({o.address_digest for o in stored if not o.candidate_id and o.address_digest})
    )
    named = {o.candidate_id or holders.get(o.address_digest or "") for o in stored}
    merges = storage.merged_candidates(tenant_id)
    survivors = await merges.survivors_of(sorted(c for c in named if c))
    people = People(survivors, holders)
    persons = sorted({p for o in stored if (p := people.of(o.candidate_id, o.address_digest))})
    absorbed = await merges.absorbed_by(persons)
    records = sorted({*persons, *absorbed})
    by_person: dict[str, list[dict[str, Touch]]] = {}
    for candidate_id, keyed in (await journeys.touches_of(records)).items():
        by_person.setdefault(absorbed.get(candidate_id, candidate_id), []).append(keyed)
    # One touch per broadcast, sequence step, event and sign-up per person, not per record:
    # two merged records that opened the same broadcast were credited it twice.
    touches = {person: person_touches(theirs) for person, theirs in by_person.items()}
    credited = [
        Credited(o.outcome_id, people.of(o.candidate_id, o.address_digest), o.at) for o in stored
    ]
    return AttributionReport(
        days, outcome, model, lookback_days, attribute(credited, touches, lookback, model)
    )
