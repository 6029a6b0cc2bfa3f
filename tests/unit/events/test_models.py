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
    check_capacity(5, 3, current=5, status=EventStatus.PUBLISHED)
    check_capacity(3, 3, current=5, status=EventStatus.PUBLISHED)
    with pytest.raises(EventChangeRefused, match="3 people are registered"):
        check_capacity(2, 3, current=5, status=EventStatus.PUBLISHED)
    with pytest.raises(EventChangeRefused):
        check_capacity(5, 3, current=5, status=EventStatus.CANCELLED)


def test_an_event_the_door_filled_beyond_its_seats_can_still_be_edited() -> None:
    """Walk-ins and people let in seat 6 at an event of 2: an edit of its place or time keeps
    the capacity of 2, a larger one is welcome, only a smaller one is refused."""
    check_capacity(2, 6, current=2, status=EventStatus.PUBLISHED)
    check_capacity(4, 6, current=2, status=EventStatus.PUBLISHED)
    with pytest.raises(EventChangeRefused, match="6 people are registered"):
        check_capacity(1, 6, current=2, status=EventStatus.PUBLISHED)
