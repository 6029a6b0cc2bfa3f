"""What became of each invitation mail (`user.invited`)."""

from __future__ import annotations

from crm_campaigns.domain.invitation_mail import InvitationMail
from crm_campaigns.repositories.mail_records import MailRecords
from crm_shared import Database

INVITATION_MAILS = "invitation_mails"


class InvitationMailRepository(MailRecords[InvitationMail]):
    """One tenant's invitation mail records, by mail id."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        super().__init__(database, tenant_id, INVITATION_MAILS, InvitationMail)
