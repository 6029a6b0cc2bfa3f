"""Who may be pushed to an ATS, and when a push is an abandoned attempt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_ats_sync.domain.models import Provider
from crm_ats_sync.domain.pushes import (
    KnownCandidate,
    Push,
    PushRefused,
    PushState,
    check_pushable,
    push_key,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def _known(**fields: object) -> KnownCandidate:
    defaults: dict[str, object] = {
        "candidate_id": "c1",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.org",
        "consent_granted": True,
    }
    return KnownCandidate.model_validate(defaults | fields)


def _reason(candidate: KnownCandidate | None) -> str:
    with pytest.raises(PushRefused) as refused:
        check_pushable(candidate, "c1", NOW)
    return refused.value.reason


def test_an_active_candidate_with_granted_consent_may_be_pushed() -> None:
    check_pushable(_known(), "c1", NOW)
    check_pushable(_known(consent_expires_at=NOW + timedelta(days=1)), "c1", NOW)


def test_refusals_say_why() -> None:
    assert _reason(None) == "candidate-unknown"
    assert _reason(_known(email=None)) == "candidate-unknown"
    assert _reason(_known(status="merged")) == "candidate-not-active"
    assert _reason(_known(consent_granted=False)) == "consent-required"
    assert _reason(_known(consent_expires_at=NOW)) == "consent-required"


def test_a_push_is_one_per_connection_candidate_and_job() -> None:
    assert push_key("k", "c1", None) != push_key("k", "c1", "7")
    assert push_key("k", "c1", None) == push_key("k", "c1", None)


def test_only_a_pending_push_left_alone_too_long_is_abandoned() -> None:
    push = Push(
        tenant_id="t",
        key="k:c1:",
        connection_id="k",
        provider=Provider.GREENHOUSE,
        candidate_id="c1",
        requested_by="rita",
        updated_at=NOW,
    )
    after = timedelta(minutes=10)
    assert not push.abandoned(NOW + timedelta(minutes=5), after)
    assert push.abandoned(NOW + timedelta(minutes=11), after)
    done = push.model_copy(update={"state": PushState.DONE})
    assert not done.abandoned(NOW + timedelta(hours=1), after)
