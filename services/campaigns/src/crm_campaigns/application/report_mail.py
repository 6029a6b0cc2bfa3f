"""Mailing a compiled report (`report.compiled`) to each of its staff recipients.

Staff reports are not marketing: no consent applies, but an address the suppression list holds
(hard bounce, complaint, suppressed by hand) or an erasure names is not mailed and is recorded
`suppressed` (`transactional_block`). Each (report, recipient) is mailed once: its record (by
`report_mail_id`) is written outside the consumer's transaction as soon as it is known, so a
redelivered report, or the retry after a failure, skips the recipients already sent or
suppressed. One recipient failing does not stop the others: the failure is recorded and, once
every recipient was tried, raised, so the consumer delivers the event again (its retries), each
time mailing only those not sent yet; after the last attempt the event is dead-lettered and
the failures stay listed (`GET /report-mails`)."""

from __future__ import annotations

from crm_campaigns.application.transactional import TransactionalMailer, transactional_block
from crm_campaigns.domain.report_mail import (
    ReportMail,
    ReportMailStatus,
    report_email,
    report_mail_id,
)
from crm_campaigns.repositories.report_mails import ReportMailRepository
from crm_shared import Database, EventEnvelope, ReportCompiled, Session


class ReportMailsFailed(Exception):
    """Some recipients' mail failed (recorded); the event is delivered again for them."""


async def mail_report(
    database: Database,
    mailer: TransactionalMailer,
    envelope: EventEnvelope[ReportCompiled],
    session: Session,
) -> None:
    """Mails the report to each recipient not mailed yet, recording each outcome."""
    tenant_id = envelope.tenant_id
    report = envelope.data
    mails = ReportMailRepository(database, tenant_id)
    failed: list[str] = []
    for recipient in dict.fromkeys(r.strip().lower() for r in report.recipients):
        mail_id = report_mail_id(report.report_id, recipient)
        already = await mails.get(mail_id)
        if already is not None and already.status is not ReportMailStatus.FAILED:
            continue  # sent or suppressed before: a redelivery mails nobody twice

        def recorded(
            status: ReportMailStatus, reason: str | None, to: str = recipient
        ) -> ReportMail:
            return ReportMail(
                id=report_mail_id(report.report_id, to),
                tenant_id=tenant_id,
                report_id=report.report_id,
                recipient=to,
                status=status,
                reason=reason,
            )

        blocked = await transactional_block(database, tenant_id, None, recipient, session=session)
        if blocked is not None:
            await mails.record(recorded(ReportMailStatus.SUPPRESSED, blocked))
            continue
        email = report_email(
            report,
            recipient,
            sender=mailer.sender_of(tenant_id),
            mail_id=mail_id,
            domain=mailer.message_domain,
        )
        try:
            await mailer.send(tenant_id, email, recipient)
        except Exception as error:
            await mails.record(recorded(ReportMailStatus.FAILED, repr(error)[:500]))
            failed.append(recipient)
            continue
        await mails.record(recorded(ReportMailStatus.SENT, None))
    if failed:
        raise ReportMailsFailed(
            f"report {report.report_id}: {len(failed)} recipient(s) failed; delivered again"
        )


async def report_mails(
    database: Database,
    tenant_id: str,
    *,
    report_id: str | None,
    status: ReportMailStatus | None,
    after: str | None,
    limit: int,
) -> list[ReportMail]:
    """The tenant's report mails by id (stable pages), of one report if given."""
    return await ReportMailRepository(database, tenant_id).page(
        report_id=report_id, status=status, after=after, limit=limit
    )
