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

from dataclasses import dataclass
from enum import StrEnum

from crm_campaigns.domain.models import Broadcast, BroadcastStatus, Sequence, SequenceStatus


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


@dataclass(frozen=True)
class TemplateUser:
    """A broadcast or sequence that renders a template from now on, so sends its next version."""

    kind: str  # "broadcast" or "sequence"
    id: str
    name: str
    status: str
    # What of it the new version reaches, in a reader's words.
    detail: str


def broadcast_renders_again(broadcast: Broadcast) -> str | None:
    """What of a broadcast is still to be rendered from its template (and so gets a version
    saved now), or None when all of its mail is made. Mail already rendered keeps its version:
    a broadcast part-way through goes out in two versions."""
    status = broadcast.status
    preparing = status is BroadcastStatus.PREPARING or (
        status is BroadcastStatus.PAUSED and broadcast.paused_from is BroadcastStatus.PREPARING
    )
    if status is BroadcastStatus.DRAFT:
        return "not sent yet: all of its mail"
    if preparing:
        return "being prepared: the mail not made yet, while what was made keeps its version"
    awaiting_winner = (
        status in (BroadcastStatus.SENDING, BroadcastStatus.PAUSED)
        and broadcast.ab_test is not None
        and not broadcast.materialized
    )
    if awaiting_winner:
        return (
            "A/B test running: the rest, mailed with the winner, while the test group had the "
            "version it was sent"
        )
    return None


def sequence_renders_again(sequence: Sequence) -> str | None:
    """What of a sequence sends a template's next version: every later step, unless archived."""
    if sequence.status is SequenceStatus.ARCHIVED:
        return None
    if sequence.status is SequenceStatus.PAUSED:
        return "paused: every step sending it once resumed"
    return "every step sending it from now on"


def template_users(broadcasts: list[Broadcast], sequences: list[Sequence]) -> list[TemplateUser]:
    """The broadcasts and sequences that will send a template's next version, by name."""
    users = [
        TemplateUser("broadcast", b.id, b.name, b.status.value, detail)
        for b in broadcasts
        if (detail := broadcast_renders_again(b)) is not None
    ]
    users += [
        TemplateUser("sequence", s.id, s.name, s.status.value, detail)
        for s in sequences
        if (detail := sequence_renders_again(s)) is not None
    ]
    return sorted(users, key=lambda user: (user.kind, user.name.casefold()))
