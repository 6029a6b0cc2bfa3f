"""Recruiting event reports: the event and registrant topics folded into analytics' own
record of each event, the ATS topics into applications and hires, and the reports read from
them (one event, or every event starting in a period)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from crm_analytics.application.storage import AnalyticsStorage
from crm_analytics.domain.event_report import (
    EventChange,
    EventFigures,
    Milestone,
    Registrant,
    ReportedEvent,
    figures,
    identified,
    totals,
)
from crm_analytics.repositories.candidates import KnownCandidateRepository
from crm_analytics.repositories.merged_candidates import MergedCandidateRepository
from crm_analytics.repositories.milestones import MilestoneKind, ReportedMilestone
from crm_shared import (
    ATS_APPLICATION_CREATED,
    ATS_APPLICATION_HIRED,
    EVENT_ATTENDED,
    EVENT_CHECKED_IN,
    EVENT_INVITATION_CHANGED,
    EVENT_NO_SHOW,
    EVENT_REGISTERED,
    EVENT_REGISTRATION_CANCELLED,
    EVENT_WAITLISTED,
    AtsApplicationChange,
    AtsApplicationCreated,
    AtsApplicationHired,
    EventAttended,
    EventCheckedIn,
    EventEnvelope,
    EventInvitationChanged,
    EventNoShow,
    EventRegistered,
    EventRegistrationCancelled,
    EventWaitlisted,
    Session,
    email_sha256,
    erased_addresses_among,
    erased_among,
    normalise_email,
)


@dataclass(frozen=True)
class Folded:
    """What one consumed event tells the event reports."""

    event: EventChange | None = None
    registrant: Registrant | None = None
    milestone: ReportedMilestone | None = None


def _registrant(envelope: EventEnvelope[Any], **told: Any) -> Registrant:
    data = envelope.data
    return Registrant(
        event_id=data.event_id,
        registration_id=data.registration_id,
        candidate_id=data.candidate_id,
        email=normalise_email(data.email),
        **told,
    )


def _event(envelope: EventEnvelope[Any], **told: Any) -> EventChange:
    data = envelope.data
    starts_at = told.pop("starts_at", None)
    return EventChange(
        event_id=data.event_id,
        event_name=data.event_name,
        told_at=envelope.time,
        starts_at=starts_at,
        starts_told_at=envelope.time if starts_at is not None else None,
        **told,
    )


def _event_start(
    told: EventRegistered | EventWaitlisted | EventInvitationChanged,
) -> datetime | None:
    """When the event starts, as a registrant's event says: its own start where told
    (`event_starts_at`), else `starts_at` unless that is the registrant's session's (an event
    with sessions told before `event_starts_at` existed tells nothing of its own start)."""
    if told.event_starts_at is not None:
        return told.event_starts_at
    return told.starts_at if told.session_id is None else None


def _registered(envelope: EventEnvelope[Any]) -> Folded:
    registered: EventRegistered = envelope.data
    return Folded(
        event=_event(envelope, starts_at=_event_start(registered)),
        registrant=_registrant(envelope, seated_at=envelope.time, walk_in=registered.walk_in),
    )


def _waitlisted(envelope: EventEnvelope[Any]) -> Folded:
    waitlisted: EventWaitlisted = envelope.data
    return Folded(
        event=_event(envelope, starts_at=_event_start(waitlisted)),
        registrant=_registrant(envelope, waitlisted_at=envelope.time),
    )


def _cancelled(envelope: EventEnvelope[Any]) -> Folded:
    cancelled: EventRegistrationCancelled = envelope.data
    return Folded(
        event=_event(envelope),
        registrant=_registrant(envelope, cancelled_at=max(envelope.time, cancelled.cancelled_at)),
    )


def _checked_in(envelope: EventEnvelope[Any]) -> Folded:
    checked_in: EventCheckedIn = envelope.data
    return Folded(
        event=_event(envelope),
        registrant=_registrant(
            envelope, checked_in_at=checked_in.checked_in_at, walk_in=checked_in.walk_in
        ),
    )


def _attended(envelope: EventEnvelope[Any]) -> Folded:
    attended: EventAttended = envelope.data
    return Folded(
        event=_event(envelope, completed_at=attended.occurred_at),
        registrant=_registrant(
            envelope,
            checked_in_at=attended.checked_in_at,
            walk_in=attended.walk_in,
            attended=True,
        ),
    )


def _no_show(envelope: EventEnvelope[Any]) -> Folded:
    no_show: EventNoShow = envelope.data
    return Folded(
        event=_event(envelope, completed_at=no_show.occurred_at),
        registrant=_registrant(envelope, no_show=True),
    )


def _invitation_changed(envelope: EventEnvelope[Any]) -> Folded:
    changed: EventInvitationChanged = envelope.data
    cancelled = changed.change == "cancelled"
    return Folded(
        event=_event(
            envelope,
            starts_at=_event_start(changed),
            cancelled_at=changed.occurred_at if cancelled else None,
        )
    )


def _milestone(
    kind: MilestoneKind, change: AtsApplicationCreated | AtsApplicationChange, at: datetime
) -> Folded:
    return Folded(
        milestone=ReportedMilestone(
            kind=kind,
            connection_id=change.connection_id,
            ats_application_id=change.ats_application_id,
            candidate_id=change.candidate_id,
            email=normalise_email(change.email) if change.email else None,
            at=at,
        )
    )


def _application(envelope: EventEnvelope[Any]) -> Folded:
    created: AtsApplicationCreated = envelope.data
    return _milestone(MilestoneKind.APPLICATION, created, created.applied_at or envelope.time)


def _hire(envelope: EventEnvelope[Any]) -> Folded:
    hired: AtsApplicationHired = envelope.data
    return _milestone(MilestoneKind.HIRE, hired, hired.occurred_at)


_FOLDS: dict[str, Callable[[EventEnvelope[Any]], Folded]] = {
    EVENT_REGISTERED.name: _registered,
    EVENT_WAITLISTED.name: _waitlisted,
    EVENT_REGISTRATION_CANCELLED.name: _cancelled,
    EVENT_CHECKED_IN.name: _checked_in,
    EVENT_ATTENDED.name: _attended,
    EVENT_NO_SHOW.name: _no_show,
    EVENT_INVITATION_CHANGED.name: _invitation_changed,
    ATS_APPLICATION_CREATED.name: _application,
    ATS_APPLICATION_HIRED.name: _hire,
}


def folded(envelope: EventEnvelope[Any]) -> Folded:
    """What the event tells the reports (a programming error for a topic they do not read)."""
    return _FOLDS[envelope.type](envelope)


@dataclass(frozen=True)
class EventReportFolder:
    """Applies consumed events to the event reports. Every change commutes (see
    `Registrant`), so a batch, a redelivery or events out of order leave one state."""

    storage: AnalyticsStorage

    async def record_batch(self, envelopes: Sequence[EventEnvelope[Any]], session: Session) -> None:
        """Folds a batch with one read and write per collection and tenant; a person erased
        already (by candidate or by address) is not brought back by a late event about them."""
        by_tenant: dict[str, list[Folded]] = {}
        for envelope in envelopes:
            by_tenant.setdefault(envelope.tenant_id, []).append(folded(envelope))
        for tenant_id, all_folded in by_tenant.items():
            people = [c for f in all_folded for c in (f.registrant, f.milestone) if c is not None]
            erased = await self._erased(tenant_id, people, session)
            reports = self.storage.event_reports(tenant_id)
            await reports.fold_events(
                [f.event for f in all_folded if f.event is not None], session=session
            )
            await reports.fold_registrants(
                [
                    f.registrant
                    for f in all_folded
                    if f.registrant is not None and not erased(f.registrant)
                ],
                session=session,
            )
            await self.storage.milestones(tenant_id).record(
                [
                    f.milestone
                    for f in all_folded
                    if f.milestone is not None and not erased(f.milestone)
                ],
                session=session,
            )

    async def _erased(
        self, tenant_id: str, people: Sequence[Registrant | ReportedMilestone], session: Session
    ) -> Callable[[Registrant | ReportedMilestone], bool]:
        """Whether each of the people was erased: their candidate, or their address (one
        query each for the batch)."""
        database = self.storage.database
        named = [p.candidate_id for p in people if p.candidate_id is not None]
        erased = await erased_among(database, tenant_id, named, session=session)
        digests = [email_sha256(p.email) for p in people if p.email]
        gone = await erased_addresses_among(database, tenant_id, digests, session=session)
        return lambda p: (
            p.candidate_id in erased or (p.email is not None and email_sha256(p.email) in gone)
        )


@dataclass(frozen=True)
class EventReport:
    """One event as analytics knows it, with its figures."""

    event: ReportedEvent
    figures: EventFigures


@dataclass(frozen=True)
class PeriodReport:
    """Every event starting in a period, and their figures summed."""

    events: list[EventReport]
    totals: EventFigures


class UnknownEvent(Exception):
    """Analytics was told nothing of the event in this tenant (no registration yet, or
    another tenant's event)."""


async def _holders(
    known: KnownCandidateRepository, registrants: Sequence[Registrant]
) -> dict[str, str]:
    """The candidate holding each address of the registrants known only by address."""
    digests = {
        email_sha256(r.email): r.email for r in registrants if r.candidate_id is None and r.email
    }
    if not digests:
        return {}
    return {digests[d]: c for d, c in (await known.holding(list(digests))).items()}


async def _reports(
    storage: AnalyticsStorage, tenant_id: str, events: Sequence[ReportedEvent], within_days: int
) -> list[EventReport]:
    """Each event's figures: its registrants as the candidates they are now (by address, and
    a merged record as its survivor), their sources and their applications and hires (those
    of any record merged into them too), read once for all the events."""
    reports = storage.event_reports(tenant_id)
    known = storage.known_candidates(tenant_id)
    merges = storage.merged_candidates(tenant_id)
    stored = await reports.registrants([e.event_id for e in events])
    holders = await _holders(known, [r for rs in stored.values() for r in rs])
    named = {r.candidate_id for rs in stored.values() for r in rs if r.candidate_id}
    survivors = await merges.survivors_of(sorted(named | set(holders.values())))
    registrants = {event_id: identified(rs, holders, survivors) for event_id, rs in stored.items()}
    everyone = [r for rs in registrants.values() for r in rs]
    candidate_ids = sorted({r.candidate_id for r in everyone if r.candidate_id})
    emails = sorted({r.email for r in everyone if r.email})
    sources = await known.sources(candidate_ids)
    # Applications and hires the ATS reported under a record merged into a registrant since.
    absorbed = await merges.absorbed_by(candidate_ids)
    milestones = storage.milestones(tenant_id)
    asked = sorted({*candidate_ids, *absorbed})
    applications = await milestones.of_people(MilestoneKind.APPLICATION, asked, emails)
    hires = await milestones.of_people(MilestoneKind.HIRE, asked, emails)
    applications, hires = await _as_survivors(merges, applications, hires)
    return [
        EventReport(
            event,
            figures(event, registrants[event.event_id], sources, applications, hires, within_days),
        )
        for event in events
    ]


async def _as_survivors(
    merges: MergedCandidateRepository, *found: list[Milestone]
) -> tuple[list[Milestone], ...]:
    """The milestones, each naming the candidate its candidate stands for now."""
    named = sorted({m.candidate_id for ms in found for m in ms if m.candidate_id})
    survivors = await merges.survivors_of(named) if named else {}
    return tuple(
        [
            replace(m, candidate_id=survivors[m.candidate_id]) if m.candidate_id in survivors else m
            for m in ms
        ]
        for ms in found
    )


async def event_report(
    storage: AnalyticsStorage, tenant_id: str, event_id: str, within_days: int
) -> EventReport:
    """One event's report; `UnknownEvent` when analytics knows nothing of it."""
    event = await storage.event_reports(tenant_id).event(event_id)
    if event is None:
        raise UnknownEvent(event_id)
    [report] = await _reports(storage, tenant_id, [event.reported()], within_days)
    return report


async def period_report(
    storage: AnalyticsStorage, tenant_id: str, start: datetime, end: datetime, within_days: int
) -> PeriodReport:
    """The reports of the events starting in [start, end), earliest first, and their totals."""
    events = await storage.event_reports(tenant_id).starting_between(start, end)
    reports = await _reports(storage, tenant_id, [e.reported() for e in events], within_days)
    return PeriodReport(reports, totals([r.figures for r in reports]))
