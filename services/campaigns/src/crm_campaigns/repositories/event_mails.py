"""What became of each mail to an event's registrant (sent, suppressed, failed)."""

from __future__ import annotations

from crm_campaigns.domain.event_mail import EventMail, EventMailStatus
from crm_campaigns.repositories.collections import EVENT_MAILS
from crm_campaigns.repositories.mail_records import MailRecords
from crm_shared import Database


class EventMailRepository(MailRecords[EventMail]):
    """One tenant's event mail records."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        super().__init__(database, tenant_id, EVENT_MAILS, EventMail)

    async def page(
        self,
        *,
        event_id: str | None,
        registration_id: str | None,
        status: EventMailStatus | None,
        after: str | None,
        limit: int,
    ) -> list[EventMail]:
        return await self._page(
            {"event_id": event_id, "registration_id": registration_id},
            status,
            after=after,
            limit=limit,
        )
