"""The events the gateway emits, staged in its outbox inside the write's transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from crm_shared import USER_INVITED, MongoClient, Outbox, Session, UserInvited, in_transaction

ResultT = TypeVar("ResultT")


class OutboxInvitationNotices:
    """Stages `user.invited` in the gateway's outbox, in the invitation's transaction."""

    def __init__(self, mongo: MongoClient, outbox: Outbox) -> None:
        self._mongo = mongo
        self._outbox = outbox

    async def in_transaction(self, work: Callable[[Session], Awaitable[ResultT]]) -> ResultT:
        """Runs `work` in one multi-document transaction of the gateway's database."""
        return await in_transaction(self._mongo, work)

    async def to_user_invited(
        self, tenant_id: str, invitation: UserInvited, *, session: Session
    ) -> None:
        """Stages `user.invited`, keyed by the invited person."""
        await self._outbox.stage(
            USER_INVITED,
            tenant_id=tenant_id,
            subject=invitation.user_id,
            data=invitation,
            session=session,
        )
