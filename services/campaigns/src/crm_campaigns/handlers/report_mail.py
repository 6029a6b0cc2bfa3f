"""The subscriber that mails each compiled report to its staff recipients."""

from __future__ import annotations

from functools import partial

from faststream.kafka import KafkaRouter

from crm_campaigns.application.report_mail import mail_report
from crm_campaigns.application.transactional import TransactionalMailer
from crm_shared import REPORT_COMPILED, Database, IdempotentConsumer


def build_report_mail_router(
    consumer: IdempotentConsumer, database: Database, mailer: TransactionalMailer
) -> KafkaRouter:
    """Mails `report.compiled` to its recipients; one event per batch, as the event mails
    (the mail leaves before the transaction commits)."""
    router = KafkaRouter()
    consumer.subscribe(
        router,
        REPORT_COMPILED,
        partial(mail_report, database, mailer),
        group="mail_weekly_report",
        max_records=1,
        description="Mails a compiled (weekly) report to each of its staff recipients, once per "
        "recipient; suppressed addresses are recorded, not mailed.",
    )
    return router
