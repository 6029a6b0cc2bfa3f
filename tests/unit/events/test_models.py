"""The events service's rules: who is waitlisted, and what a capacity change lets in."""

from __future__ import annotations

import pytest

from crm_events.domain.models import (
    EventChangeRefused,
    EventStatus,
    RegistrationStatus,
    check_capacity,
    registration_status,
)

pytestmark = pytest.mark.unit


def test_a_registrant_is_waitlisted_once_the_registered_fill_the_capacity() -> None:
    assert registration_status(capacity=2, registered=1) is RegistrationStatus.REGISTERED
    assert registration_status(capacity=2, registered=2) is RegistrationStatus.WAITLISTED
    assert registration_status(capacity=0, registered=0) is RegistrationStatus.WAITLISTED


def test_a_capacity_below_the_registered_and_a_final_event_s_change_are_refused() -> None:
    check_capacity(5, 3, status=EventStatus.PUBLISHED)
    check_capacity(3, 3, status=EventStatus.PUBLISHED)
    with pytest.raises(EventChangeRefused):
        check_capacity(2, 3, status=EventStatus.PUBLISHED)
    with pytest.raises(EventChangeRefused):
        check_capacity(5, 3, status=EventStatus.CANCELLED)
