"""Use cases of a registration's calendar invitation: for the registrant through their signed
link, and for staff."""

from __future__ import annotations

from crm_events.adapters.calendar import invitation
from crm_events.application.cancellations import InvalidLink, linked_registration
from crm_events.application.lifecycle import existing_event
from crm_events.application.storage import EventsStorage
from crm_events.domain.models import Registration, RegistrationNotFound


async def _render(storage: EventsStorage, registration: Registration) -> bytes:
    event = await existing_event(storage, registration.tenant_id, registration.event_id)
    return invitation(event, registration, page_url=storage.links.page_url(registration))


async def invitation_by_link(storage: EventsStorage, token: str) -> bytes:
    """The `.ics` of the registration a registrant's link names; `InvalidLink` for a forged
    or altered link or a registration erased since. A cancelled registration or event gives
    the cancelling copy."""
    registration = await linked_registration(storage, token)
    try:
        return await _render(storage, registration)
    except LookupError:  # the event was deleted meanwhile
        raise InvalidLink from None


async def invitation_for(
    storage: EventsStorage, tenant_id: str, event_id: str, registration_id: str
) -> bytes:
    """The `.ics` of one registration, for staff; `EventNotFound` / `RegistrationNotFound`."""
    await existing_event(storage, tenant_id, event_id)
    registration = await storage.registrations(tenant_id).registration(event_id, registration_id)
    if registration is None:
        raise RegistrationNotFound(event_id, registration_id)
    return await _render(storage, registration)
