"""Telling registrants that their event moved or was cancelled: one `event.invitation_changed`
per registration still standing, with the new copy of its calendar invitation."""

from __future__ import annotations

from collections.abc import Collection

from crm_events.application.storage import EventsStorage
from crm_events.domain.models import RecruitingEvent, as_attended, invitation_changes
from crm_events.publishers import to_event_invitation_changed
from crm_shared import Session


async def tell_registrants(
    storage: EventsStorage,
    before: RecruitingEvent | None,
    event: RecruitingEvent,
    *,
    session: Session,
    excluding: Collection[str] = (),
    notify: bool = True,
) -> int:
    """Stages the notice for every registered and waitlisted person of `event` (as it is after
    the change) whose time or place differs from `before` (everyone when `before` is None: the
    event was cancelled) inside `session`'s transaction, so each change is told exactly once;
    returns how many. `excluding`: registrations told otherwise (just promoted, so confirmed
    anew); `notify` False: announced, so other services learn the change, but not mailed."""
    told = 0
    for registration in await storage.registrations(event.tenant_id).not_cancelled(
        event.id, session=session
    ):
        if registration.id in excluding:
            continue
        changed: list[str] = []
        if before is not None:
            changed = invitation_changes(
                as_attended(before, registration), as_attended(event, registration)
            )
            if not changed:  # another session moved, not theirs
                continue
        await to_event_invitation_changed(
            storage.outbox,
            storage.links,
            event,
            registration,
            changed,
            session=session,
            before=before,
            notify=notify,
        )
        told += 1
    return told
