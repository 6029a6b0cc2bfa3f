"""A form the API refuses field by field: a friendly line at the top and a sentence by each
field, never the API's list of paths or pydantic's wording (the pure rules, and the forms)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from crm_console.domain.problems import CHECK_THE_FIELDS, friendly, problem_from
from crm_console.domain.segments import Condition, Group
from unit.console.test_candidate_forms import STORED
from unit.console.test_candidates import candidate
from unit.console.test_pages import Api, console, gateway_headers, htmx_headers
from unit.console.test_segments import builder_api, form_of
from unit.console.test_settings import ALICE

pytestmark = pytest.mark.unit
__all__ = ["console"]

Console = tuple[httpx.AsyncClient, Api]
# What no form may show: the API's summary line and pydantic's wording.
RAW = ("invalid request", "String should", "Value error", "Field required", "Input should")


def refused(*errors: tuple[str, str]) -> dict[str, Any]:
    """A 422 as the API's request validation answers it."""
    return {
        "type": "urn:recruitcrm:problem:validation-error",
        "title": "Request validation failed",
        "status": 422,
        "detail": "invalid request: " + ", ".join(field for field, _ in errors),
        "errors": [{"field": field, "detail": detail} for field, detail in errors],
    }


def assert_friendly(text: str) -> None:
    for raw in RAW:
        assert raw not in text, raw
    assert CHECK_THE_FIELDS in text


@pytest.mark.parametrize(
    ("said", "shown"),
    [
        ("String should have at least 1 character", "This is required."),
        ("Field required", "This is required."),
        ("String should have at least 3 characters", "Use at least 3 characters."),
        ("String should have at most 200 characters", "Use at most 200 characters."),
        ("Value error, a stage name is repeated", "a stage name is repeated"),
        (
            "Input should be a valid integer, unable to parse string as an integer",
            "Enter a whole number.",
        ),
        ("Input should be greater than or equal to 1", "Enter 1 or more."),
        ("Input should be less than or equal to 365", "Enter 365 or less."),
        ("Input should be 'defer', 'skip' or 'hold'", "Choose one of: defer, skip, hold."),
        ("must be one of: defer, skip, hold", "Choose one of: defer, skip, hold."),
        ("not an e-mail address", "Enter an e-mail address (name@example.org)."),
        (
            "value is not a valid email address: An email address must have an @-sign.",
            "Enter an e-mail address (name@example.org).",
        ),
        ("Input should be a valid datetime, invalid character", "Enter a date and time."),
        ("Input should be a valid date in the format YYYY-MM-DD", "Enter a date (YYYY-MM-DD)."),
        (
            "List should have at least 1 item after validation, not 0",
            "Choose or enter at least one.",
        ),
        ("Extra inputs are not permitted", "This cannot be set here."),
        ("String should match pattern '^[a-z_]+$'", "This is not in the expected format."),
        ("a pool named 'Data' exists", "a pool named 'Data' exists"),
    ],
)
def test_pydantic_wording_becomes_a_sentence_for_the_person(said: str, shown: str) -> None:
    assert friendly(said) == shown


def test_a_refusal_by_field_has_a_friendly_top_line_and_friendly_field_errors() -> None:
    problem = problem_from(
        422,
        json.dumps(
            refused(
                ("body.answers.team", "Field required"),
                ("body.name", "String should have at least 1 character"),
            )
        ).encode(),
    )
    assert problem.message == CHECK_THE_FIELDS
    assert problem.field_errors == {"answers": "This is required.", "name": "This is required."}
    assert problem.summary == [("Answers team", "This is required."), ("Name", "This is required.")]
    # A refusal the API explains in its own words keeps them.
    own = problem_from(409, b'{"status": 409, "detail": "a pool named Data exists"}')
    assert own.message == "a pool named Data exists"


async def test_the_candidate_edit_form(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/custom-fields", body=[])
    api.answer("GET", "/api/v1/candidates/c1", body=candidate(updated_at=STORED))
    api.answer(
        "PATCH",
        "/api/v1/candidates/c1",
        422,
        refused(("body.first_name", "String should have at least 1 character")),
    )
    answer = await client.post(
        "/console/candidates/c1",
        data={
            "updated_at": STORED,
            "first_name": " ",
            "last_name": "B",
            "emails": "zoe@example.org",
        },
        headers=htmx_headers(),
    )
    assert answer.status_code == 422, answer.text
    assert_friendly(answer.text)
    assert 'id="e-first_name">This is required.<' in answer.text


async def test_the_segment_builder(console: Console) -> None:
    client, api = console
    builder_api(api)
    api.answer(
        "POST",
        "/api/v1/segments",
        422,
        refused(("body.name", "String should have at least 1 character")),
    )
    answer = await client.post(
        "/console/segments",
        data={**form_of(Group(members=[Condition(value="berlin")])), "name": "x"},
        headers=htmx_headers(),
    )
    assert answer.status_code == 422, answer.text
    assert_friendly(answer.text)
    assert "This is required." in answer.text


async def test_the_pool_form(console: Console) -> None:
    client, api = console
    api.answer(
        "POST",
        "/api/v1/pools",
        422,
        refused(("body.stages.1", "Value error, stage names must differ")),
    )
    answer = await client.post(
        "/console/pools", data={"name": "Data", "stages": "New, new"}, headers=htmx_headers()
    )
    assert answer.status_code == 422
    assert_friendly(answer.text)
    assert 'id="e-stages">stage names must differ</p>' in answer.text


async def test_the_contact_policy_settings(console: Console) -> None:
    client, api = console
    api.answer(
        "PUT",
        "/api/v1/settings/contact-policy",
        422,
        refused(("body.frequency_cap.max_messages", "Input should be greater than or equal to 1")),
    )
    answer = await client.post(
        "/console/settings/contact-policy",
        data={
            "on_limit": "defer",
            "default_time_zone": "UTC",
            "soft_bounce_limit": "3",
            "max_messages": "0",
            "period_days": "7",
        },
        headers={**gateway_headers(ALICE), "hx-request": "true"},
    )
    assert answer.status_code == 422, answer.text
    assert_friendly(answer.text)
    assert "Enter 1 or more." in answer.text
