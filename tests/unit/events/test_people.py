"""Who registers or walks in: a person may have one name."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from crm_events.api.schemas import PersonCreate, RegistrationCreate


def test_a_person_with_one_name_registers_and_walks_in() -> None:
    registration = RegistrationCreate.model_validate(
        {"first_name": "Sukarno", "email": "sukarno@example.id"}
    )
    assert registration.last_name == ""
    walk_in = PersonCreate.model_validate(
        {"first_name": "Ayu", "last_name": "  ", "email": "ayu@example.id"}
    )
    assert walk_in.last_name == ""


def test_a_first_name_is_still_needed() -> None:
    with pytest.raises(ValidationError):
        RegistrationCreate.model_validate({"first_name": " ", "email": "x@example.org"})
