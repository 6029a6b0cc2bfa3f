"""The demo loader sends each create with an idempotency key, kept across its repeats."""

from __future__ import annotations

import json
import random
from pathlib import Path

import httpx
import pytest

from crm_devstack.config import StackConfig
from crm_devstack.demo import DemoLoader, demo_people
from crm_devstack.smtp_sink import store_message

pytestmark = pytest.mark.unit

IN_USE = httpx.Response(
    409,
    json={"type": "urn:recruitcrm:problem:idempotency-key-in-use"},
    headers={"Content-Type": "application/problem+json", "Retry-After": "0"},
)


async def test_a_create_keeps_its_key_through_a_409_and_a_lost_response(tmp_path: Path) -> None:
    answers: list[httpx.Response | Exception] = [
        httpx.ReadTimeout("the response was lost"),
        IN_USE,
        httpx.Response(201, json={"id": "t1"}),
        httpx.Response(201, json={"id": "t2"}),
        httpx.Response(200, json={"items": []}),
    ]
    sent: list[httpx.Request] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async with httpx.AsyncClient(
        base_url="http://gateway.test", transport=httpx.MockTransport(gateway)
    ) as client:
        loader = DemoLoader(StackConfig(run_dir=tmp_path), client)
        first = await loader.expect(201, "POST", "/api/v1/templates", json={"name": "a"})
        second = await loader.expect(201, "POST", "/api/v1/templates", json={"name": "b"})
        await loader.expect(200, "GET", "/api/v1/candidates")

    assert (first, second) == ({"id": "t1"}, {"id": "t2"})
    keys = [request.headers.get("idempotency-key") for request in sent]
    assert keys[0] == keys[1] == keys[2] is not None
    assert keys[3] not in (None, keys[0])
    assert keys[4] is None


async def test_a_read_that_timed_out_at_the_gateway_is_asked_again(tmp_path: Path) -> None:
    timed_out = httpx.Response(504, json={"type": "urn:recruitcrm:problem:upstream-timeout"})
    answers = [timed_out, timed_out, httpx.Response(200, json={"backfill": None})]

    def gateway(request: httpx.Request) -> httpx.Response:
        return answers.pop(0)

    async with httpx.AsyncClient(
        base_url="http://gateway.test", transport=httpx.MockTransport(gateway)
    ) as client:
        loader = DemoLoader(StackConfig(run_dir=tmp_path), client)
        status = await loader.expect(200, "GET", "/api/v1/ats/connections/c1/sync")
    assert status == {"backfill": None}


@pytest.mark.parametrize(
    ("candidates", "segments", "state"),
    [
        ([], [], "empty"),
        ([{"id": "c1"}], [{"name": "Python in Berlin"}], "partial"),
        ([{"id": "c1"}], [{"name": "Python in Berlin"}, {"name": "Silver medallists"}], "complete"),
    ],
)
async def test_a_demo_stopped_half_way_is_told_apart_from_a_whole_one(
    tmp_path: Path, candidates: list[object], segments: list[object], state: str
) -> None:
    def gateway(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/candidates":
            return httpx.Response(200, json={"items": candidates})
        return httpx.Response(200, json=segments)

    async with httpx.AsyncClient(
        base_url="http://gateway.test", transport=httpx.MockTransport(gateway)
    ) as client:
        assert await DemoLoader(StackConfig(run_dir=tmp_path), client).loaded() == state


async def test_a_lost_response_to_a_request_without_a_key_is_not_repeated(tmp_path: Path) -> None:
    def gateway(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("the response was lost")

    async with httpx.AsyncClient(
        base_url="http://gateway.test", transport=httpx.MockTransport(gateway)
    ) as client:
        loader = DemoLoader(StackConfig(run_dir=tmp_path), client)
        with pytest.raises(httpx.ReadTimeout):
            await loader.call("POST", "/public/v1/events/e1/registrations", json={})


async def test_the_past_event_is_made_as_it_happened_then_moved_back_and_completed(
    tmp_path: Path,
) -> None:
    sent: list[httpx.Request] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        path = request.url.path
        if path == "/api/v1/events":
            return httpx.Response(201, json={"id": "past", "version": 1})
        if path.endswith("/registrations"):
            return httpx.Response(201, json={"id": f"r{len(sent)}", "status": "registered"})
        if path.endswith("/complete"):
            return httpx.Response(200, json={"id": "past", "status": "completed"})
        return httpx.Response(200, json={})

    async with httpx.AsyncClient(
        base_url="http://gateway.test", transport=httpx.MockTransport(gateway)
    ) as client:
        loader = DemoLoader(StackConfig(run_dir=tmp_path), client)
        past = await loader.past_event(random.Random(1), demo_people(30))

    assert (past["status"], past["attended"], past["no_shows"]) == ("completed", 10, 6)
    calls = [(r.method, r.url.path.rsplit("/", 1)[-1]) for r in sent]
    assert calls[0] == ("POST", "events")
    assert calls[1:17] == [("POST", "registrations")] * 16
    assert calls[17:27] == [("POST", "check-in")] * 10
    assert calls[27:] == [("PATCH", "past"), ("POST", "complete")]
    created, moved = json.loads(sent[0].content), json.loads(sent[27].content)
    assert sent[27].headers["if-match"] == '"1"'
    assert created["time_zone"] == "Europe/Berlin"
    assert moved["starts_at"] < created["starts_at"]  # wall-clock times, 23 days earlier
    # Put on its real date quietly: nobody is mailed a change about a day that has passed.
    assert moved["notify_registrants"] is False


def _marketing_mail(message_id: str, token: str) -> bytes:
    return (
        "From: Acme <talent@acme.example>\r\nTo: someone@example.org\r\nSubject: Hi\r\n"
        f"X-CRM-Message-Id: {message_id}\r\nMIME-Version: 1.0\r\n"
        'Content-Type: text/html; charset="utf-8"\r\n\r\n'
        f'<p><a href="http://127.0.0.1:8000/t/c/{token}">role</a>'
        f'<img src="http://127.0.0.1:8000/t/o/{token}"></p>\r\n'
    ).encode()


class _AlwaysEngages(random.Random):
    def random(self) -> float:
        return 0.0


async def test_the_demo_opens_only_its_own_nurture_mail_not_the_users(tmp_path: Path) -> None:
    """The user's own broadcast, sent while the demo loads, lands in the same sink: the demo
    must not open or click it, or the figures the user checks are the demo's doing."""
    sink = tmp_path / "smtp" / "messages"
    store_message(sink, "talent@acme.example", ["a@example.org"], _marketing_mail("m1", "ours"))
    store_message(sink, "talent@acme.example", ["b@example.org"], _marketing_mail("b1", "users"))
    sent: list[httpx.Request] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if request.url.path == "/api/v1/messages":
            assert request.url.params["sequence_id"] == "seq1"
            return httpx.Response(200, json={"items": [{"id": "m1"}], "next_cursor": None})
        return httpx.Response(200)

    async with httpx.AsyncClient(
        base_url="http://gateway.test", transport=httpx.MockTransport(gateway)
    ) as client:
        loader = DemoLoader(StackConfig(run_dir=tmp_path), client)
        engagement = await loader.engage(_AlwaysEngages(), "seq1")

    tracked = [r.url.path for r in sent if r.url.path.startswith("/t/")]
    assert tracked == ["/t/o/ours", "/t/c/ours"]
    assert engagement == {"mails": 1, "opened": 1, "clicked": 1}
