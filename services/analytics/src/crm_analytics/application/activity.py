"""What each consumed event means to analytics: the tenant's counters it moves and the
candidate activity it scores; applied one event at a time or a whole batch at once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crm_analytics.application.engagement import Activity, score_activities, score_activity
from crm_analytics.application.storage import AnalyticsStorage
from crm_analytics.application.tallies import Counted, count, count_batch, count_once
from crm_analytics.domain.engagement import ActivityKind, EngagementModel
from crm_analytics.domain.metrics import TenantMetric
from crm_analytics.repositories.candidates import KnownCandidate
from crm_shared import (
    ATS_APPLICATION_CREATED,
    ATS_APPLICATION_HIRED,
    CANDIDATE_CREATED,
    EVENT_CHECKED_IN,
    EVENT_REGISTERED,
    MESSAGE_CLICKED,
    MESSAGE_OPENED,
    MESSAGE_REPLIED,
    MESSAGE_SENT,
    AtsApplicationCreated,
    AtsApplicationHired,
    CandidateCreated,
    EventCheckedIn,
    EventEnvelope,
    EventRegistered,
    MessageClicked,
    MessageOpened,
    MessageReplied,
    Session,
    utc_now,
)


@dataclass(frozen=True)
class Effects:
    """What one event changes: counts, counts made once per key, a candidate learnt, an
    activity scored."""

    counted: tuple[Counted, ...] = ()
    # (count, key): counted the first time `key` (a message) is counted in the metric.
    counted_once: tuple[tuple[Counted, str], ...] = ()
    learned: KnownCandidate | None = None  # a candidate the tenant has
    activity: Activity | None = None


def _counted(envelope: EventEnvelope[Any], metric: TenantMetric, *, dimension: str = "") -> Counted:
    return Counted(envelope.tenant_id, metric, envelope.time, dimension)


def _activity(
    envelope: EventEnvelope[Any],
    candidate_id: str,
    kind: ActivityKind,
    reference: str,
    occurred_at: datetime,
) -> Activity:
    return Activity(candidate_id, kind, reference, occurred_at, str(envelope.id))


def _candidate_created(envelope: EventEnvelope[Any]) -> Effects:
    created: CandidateCreated = envelope.data
    # New candidates are also counted per source (the home page's chart); the engagement route
    # answers 404 for a candidate the tenant does not have, hence the candidate is learnt; the
    # event reports name registrants known only by address by the digests learnt with it.
    return Effects(
        counted=(_counted(envelope, TenantMetric.CANDIDATES_CREATED, dimension=created.source),),
        learned=KnownCandidate.of(created.candidate_id, created.source, created.emails),
    )


def _application_created(envelope: EventEnvelope[Any]) -> Effects:
    application: AtsApplicationCreated = envelope.data
    # Counted on the day the person applied: a backfill of the ATS's history brings years of
    # applications in one afternoon, and none of them belongs to that afternoon. A prospect
    # has not applied.
    if application.prospect:
        return Effects()
    day = application.applied_at or envelope.time
    return Effects(counted=(Counted(envelope.tenant_id, TenantMetric.APPLICATIONS, day, ""),))


def _application_hired(envelope: EventEnvelope[Any]) -> Effects:
    hire: AtsApplicationHired = envelope.data
    # On the day of the hire, as the weekly report and attribution take it; once per ATS
    # application, as the milestones keep one hire per application, so a redelivery under a
    # new envelope id or a hire announced again counts once.
    counted = Counted(envelope.tenant_id, TenantMetric.HIRES, hire.occurred_at, "")
    return Effects(counted_once=((counted, f"{hire.connection_id}:{hire.ats_application_id}"),))


def _message_engaged(
    envelope: EventEnvelope[Any], metric: TenantMetric, kind: ActivityKind
) -> Effects:
    message: MessageOpened | MessageClicked = envelope.data
    if message.automated:
        # A prefetcher, bot or link scanner, not the candidate: neither counted nor engagement.
        return Effects()
    return Effects(
        counted_once=((_counted(envelope, metric), message.message_id),),
        activity=_activity(envelope, message.candidate_id, kind, message.message_id, envelope.time),
    )


def _message_replied(envelope: EventEnvelope[Any]) -> Effects:
    replied: MessageReplied = envelope.data
    return Effects(
        activity=_activity(
            envelope,
            replied.candidate_id,
            ActivityKind.MESSAGE_REPLIED,
            replied.message_id,
            replied.received_at,
        )
    )


def _event_registered(envelope: EventEnvelope[Any]) -> Effects:
    registration: EventRegistered = envelope.data
    counted = (_counted(envelope, TenantMetric.EVENT_REGISTRATIONS),)
    # A registrant nobody knew yet has no candidate id: there is nobody to score.
    if registration.candidate_id is None:
        return Effects(counted=counted)
    return Effects(
        counted=counted,
        activity=_activity(
            envelope,
            registration.candidate_id,
            ActivityKind.EVENT_REGISTERED,
            registration.event_id,
            registration.registered_at,
        ),
    )


def _event_checked_in(envelope: EventEnvelope[Any]) -> Effects:
    attendance: EventCheckedIn = envelope.data
    if attendance.candidate_id is None:
        return Effects()
    return Effects(
        activity=_activity(
            envelope,
            attendance.candidate_id,
            ActivityKind.EVENT_CHECKED_IN,
            attendance.event_id,
            attendance.checked_in_at,
        )
    )


_EFFECTS: dict[str, Callable[[EventEnvelope[Any]], Effects]] = {
    CANDIDATE_CREATED.name: _candidate_created,
    MESSAGE_SENT.name: lambda e: Effects(counted=(_counted(e, TenantMetric.MESSAGES_SENT),)),
    ATS_APPLICATION_CREATED.name: _application_created,
    ATS_APPLICATION_HIRED.name: _application_hired,
    MESSAGE_OPENED.name: lambda e: _message_engaged(
        e, TenantMetric.MESSAGES_OPENED, ActivityKind.MESSAGE_OPENED
    ),
    MESSAGE_CLICKED.name: lambda e: _message_engaged(
        e, TenantMetric.MESSAGES_CLICKED, ActivityKind.MESSAGE_CLICKED
    ),
    MESSAGE_REPLIED.name: _message_replied,
    EVENT_REGISTERED.name: _event_registered,
    EVENT_CHECKED_IN.name: _event_checked_in,
}

RECORDED_TOPICS = tuple(_EFFECTS)


def effects_of(envelope: EventEnvelope[Any]) -> Effects:
    """What the event changes in analytics (a programming error for a topic it does not read)."""
    return _EFFECTS[envelope.type](envelope)


@dataclass(frozen=True)
class ActivityRecorder:
    """Applies consumed events to the tenants' counters and the candidates' engagement."""

    storage: AnalyticsStorage
    model: EngagementModel
    clock: Callable[[], datetime] = utc_now

    async def record(self, envelope: EventEnvelope[Any], session: Session) -> None:
        """Applies one event: the reference the batched form is tested against."""
        effects = effects_of(envelope)
        for counted in effects.counted:
            await count(self.storage, counted, session=session)
        for counted, key in effects.counted_once:
            await count_once(self.storage, counted, key, session=session)
        if effects.learned is not None:
            await self.storage.known_candidates(envelope.tenant_id).learn(
                effects.learned, session=session
            )
        if effects.activity is not None:
            await score_activity(
                self.storage,
                self.model,
                envelope.tenant_id,
                effects.activity,
                now=self.clock(),
                session=session,
            )

    async def record_batch(self, envelopes: Sequence[EventEnvelope[Any]], session: Session) -> None:
        """Applies a batch of events, in order, with one bulk write per collection: counts are
        summed per counter and day, and each candidate is scored once with every activity of
        the batch. Leaves what `record` of each event in turn leaves; only the intermediate
        `engagement.scored` of a candidate within one batch are left out (the last is staged)."""
        effects = [(envelope.tenant_id, effects_of(envelope)) for envelope in envelopes]
        await count_batch(
            self.storage,
            [counted for _, e in effects for counted in e.counted],
            [once for _, e in effects for once in e.counted_once],
            session=session,
        )
        learned = [(tenant_id, e.learned) for tenant_id, e in effects if e.learned is not None]
        for tenant_id in dict.fromkeys(tenant for tenant, _ in learned):
            await self.storage.known_candidates(tenant_id).learn_all(
                [candidate for tenant, candidate in learned if tenant == tenant_id],
                session=session,
            )
        await score_activities(
            self.storage,
            self.model,
            [(tenant_id, e.activity) for tenant_id, e in effects if e.activity is not None],
            now=self.clock(),
            session=session,
        )
