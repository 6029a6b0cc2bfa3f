"""What may happen to a sequence or a template in each of its states, and what depends on them.

A sequence is `active`, `paused` (nothing of it runs; its enrolments wait, new ones included)
or `archived` (final: it enrols nobody and its enrolments in progress exited). A template is
archived rather than deleted, since sent messages name it; it cannot be archived while a live
sequence or an unfinished broadcast uses it.
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


def template_archivable(
    template_id: str, sequence_names: list[str], broadcast_names: list[str]
) -> None:
    """Raises `LifecycleConflict` naming what still uses the template."""
    users = [f"sequence {name!r}" for name in sequence_names] + [
        f"broadcast {name!r}" for name in broadcast_names
    ]
    if users:
        raise LifecycleConflict(
            f"template {template_id} is used by {', '.join(users)}; archive or change those first"
        )
