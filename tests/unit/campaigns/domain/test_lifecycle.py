"""The lifecycle rules of sequences and templates: which action applies in which state."""

from __future__ import annotations

import pytest

from crm_campaigns.domain.lifecycle import (
    LifecycleConflict,
    SequenceAction,
    sequence_after,
    template_archivable,
    template_users,
)
from crm_campaigns.domain.models import (
    AbTest,
    AbVariant,
    Broadcast,
    BroadcastStatus,
    ListAudience,
    ManualTrigger,
    Sequence,
    SequenceStatus,
    WaitStep,
)

pytestmark = pytest.mark.unit

ACTIVE, PAUSED, ARCHIVED = SequenceStatus.ACTIVE, SequenceStatus.PAUSED, SequenceStatus.ARCHIVED


@pytest.mark.parametrize(
    ("status", "action", "after"),
    [
        (ACTIVE, SequenceAction.PAUSE, PAUSED),
        (PAUSED, SequenceAction.RESUME, ACTIVE),
        (ACTIVE, SequenceAction.ARCHIVE, ARCHIVED),
        (PAUSED, SequenceAction.ARCHIVE, ARCHIVED),
        (ACTIVE, SequenceAction.EDIT, ACTIVE),
        (PAUSED, SequenceAction.EDIT, PAUSED),
        (PAUSED, SequenceAction.ENROL, PAUSED),
    ],
)
def test_actions_that_apply_lead_where_documented(
    status: SequenceStatus, action: SequenceAction, after: SequenceStatus
) -> None:
    assert sequence_after(status, action) is after


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (PAUSED, SequenceAction.PAUSE),
        (ACTIVE, SequenceAction.RESUME),
        (ARCHIVED, SequenceAction.RESUME),
        (ARCHIVED, SequenceAction.ARCHIVE),
        (ARCHIVED, SequenceAction.EDIT),
        (ARCHIVED, SequenceAction.ENROL),
    ],
)
def test_actions_that_do_not_apply_are_conflicts(
    status: SequenceStatus, action: SequenceAction
) -> None:
    with pytest.raises(LifecycleConflict, match=f"is {status.value}; it cannot {action.value}"):
        sequence_after(status, action)


def test_a_template_in_use_names_its_users() -> None:
    template_archivable("Welcome", [], [])
    with pytest.raises(LifecycleConflict) as used:
        template_archivable("Welcome", ["Nurture"], ["Spring fair"])
    assert "sequence 'Nurture', broadcast 'Spring fair'" in str(used.value)
    # By name, as the block's 409 names its templates: an id means nothing to the reader.
    assert str(used.value).startswith("template 'Welcome' is used by")


def broadcast(
    name: str,
    status: BroadcastStatus,
    *,
    ab: bool = False,
    materialized: bool = False,
    paused_from: BroadcastStatus | None = None,
) -> Broadcast:
    ab_test = AbTest(
        variants=[AbVariant(name="A", subject="a"), AbVariant(name="B", subject="b")],
        test_percentage=20,
        decide_after_minutes=60,
    )
    return Broadcast(
        tenant_id="t",
        name=name,
        template_id="tpl",
        audience=ListAudience(candidate_ids=["c"]),
        ab_test=ab_test if ab else None,
        status=status,
        paused_from=paused_from,
        materialized=materialized,
        created_by="u",
    )


def sequence(name: str, status: SequenceStatus) -> Sequence:
    return Sequence(
        tenant_id="t",
        name=name,
        trigger=ManualTrigger(),
        steps=[WaitStep(days=1)],
        status=status,
        created_by="u",
    )


def test_a_template_save_names_what_will_send_the_new_version() -> None:
    """The A/B broadcast whose rest awaits the winner goes out in two versions: it is named;
    one whose mail is all made (or a sequence archived) is not."""
    users = template_users(
        [
            broadcast("Spring fair", BroadcastStatus.SENDING, ab=True),
            broadcast("Made", BroadcastStatus.SENDING, ab=True, materialized=True),
            broadcast("Plain sending", BroadcastStatus.SENDING, materialized=True),
            broadcast("Draft", BroadcastStatus.DRAFT),
            broadcast("Held", BroadcastStatus.PAUSED, paused_from=BroadcastStatus.PREPARING),
            broadcast("Being made", BroadcastStatus.PREPARING),
        ],
        [sequence("Nurture", ACTIVE), sequence("Resting", PAUSED), sequence("Gone", ARCHIVED)],
    )
    named = {(user.kind, user.name): user for user in users}
    assert sorted(named) == [
        ("broadcast", "Being made"),
        ("broadcast", "Draft"),
        ("broadcast", "Held"),
        ("broadcast", "Spring fair"),
        ("sequence", "Nurture"),
        ("sequence", "Resting"),
    ]
    assert "A/B test running" in named["broadcast", "Spring fair"].detail
    assert named["sequence", "Resting"].status == "paused"
