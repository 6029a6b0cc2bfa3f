"""Idempotency keys: when a POST repeated with the same `Idempotency-Key` runs, replays or is
refused (IETF draft-ietf-httpapi-idempotency-key-header, Stripe's semantics)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

MAX_KEY_LENGTH = 255
# Only what a caller needs to use a created resource is replayed; the rest of a response's
# headers describe that one exchange (its trace, its rate limit).
REPLAYED_HEADERS = ("content-type", "location", "etag")
# Statuses that depend on the moment, not on the request: 408 (too slow), 409 (a conflict that
# may be gone), 429 (throttled). A retry with the same key must be able to run again.
_TRANSIENT_CLIENT_ERRORS = frozenset({408, 409, 429})


class InvalidIdempotencyKey(ValueError):
    """The `Idempotency-Key` header is empty, too long or not printable ASCII."""


class KeyReusedError(Exception):
    """The key was used for another request (method, path, query or body) of the same caller."""


class KeyInFlightError(Exception):
    """The request the key was first used for is still running."""


@dataclass(frozen=True)
class KeyScope:
    """A key as one caller uses it: keys are scoped per tenant and per user, so two callers
    that happen to pick the same key never see each other's responses."""

    tenant_id: str
    user_id: str
    key: str

    @property
    def record_id(self) -> str:
        """The stored record's id: a digest, unique across tenants and users."""
        digest = hashlib.sha256()
        for part in (self.tenant_id, self.user_id, self.key):
            encoded = part.encode()
            digest.update(len(encoded).to_bytes(8, "big") + encoded)
        return digest.hexdigest()


def parse_key(raw: str) -> str:
    """The key a header value names: a bare token (Stripe) or a quoted string (the IETF
    draft's Structured Field), 1 to 255 printable ASCII characters."""
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
        if '"' in value or "\\" in value:
            raise InvalidIdempotencyKey("a quoted Idempotency-Key must not contain quotes")
    if not value:
        raise InvalidIdempotencyKey("the Idempotency-Key header is empty")
    if len(value) > MAX_KEY_LENGTH:
        raise InvalidIdempotencyKey(
            f"the Idempotency-Key is longer than {MAX_KEY_LENGTH} characters"
        )
    if not all(" " <= character <= "~" for character in value):
        raise InvalidIdempotencyKey("the Idempotency-Key must be printable ASCII")
    return value


def request_fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """What identifies a request under one key: method, public path, query and body.

    A JSON body is compared by its content, not its bytes (key order and white space may differ
    between a first attempt and a retry that serialised the same object again)."""
    try:
        content = json.dumps(
            json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    except ValueError:
        content = body
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), query.encode()):
        digest.update(len(part).to_bytes(8, "big") + part)
    digest.update(hashlib.sha256(content).digest())
    return digest.hexdigest()


def is_replayable(status: int) -> bool:
    """Whether a response is stored and replayed for the key: a success, or a client error the
    same request would get again. A 5xx (and a gateway's 502/504) is not: the request may not
    have taken effect, and the caller may retry it with the same key."""
    return 200 <= status < 300 or (400 <= status < 500 and status not in _TRANSIENT_CLIENT_ERRORS)


@dataclass(frozen=True)
class StoredResponse:
    """The response replayed for a key: status, the headers in REPLAYED_HEADERS and body."""

    status: int
    headers: dict[str, str]
    body: bytes

    @classmethod
    def of(cls, status: int, headers: dict[str, str], body: bytes) -> StoredResponse:
        kept = {name.lower(): value for name, value in headers.items()}
        return cls(status, {name: kept[name] for name in REPLAYED_HEADERS if name in kept}, body)


class RecordState(StrEnum):
    IN_FLIGHT = "in_flight"
    COMPLETED = "completed"


@dataclass(frozen=True)
class IdempotencyRecord:
    """What is known of a key: the request it was first used for and, once the request has
    finished with a replayable response, that response.

    An in-flight record belongs to the attempt that holds `claim`; it expires after a lease
    (a gateway that died mid-request never finishes it), a completed one after the key's
    lifetime."""

    fingerprint: str
    state: RecordState
    claim: str
    expires_at: datetime
    response: StoredResponse | None = None

    def completed(self, response: StoredResponse, expires_at: datetime) -> IdempotencyRecord:
        """The record once its request finished with a replayable response."""
        if self.state is not RecordState.IN_FLIGHT:
            raise ValueError("only an in-flight request can complete")
        if not is_replayable(response.status):
            raise ValueError(f"a {response.status} response is not stored")
        return IdempotencyRecord(
            self.fingerprint, RecordState.COMPLETED, self.claim, expires_at, response
        )


class Verdict(StrEnum):
    RUN = "run"  # no live record: the request runs (and claims the key)
    REPLAY = "replay"  # the same request completed: its response is replayed
    IN_FLIGHT = "in_flight"  # the same request is running: 409, nothing runs twice
    MISMATCH = "mismatch"  # the key was used for another request: 422


def verdict(record: IdempotencyRecord | None, fingerprint: str, now: datetime) -> Verdict:
    """What a request with `fingerprint` gets under a key whose record is `record`."""
    if record is None or record.expires_at <= now:
        return Verdict.RUN
    if record.fingerprint != fingerprint:
        return Verdict.MISMATCH
    if record.state is RecordState.COMPLETED:
        return Verdict.REPLAY
    return Verdict.IN_FLIGHT
