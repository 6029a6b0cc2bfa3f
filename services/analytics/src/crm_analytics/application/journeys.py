"""Candidates' journeys: the topics folded into each candidate's first time of each funnel step,
what they were in or engaged with, their touches and the applications and hires to attribute.

Each consumed event becomes facts (`Told`); a batch's facts are combined per tenant and written
with operators that commute, so events in any order and any number of times leave one state."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crm_analytics.application.storage import AnalyticsStorage
from crm_analytics.domain.attribution import Outcome, Touch, TouchKind
from crm_analytics.domain.funnel import Step, is_interview_stage
from crm_analytics.repositories.journeys import (
    JourneyChange,
    MessageSource,
    OutcomeChange,
    TouchChange,
)
from crm_shared import (
    ATS_APPLICATION_CREATED,
    ATS_APPLICATION_HIRED,
    ATS_APPLICATION_REJECTED,
    ATS_APPLICATION_STAGE_CHANGED,
    CANDIDATE_CREATED,
    EVENT_ATTENDED,
    EVENT_CHECKED_IN,
    EVENT_REGISTERED,
    EVENT_WAITLISTED,
    MESSAGE_CLICKED,
    MESSAGE_OPENED,
    MESSAGE_REPLIED,
    MESSAGE_SENT,
    POOL_STAGE_CHANGED,
    SEGMENT_ENTERED,
    AtsApplicationChange,
    AtsApplicationCreated,
    AtsApplicationHired,
    AtsApplicationRejected,
    AtsApplicationStageChanged,
    CandidateCreated,
    EventEnvelope,
    MessageSent,
    PoolStageChanged,
    SegmentEntered,
    Session,
    email_sha256,
    erased_addresses_among,
    erased_among,
)


@dataclass
class Told:
    """What one batch of one tenant tells the journeys."""

    people: dict[str, JourneyChange] = field(default_factory=dict)
    addresses: dict[str, JourneyChange] = field(default_factory=dict)
    touches: list[TouchChange] = field(default_factory=list)
    outcomes: list[OutcomeChange] = field(default_factory=list)
    # message id -> (candidate, source) from `message.sent`; (candidate, first human engagement)
    sent: dict[str, tuple[str, MessageSource]] = field(default_factory=dict)
    engaged: dict[str, tuple[str, datetime]] = field(default_factory=dict)

    def person(self, candidate_id: str) -> JourneyChange:
        return self.people.setdefault(candidate_id, JourneyChange())

    def of(self, candidate_id: str | None, email: str | None) -> JourneyChange | None:
        """The change of the candidate, else of the address (None: neither is named)."""
        if candidate_id:
            return self.person(candidate_id)
        if email:
            return self.addresses.setdefault(email_sha256(email), JourneyChange())
        return None


def _created(told: Told, envelope: EventEnvelope[Any]) -> None:
    created: CandidateCreated = envelope.data
    change = told.person(created.candidate_id)
    change.at(Step.SOURCED, envelope.time)
    change.source = created.source
    change.digests |= {email_sha256(e) for e in created.emails}
    for placement in created.pools:
        change.add("pools", placement.pool_id)
    told.touches.append(
        TouchChange(
            created.candidate_id, "source", Touch(envelope.time, TouchKind.SOURCE, created.source)
        )
    )


def _sent(told: Told, envelope: EventEnvelope[Any]) -> None:
    sent: MessageSent = envelope.data
    if sent.broadcast_id:
        source = MessageSource(TouchKind.BROADCAST, sent.broadcast_id)
    elif sent.sequence_id:
        source = MessageSource(TouchKind.SEQUENCE, sent.sequence_id, sent.step_index)
    else:
        return  # direct mail is no campaign to credit
    told.sent[sent.message_id] = (sent.candidate_id, source)


def _engaged(told: Told, envelope: EventEnvelope[Any]) -> None:
    """A human open or click (a prefetcher's, bot's or link scanner's does not count)."""
    data = envelope.data
    if data.automated:
        return
    told.person(data.candidate_id).at(Step.ENGAGED, envelope.time)
    before = told.engaged.get(data.message_id)
    at = envelope.time if before is None else min(before[1], envelope.time)
    told.engaged[data.message_id] = (data.candidate_id, at)


def _replied(told: Told, envelope: EventEnvelope[Any]) -> None:
    data = envelope.data
    told.person(data.candidate_id).at(Step.RESPONDED, data.received_at)


def _registered(told: Told, envelope: EventEnvelope[Any]) -> None:
    """A registration (a seat or the waitlist): a response, and the event's funnel."""
    data = envelope.data
    change = told.of(data.candidate_id, data.email)
    if change is not None:
        change.at(Step.RESPONDED, data.registered_at)
        change.add("events", data.event_id)


def _attended(told: Told, envelope: EventEnvelope[Any]) -> None:
    """A check-in (or an attendee settled at completion): a touch of the event."""
    data = envelope.data
    change = told.of(data.candidate_id, data.email)
    if change is None:
        return
    change.add("events", data.event_id)
    if data.candidate_id:
        told.touches.append(
            TouchChange(
                data.candidate_id,
                f"event:{data.event_id}",
                Touch(data.checked_in_at, TouchKind.EVENT, data.event_id),
            )
        )


def _ats(
    told: Told,
    change: AtsApplicationChange | AtsApplicationCreated,
    step: Step,
    at: datetime,
    outcome: Outcome | None,
) -> None:
    journey = told.of(change.candidate_id, change.email)
    if journey is None:
        return
    journey.at(step, at)
    if outcome is not None:
        told.outcomes.append(
            OutcomeChange(
                kind=outcome,
                connection_id=change.connection_id,
                ats_application_id=change.ats_application_id,
                candidate_id=change.candidate_id,
                address_digest=email_sha256(change.email) if change.email else None,
                at=at,
            )
        )


def _application(told: Told, envelope: EventEnvelope[Any]) -> None:
    """An application (a prospect is none), at the ATS's applied time when it says; one that
    starts in an interview stage (the stage an ATS's history gives it) is an interview then."""
    created: AtsApplicationCreated = envelope.data
    if created.prospect:
        return
    applied_at = created.applied_at or envelope.time
    _ats(told, created, Step.APPLIED, applied_at, Outcome.APPLICATION)
    if is_interview_stage(created.stage):
        _ats(told, created, Step.INTERVIEWED, applied_at, None)


def _stage_changed(told: Told, envelope: EventEnvelope[Any]) -> None:
    changed: AtsApplicationStageChanged = envelope.data
    if is_interview_stage(changed.stage):
        _ats(told, changed, Step.INTERVIEWED, changed.occurred_at, None)


def _rejected(told: Told, envelope: EventEnvelope[Any]) -> None:
    """A rejection names the furthest stage the application reached: at an interview stage,
    the person was interviewed (by the rejection at the latest, the time the ATS tells)."""
    rejected: AtsApplicationRejected = envelope.data
    if is_interview_stage(rejected.stage):
        _ats(told, rejected, Step.INTERVIEWED, rejected.occurred_at, None)


def _hired(told: Told, envelope: EventEnvelope[Any]) -> None:
    hired: AtsApplicationHired = envelope.data
    _ats(told, hired, Step.HIRED, hired.occurred_at, Outcome.HIRE)


def _pool(told: Told, envelope: EventEnvelope[Any]) -> None:
    """Added to (or moved in) a pool: the person counts in its funnel from then on."""
    changed: PoolStageChanged = envelope.data
    if changed.to_stage is not None:
        told.person(changed.candidate_id).add("pools", changed.pool_id)


def _segment(told: Told, envelope: EventEnvelope[Any]) -> None:
    entered: SegmentEntered = envelope.data
    told.person(entered.candidate_id).add("segments", entered.segment_id)


_FOLDS: dict[str, Callable[[Told, EventEnvelope[Any]], None]] = {
    CANDIDATE_CREATED.name: _created,
    MESSAGE_SENT.name: _sent,
    MESSAGE_OPENED.name: _engaged,
    MESSAGE_CLICKED.name: _engaged,
    MESSAGE_REPLIED.name: _replied,
    EVENT_REGISTERED.name: _registered,
    EVENT_WAITLISTED.name: _registered,
    EVENT_CHECKED_IN.name: _attended,
    EVENT_ATTENDED.name: _attended,
    ATS_APPLICATION_CREATED.name: _application,
    ATS_APPLICATION_STAGE_CHANGED.name: _stage_changed,
    ATS_APPLICATION_REJECTED.name: _rejected,
    ATS_APPLICATION_HIRED.name: _hired,
    POOL_STAGE_CHANGED.name: _pool,
    SEGMENT_ENTERED.name: _segment,
}


def told_by(envelopes: Sequence[EventEnvelope[Any]]) -> dict[str, Told]:
    """What the envelopes tell each tenant's journeys."""
    by_tenant: dict[str, Told] = {}
    for envelope in envelopes:
        _FOLDS[envelope.type](by_tenant.setdefault(envelope.tenant_id, Told()), envelope)
    return by_tenant


def _touch_of(candidate_id: str, source: MessageSource, at: datetime) -> TouchChange:
    key = f"{source.kind.value}:{source.ref}"
    if source.step is not None:
        key += f":{source.step}"
    return TouchChange(candidate_id, key, Touch(at, source.kind, source.ref))


@dataclass(frozen=True)
class JourneyFolder:
    """Applies consumed events to the journeys, once per batch and tenant: one read and one
    write per collection; a person erased already (by candidate or address) is not recorded
    again by a late event about them."""

    storage: AnalyticsStorage

    async def record_batch(self, envelopes: Sequence[EventEnvelope[Any]], session: Session) -> None:
        for tenant_id, told in told_by(envelopes).items():
            await self._fold(
                tenant_id, await self._without_erased(tenant_id, told, session), session
            )

    async def _without_erased(self, tenant_id: str, told: Told, session: Session) -> Told:
        database = self.storage.database
        named = {
            *told.people,
            *(t.candidate_id for t in told.touches),
            *(c for c, _ in told.sent.values()),
            *(c for c, _ in told.engaged.values()),
            *(o.candidate_id for o in told.outcomes if o.candidate_id),
        }
        erased = await erased_among(database, tenant_id, sorted(named), session=session)
        digests = {*told.addresses, *(o.address_digest for o in told.outcomes if o.address_digest)}
        gone = await erased_addresses_among(database, tenant_id, sorted(digests), session=session)
        if not erased and not gone:
            return told
        return Told(
            people={c: j for c, j in told.people.items() if c not in erased},
            addresses={d: j for d, j in told.addresses.items() if d not in gone},
            touches=[t for t in told.touches if t.candidate_id not in erased],
            outcomes=[
                o
                for o in told.outcomes
                if o.candidate_id not in erased and o.address_digest not in gone
            ],
            sent={m: s for m, s in told.sent.items() if s[0] not in erased},
            engaged={m: e for m, e in told.engaged.items() if e[0] not in erased},
        )

    async def _fold(self, tenant_id: str, told: Told, session: Session) -> None:
        journeys = self.storage.journeys(tenant_id)
        engaged = await journeys.fold_messages(told.sent, told.engaged, session=session)
        for message in engaged:
            told.touches.append(_touch_of(message.candidate_id, message.source, message.engaged_at))
            name = "broadcasts" if message.source.kind is TouchKind.BROADCAST else "sequences"
            told.person(message.candidate_id).add(name, message.source.ref)
        await journeys.fold_touches(told.touches, session=session)
        await journeys.fold_journeys(told.people, session=session)
        await journeys.fold_addresses(told.addresses, session=session)
        await journeys.fold_outcomes(told.outcomes, session=session)
