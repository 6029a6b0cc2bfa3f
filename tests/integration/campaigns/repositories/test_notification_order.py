"""A user's notifications page in the order they were made, whatever their ids: a step's id is
its enrolment's, a reply's a digest, so neither follows time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from crm_campaigns.domain.models import Notification, notification_page_key
from crm_campaigns.repositories.notifications import NotificationRepository
from crm_shared import Session, in_transaction, utc_now
from integration.campaigns.application.test_delivery import Setup

pytestmark = pytest.mark.integration


async def test_notifications_page_oldest_first_by_when_they_were_made(delivery: Setup) -> None:
    notifications = NotificationRepository(delivery.database, delivery.tenant)
    start = utc_now().replace(microsecond=0)
    # Ids sorting against time, and two made in the same instant.
    made = [
        ("z-step-1", start),
        ("reply-m1-ffff", start + timedelta(seconds=1)),
        ("a-step-2", start + timedelta(seconds=2)),
        ("b-step-3", start + timedelta(seconds=2)),
    ]
    for notification_id, created_at in made:
        notification = Notification(
            id=notification_id,
            tenant_id=delivery.tenant,
            user_id="olga",
            candidate_id="c1",
            title=notification_id,
            body="",
            created_at=created_at,
        )

        async def add(session: Session, made: Notification = notification) -> None:
            await notifications.add(made, session=session)

        await in_transaction(delivery.mongo, add)

    seen: list[str] = []
    after: str | None = None
    while True:
        page = await notifications.page("olga", unread_only=False, after=after, limit=1)
        if not page:
            break
        seen.append(page[0].id)
        after = notification_page_key(page[0])
    assert seen == ["z-step-1", "reply-m1-ffff", "a-step-2", "b-step-3"]
