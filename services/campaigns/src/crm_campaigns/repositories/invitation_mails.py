"""What became of each invitation mail (`user.invited`)."""

from __future__ import annotations

from pymongo import ASCENDING

from crm_campaigns.domain.invitation_mail import InvitationMail, InvitationMailStatus
from crm_campaigns.repositories.mail_records import MailRecords
from crm_shared import Database

INVITATION_MAILS = "invitation_mails"


async def ensure_invitation_mail_indexes(database: Database) -> None:
    """A person's invitation mails, in id order (the order they were invited in)."""
    await database[INVITATION_MAILS].create_index(
        [("tenant_id", ASCENDING), ("user_id", ASCENDING), ("_id", ASCENDING)]
    )


class InvitationMailRepository(MailRecords[InvitationMail]):
    """One tenant's invitation mail records, by mail id."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        super().__init__(database, tenant_id, INVITATION_MAILS, InvitationMail)

    async def page(
        self,
        *,
        user_ids: list[str],
        status: InvitationMailStatus | None,
        after: str | None,
        limit: int,
    ) -> list[InvitationMail]:
        return await self._page({"user_id": user_ids}, status, after=after, limit=limit)
