"""What one tenant's people read of the mail that went out: messages and notifications."""

from __future__ import annotations

from dataclasses import dataclass

from crm_campaigns.domain.models import (
    Message,
    MessageFilter,
    MessageSort,
    Notification,
    Recipient,
)
from crm_campaigns.repositories.messages import MessageRepository
from crm_campaigns.repositories.notifications import NotificationRepository
from crm_campaigns.repositories.recipients import RecipientRepository


@dataclass(frozen=True)
class ListedMessage:
    """A message in a list, with the recipient as campaigns knows them (None if it does not)."""

    message: Message
    recipient: Recipient | None


@dataclass(frozen=True)
class MessageLog:
    """The tenant's messages, one candidate's or all."""

    messages: MessageRepository
    recipients: RecipientRepository

    async def get(self, message_id: str) -> Message | None:
        return await self.messages.get(message_id)

    async def listed(
        self,
        shown: MessageFilter,
        *,
        after: str | None,
        limit: int,
        sort: MessageSort = MessageSort.CREATED_AT,
    ) -> list[ListedMessage]:
        """One page of messages with their recipients' names: two queries (the names with one
        `$in` of the page's candidates), whatever the page's size."""
        messages = await self.messages.page(shown, after=after, limit=limit, sort=sort)
        names = await self.recipients.many(sorted({m.candidate_id for m in messages}))
        return [ListedMessage(m, names.get(m.candidate_id)) for m in messages]


@dataclass(frozen=True)
class Notifications:
    """A user's notifications (a sequence step asking them to act)."""

    notifications: NotificationRepository

    async def page(
        self, user_id: str, *, unread_only: bool, after: str | None, limit: int
    ) -> list[Notification]:
        return await self.notifications.page(
            user_id, unread_only=unread_only, after=after, limit=limit
        )

    async def mark_read(self, user_id: str, notification_id: str) -> Notification | None:
        """Marks one of the user's notifications read; None if the user has no such one."""
        return await self.notifications.mark_read(user_id, notification_id)
