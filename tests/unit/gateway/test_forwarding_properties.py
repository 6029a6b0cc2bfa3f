"""Whatever path a caller sends, the gateway reaches only the paths it routes, and never fails
with a 5xx of its own."""

from __future__ import annotations

import json
import re
from functools import cache
from urllib.parse import unquote

import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unit.gateway.fakes import HOSTS, PUBLISHED, RECRUITER, FakeServices, gateway_with, raw_request

pytestmark = pytest.mark.unit

ROUTED = ("candidates", "imports", "settings", "sequences", "events", "ats", "analytics")
# What the gateway forwards its public endpoints to, per service.
PUBLIC_FORWARDS = {
    "campaigns": [
        "/tracking/open/{t}",
        "/tracking/click/{t}",
        "/public/mail/{t}/bounces",
        "/public/mail/{t}/postmark/bounces",
        "/public/mail/{t}/postmark/inbound",
    ],
    "candidates": [
        "/public/community/signups",
        "/public/community/confirm/{t}",
        "/public/preferences/{t}",
        "/public/unsubscribe/{t}",
    ],
    "events": ["/public/events/{e}", "/public/events/{e}/registrations"],
    "ats-sync": ["/public/ats/{p}/{c}/webhooks"],
    "analytics": [],
}


def pattern(template: str) -> re.Pattern[str]:
    parts = [
        "[^/]+" if part.startswith("{") else re.escape(part)
        for part in template.strip("/").split("/")
    ]
    return re.compile("^/" + "/".join(parts) + "$")


def allowed_upstream() -> dict[str, list[tuple[re.Pattern[str], set[str] | None]]]:
    """Per service: the paths it may receive, as the service decodes them, and the methods
    (None: any method of a public endpoint)."""
    allowed: dict[str, list[tuple[re.Pattern[str], set[str] | None]]] = {}
    for service, paths in PUBLISHED.items():
        allowed[service] = [
            (pattern(path), {method.upper() for method in methods})
            for path, methods in paths.items()
            if path.strip("/").split("/")[0] in ROUTED
        ]
        allowed[service] += [(pattern(path), None) for path in PUBLIC_FORWARDS[service]]
    return allowed


ALLOWED = allowed_upstream()

PREFIXES = [
    b"/api/v1/",
    b"/api/v1/candidates/",
    b"/api/v1/imports/",
    b"/api/v1/settings/",
    b"/api/v1/sequences/",
    b"/t/o/",
    b"/t/c/",
    b"/public/v1/preferences/",
    b"/public/v1/events/",
    b"/public/v1/mail/",
    b"/",
]
PIECES = [
    *(word.encode() for word in ROUTED),
    *(
        b"file retention contact-policy enrolments notes merges registrations metrics "
        b"openapi.json docs gdpr healthz tracking open public postmark c1 x"
    ).split(),
    b".",
    b"..",
    b"/",
    b"//",
    *(
        b"%2e %2E %2e%2e %2f %2F %5c %5C %23 %3f %3F %00 %0a %0d %7f %c2%85 %25 %20 %ff %c3%a9 "
        b"%zz % %2"
    ).split(),
    *(bytes([c]) for c in b"~-_:@;=+!'()*,$&\\#"),
]
printable = st.binary(min_size=1, max_size=12).map(
    lambda raw: bytes(b for b in raw if 0x21 <= b <= 0x7E and b not in b"?#") or b"x"
)
targets = st.builds(
    lambda prefix, pieces, query: prefix + b"".join(pieces) + query,
    st.sampled_from(PREFIXES),
    st.lists(st.one_of(st.sampled_from(PIECES), printable), max_size=8),
    st.sampled_from([b"", b"?limit=2", b"?x=%00", b"?a=..%2F"]),
)


@cache
def gateway() -> tuple[FastAPI, FakeServices]:
    services = FakeServices()
    app = gateway_with(
        services, public_requests_per_minute_per_ip=10**9, tenant_requests_per_minute=10**9
    )
    return app, services


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)
@given(method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]), target=targets)
async def test_no_path_outside_the_route_table_is_ever_reached(method: str, target: bytes) -> None:
    app, services = gateway()
    services.received.clear()
    response = await raw_request(app, method, target, headers=RECRUITER, body=b"{}")
    assert response.status < 500, (target, response.body)
    if response.status >= 400 and response.status not in (405, 413):
        assert json.loads(response.body)["status"] == response.status
    for request in services.received:
        service = HOSTS[request.url.host]
        raw = request.url.raw_path.decode("ascii").partition("?")[0]
        assert not re.search("%(2f|5c|23|3f|00)", raw, re.IGNORECASE), raw
        decoded = unquote(raw)  # what the service routes on
        assert not {".", ".."} & set(decoded.split("/")), raw
        assert any(
            path.match(decoded) and (methods is None or request.method in methods)
            for path, methods in ALLOWED[service]
        ), (target, service, request.method, raw)
