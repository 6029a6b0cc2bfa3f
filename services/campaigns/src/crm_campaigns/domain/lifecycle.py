"""What may happen to a sequence, a broadcast or a template in each of its states, and what
depends on them.

A sequence is `active`, `paused` (nothing of it runs; its enrolments wait, new ones included)
or `archived` (final: it enrols nobody and its enrolments in progress exited). A template is
archived rather than deleted, since sent messages name it; it cannot be archived while a live
sequence or an unfinished broadcast uses it. A broadcast goes draft -> preparing -> sending ->
completed, may be paused and resumed in between, and cancelled from anything not finished; only
a draft may change or be deleted.
"""

from __future__ import annotations

from enum import StrEnum

from crm_campaigns.domain.models import BroadcastStatus, SequenceStatus


class SequenceAction(StrEnum):
    EDIT = "edit"
    PAUSE = "pause"
    RESUME = "resume"
    ARCHIVE = "archive"
    ENROL = "enrol"


class LifecycleConflict(ValueError):
    """The action does not apply to the resource in its current state."""


# The states an action applies in, and the state it leads to (None: the state stays).
_SEQUENCE_ACTIONS: dict[SequenceAction, tuple[frozenset[SequenceStatus], SequenceStatus | None]] = {
    SequenceAction.EDIT: (frozenset({SequenceStatus.ACTIVE, SequenceStatus.PAUSED}), None),
    SequenceAction.PAUSE: (frozenset({SequenceStatus.ACTIVE}), SequenceStatus.PAUSED),
    SequenceAction.RESUME: (frozenset({SequenceStatus.PAUSED}), SequenceStatus.ACTIVE),
    SequenceAction.ARCHIVE: (
        frozenset({SequenceStatus.ACTIVE, SequenceStatus.PAUSED}),
        SequenceStatus.ARCHIVED,
    ),
    SequenceAction.ENROL: (frozenset({SequenceStatus.ACTIVE, SequenceStatus.PAUSED}), None),
}

# Broadcasts that will still render their template.
UNFINISHED_BROADCASTS = (
    BroadcastStatus.DRAFT,
    BroadcastStatus.PREPARING,
    BroadcastStatus.SENDING,
    BroadcastStatus.PAUSED,
)


def sequence_after(status: SequenceStatus, action: SequenceAction) -> SequenceStatus:
    """The sequence's status after `action`; `LifecycleConflict` if it does not apply."""
    allowed, target = _SEQUENCE_ACTIONS[action]
    if status not in allowed:
        raise LifecycleConflict(f"the sequence is {status.value}; it cannot {action.value}")
    return target or status


class BroadcastAction(StrEnum):
    EDIT = "edit"
    DELETE = "delete"
    SEND = "send"
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"


_DRAFT = frozenset({BroadcastStatus.DRAFT})
# The states an action applies in, and the state it leads to (None: the state stays, or for
# resume the state it was paused from).
_BROADCAST_ACTIONS: dict[
    BroadcastAction, tuple[frozenset[BroadcastStatus], BroadcastStatus | None]
] = {
    BroadcastAction.EDIT: (_DRAFT, None),
    BroadcastAction.DELETE: (_DRAFT, None),
    BroadcastAction.SEND: (_DRAFT, BroadcastStatus.PREPARING),
    BroadcastAction.PAUSE: (
        frozenset({BroadcastStatus.PREPARING, BroadcastStatus.SENDING}),
        BroadcastStatus.PAUSED,
    ),
    BroadcastAction.RESUME: (frozenset({BroadcastStatus.PAUSED}), None),
    BroadcastAction.CANCEL: (frozenset(UNFINISHED_BROADCASTS), BroadcastStatus.CANCELLED),
}


def broadcast_after(
    status: BroadcastStatus,
    action: BroadcastAction,
    *,
    paused_from: BroadcastStatus | None = None,
) -> BroadcastStatus:
    """The broadcast's status after `action`; `LifecycleConflict` if it does not apply. A
    resumed broadcast goes back to what it was paused from (sending if that is unknown)."""
    allowed, target = _BROADCAST_ACTIONS[action]
    if status not in allowed:
        raise LifecycleConflict(f"the broadcast is {status.value}; it cannot {action.value}")
    if action is BroadcastAction.RESUME:
        return paused_from or BroadcastStatus.SENDING
    return target or status


def broadcast_allows(status: BroadcastStatus, action: BroadcastAction) -> bool:
    """Whether `action` applies to a broadcast in `status`."""
    return status in _BROADCAST_ACTIONS[action][0]


def template_archivable(
    template_name: str, sequence_names: list[str], broadcast_names: list[str]
) -> None:
    """Raises `LifecycleConflict` naming what still uses the template, by name: the name is
    what the person archiving it sees (a block's 409 names its templates the same way)."""
    users = [f"sequence {name!r}" for name in sequence_names] + [
        f"broadcast {name!r}" for name in broadcast_names
    ]
    if users:
        raise LifecycleConflict(
            f"template {template_name!r} is used by {', '.join(users)}; "
            "archive or change those first"
        )
