"""What became of each mail of a compiled report to a staff recipient."""

from __future__ import annotations

from pymongo import ASCENDING

from crm_campaigns.domain.report_mail import ReportMail, ReportMailStatus
from crm_campaigns.repositories.mail_records import MailRecords
from crm_shared import Database

REPORT_MAILS = "report_mails"


async def ensure_report_mail_indexes(database: Database) -> None:
    """A report's mails, in id order."""
    await database[REPORT_MAILS].create_index(
        [("tenant_id", ASCENDING), ("report_id", ASCENDING), ("_id", ASCENDING)]
    )


class ReportMailRepository(MailRecords[ReportMail]):
    """One tenant's report mail records."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        super().__init__(database, tenant_id, REPORT_MAILS, ReportMail)

    async def page(
        self,
        *,
        report_id: str | None,
        status: ReportMailStatus | None,
        after: str | None,
        limit: int,
    ) -> list[ReportMail]:
        return await self._page({"report_id": report_id}, status, after=after, limit=limit)
