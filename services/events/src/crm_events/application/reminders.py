"""Reminders before an event (24 h and 1 h by default, per event; per session for an event with
sessions): a worker leases each event whose next reminder is due, stages
`event.reminder_requested` for every registrant holding a seat (in that session) and records
the reminder as done in the same transaction, so each goes out once, whatever the number of
replicas (campaigns mails it)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from crm_events.application.storage import EventsStorage
from crm_events.domain.models import RecruitingEvent, due_reminders
from crm_events.publishers import to_event_reminder_requested
from crm_events.repositories.events import (
    claim_due_reminder,
    release_reminder,
    settle_reminder,
)
from crm_shared import Session, utc_now

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reminders:
    """The reminder worker's use case: `run_due` is its batch."""

    storage: EventsStorage
    owner: str
    lease: timedelta
    batch_size: int = 10

    async def run_due(self) -> int:
        """Reminds the registrants of up to `batch_size` events whose reminder is due; how many
        events it looked at."""
        handled = 0
        while handled < self.batch_size:
            event = await claim_due_reminder(
                self.storage.database, owner=self.owner, lease=self.lease, now=utc_now()
            )
            if event is None:
                break
            await self.remind(event)
            handled += 1
        return handled

    async def remind(self, event: RecruitingEvent) -> int:
        """Stages the due reminder for each seated registrant of a leased event, recording it
        done (and releasing the lease) in the same transaction; returns how many were staged.
        An event edited since it was claimed is released untouched and claimed anew."""
        due, plan = due_reminders(event, utc_now())
        storage = self.storage
        registrations = storage.registrations(event.tenant_id)
        staged = 0

        async def work(session: Session) -> bool:
            nonlocal staged
            staged = 0
            if not await settle_reminder(
                storage.database, event, self.owner, plan, session=session
            ):
                return False
            if not due:  # the event (or session) started before its reminder could go
                return True
            minutes = {reminder.session_id: reminder.minutes for reminder in due}
            for registration in await registrations.seated(event.id, session=session):
                if event.sessions and registration.session_id not in minutes:
                    continue  # their session's reminder is not due (walk-ins have none)
                await to_event_reminder_requested(
                    storage.outbox,
                    storage.links,
                    event,
                    registration,
                    minutes[registration.session_id if event.sessions else None],
                    session=session,
                )
                staged += 1
            return True

        if not await storage.in_transaction(work):
            await release_reminder(storage.database, event.id, self.owner)
            return 0
        storage.outbox.notify_committed()
        if staged:
            logger.info("reminded %d registrants of event %s (%s)", staged, event.id, due)
        return staged
