"""Facts from other services (event registrations and attendance, engagement scores) are
projected onto the candidate document, re-evaluating only that candidate's segment memberships
in the handler's transaction; every event about a candidate also becomes an entry of the
candidate's activity timeline. The timeline entries and the engagement scores, which arrive by
the thousand during a campaign, are applied a batch at a time; ATS applications have their own
batch use case (`ats_applications`).

An event about a candidate this service does not hold (never known, erased, or in another
tenant) is ignored with a log line rather than dead-lettered: the message itself is valid, no
retry or replay can make the candidate appear, and a dead-letter queue filling with such events
would hide the messages that really need a person. Erased people must not reappear in a
timeline either, which is why nothing is kept for them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crm_candidates.application.candidates import CandidateWriter
from crm_candidates.application.consents import ConfirmationPolicy, ConsentService, confirm_url
from crm_candidates.domain.consent import ConsentPurpose, ConsentStatus
from crm_candidates.domain.models import (
    AtsLink,
    Candidate,
    CandidateSource,
    unique_in_order,
    with_link,
)
from crm_candidates.domain.timeline import timeline_entry
from crm_candidates.publishers import to_consent_confirmation_requested
from crm_candidates.repositories.candidates import CandidateRepository
from crm_candidates.repositories.consents import ConsentRepository
from crm_candidates.repositories.segments import SegmentRepository
from crm_candidates.repositories.sequence_references import SequenceReferenceRepository
from crm_candidates.repositories.timeline import TimelineRepository
from crm_shared import (
    EVENT_REGISTERED,
    EVENT_REGISTRATION_CANCELLED,
    EVENT_WAITLISTED,
    AtsCandidatePushed,
    ConsentConfirmationRequested,
    Database,
    EngagementScored,
    EventAttended,
    EventCheckedIn,
    EventEnvelope,
    EventNoShow,
    EventRegistered,
    EventRegistrationCancelled,
    EventWaitlisted,
    MessageComplained,
    MessageOpened,
    MongoClient,
    Outbox,
    SequenceSaved,
    Session,
    SignedLinks,
    as_utc,
    by_tenant,
    normalise_email,
    utc_now,
)

# Records created from other services' events name the service as their creator.
EVENTS_SERVICE_USER = "service:events"

logger = logging.getLogger(__name__)


ENGAGEMENT_FIELDS = ("engagement_score", "last_activity_at")


def engagement_facts(scored: EngagementScored) -> dict[str, Any]:
    """What an `engagement.scored` keeps on the candidate: its score and last activity, as
    analytics computed them (the latest event wins; analytics publishes a candidate's scores
    in order, keyed by the candidate)."""
    last_activity_at: datetime | None = scored.last_activity_at
    return {"engagement_score": scored.score, "last_activity_at": last_activity_at}


@dataclass(frozen=True)
class CandidateFacts:
    """Applies facts other services publish about candidates: each in the handler's
    transaction, re-evaluating only that candidate's segment memberships."""

    mongo: MongoClient
    database: Database
    outbox: Outbox
    # For the consent confirmation links of consents ticked on event registration forms.
    links: SignedLinks
    confirmation: ConfirmationPolicy

    def writer(self, tenant_id: str) -> CandidateWriter:
        """The writer of one tenant's candidates."""
        return CandidateWriter(
            self.mongo,
            self.outbox,
            CandidateRepository(self.database, tenant_id),
            SegmentRepository(self.database, tenant_id),
        )

    async def find(
        self,
        envelope: EventEnvelope[Any],
        candidate_id: str | None,
        email: str | None,
        *,
        session: Session,
    ) -> Candidate | None:
        """The candidate an event is about (by id, else by email); None, logged, if unknown."""
        candidates = CandidateRepository(self.database, envelope.tenant_id)
        found = None
        if candidate_id is not None:
            found = await candidates.get(candidate_id, session=session)
        elif email:
            found = await candidates.find_by_emails([normalise_email(email)], session=session)
        if found is None:
            logger.info(
                "ignoring %s %s: no candidate %s in tenant %s",
                envelope.type,
                envelope.id,
                candidate_id or "with that email",
                envelope.tenant_id,
            )
        return found

    async def record_in_timeline(
        self, envelope: EventEnvelope[Any], candidate_id: str, session: Session
    ) -> None:
        """Adds the event to the candidate's activity timeline (once)."""
        timeline = TimelineRepository(self.database, envelope.tenant_id)
        await timeline.record(timeline_entry(envelope, candidate_id), session=session)

    async def event_registered(self, envelope: EventEnvelope[Any], session: Session) -> None:
        """Records a registration on the candidate, creating one for a registrant nobody knew."""
        registration: EventRegistered = envelope.data
        candidate = await self._registrant(envelope, registration, session)
        if candidate is None:
            return
        # Each topic has its own consumer, so a cancellation can be applied before the
        # registration it cancels; then the registration is only recorded in the timeline.
        cancelled = await TimelineRepository(self.database, envelope.tenant_id).moments(
            candidate.id,
            EVENT_REGISTRATION_CANCELLED.name,
            registration.registration_id,
            "cancelled_at",
            session=session,
        )
        if not any(at >= as_utc(registration.registered_at) for at in cancelled):
            await self.writer(envelope.tenant_id).project(
                candidate,
                lambda c: {
                    "events_registered": unique_in_order(
                        [*c.events_registered, registration.event_id]
                    )
                },
                session=session,
            )
        await self.record_in_timeline(envelope, candidate.id, session)
        await self._confirm_event_consents(envelope, registration, candidate, session)

    async def event_waitlisted(self, envelope: EventEnvelope[Any], session: Session) -> None:
        """A waitlisted registrant showed interest too: they become (or are matched to) a
        candidate, with the waitlisting in their timeline; no seat, so no `events_registered`."""
        waitlisted: EventWaitlisted = envelope.data
        candidate = await self._registrant(envelope, waitlisted, session)
        if candidate is None:
            return
        await self.record_in_timeline(envelope, candidate.id, session)
        await self._confirm_event_consents(envelope, waitlisted, candidate, session)

    async def event_registration_cancelled(
        self, envelope: EventEnvelope[Any], session: Session
    ) -> None:
        """A cancelled registration: the event leaves the candidate's `events_registered`
        (and so "registered for the event" segments), and the cancellation is in their
        timeline. A waitlisted registration was never in `events_registered`; removing it
        again changes nothing."""
        cancellation: EventRegistrationCancelled = envelope.data
        candidate = await self.find(
            envelope, cancellation.candidate_id, cancellation.email, session=session
        )
        if candidate is None:
            return
        # A registration made again after this cancellation (the same registration, reopened
        # later) may have been applied first: it stands.
        registered = await TimelineRepository(self.database, envelope.tenant_id).moments(
            candidate.id,
            EVENT_REGISTERED.name,
            cancellation.registration_id,
            "registered_at",
            session=session,
        )
        if not any(at > as_utc(cancellation.cancelled_at) for at in registered):
            await self.writer(envelope.tenant_id).project(
                candidate,
                lambda c: {
                    "events_registered": [
                        e for e in c.events_registered if e != cancellation.event_id
                    ]
                },
                session=session,
            )
        await self.record_in_timeline(envelope, candidate.id, session)

    async def _registrant(
        self,
        envelope: EventEnvelope[Any],
        registration: EventRegistered | EventWaitlisted,
        session: Session,
    ) -> Candidate | None:
        """The candidate a registration names, matched by email, or a new one (source
        `event`) for a registrant nobody knew; None (logged) for a named one that is gone."""
        if registration.candidate_id is not None:
            return await self.find(envelope, registration.candidate_id, None, session=session)
        email = normalise_email(registration.email)
        candidates = CandidateRepository(self.database, envelope.tenant_id)
        candidate = await candidates.find_by_emails([email], session=session)
        if candidate is None:
            # Matched by email, so a known person is never duplicated.
            candidate = Candidate(
                tenant_id=envelope.tenant_id,
                created_by=EVENTS_SERVICE_USER,
                first_name=registration.first_name,
                last_name=registration.last_name,
                emails=[email],
                source=CandidateSource.EVENT,
            )
            await self.writer(envelope.tenant_id).add(candidate, session=session)
        return candidate

    async def _confirm_event_consents(
        self,
        envelope: EventEnvelope[Any],
        registration: EventRegistered | EventWaitlisted,
        candidate: Candidate,
        session: Session,
    ) -> None:
        """A consent ticked on an event's registration form counts once the registrant
        confirms it through a mailed link (double opt-in: anybody can type an address into a
        form); one link for the purposes not granted already."""
        ticked = [
            ConsentPurpose(answer.purpose)
            for answer in registration.answers
            if answer.kind == "consent" and answer.value is True and answer.purpose
        ]
        if not ticked:
            return
        if isinstance(registration, EventRegistered) and await TimelineRepository(
            self.database, envelope.tenant_id
        ).mentions(
            candidate.id, EVENT_WAITLISTED.name, registration.registration_id, session=session
        ):
            return  # promoted from the waitlist: asked when they joined it
        states = await ConsentRepository(self.database, envelope.tenant_id).states(
            candidate.id, session=session
        )
        wanted = [
            purpose
            for purpose in dict.fromkeys(ticked)
            if purpose not in states or states[purpose].status is not ConsentStatus.GRANTED
        ]
        if not wanted:
            return
        expires_at = utc_now() + self.confirmation.signup_ttl
        await to_consent_confirmation_requested(
            self.outbox,
            envelope.tenant_id,
            ConsentConfirmationRequested(
                candidate_id=candidate.id,
                email=normalise_email(registration.email),
                first_name=candidate.first_name,
                purpose=",".join(purpose.value for purpose in wanted),
                reason="double_opt_in",
                confirm_url=confirm_url(
                    self.links,
                    self.confirmation,
                    tenant_id=envelope.tenant_id,
                    candidate_id=candidate.id,
                    purposes=wanted,
                    request_id=f"event-registration:{registration.registration_id}",
                    expires_at=expires_at,
                    reason="event_registration",
                ),
                expires_at=expires_at,
                locale=candidate.locale,
            ),
            session=session,
        )

    async def event_checked_in(self, envelope: EventEnvelope[Any], session: Session) -> None:
        """Records event attendance on the candidate."""
        attendance: EventCheckedIn = envelope.data
        candidate = await self.find(
            envelope, attendance.candidate_id, attendance.email, session=session
        )
        if candidate is None:
            return
        await self.writer(envelope.tenant_id).project(
            candidate,
            lambda c: {
                "events_attended": unique_in_order([*c.events_attended, attendance.event_id])
            },
            session=session,
        )
        await self.record_in_timeline(envelope, candidate.id, session)

    async def event_attended(self, envelope: EventEnvelope[Any], session: Session) -> None:
        """Records the attendance a completed event confirms (the check-in usually did already;
        a late check-in after a no-show takes the event out of `events_no_show`), and puts it
        in the timeline, as a no-show is."""
        attended: EventAttended = envelope.data
        candidate = await self.find(envelope, attended.candidate_id, None, session=session)
        if candidate is None:
            return
        await self.writer(envelope.tenant_id).project(
            candidate,
            lambda c: {
                "events_attended": unique_in_order([*c.events_attended, attended.event_id]),
                "events_no_show": [e for e in c.events_no_show if e != attended.event_id],
            },
            session=session,
        )
        await self.record_in_timeline(envelope, candidate.id, session)

    async def event_no_show(self, envelope: EventEnvelope[Any], session: Session) -> None:
        """Records that the candidate held a seat at a completed event and did not come."""
        no_show: EventNoShow = envelope.data
        candidate = await self.find(envelope, no_show.candidate_id, None, session=session)
        if candidate is None:
            return
        await self.writer(envelope.tenant_id).project(
            candidate,
            lambda c: {"events_no_show": unique_in_order([*c.events_no_show, no_show.event_id])},
            session=session,
        )
        await self.record_in_timeline(envelope, candidate.id, session)

    async def ats_candidate_pushed(self, envelope: EventEnvelope[Any], session: Session) -> None:
        """Keeps where the candidate was pushed to an ATS, with the ATS's ids, on the record
        pushed or, if it was merged since, on the survivor."""
        pushed: AtsCandidatePushed = envelope.data
        candidate = await self.find(envelope, pushed.candidate_id, None, session=session)
        if candidate is not None and candidate.merged_into is not None:
            candidate = await self.find(envelope, candidate.merged_into, None, session=session)
        if candidate is None:
            return
        link = AtsLink(
            provider=pushed.provider,
            connection_id=pushed.connection_id,
            candidate_id=pushed.candidate_id,
            ats_candidate_id=pushed.ats_candidate_id,
            ats_application_id=pushed.ats_application_id,
            ats_job_id=pushed.ats_job_id,
            linked_at=pushed.pushed_at,
        )
        await self.writer(envelope.tenant_id).project(
            candidate, lambda c: {"ats_links": with_link(c.ats_links, link)}, session=session
        )
        await self.record_in_timeline(envelope, candidate.id, session)

    async def sequence_saved(self, envelope: EventEnvelope[Any], session: Session) -> None:
        """Keeps which segments a live sequence enrols from and which pool stages it names."""
        saved: SequenceSaved = envelope.data
        await SequenceReferenceRepository(self.database, envelope.tenant_id).save(
            saved.sequence_id,
            name=saved.name,
            live=saved.status != "archived",
            version=saved.version,
            segment_ids=saved.trigger_segment_ids,
            pool_stages=[(named.pool_id, named.stage) for named in saved.pool_stages],
            session=session,
        )

    async def engagement_scored(self, envelope: EventEnvelope[Any], session: Session) -> None:
        """Keeps the candidate's engagement score and last activity."""
        scored: EngagementScored = envelope.data
        candidate = await self.find(envelope, scored.candidate_id, None, session=session)
        if candidate is None:
            return
        await self.writer(envelope.tenant_id).project(
            candidate, lambda _: engagement_facts(scored), session=session
        )

    async def engagement_scores(
        self, envelopes: Sequence[EventEnvelope[Any]], session: Session
    ) -> None:
        """`engagement_scored` of a batch (of any tenants, in offset order): per tenant one
        `$in` read of the candidates named, one bulk write of their final scores and one
        re-evaluation of their segments (`reevaluate_many`).

        It leaves exactly what the per-event form leaves: a candidate scored several times
        ends with the last score, and is re-evaluated at each score that changed it, so a
        score that crosses a segment's threshold and falls back within one batch still enters
        and exits (a sequence may have started on the entry). A broadcast's opens score their
        recipients by the thousand; one by one (a find, a write and a re-evaluation of several
        round trips each) the candidates service fell minutes behind a campaign."""
        for tenant_id, events in by_tenant(envelopes).items():
            candidates = CandidateRepository(self.database, tenant_id)
            named = sorted({envelope.data.candidate_id for envelope in events})
            stored = await candidates.get_many(named, session=session)
            current = dict(stored)
            # The candidates' states to re-evaluate, in order: one after each change.
            steps: list[Candidate] = []
            for envelope in events:
                scored: EngagementScored = envelope.data
                candidate = current.get(scored.candidate_id)
                if candidate is None:
                    logger.info(
                        "ignoring %s %s: no candidate %s in tenant %s",
                        envelope.type,
                        envelope.id,
                        scored.candidate_id,
                        tenant_id,
                    )
                    continue
                changes = {
                    name: value
                    for name, value in engagement_facts(scored).items()
                    if getattr(candidate, name) != value
                }
                if not changes:
                    continue
                candidate = candidate.model_copy(update=changes)
                current[candidate.id] = candidate
                steps.append(candidate)
            await candidates.set_facts(
                [
                    (current[candidate_id], list(ENGAGEMENT_FIELDS))
                    for candidate_id, previous in stored.items()
                    if current[candidate_id] is not previous
                ],
                session=session,
            )
            if steps:
                await self.writer(tenant_id).reevaluate_many(steps, session=session)

    async def message_complained(self, envelope: EventEnvelope[Any], session: Session) -> None:
        """A spam complaint: in the candidate's timeline, and their marketing consent withdrawn
        (source `spam_complaint`), which takes them out of segments that require it. Campaigns
        already suppressed the address; this makes the person's record say so too."""
        complaint: MessageComplained = envelope.data
        candidate = await self.find(envelope, complaint.candidate_id, None, session=session)
        if candidate is None:
            return
        await self.record_in_timeline(envelope, candidate.id, session)
        consents = ConsentService(
            self.mongo,
            self.database,
            self.outbox,
            envelope.tenant_id,
            self.links,
            self.confirmation,
        )
        await consents.withdraw_on_complaint(candidate, complaint, session=session)

    async def timeline_events(
        self, envelopes: Sequence[EventEnvelope[Any]], session: Session
    ) -> None:
        """Adds a batch's events about known candidates to their timelines (not a bot's
        opens): per tenant, one read of the candidates named and one bulk write of the entries.

        One broadcast's `message.sent` events arrive by the thousand; asked one by one (a read
        and an upsert each), the timeline fell minutes behind a campaign."""
        for tenant_id, events in by_tenant(envelopes).items():
            wanted = [
                envelope
                for envelope in events
                # A prefetcher or bot, not the candidate.
                if not (isinstance(envelope.data, MessageOpened) and envelope.data.automated)
            ]
            named = sorted({envelope.data.candidate_id for envelope in wanted})
            known = await CandidateRepository(self.database, tenant_id).existing_ids(
                named, session=session
            )
            for envelope in wanted:
                if envelope.data.candidate_id not in known:
                    logger.info(
                        "ignoring %s %s: no candidate %s in tenant %s",
                        envelope.type,
                        envelope.id,
                        envelope.data.candidate_id,
                        tenant_id,
                    )
            await TimelineRepository(self.database, tenant_id).record_many(
                [
                    timeline_entry(envelope, envelope.data.candidate_id)
                    for envelope in wanted
                    if envelope.data.candidate_id in known
                ],
                session=session,
            )
