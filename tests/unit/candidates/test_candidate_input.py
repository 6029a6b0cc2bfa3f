"""What a recruiter sends to create a candidate: a person may have one name."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from crm_candidates.domain.candidate_input import CandidateCreate


def test_a_candidate_with_one_name_is_created_with_an_empty_last_name() -> None:
    created = CandidateCreate.model_validate(
        {"first_name": "Sukarno", "emails": ["sukarno@example.id"]}
    )
    assert created.last_name == ""


def test_a_first_name_is_still_needed() -> None:
    with pytest.raises(ValidationError):
        CandidateCreate.model_validate({"first_name": "", "emails": ["x@example.org"]})
