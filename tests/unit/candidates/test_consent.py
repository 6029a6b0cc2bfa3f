"""The consent ledger's fold, the expiry decisions and the per-address confirmation cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_candidates.domain.consent import (
    ConsentEntry,
    ConsentPurpose,
    ConsentSource,
    ConsentState,
    ConsentStatus,
    ExpiryAction,
    LawfulBasis,
    PendingSignup,
    RetentionPolicy,
    admit_confirmation,
    backfilled_expiry,
    expiry_action,
    flag_change,
    lapse_leaves_no_consent,
    later_decisions,
    marketing_consent,
    next_check_at,
    replay,
    signup_admitted,
    state_after,
)
from crm_shared import email_sha256

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = RetentionPolicy(consent_validity_days=365, re_permission_days_before=30)


def entry(
    status: ConsentStatus,
    at: datetime,
    *,
    purpose: ConsentPurpose = ConsentPurpose.MARKETING,
    expires_at: datetime | None = None,
) -> ConsentEntry:
    return ConsentEntry(
        tenant_id="t",
        candidate_id="c",
        purpose=purpose,
        status=status,
        lawful_basis=LawfulBasis.CONSENT,
        source=ConsentSource.RECRUITER,
        recorded_at=at,
        expires_at=expires_at,
        recorded_by="u",
    )


def granted_state(expires_at: datetime | None, **changes: object) -> ConsentState:
    state = state_after(None, entry(ConsentStatus.GRANTED, T0, expires_at=expires_at))
    return state.model_copy(update=changes)


def test_the_latest_entry_of_each_purpose_is_its_current_state() -> None:
    states = replay(
        [
            entry(ConsentStatus.WITHDRAWN, T0 + timedelta(days=2)),
            entry(ConsentStatus.GRANTED, T0, expires_at=T0 + timedelta(days=365)),
            entry(
                ConsentStatus.GRANTED,
                T0 + timedelta(days=1),
                purpose=ConsentPurpose.DATA_PROCESSING,
            ),
        ]
    )
    marketing = states[ConsentPurpose.MARKETING]
    assert marketing.status is ConsentStatus.WITHDRAWN
    assert marketing.granted_at == T0  # kept from the grant before the withdrawal
    assert marketing.withdrawn_at == T0 + timedelta(days=2)
    assert marketing.expires_at is None
    assert states[ConsentPurpose.DATA_PROCESSING].status is ConsentStatus.GRANTED
    assert marketing_consent(states.values()) is False
    assert lapse_leaves_no_consent(states.values()) is False


def test_marketing_consent_needs_the_marketing_purpose_granted() -> None:
    community = replay([entry(ConsentStatus.GRANTED, T0, purpose=ConsentPurpose.TALENT_COMMUNITY)])
    assert marketing_consent(community.values()) is False
    both = replay(
        [
            entry(ConsentStatus.GRANTED, T0, purpose=ConsentPurpose.TALENT_COMMUNITY),
            entry(ConsentStatus.GRANTED, T0),
        ]
    )
    assert marketing_consent(both.values()) is True


def test_a_consent_is_re_permissioned_once_inside_the_window_then_expires() -> None:
    expires = T0 + timedelta(days=365)
    state = granted_state(expires)
    assert expiry_action(state, expires - timedelta(days=31), POLICY) is ExpiryAction.NOTHING
    assert next_check_at(state, POLICY) == expires - timedelta(days=30)
    inside = expires - timedelta(days=29)
    assert expiry_action(state, inside, POLICY) is ExpiryAction.REQUEST_RE_PERMISSION
    asked = state.model_copy(update={"re_permission_requested_for": expires})
    assert expiry_action(asked, inside, POLICY) is ExpiryAction.NOTHING
    assert next_check_at(asked, POLICY) == expires
    assert expiry_action(asked, expires, POLICY) is ExpiryAction.EXPIRE
    # Lapse is decided even if the re-permission window was missed entirely.
    assert expiry_action(state, expires + timedelta(days=1), POLICY) is ExpiryAction.EXPIRE


def test_a_renewed_grant_starts_a_new_period() -> None:
    expires = T0 + timedelta(days=365)
    asked = granted_state(expires, re_permission_requested_for=expires)
    renewed = state_after(
        asked,
        entry(
            ConsentStatus.GRANTED,
            expires - timedelta(days=5),
            expires_at=expires + timedelta(days=365),
        ),
    )
    assert renewed.re_permission_requested_for is None
    assert next_check_at(renewed, POLICY) == expires + timedelta(days=335)


def test_withdrawn_and_open_ended_consents_never_expire() -> None:
    assert expiry_action(granted_state(None), T0 + timedelta(days=9999), POLICY) is (
        ExpiryAction.NOTHING
    )
    assert next_check_at(granted_state(None), POLICY) is None
    withdrawn = state_after(None, entry(ConsentStatus.WITHDRAWN, T0))
    assert expiry_action(withdrawn, T0 + timedelta(days=9999), POLICY) is ExpiryAction.NOTHING
    assert next_check_at(withdrawn, POLICY) is None


def test_a_policy_without_a_date_uses_the_tenant_validity() -> None:
    assert POLICY.default_expiry(T0) == T0 + timedelta(days=365)
    with pytest.raises(ValueError, match="on_lapse"):
        RetentionPolicy.model_validate({"on_lapse": "delete"})


def test_at_most_three_confirmations_per_address_in_24_hours() -> None:
    window = timedelta(hours=24)
    sent: list[datetime] = []
    admitted = []
    for minute in range(10):
        allowed, sent = admit_confirmation(
            sent, T0 + timedelta(minutes=minute), limit=3, window=window
        )
        admitted.append(allowed)
    assert admitted == [True, True, True] + [False] * 7
    assert len(sent) == 3
    # A day after the first, one slot frees up again; the forgotten send is dropped.
    allowed, sent = admit_confirmation(
        sent, T0 + window + timedelta(seconds=1), limit=3, window=window
    )
    assert allowed is True
    assert sent[0] == T0 + timedelta(minutes=1)


def test_email_digests_ignore_case_and_spacing() -> None:
    assert email_sha256(" Ada@Example.org ") == email_sha256("ada@example.org")
    assert len(email_sha256("ada@example.org")) == 64


def _pending(now: datetime, **changes: object) -> PendingSignup:
    values: dict[str, object] = {
        "tenant_id": "acme",
        "email": "a@example.org",
        "email_sha256": "d",
        "first_name": "Ann",
        "requested_at": now,
        "expires_at": now + timedelta(hours=48),
    }
    return PendingSignup.model_validate(values | changes)


def test_a_pending_sign_up_expires_unless_confirmed() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    pending = _pending(now)
    assert not pending.expired(now + timedelta(hours=47))
    assert pending.expired(now + timedelta(hours=48))
    confirmed = _pending(now, confirmed_at=now, candidate_id="c1")
    assert confirmed.confirmed
    assert not confirmed.expired(now + timedelta(hours=49))


def test_a_tenant_takes_sign_ups_up_to_its_hourly_cap() -> None:
    assert signup_admitted(499, 500)
    assert not signup_admitted(500, 500)


def _decided(purpose: ConsentPurpose, status: ConsentStatus, day: int) -> ConsentState:
    return ConsentState(
        tenant_id="acme",
        candidate_id="someone",
        purpose=purpose,
        status=status,
        lawful_basis=LawfulBasis.CONSENT,
        source=ConsentSource.RECRUITER,
        changed_at=datetime(2026, 11, day, tzinfo=UTC),
    )


def test_a_merge_carries_only_the_merged_records_later_decisions() -> None:
    marketing, community, processing = (
        ConsentPurpose.MARKETING,
        ConsentPurpose.TALENT_COMMUNITY,
        ConsentPurpose.DATA_PROCESSING,
    )
    survivor = {
        marketing: _decided(marketing, ConsentStatus.GRANTED, 1),
        community: _decided(community, ConsentStatus.GRANTED, 9),
    }
    merged = {
        marketing: _decided(marketing, ConsentStatus.WITHDRAWN, 5),  # later: carried
        community: _decided(community, ConsentStatus.WITHDRAWN, 3),  # earlier: the survivor's
        processing: _decided(processing, ConsentStatus.GRANTED, 2),  # survivor has none
    }
    carried = later_decisions(survivor, merged)
    assert sorted((s.purpose.value, s.status.value) for s in carried) == [
        ("data_processing", "granted"),
        ("marketing", "withdrawn"),
    ]
    assert later_decisions(survivor, {}) == []


def _marketing(status: ConsentStatus) -> ConsentState:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return ConsentState(
        tenant_id="t",
        candidate_id="c",
        purpose=ConsentPurpose.MARKETING,
        status=status,
        lawful_basis=LawfulBasis.CONSENT,
        source=ConsentSource.RECRUITER,
        changed_at=at,
    )


def test_a_profile_flag_change_is_recorded_unless_the_ledger_says_so_already() -> None:
    granted, withdrawn = _marketing(ConsentStatus.GRANTED), _marketing(ConsentStatus.WITHDRAWN)
    assert flag_change(False, True, None) is ConsentStatus.GRANTED
    assert flag_change(False, True, withdrawn) is ConsentStatus.GRANTED
    assert flag_change(False, True, granted) is None  # the ledger endpoint moved the flag
    assert flag_change(True, False, granted) is ConsentStatus.WITHDRAWN
    assert flag_change(True, False, None) is None
    assert flag_change(True, True, None) is None  # unchanged: an unrelated edit


def test_a_backfilled_expiry_leaves_time_to_ask_again() -> None:
    policy = RetentionPolicy(consent_validity_days=365, re_permission_days_before=30)
    now = datetime(2026, 12, 5, tzinfo=UTC)
    recent = now - timedelta(days=100)
    assert backfilled_expiry(recent, now, policy) == recent + timedelta(days=365)
    assert backfilled_expiry(now - timedelta(days=400), now, policy) == now + timedelta(days=30)
