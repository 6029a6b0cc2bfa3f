"""Normalisation rules applied to every candidate write."""

from __future__ import annotations

import pytest

from crm_candidates.domain.models import (
    normalise_skill,
    unique_in_order,
)
from crm_shared import new_id, normalise_email

pytestmark = pytest.mark.unit


def test_emails_are_trimmed_and_lower_cased() -> None:
    assert normalise_email("  Ada.Lovelace@Example.ORG ") == "ada.lovelace@example.org"


def test_skills_are_lower_cased_and_single_spaced() -> None:
    assert normalise_skill("  Machine \t Learning ") == "machine learning"


def test_repeats_and_blanks_are_dropped_keeping_first_order() -> None:
    assert unique_in_order(["python", "go", "", "python", "rust"]) == ["python", "go", "rust"]


def test_candidate_ids_sort_in_creation_order() -> None:
    ids = [new_id() for _ in range(50)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 50
