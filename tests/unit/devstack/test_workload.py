"""The seeded workload: deterministic, valid for the candidates API, with near-duplicates."""

from __future__ import annotations

import pytest

from crm_candidates.api.schemas import CandidateCreate
from crm_devstack.demo import demo_people
from crm_devstack.workload import Workload

pytestmark = pytest.mark.unit


def test_the_same_seed_gives_the_same_candidates() -> None:
    assert list(Workload(seed=1).candidates(50)) == list(Workload(seed=1).candidates(50))
    assert list(Workload(seed=1).candidates(50)) != list(Workload(seed=2).candidates(50))


def test_demo_people_are_valid_create_requests_with_distinct_emails() -> None:
    people = demo_people(300)
    for person in people:
        CandidateCreate.model_validate(person.payload)
    assert len({person.email for person in people}) == len(people)


def test_about_five_percent_are_near_duplicates_of_an_earlier_person() -> None:
    profiles = list(Workload().candidates(2000))
    seen: set[tuple[str, str, str]] = set()
    repeats = 0
    for profile in profiles:
        key = (profile["first_name"].lower(), profile["current_company"], profile["location"])
        repeats += key in seen
        seen.add(key)
    assert 0.03 < repeats / len(profiles) < 0.12


def test_engagement_follows_the_configured_rates() -> None:
    opened, clicked = Workload().opens_and_clicks(10_000, sequence=False)
    assert 2000 <= opened <= 2500
    assert 200 <= clicked <= 300
    sequence_opened, _ = Workload().opens_and_clicks(10_000, sequence=True)
    assert 5000 <= sequence_opened <= 8000
    attended, no_shows = Workload().registrations(100)
    assert (attended, no_shows) == (65, 35)
