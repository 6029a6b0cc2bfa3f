"""The events service's rules: who is waitlisted, and what a capacity change lets in."""

from __future__ import annotations

import pytest

from crm_events.domain.models import (
    EventChangeRefused,
    EventStatus,
    RegistrationStatus,
    registration_status,
    seats_to_promote,
)

pytestmark = pytest.mark.unit


def test_a_registrant_is_waitlisted_once_the_registered_fill_the_capacity() -> None:
    assert registration_status(capacity=2, registered=1) is RegistrationStatus.REGISTERED
    assert registration_status(capacity=2, registered=2) is RegistrationStatus.WAITLISTED
    assert registration_status(capacity=0, registered=0) is RegistrationStatus.WAITLISTED


def test_a_larger_capacity_promotes_the_difference_and_a_smaller_one_is_refused() -> None:
    assert seats_to_promote(5, 3, status=EventStatus.PUBLISHED) == 2
    assert seats_to_promote(3, 3, status=EventStatus.PUBLISHED) == 0
    with pytest.raises(EventChangeRefused):
        seats_to_promote(2, 3, status=EventStatus.PUBLISHED)
    with pytest.raises(EventChangeRefused):
        seats_to_promote(5, 3, status=EventStatus.CANCELLED)
