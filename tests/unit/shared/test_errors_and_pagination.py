"""Problem+json for every error, and opaque cursors."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, EmailStr
from pymongo.errors import AutoReconnect, NetworkTimeout, OperationFailure

from crm_shared import (
    FieldError,
    ProblemError,
    decode_cursor,
    encode_cursor,
    first_page_of,
    validation_problem,
)
from crm_shared.errors import install_problem_handlers

pytestmark = pytest.mark.unit

UNPARSED = "Input should be a valid integer, unable to parse string as an integer"


class Person(BaseModel):
    name: str
    emails: list[EmailStr]


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/people")
    async def create(person: Person) -> Person:
        return person

    @app.get("/conflict")
    async def conflict() -> None:
        raise ProblemError(409, "already there", problem_type="duplicate", extensions={"id": "x"})

    @app.get("/refused")
    async def refused(limit: int = 10) -> None:
        # A route's own refusal, for a rule the request's schema cannot say.
        raise validation_problem([FieldError.query("limit", UNPARSED)])

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    @app.get("/database-timeout")
    async def database_timeout() -> None:
        raise NetworkTimeout("timed out after 30000 ms")

    @app.get("/database-gone")
    async def database_gone() -> None:
        raise AutoReconnect("127.0.0.1:27017: [Errno 104] Connection reset by peer")

    @app.get("/database-error")
    async def database_error() -> None:
        raise OperationFailure("secret internals", code=2)

    return TestClient(app, raise_server_exceptions=False)


def test_a_validation_error_is_a_422_problem_naming_the_bad_field(client: TestClient) -> None:
    response = client.post("/people", json={"name": "Ada", "emails": ["ok@example.org", "nope"]})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:recruitcrm:problem:validation-error"
    assert problem["instance"] == "/people"
    assert [e["field"] for e in problem["errors"]] == ["emails.1"]
    assert problem["errors"][0]["pointer"] == "#/emails/1"


def test_broken_json_is_a_422_about_the_body_not_a_field_named_by_an_offset(
    client: TestClient,
) -> None:
    response = client.post(
        "/people",
        content=b'{"name": "Ada", "emails": [',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "body"
    assert error["pointer"] == ""
    assert error["detail"].startswith("the body is not valid JSON")
    assert "at character" in error["detail"]


def test_a_routes_own_validation_problem_has_the_request_validations_shape(
    client: TestClient,
) -> None:
    automatic = client.get("/refused", params={"limit": "many"})
    own = client.get("/refused", params={"limit": "5"})
    assert automatic.status_code == own.status_code == 422
    assert own.headers["content-type"] == "application/problem+json"
    assert (
        own.json()
        == automatic.json()
        == {
            "type": "urn:recruitcrm:problem:validation-error",
            "title": "Request validation failed",
            "status": 422,
            "detail": "invalid request: limit",
            "instance": "/refused",
            "errors": [{"field": "limit", "pointer": "", "source": "query", "detail": UNPARSED}],
        }
    )


def test_the_validation_problem_names_each_field_with_a_pointer_into_the_body() -> None:
    problem = validation_problem(
        [
            FieldError("steps.2.template_id", "unknown template"),
            FieldError("html", "unknown merge field", line=3),
            FieldError.query("to", "too long a range"),
            FieldError.whole_body("not an SNS message"),
            FieldError.whole_body("not CSV", field="file"),
        ]
    )
    assert (problem.status, problem.problem_type, problem.title) == (
        422,
        "validation-error",
        "Request validation failed",
    )
    assert problem.detail == "invalid request: steps.2.template_id, html, to, body, file"
    assert problem.extensions["errors"] == [
        {
            "field": "steps.2.template_id",
            "pointer": "#/steps/2/template_id",
            "source": "body",
            "detail": "unknown template",
        },
        {
            "field": "html",
            "pointer": "#/html",
            "source": "body",
            "detail": "unknown merge field",
            "line": 3,
        },
        {"field": "to", "pointer": "", "source": "query", "detail": "too long a range"},
        {"field": "body", "pointer": "", "source": "body", "detail": "not an SNS message"},
        {"field": "file", "pointer": "", "source": "body", "detail": "not CSV"},
    ]
    assert validation_problem([FieldError("a", "b")], "the thing is wrong").detail == (
        "the thing is wrong"
    )


def test_a_body_that_is_not_json_is_a_415(client: TestClient) -> None:
    response = client.post("/people", content=b"name=Ada", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert response.json()["type"] == "urn:recruitcrm:problem:unsupported-media-type"
    assert "text/plain" in response.json()["detail"]
    # A JSON body of the wrong shape stays a 422.
    wrong = client.post("/people", json=["Ada"])
    assert wrong.status_code == 422


def test_a_problem_error_keeps_its_status_type_and_extensions(client: TestClient) -> None:
    problem = client.get("/conflict").json()
    assert problem == {
        "type": "urn:recruitcrm:problem:duplicate",
        "title": "Conflict",
        "status": 409,
        "detail": "already there",
        "instance": "/conflict",
        "id": "x",
    }


def test_an_unknown_route_and_an_unexpected_error_are_problems_too(client: TestClient) -> None:
    missing = client.get("/nowhere")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    crash = client.get("/boom")
    assert crash.status_code == 500
    assert "secret internals" not in crash.text


def test_a_cursor_round_trips_and_is_opaque() -> None:
    cursor = encode_cursor("65f0c0ffee")
    assert "65f0c0ffee" not in cursor
    assert decode_cursor(cursor) == "65f0c0ffee"


@pytest.mark.parametrize("cursor", ["%%%", "bm90IGpzb24", encode_cursor("x")[:-3] + "AAA"])
def test_a_malformed_cursor_is_a_400_problem(cursor: str) -> None:
    with pytest.raises(ProblemError) as raised:
        decode_cursor(cursor)
    assert raised.value.status == 400


def test_a_database_timeout_is_a_504_that_says_a_write_may_have_happened(
    client: TestClient,
) -> None:
    response = client.get("/database-timeout")
    assert response.status_code == 504
    assert response.headers["retry-after"] == "5"
    problem = response.json()
    assert problem["type"] == "urn:recruitcrm:problem:database-timeout"
    assert "may or may not have taken effect" in problem["detail"]


def test_a_lost_database_connection_is_a_503_that_says_a_write_may_have_happened(
    client: TestClient,
) -> None:
    # The database process died under the request (tests/faults/test_database_restarted.py):
    # the connection reset is no timeout, and it was answered 500 before.
    response = client.get("/database-gone")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    problem = response.json()
    assert problem["type"] == "urn:recruitcrm:problem:database-unavailable"
    assert "may or may not have taken effect" in problem["detail"]
    assert "Connection reset" not in response.text


def test_any_other_database_error_is_an_opaque_500(client: TestClient) -> None:
    response = client.get("/database-error")
    assert response.status_code == 500
    assert "secret" not in response.text


def test_the_first_page_of_an_overfetched_read_says_whether_more_follow() -> None:
    found = ["a", "b", "c"]  # read with limit + 1 = 3
    items, cursor = first_page_of(found, 2, lambda item: item)
    assert items == ["a", "b"]
    assert cursor is not None
    assert decode_cursor(cursor) == "b"
    assert first_page_of(found, 3, lambda item: item) == (found, None)
    assert first_page_of([], 5, lambda item: item) == ([], None)
