"""What each consumed event means to analytics: the tenant's counters it moves and the
candidate activity it scores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crm_analytics.application.engagement import Activity, score_activity
from crm_analytics.application.storage import AnalyticsStorage
from crm_analytics.application.tallies import Counted, count, count_once
from crm_analytics.domain.engagement import ActivityKind, EngagementModel
from crm_analytics.domain.metrics import TenantMetric
from crm_shared import (
    CandidateCreated,
    EventCheckedIn,
    EventEnvelope,
    EventRegistered,
    MessageClicked,
    MessageOpened,
    MessageReplied,
    Session,
)


@dataclass(frozen=True)
class ActivityRecorder:
    """Applies one consumed event to the tenant's counters and the candidate's engagement."""

    storage: AnalyticsStorage
    model: EngagementModel

    async def _score(
        self, envelope: EventEnvelope[Any], activity: Activity, session: Session
    ) -> None:
        await score_activity(
            self.storage, self.model, envelope.tenant_id, activity, session=session
        )

    async def _count(
        self,
        envelope: EventEnvelope[Any],
        metric: TenantMetric,
        session: Session,
        *,
        dimension: str = "",
    ) -> None:
        counted = Counted(envelope.tenant_id, metric, envelope.time, dimension)
        await count(self.storage, counted, session=session)

    async def candidate_created(self, envelope: EventEnvelope[Any], session: Session) -> None:
        created: CandidateCreated = envelope.data
        # New candidates are also counted per source (the home page's chart).
        await self._count(
            envelope, TenantMetric.CANDIDATES_CREATED, session, dimension=created.source
        )
        # The engagement route answers 404 for a candidate the tenant does not have.
        await self.storage.known_candidates(envelope.tenant_id).learn(
            created.candidate_id, session=session
        )

    async def message_sent(self, envelope: EventEnvelope[Any], session: Session) -> None:
        await self._count(envelope, TenantMetric.MESSAGES_SENT, session)

    async def application_created(self, envelope: EventEnvelope[Any], session: Session) -> None:
        await self._count(envelope, TenantMetric.APPLICATIONS, session)

    async def message_opened(self, envelope: EventEnvelope[Any], session: Session) -> None:
        opened: MessageOpened = envelope.data
        if opened.automated:
            return  # a prefetcher or bot: neither an opener nor engagement
        await self._message_engaged(
            envelope, opened, TenantMetric.MESSAGES_OPENED, ActivityKind.MESSAGE_OPENED, session
        )

    async def message_clicked(self, envelope: EventEnvelope[Any], session: Session) -> None:
        clicked: MessageClicked = envelope.data
        if clicked.automated:
            return  # a link scanner, not the candidate: neither a click nor engagement
        await self._message_engaged(
            envelope, clicked, TenantMetric.MESSAGES_CLICKED, ActivityKind.MESSAGE_CLICKED, session
        )

    async def _message_engaged(
        self,
        envelope: EventEnvelope[Any],
        message: MessageOpened | MessageClicked,
        metric: TenantMetric,
        kind: ActivityKind,
        session: Session,
    ) -> None:
        """Counts the message once in `metric` and scores it as the candidate's activity."""
        counted = Counted(envelope.tenant_id, metric, envelope.time)
        await count_once(self.storage, counted, message.message_id, session=session)
        activity = Activity(
            message.candidate_id, kind, message.message_id, envelope.time, str(envelope.id)
        )
        await self._score(envelope, activity, session)

    async def message_replied(self, envelope: EventEnvelope[Any], session: Session) -> None:
        replied: MessageReplied = envelope.data
        await self._score(
            envelope,
            Activity(
                replied.candidate_id,
                ActivityKind.MESSAGE_REPLIED,
                replied.message_id,
                replied.received_at,
                str(envelope.id),
            ),
            session,
        )

    async def event_registered(self, envelope: EventEnvelope[Any], session: Session) -> None:
        registration: EventRegistered = envelope.data
        await self._count(envelope, TenantMetric.EVENT_REGISTRATIONS, session)
        # A registrant nobody knew yet has no candidate id: there is nobody to score.
        if registration.candidate_id is not None:
            await self._score(
                envelope,
                Activity(
                    registration.candidate_id,
                    ActivityKind.EVENT_REGISTERED,
                    registration.event_id,
                    registration.registered_at,
                    str(envelope.id),
                ),
                session,
            )

    async def event_checked_in(self, envelope: EventEnvelope[Any], session: Session) -> None:
        attendance: EventCheckedIn = envelope.data
        if attendance.candidate_id is not None:
            await self._score(
                envelope,
                Activity(
                    attendance.candidate_id,
                    ActivityKind.EVENT_CHECKED_IN,
                    attendance.event_id,
                    attendance.checked_in_at,
                    str(envelope.id),
                ),
                session,
            )
