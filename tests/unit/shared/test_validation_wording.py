"""A 422's field errors say what is allowed in the API's words, never in Python's: a try-out's
`reason: bounced` on `POST /suppressions` was told "Input should be <ListReason.MANUAL:
'manual'> or <ListReason.UNSUBSCRIBED: 'unsubscribed'>", and an address without `@`
"String should match pattern '@'"."""

from __future__ import annotations

from enum import Enum, StrEnum
from typing import Literal

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError

from crm_campaigns.api.schemas import SuppressionCreate
from crm_events.api.schemas import EventCreate
from crm_shared.errors import install_problem_handlers, validation_errors

pytestmark = pytest.mark.unit


class Reason(StrEnum):
    MANUAL = "manual"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"


class Level(Enum):
    LOW = 1
    HIGH = 2


class Choices(BaseModel):
    member: Literal[Reason.MANUAL, Reason.UNSUBSCRIBED] = Reason.MANUAL
    reason: Reason = Reason.MANUAL
    word: Literal["a", "b", "c"] = "a"
    level: Level = Level.LOW
    only: Literal["this"] = "this"


def details(model: type[BaseModel], document: dict[str, object]) -> dict[str, str]:
    with pytest.raises(ValidationError) as invalid:
        model.model_validate(document)
    return {
        error.field: error.detail
        for error in validation_errors(invalid.value.errors(include_url=False))
    }


@pytest.mark.parametrize(
    ("field", "value", "detail"),
    [
        ("member", "bounced", "must be one of: manual, unsubscribed"),
        ("reason", "nope", "must be one of: manual, unsubscribed, bounced"),
        ("word", "z", "must be one of: a, b, c"),
        ("level", 5, "must be one of: 1, 2"),
        ("only", "that", "must be this"),
    ],
)
def test_a_value_outside_a_fixed_set_is_told_the_allowed_values(
    field: str, value: object, detail: str
) -> None:
    # `loc` starts with where the value came from; a model alone has none, so the field is it.
    assert details(Choices, {field: value}) == {field: detail}


def test_post_suppressions_says_what_reason_and_email_must_be() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/suppressions")
    def add(body: SuppressionCreate) -> dict[str, str]:
        return {"email": body.email}

    with TestClient(app) as client:
        refused = client.post(
            "/suppressions", json={"email": "not-an-address", "reason": "bounced"}
        )
    assert refused.status_code == 422
    errors = {entry["field"]: entry["detail"] for entry in refused.json()["errors"]}
    assert errors == {
        "email": "not an e-mail address",
        "reason": "must be one of: manual, unsubscribed",
    }
    assert "<" not in refused.text


def test_an_events_status_is_told_in_its_values() -> None:
    starts = "2030-01-01T10:00:00"
    found = details(
        EventCreate,
        {"name": "Day", "starts_at": starts, "ends_at": "2030-01-01T12:00:00", "status": "live"},
    )
    assert found["status"] == "must be one of: draft, published"
