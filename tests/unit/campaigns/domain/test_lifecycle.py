"""The lifecycle rules of sequences and templates: which action applies in which state."""

from __future__ import annotations

import pytest

from crm_campaigns.domain.lifecycle import (
    LifecycleConflict,
    SequenceAction,
    sequence_after,
    template_archivable,
)
from crm_campaigns.domain.models import SequenceStatus

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
