"""The idempotency-key rules: key syntax, request fingerprints, which responses are stored and
what a repeated request gets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_gateway.domain.idempotency import (
    IdempotencyRecord,
    InvalidIdempotencyKey,
    KeyScope,
    RecordState,
    StoredResponse,
    Verdict,
    is_replayable,
    parse_key,
    request_fingerprint,
    verdict,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("8e03978e-40d5-43e8-bc93-6894a57f9324", "8e03978e-40d5-43e8-bc93-6894a57f9324"),
        ('"8e03978e-40d5"', "8e03978e-40d5"),  # the IETF draft's quoted Structured Field
        ("  order 42 / retry ", "order 42 / retry"),
        ("k" * 255, "k" * 255),
    ],
)
def test_a_key_is_a_token_or_a_quoted_string_of_printable_ascii(raw: str, key: str) -> None:
    assert parse_key(raw) == key


@pytest.mark.parametrize("raw", ["", "   ", '""', "k" * 256, "clé", "tab\there", '"a"b"'])
def test_an_empty_overlong_or_non_printable_key_is_refused(raw: str) -> None:
    with pytest.raises(InvalidIdempotencyKey):
        parse_key(raw)


def test_a_fingerprint_tells_method_path_query_and_body_apart() -> None:
    base = request_fingerprint("POST", "/candidates", "", b'{"a": 1}')
    assert request_fingerprint("post", "/candidates", "", b'{"a": 1}') == base
    assert request_fingerprint("PUT", "/candidates", "", b'{"a": 1}') != base
    assert request_fingerprint("POST", "/segments", "", b'{"a": 1}') != base
    assert request_fingerprint("POST", "/candidates", "dry_run=true", b'{"a": 1}') != base
    assert request_fingerprint("POST", "/candidates", "", b'{"a": 2}') != base
    # Length-prefixed parts: moving text from the path into the query is another request.
    assert request_fingerprint("POST", "/a", "b", b"") != request_fingerprint(
        "POST", "/ab", "", b""
    )


def test_a_json_body_is_compared_by_content_not_by_its_bytes() -> None:
    first = request_fingerprint("POST", "/candidates", "", b'{"name": "Ada", "skills": ["go"]}')
    again = request_fingerprint("POST", "/candidates", "", b'{"skills":["go"],"name":"Ada"}')
    assert first == again
    assert first != request_fingerprint("POST", "/candidates", "", b'{"skills":["go"]}')
    # Not JSON: compared byte for byte.
    assert request_fingerprint("POST", "/x", "", b"a=1&b=2") != request_fingerprint(
        "POST", "/x", "", b"b=2&a=1"
    )


@pytest.mark.parametrize(
    ("status", "stored"),
    [
        (200, True),
        (201, True),
        (202, True),
        (204, True),
        (400, True),
        (404, True),
        (422, True),
        (408, False),
        (409, False),
        (429, False),
        (500, False),
        (502, False),
        (503, False),
        (504, False),
    ],
)
def test_successes_and_deterministic_client_errors_are_stored(status: int, stored: bool) -> None:
    assert is_replayable(status) is stored


def test_a_scope_is_one_tenant_and_one_user() -> None:
    scope = KeyScope("acme", "rita", "k1")
    assert scope.record_id == KeyScope("acme", "rita", "k1").record_id
    assert scope.record_id != KeyScope("globex", "rita", "k1").record_id
    assert scope.record_id != KeyScope("acme", "ada", "k1").record_id
    assert KeyScope("a", "bc", "k").record_id != KeyScope("ab", "c", "k").record_id


def _in_flight(
    fingerprint: str = "f1", expires_at: datetime = NOW + timedelta(seconds=60)
) -> IdempotencyRecord:
    return IdempotencyRecord(fingerprint, RecordState.IN_FLIGHT, "claim-1", expires_at)


def test_what_a_repeated_request_gets() -> None:
    in_flight = _in_flight()
    created = StoredResponse.of(201, {"Content-Type": "application/json"}, b"{}")
    completed = in_flight.completed(created, NOW + timedelta(hours=24))
    assert verdict(None, "f1", NOW) is Verdict.RUN
    assert verdict(in_flight, "f1", NOW) is Verdict.IN_FLIGHT
    assert verdict(completed, "f1", NOW) is Verdict.REPLAY
    # Another request under the key: refused whether the first one runs or has completed.
    assert verdict(in_flight, "f2", NOW) is Verdict.MISMATCH
    assert verdict(completed, "f2", NOW) is Verdict.MISMATCH


def test_an_expired_record_no_longer_holds_the_key() -> None:
    abandoned = _in_flight(expires_at=NOW)  # its gateway died before the request finished
    assert verdict(abandoned, "f1", NOW) is Verdict.RUN
    stale = _in_flight().completed(StoredResponse.of(201, {}, b""), NOW - timedelta(seconds=1))
    assert verdict(stale, "f2", NOW) is Verdict.RUN


def test_only_an_in_flight_request_completes_and_only_with_a_replayable_response() -> None:
    in_flight = _in_flight()
    completed = in_flight.completed(StoredResponse.of(201, {}, b"{}"), NOW)
    assert completed.state is RecordState.COMPLETED
    assert (completed.fingerprint, completed.claim) == (in_flight.fingerprint, in_flight.claim)
    with pytest.raises(ValueError, match="in-flight"):
        completed.completed(StoredResponse.of(201, {}, b"{}"), NOW)
    with pytest.raises(ValueError, match="not stored"):
        in_flight.completed(StoredResponse.of(504, {}, b"{}"), NOW)


def test_a_stored_response_keeps_the_headers_a_caller_uses() -> None:
    stored = StoredResponse.of(
        201,
        {
            "Content-Type": "application/json",
            "Location": "/api/v1/candidates/c1",
            "ETag": '"3"',
            "X-Trace-Id": "abc",
            "Retry-After": "1",
        },
        b"{}",
    )
    assert stored.headers == {
        "content-type": "application/json",
        "location": "/api/v1/candidates/c1",
        "etag": '"3"',
    }
