"""The broadcast state machine: draft -> preparing -> sending -> completed, paused and resumed
in between, cancelled from anything not finished; only a draft changes or is deleted."""

from __future__ import annotations

import pytest

from crm_campaigns.domain.lifecycle import (
    BroadcastAction,
    LifecycleConflict,
    broadcast_after,
    broadcast_allows,
)
from crm_campaigns.domain.models import BroadcastStatus

pytestmark = pytest.mark.unit

DRAFT, PREPARING, SENDING = (
    BroadcastStatus.DRAFT,
    BroadcastStatus.PREPARING,
    BroadcastStatus.SENDING,
)
PAUSED, COMPLETED, CANCELLED = (
    BroadcastStatus.PAUSED,
    BroadcastStatus.COMPLETED,
    BroadcastStatus.CANCELLED,
)

ALLOWED = {
    BroadcastAction.EDIT: {DRAFT},
    BroadcastAction.DELETE: {DRAFT},
    BroadcastAction.SEND: {DRAFT},
    BroadcastAction.PAUSE: {PREPARING, SENDING},
    BroadcastAction.RESUME: {PAUSED},
    BroadcastAction.CANCEL: {DRAFT, PREPARING, SENDING, PAUSED},
}


@pytest.mark.parametrize("action", list(BroadcastAction))
@pytest.mark.parametrize("status", list(BroadcastStatus))
def test_each_action_applies_in_its_states_only(
    action: BroadcastAction, status: BroadcastStatus
) -> None:
    allowed = status in ALLOWED[action]
    assert broadcast_allows(status, action) is allowed
    if not allowed:
        with pytest.raises(LifecycleConflict, match=f"cannot {action.value}"):
            broadcast_after(status, action)


def test_sending_prepares_pausing_pauses_and_cancelling_cancels() -> None:
    assert broadcast_after(DRAFT, BroadcastAction.SEND) is PREPARING
    assert broadcast_after(SENDING, BroadcastAction.PAUSE) is PAUSED
    assert broadcast_after(PAUSED, BroadcastAction.CANCEL) is CANCELLED
    assert broadcast_after(DRAFT, BroadcastAction.EDIT) is DRAFT


def test_resuming_returns_to_what_the_broadcast_was_paused_from() -> None:
    assert broadcast_after(PAUSED, BroadcastAction.RESUME, paused_from=PREPARING) is PREPARING
    assert broadcast_after(PAUSED, BroadcastAction.RESUME) is SENDING
