"""A gateway in front of fake services: each publishes a small OpenAPI document and records what
reaches it; and a driver that sends a raw request target, as a socket would, past httpx's own
path normalisation."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

import httpx
from fastapi import FastAPI
from pymongo.errors import ServerSelectionTimeoutError

from crm_gateway.application.idempotency import IdempotentRequests
from crm_gateway.config import DevIdentity, GatewaySettings, Tenant
from crm_gateway.domain.idempotency import IdempotencyRecord, KeyScope, RecordState
from internal_keys import INTERNAL_TOKEN_PRIVATE_KEY
from unit.gateway.memory_identity import create_gateway

RECRUITER = {"Authorization": "Bearer tok-acme"}

# What each fake service publishes: path template -> methods.
PUBLISHED: dict[str, dict[str, list[str]]] = {
    "candidates": {
        "/candidates": ["get", "post"],
        "/candidates/{candidate_id}": ["get", "patch"],
        "/candidates/merges": ["post"],
        "/candidates/{candidate_id}/notes": ["get", "post"],
        "/imports": ["post"],
        "/imports/{import_id}": ["get"],
        "/imports/{import_id}/file": ["put"],
        "/settings/retention": ["get", "put"],
        "/gdpr/candidates/{candidate_id}": ["get"],
        "/public/preferences/{token}": ["get", "post"],
    },
    "campaigns": {
        "/sequences": ["get", "post"],
        "/sequences/{sequence_id}/enrolments/{candidate_id}": ["delete"],
        "/settings/contact-policy": ["get", "put"],
        "/gdpr/candidates/{candidate_id}": ["get"],
    },
    "events": {
        "/events": ["get", "post"],
        "/events/{event_id}": ["get"],
        "/public/events/{event_id}/registrations": ["post"],
    },
    "ats-sync": {"/ats/connections": ["get", "post"]},
    "analytics": {"/analytics/summary": ["get"]},
}
HOSTS = {
    "candidates.internal": "candidates",
    "campaigns.internal": "campaigns",
    "events.internal": "events",
    "ats.internal": "ats-sync",
    "analytics.internal": "analytics",
}


def openapi_document(paths: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "fake", "version": "1"},
        "paths": {
            path: {method: {"responses": {"200": {"description": "OK"}}} for method in methods}
            for path, methods in paths.items()
        },
    }


def settings(**overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "environment": "development",
        "internal_token_private_key": INTERNAL_TOKEN_PRIVATE_KEY,
        # No MongoDB in the unit tier: the counters of one process.
        "rate_limit_storage": "memory",
        "candidates_url": "http://candidates.internal",
        "campaigns_url": "http://campaigns.internal",
        "events_url": "http://events.internal",
        "ats_sync_url": "http://ats.internal",
        "analytics_url": "http://analytics.internal",
        "tenants": {"acme": Tenant(name="Acme")},
        "dev_tokens": {
            "tok-acme": DevIdentity(tenant_id="acme", user_id="rita", roles=["recruiter"])
        },
        "max_request_bytes": 1000,
        "max_upload_bytes": 100_000,
        "log_json": False,
        **overrides,
    }
    return GatewaySettings(**values)


Responder = Callable[[httpx.Request], httpx.Response]


def answer_ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"ok": True})


@dataclass
class FakeServices:
    """Fake services behind the gateway: they serve their OpenAPI documents and record (and
    answer, with `respond`) every other request."""

    respond: Responder = answer_ok
    received: list[httpx.Request] = field(default_factory=list)
    document_fetches: int = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        service = HOSTS[request.url.host]
        if request.url.path == "/openapi.json":
            self.document_fetches += 1
            return httpx.Response(200, json=openapi_document(PUBLISHED[service]))
        self.received.append(request)
        return self.respond(request)

    def paths(self) -> list[str]:
        """The raw paths that reached a service (documents aside), as it received them."""
        return [request.url.raw_path.decode("ascii").partition("?")[0] for request in self.received]


def gateway_with(services: FakeServices, **overrides: Any) -> FastAPI:
    app = create_gateway(settings(**overrides))
    client = httpx.AsyncClient(transport=httpx.MockTransport(services.handle))
    app.state.container = dataclasses.replace(app.state.container, upstream=client)
    return app


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


async def raw_request(
    app: FastAPI,
    method: str,
    target: bytes,
    *,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    root_path: str = "",
    root_in_raw_path: bool = True,
) -> RawResponse:
    """Sends `target` (path and query, as bytes on the wire) to the app the way uvicorn hands
    a request over: the raw path as received, the path percent-decoded."""
    raw_path, _, query = target.partition(b"?")
    all_headers = {"host": "gateway.test", **(headers or {})}
    if body:
        all_headers["content-length"] = str(len(body))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": root_path + unquote(raw_path.decode("ascii")),
        "raw_path": (root_path.encode("ascii") if root_in_raw_path else b"") + raw_path,
        "root_path": root_path,
        "query_string": query,
        "headers": [(k.lower().encode(), v.encode()) for k, v in all_headers.items()],
        "client": ("203.0.113.7", 50000),
        "server": ("gateway.test", 80),
        "state": {},
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    status = 0
    response_headers: dict[str, str] = {}
    chunks: list[bytes] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            response_headers.update(
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in message["headers"]
            )
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    try:
        await app(scope, receive, send)
    except Exception:
        # Starlette re-raises an unhandled error after answering it, for the server to log.
        if not status:
            raise
    return RawResponse(status, response_headers, b"".join(chunks))


@dataclass
class MemoryIdempotencyRecords:
    """Idempotency records in a dict, with the repository's conditional writes; `failing` makes
    every access fail as an unreachable MongoDB does."""

    records: dict[str, IdempotencyRecord] = field(default_factory=dict)
    failing: bool = False
    tenant_of: dict[str, str] = field(default_factory=dict)

    def _check(self) -> None:
        if self.failing:
            raise ServerSelectionTimeoutError("no MongoDB")

    async def find(self, scope: KeyScope) -> IdempotencyRecord | None:
        self._check()
        return self.records.get(scope.record_id)

    async def insert(self, scope: KeyScope, record: IdempotencyRecord) -> bool:
        self._check()
        if scope.record_id in self.records:
            return False
        self.records[scope.record_id] = record
        self.tenant_of[scope.record_id] = scope.tenant_id
        return True

    async def replace(self, scope: KeyScope, claim: str, record: IdempotencyRecord) -> bool:
        self._check()
        found = self.records.get(scope.record_id)
        if found is None or found.claim != claim:
            return False
        self.records[scope.record_id] = record
        return True

    async def delete(self, scope: KeyScope, claim: str) -> None:
        self._check()
        found = self.records.get(scope.record_id)
        if found is not None and found.claim == claim and found.state is RecordState.IN_FLIGHT:
            del self.records[scope.record_id]

    async def forget_responses_naming(self, tenant_id: str, text: str) -> int:
        self._check()
        naming = [
            record_id
            for record_id, record in self.records.items()
            if self.tenant_of.get(record_id) == tenant_id
            and record.response is not None
            and text.encode() in record.response.body
        ]
        for record_id in naming:
            del self.records[record_id]
        return len(naming)


def with_idempotency_records(app: FastAPI, records: MemoryIdempotencyRecords) -> FastAPI:
    """The gateway `app` keeping its idempotency records in `records`."""
    requests = IdempotentRequests(
        records, lifetime=timedelta(hours=24), lease=timedelta(seconds=60)
    )
    app.state.container = dataclasses.replace(app.state.container, idempotency=requests)
    return app
