"""A JSON body with an unpaired surrogate is a 422 problem, never a 500 from the database."""

from __future__ import annotations

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel
from starlette.types import Message, Receive, Scope, Send

from crm_shared import PROBLEM_JSON
from crm_shared.errors import install_problem_handlers
from crm_shared.json_bodies import RejectUnpairedSurrogates, has_unpaired_surrogate

pytestmark = pytest.mark.unit


class Person(BaseModel):
    name: str


def client(max_inspected_bytes: int = 1_048_576) -> TestClient:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(RejectUnpairedSurrogates, max_inspected_bytes=max_inspected_bytes)

    @app.post("/people")
    async def create(person: Person) -> Person:
        # What MongoDB does first with every string: encode it as UTF-8.
        person.name.encode("utf-8")
        return person

    @app.post("/raw")
    async def raw(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "a\\ud800b"}',
        b'{"name": "\\udc00"}',
        b'{"name": "ok", "tags": ["\\ud83d"]}',
        b'{"\\ud800": "key"}',
    ],
)
def test_an_unpaired_surrogate_escape_is_a_422_problem(body: bytes) -> None:
    response = client().post("/people", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert problem["type"] == "urn:recruitcrm:problem:validation-error"
    assert problem["errors"][0]["field"] == "body"
    assert problem["instance"] == "/people"


def test_without_the_middleware_the_same_body_is_a_500() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/people")
    async def create(person: Person) -> Person:
        person.name.encode("utf-8")
        return person

    response = TestClient(app, raise_server_exceptions=False).post(
        "/people", content=b'{"name": "a\\ud800"}', headers={"content-type": "application/json"}
    )
    assert response.status_code == 500


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        # A surrogate pair is one character (an emoji), not an unpaired surrogate.
        (b'{"name": "\\ud83d\\ude00"}', "application/json"),
        (b'{"name": "\\\\ud800"}', "application/json"),  # an escaped backslash, then text
        ('{"name": "Jürgen 😀"}'.encode(), "application/json; charset=utf-8"),
        (b'{"name": "plain"}', "application/merge-patch+json"),
    ],
)
def test_every_other_json_body_reaches_the_app_unchanged(body: bytes, content_type: str) -> None:
    response = client().post("/people", content=body, headers={"content-type": content_type})
    assert response.status_code == 200, response.text


def test_a_body_that_is_not_json_passes_through() -> None:
    text = b'"\\ud800"'
    response = client().post("/raw", content=text, headers={"content-type": "text/plain"})
    assert response.json() == {"bytes": len(text)}


async def test_a_body_too_large_to_inspect_is_streamed_through_uninspected() -> None:
    chunks = [b'{"name": "', b"x" * 20, b'\\ud800"}']
    messages: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
        for index, chunk in enumerate(chunks)
    ]
    received: list[bytes] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            received.append(message["body"])
            if not message["more_body"]:
                return

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        raise AssertionError(f"the middleware answered by itself: {message}")

    scope = {"type": "http", "path": "/raw", "headers": [(b"content-type", b"application/json")]}
    await RejectUnpairedSurrogates(app, max_inspected_bytes=16)(scope, receive, send)
    assert b"".join(received) == b"".join(chunks)


def test_a_decoded_value_is_searched_in_keys_strings_and_lists() -> None:
    assert has_unpaired_surrogate({"a": [{"b": "\ud800"}]})
    assert not has_unpaired_surrogate({"a": ["\U0001f600", 1, None, 2.5]})
