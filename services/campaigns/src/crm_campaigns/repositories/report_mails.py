"""What became of each mail of a compiled report to a staff recipient."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING

from crm_campaigns.domain.report_mail import ReportMail, ReportMailStatus
from crm_shared import Database, Session, TenantScopedCollection, from_document, utc_now

REPORT_MAILS = "report_mails"


async def ensure_report_mail_indexes(database: Database) -> None:
    """A report's mails, in id order."""
    await database[REPORT_MAILS].create_index(
        [("tenant_id", ASCENDING), ("report_id", ASCENDING), ("_id", ASCENDING)]
    )


class ReportMailRepository:
    """One tenant's report mail records."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._mails = TenantScopedCollection(database[REPORT_MAILS], tenant_id)

    async def get(self, mail_id: str, *, session: Session | None = None) -> ReportMail | None:
        document = await self._mails.find_one({"_id": mail_id}, session=session)
        return from_document(ReportMail, document) if document else None

    async def record(self, mail: ReportMail, *, session: Session | None = None) -> None:
        """Stores what was done with a mail, counting the attempt (a retry after a failure
        replaces the failure)."""
        fields = mail.model_dump(exclude={"id", "tenant_id", "attempts"})
        await self._mails.update_one(
            {"_id": mail.id},
            {"$set": fields | {"recorded_at": utc_now()}, "$inc": {"attempts": 1}},
            upsert=True,
            session=session,
        )

    async def page(
        self,
        *,
        report_id: str | None,
        status: ReportMailStatus | None,
        after: str | None,
        limit: int,
    ) -> list[ReportMail]:
        query: dict[str, Any] = {}
        if report_id:
            query["report_id"] = report_id
        if status:
            query["status"] = status.value
        if after:
            query["_id"] = {"$gt": after}
        documents = await self._mails.find(query, sort=[("_id", ASCENDING)], limit=limit)
        return [from_document(ReportMail, d) for d in documents]
