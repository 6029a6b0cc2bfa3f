"""Opens and clicks of tracked messages: verified, classified (human or machine) and recorded.

Opens and clicks by machines (privacy proxies, security scanners, link checkers; see
`domain.automation`) are recorded as `automated` and not counted as engagement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from crm_campaigns.domain.automation import Fetch, PreviousClick, classify_click, classify_open
from crm_campaigns.domain.tracking import TrackingKind, TrackingTokens
from crm_campaigns.publishers import to_message_clicked, to_message_opened
from crm_campaigns.repositories.messages import MessageRepository
from crm_shared import Database, MongoClient, Outbox, Session, in_transaction


class UnknownTrackingLink(LookupError):
    """A forged or stale token, or one naming a message or link that does not exist."""


@dataclass(frozen=True)
class EngagementTracker:
    """Records the opens and clicks that tracking links report."""

    mongo: MongoClient
    database: Database
    outbox: Outbox
    tokens: TrackingTokens
    # Fetches of a message this soon after it was sent are taken for a mail scanner's.
    machine_fetch_window: timedelta
    # Clicks this close together on one message are taken for a link scanner's.
    link_scan_burst: timedelta

    async def record_open(self, token: str, fetch: Fetch) -> None:
        """Counts an open of the message the token names (as automated if a machine's)."""
        claim = self.tokens.verify(token, TrackingKind.OPEN)
        if claim is None:
            raise UnknownTrackingLink
        messages = MessageRepository(self.database, claim.tenant_id)
        message = await messages.get(claim.message_id)
        if message is None:
            raise UnknownTrackingLink
        automated = (
            classify_open(fetch, sent_at=message.sent_at, window=self.machine_fetch_window)
            is not None
        )
        outbox = self.outbox

        async def record(session: Session) -> None:
            field = "automated_opens" if automated else "opens"
            await messages.count_engagement(message.id, field, session=session)
            await to_message_opened(outbox, message, automated=automated, session=session)

        await in_transaction(self.mongo, record)
        outbox.notify_committed()

    async def record_click(self, token: str, fetch: Fetch) -> str:
        """Records a click of the link the token names; the URL stored for it."""
        claim = self.tokens.verify(token, TrackingKind.CLICK)
        if claim is None or claim.link_index is None:
            raise UnknownTrackingLink
        messages = MessageRepository(self.database, claim.tenant_id)
        message = await messages.get(claim.message_id)
        if message is None or not 0 <= claim.link_index < len(message.links):
            raise UnknownTrackingLink
        outbox = self.outbox
        link_index = claim.link_index
        previous = (
            PreviousClick(message.last_click_index, message.last_click_at)
            if message.last_click_index is not None and message.last_click_at is not None
            else None
        )
        automated = (
            classify_click(
                fetch,
                link_index,
                sent_at=message.sent_at,
                previous=previous,
                window=self.machine_fetch_window,
                burst=self.link_scan_burst,
            )
            is not None
        )

        async def record(session: Session) -> None:
            await messages.record_click(
                message.id, link_index, fetch.at, automated, session=session
            )
            await to_message_clicked(
                outbox, message, link_index, automated=automated, session=session
            )

        await in_transaction(self.mongo, record)
        outbox.notify_committed()
        return message.links[link_index]
