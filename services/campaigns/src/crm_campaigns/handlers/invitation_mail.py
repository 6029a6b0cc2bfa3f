"""The subscriber that mails each invitation to a tenant's team."""

from __future__ import annotations

from faststream.kafka import KafkaRouter

from crm_campaigns.application.invitation_mail import mail_invitation
from crm_campaigns.application.transactional import TransactionalMailer
from crm_shared import (
    USER_INVITED,
    Database,
    EventEnvelope,
    IdempotentConsumer,
    Session,
    UserInvited,
)


def build_invitation_mail_router(
    consumer: IdempotentConsumer, database: Database, mailer: TransactionalMailer
) -> KafkaRouter:
    """Mails `user.invited` to the invited person; one event per batch, as the other
    transactional mails (the mail leaves before the transaction commits)."""
    router = KafkaRouter()

    async def on_user_invited(envelope: EventEnvelope[UserInvited], session: Session) -> None:
        await mail_invitation(database, mailer, envelope, session)

    consumer.subscribe(
        router,
        USER_INVITED,
        on_user_invited,
        group="mail_user_invitation",
        max_records=1,
        description="Mails a person invited to a tenant's team who invited them, their roles "
        "and the sign-in link, once per invitation; suppressed addresses are recorded, not "
        "mailed.",
    )
    return router
