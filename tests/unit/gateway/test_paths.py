"""How the gateway reads a request path, matches it to a published operation and rewrites a
service's `Location`."""

from __future__ import annotations

import pytest

from crm_gateway.config import GatewaySettings
from crm_gateway.domain.paths import InvalidPath, encoded_path, path_segments
from crm_gateway.domain.routing import (
    MethodNotAllowed,
    Operation,
    ServiceOperations,
    public_location,
    routes,
)

pytestmark = pytest.mark.unit

ROUTES = routes(GatewaySettings(candidates_url="http://c:1", campaigns_url="http://m:2"))
INTERNAL = frozenset({"c:1", "m:2"})


@pytest.mark.parametrize(
    ("raw", "segments"),
    [
        (b"/", ("",)),
        (b"/api/v1/candidates", ("api", "v1", "candidates")),
        (b"/a/b%20c/%C3%A9/%25", ("a", "b c", "é", "%")),
        (b"/a//b/", ("a", "", "b", "")),
        (b"/a/..b/.c/...", ("a", "..b", ".c", "...")),
    ],
)
def test_a_path_is_read_segment_by_segment(raw: bytes, segments: tuple[str, ...]) -> None:
    assert path_segments(raw) == segments


@pytest.mark.parametrize(
    "raw",
    [
        b"a/b",
        b"/a/../b",
        b"/a/./b",
        b"/a/%2E%2e/b",
        b"/a/%2e",
        b"/a%2fb",
        b"/a%5Cb",
        b"/a\\b",
        b"/a%3Fb",
        b"/a%23b",
        b"/a#b",
        b"/a%00",
        b"/a%09b",
        b"/a%7f",
        b"/a%C2%85",
        b"/a b",
        b"/a\x00",
        "/é".encode(),
        b"/a%",
        b"/a%2",
        b"/a%g0",
        b"/a%ff",
    ],
)
def test_a_path_with_an_ambiguous_or_forbidden_segment_is_refused(raw: bytes) -> None:
    with pytest.raises(InvalidPath):
        path_segments(raw)


def test_each_segment_is_percent_encoded_on_its_own() -> None:
    assert encoded_path(["candidates", "a b/c?d#e%f", "é~._-"]) == (
        "/candidates/a%20b%2Fc%3Fd%23e%25f/%C3%A9~._-"
    )


def test_an_operation_is_found_by_path_and_method() -> None:
    operations = ServiceOperations(
        [
            ("/candidates", "GET"),
            ("/candidates/{candidate_id}", "GET"),
            ("/candidates/{candidate_id}", "PATCH"),
            ("/candidates/merges", "POST"),
            ("/imports/{import_id}/file", "PUT"),
        ]
    )
    assert operations.match("POST", ("candidates", "merges")) == Operation(
        "/candidates/merges", "POST"
    )
    assert operations.match("GET", ("candidates", "merges")) == Operation(
        "/candidates/{candidate_id}", "GET"
    )
    assert operations.match("DELETE", ("candidates", "c1")) == MethodNotAllowed(("GET", "PATCH"))
    assert operations.match("GET", ("candidates", "")) is None
    assert operations.match("GET", ("candidates", "c1", "x")) is None
    upload = operations.match("PUT", ("imports", "i1", "file"))
    assert isinstance(upload, Operation)
    assert upload.streams_uploads


def test_only_routed_paths_of_the_owning_service_are_published() -> None:
    document = {
        "paths": {
            "/candidates/{candidate_id}": {"get": {}, "parameters": []},
            "/settings/retention": {"get": {}},
            "/settings/contact-policy": {"get": {}},
            "/gdpr/candidates/{candidate_id}": {"get": {}},
            "/public/preferences/{token}": {"get": {}},
        }
    }
    published = ServiceOperations.published(document, "candidates", ROUTES)
    assert isinstance(published.match("GET", ("candidates", "c1")), Operation)
    assert isinstance(published.match("GET", ("settings", "retention")), Operation)
    # Routed to campaigns, so not forwarded to candidates even if it published it.
    assert published.match("GET", ("settings", "contact-policy")) is None
    assert published.match("GET", ("gdpr", "candidates", "c1")) is None
    assert published.match("GET", ("public", "preferences", "t")) is None


@pytest.mark.parametrize(
    ("location", "api", "public"),
    [
        ("/candidates/c1", "/api/v1/candidates/c1", None),
        ("http://c:1/candidates/c1?x=1", "/api/v1/candidates/c1?x=1", None),
        ("HTTP://C:1/candidates", "/api/v1/candidates", None),
        ("//c:1/candidates", "/api/v1/candidates", None),
        ("http://m:2/metrics", None, None),
        ("/gdpr/candidates/c1", None, None),
        ("candidates/c1", None, None),
        ("https://jobs.example.org/a?b=c", "https://jobs.example.org/a?b=c", None),
        ("//jobs.example.org/a", None, None),
        ("javascript:alert(1)", None, None),
        ("http://[::1", None, None),
    ],
)
def test_a_location_on_a_service_becomes_public_or_is_dropped(
    location: str, api: str | None, public: str | None
) -> None:
    assert public_location(location, INTERNAL, ROUTES) == api
    expected_public = location if location.startswith("https://jobs") else public
    assert public_location(location, INTERNAL, None) == expected_public


def test_a_console_pages_redirect_to_another_of_its_pages_is_kept_as_it_is() -> None:
    """A form posted without script is sent on with a 303 to a console page: dropping its
    `Location` left the browser on an empty page."""
    pages = ("/console/",)
    kept = "/console/candidates/c1/panels/notes?done=1"
    assert public_location(kept, INTERNAL, None, pages) == kept
    assert public_location(kept, INTERNAL, None) is None
    assert public_location("http://c:1/console/candidates", INTERNAL, None, pages) is None
    assert public_location("/consoles/x", INTERNAL, None, pages) is None
    assert public_location("/metrics", INTERNAL, None, pages) is None


def test_a_published_operation_carries_the_permission_its_service_declares() -> None:
    document = {
        "paths": {
            "/candidates/{candidate_id}": {
                "get": {"x-permission": "candidates:read"},
                "patch": {"x-permission": "candidates:write"},
            },
            "/candidates": {"get": {}},
        }
    }
    published = ServiceOperations.published(document, "candidates", ROUTES)
    assert published.match("PATCH", ("candidates", "c1")) == Operation(
        "/candidates/{candidate_id}", "PATCH", "candidates:write"
    )
    found = published.match("GET", ("candidates",))
    assert isinstance(found, Operation)
    assert found.permission is None
