"""The gateway's audit log on the real database: writes, refusals and failed sign-ins are
recorded off the request path; tenant admins search and export their own tenant's entries only,
the CSV export neutralises formulas, and no entry holds a body, a query or a credential."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from pymongo import AsyncMongoClient, MongoClient

from crm_devstack.infra import free_port
from crm_gateway.config import DevIdentity, GatewaySettings, Tenant
from crm_gateway.main import create_app
from crm_gateway.repositories.audit import AUDIT_LOG
from crm_shared import Role
from crm_shared.audit_changes import CHANGES_HEADER, changes_header
from helpers import unique
from internal_keys import INTERNAL_TOKEN_PRIVATE_KEY
from unit.gateway.fakes import PUBLISHED, openapi_document

pytestmark = pytest.mark.integration

# A user id a spreadsheet would run as a formula, to see the CSV export defuse it.
FORMULA_USER = '=HYPERLINK("http://evil.example/","x")'
# User ids Excel would read as a date and as a number, to see the CSV export keep them text.
DATE_USER, ZERO_USER = "1-9", "007"
EMAIL = "ada.lovelace@example.com"
RECRUITER: list[Role] = ["recruiter"]
RETENTION_CHANGES = [
    {"field": "consent_validity_days", "before": 365, "after": 730},
    {"field": "smtp_password", "changed": True},
]


@dataclasses.dataclass(frozen=True)
class Gateway:
    client: TestClient
    database: str
    tokens: dict[str, str]

    def as_(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def fake_candidates(request: httpx.Request) -> httpx.Response:
    """Every service: refuses changes to `locked` candidates (403), accepts the rest."""
    if request.url.path == "/openapi.json":
        return httpx.Response(200, json=openapi_document(PUBLISHED["candidates"]))
    if request.url.path.startswith("/gdpr/"):
        return httpx.Response(200, json={"collections": {}})
    if "locked" in request.url.path:
        return httpx.Response(
            403,
            json={"type": "forbidden", "title": "Forbidden", "status": 403},
            headers={"content-type": "application/problem+json"},
        )
    if request.method == "PUT" and request.url.path == "/settings/retention":
        # The service owns the setting and tells the audit log what changed.
        return httpx.Response(200, json={}, headers=changes_header(RETENTION_CHANGES))
    status = 201 if request.method == "POST" else 200
    return httpx.Response(status, json={"id": "c-1"})


def gateway_on(mongodb_uri: str, **overrides: Any) -> Iterator[Gateway]:
    run = unique("audit")
    acme, globex = f"{run}-acme", f"{run}-globex"
    tokens = {
        "acme-recruiter": f"{run}-tok-rita",
        "acme-admin": f"{run}-tok-ada",
        "acme-formula": f"{run}-tok-formula",
        "acme-date": f"{run}-tok-date",
        "acme-zero": f"{run}-tok-zero",
        "globex-admin": f"{run}-tok-gia",
    }
    settings = GatewaySettings(
        environment="development",
        internal_token_private_key=INTERNAL_TOKEN_PRIVATE_KEY,
        mongodb_uri=mongodb_uri,
        mongodb_database=f"{run}_gateway",
        candidates_url="http://candidates.internal",
        tenants={acme: Tenant(name="Acme"), globex: Tenant(name="Globex")},
        dev_tokens={
            tokens["acme-recruiter"]: DevIdentity(tenant_id=acme, user_id="rita", roles=RECRUITER),
            tokens["acme-admin"]: DevIdentity(tenant_id=acme, user_id="ada", roles=["admin"]),
            tokens["acme-formula"]: DevIdentity(
                tenant_id=acme, user_id=FORMULA_USER, roles=RECRUITER
            ),
            tokens["acme-date"]: DevIdentity(tenant_id=acme, user_id=DATE_USER, roles=RECRUITER),
            tokens["acme-zero"]: DevIdentity(tenant_id=acme, user_id=ZERO_USER, roles=RECRUITER),
            tokens["globex-admin"]: DevIdentity(tenant_id=globex, user_id="gia", roles=["admin"]),
        },
        audit_flush_interval_seconds=0.05,
        log_json=False,
        **overrides,
    )
    app = create_app(settings)
    upstream = httpx.AsyncClient(transport=httpx.MockTransport(fake_candidates))
    app.state.container = dataclasses.replace(app.state.container, upstream=upstream)
    with TestClient(app) as client:
        yield Gateway(client, settings.database_name, tokens)


@pytest.fixture(scope="module")
def gateway(mongodb_uri: str) -> Iterator[Gateway]:
    yield from gateway_on(mongodb_uri)


@pytest.fixture(scope="module")
def stored(mongodb_uri: str, gateway: Gateway) -> Iterator[Callable[[str], dict[str, Any]]]:
    """The stored audit entry of a request id, waited for (the buffer is written in batches)."""
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri, tz_aware=True)
    collection = client[gateway.database][AUDIT_LOG]

    def find(request_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = collection.find_one({"request_id": request_id})
            if found is not None:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no audit entry for request {request_id}")

    yield find
    client.close()


def test_a_write_is_audited_with_its_operation_resource_and_outcome(
    gateway: Gateway, stored: Callable[[str], dict[str, Any]]
) -> None:
    response = gateway.client.post(
        f"/api/v1/candidates/c-42/notes?mention={quote(EMAIL)}",
        json={"text": f"Met {EMAIL}, Ada Lovelace"},
        headers=gateway.as_("acme-recruiter"),
    )

    assert response.status_code == 201, response.text
    entry = stored(response.headers["X-Request-Id"])
    assert entry["tenant_id"].endswith("-acme")
    assert (entry["actor_kind"], entry["actor_id"]) == ("user", "rita")
    assert entry["action"] == "POST /candidates/{candidate_id}/notes"
    assert entry["resource"] == {"candidate_id": "c-42"}
    assert (entry["status"], entry["outcome"]) == (201, "succeeded")
    assert entry["trace_id"] == response.headers["X-Trace-Id"]
    assert entry["client_address"] == "testclient"
    assert entry["expires_at"] > entry["at"]
    # No body, no query, no credential: nothing of the request but its ids.
    text = json.dumps(entry, default=str)
    for secret in (EMAIL, "Lovelace", "mention", gateway.tokens["acme-recruiter"]):
        assert secret not in text


def test_a_plain_read_is_not_audited(
    gateway: Gateway, mongodb_uri: str, stored: Callable[[str], dict[str, Any]]
) -> None:
    response = gateway.client.get("/api/v1/candidates", headers=gateway.as_("acme-recruiter"))
    assert response.status_code == 200
    # Entries are written in order: once a later write is stored, the read would be too.
    later = gateway.client.post(
        "/api/v1/candidates/c-1/notes", json={}, headers=gateway.as_("acme-recruiter")
    )
    stored(later.headers["X-Request-Id"])

    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri)
    with client:
        found = client[gateway.database][AUDIT_LOG].find_one(
            {"request_id": response.headers["X-Request-Id"]}
        )
    assert found is None


def test_a_services_denial_is_audited_as_refused(
    gateway: Gateway, stored: Callable[[str], dict[str, Any]]
) -> None:
    response = gateway.client.patch(
        "/api/v1/candidates/locked", json={}, headers=gateway.as_("acme-recruiter")
    )

    assert response.status_code == 403
    entry = stored(response.headers["X-Request-Id"])
    assert entry["action"] == "PATCH /candidates/{candidate_id}"
    assert entry["resource"] == {"candidate_id": "locked"}
    assert (entry["status"], entry["outcome"]) == (403, "refused")


def test_the_gateways_own_denial_is_audited_even_for_a_read(
    gateway: Gateway, stored: Callable[[str], dict[str, Any]]
) -> None:
    response = gateway.client.get("/api/v1/audit", headers=gateway.as_("acme-recruiter"))

    assert response.status_code == 403
    entry = stored(response.headers["X-Request-Id"])
    assert (entry["action"], entry["outcome"], entry["actor_id"]) == (
        "GET /audit",
        "refused",
        "rita",
    )


def test_a_gdpr_export_is_audited_as_a_read_of_the_gateways_own_route(
    gateway: Gateway, stored: Callable[[str], dict[str, Any]]
) -> None:
    response = gateway.client.get(
        "/api/v1/candidates/c-9/export", headers=gateway.as_("acme-admin")
    )

    entry = stored(response.headers["X-Request-Id"])
    assert entry["action"] == "GET /candidates/{candidate_id}/export"
    assert entry["resource"] == {"candidate_id": "c-9"}
    assert response.status_code == 200, response.text
    assert (entry["actor_id"], entry["status"], entry["outcome"]) == ("ada", 200, "succeeded")


def test_a_failed_sign_in_is_audited_without_the_token(
    gateway: Gateway, stored: Callable[[str], dict[str, Any]]
) -> None:
    presented = "not-a-token-anyone-issued"
    response = gateway.client.post(
        "/api/v1/candidates", json={}, headers={"Authorization": f"Bearer {presented}"}
    )

    assert response.status_code == 401
    entry = stored(response.headers["X-Request-Id"])
    assert (entry["actor_kind"], entry["actor_id"], entry["tenant_id"]) == ("anonymous", None, None)
    assert entry["action"] == "POST /candidates/(unresolved)"
    assert (entry["outcome"], entry["reason"]) == ("refused", "unknown_token")
    assert presented not in json.dumps(entry, default=str)


def test_admins_search_their_own_tenant_only_newest_first_with_paging(
    gateway: Gateway, stored: Callable[[str], dict[str, Any]]
) -> None:
    ids = []
    for n in range(3):
        made = gateway.client.post(
            f"/api/v1/candidates/page-{n}/notes", json={}, headers=gateway.as_("acme-recruiter")
        )
        ids.append(stored(made.headers["X-Request-Id"])["_id"])
    action = {"action": "POST /candidates/{candidate_id}/notes", "actor": "rita", "limit": 2}

    first = gateway.client.get("/api/v1/audit", params=action, headers=gateway.as_("acme-admin"))
    assert first.status_code == 200, first.text
    page = first.json()
    assert [item["id"] for item in page["items"]] == ids[::-1][:2]
    second = gateway.client.get(
        "/api/v1/audit",
        params={**action, "cursor": page["next_cursor"]},
        headers=gateway.as_("acme-admin"),
    ).json()
    assert ids[0] in [item["id"] for item in second["items"]]

    refused = gateway.client.get(
        "/api/v1/audit", params={"outcome": "refused"}, headers=gateway.as_("acme-admin")
    ).json()
    assert refused["items"]
    assert all(item["outcome"] == "refused" for item in refused["items"])

    # Another tenant's admin sees none of it, by any filter.
    for params in ({}, {"actor": "rita"}, {"action": action["action"]}):
        other = gateway.client.get(
            "/api/v1/audit", params=params, headers=gateway.as_("globex-admin")
        )
        assert other.status_code == 200
        assert all(item["tenant_id"].endswith("-globex") for item in other.json()["items"])
        assert not set(ids) & {item["id"] for item in other.json()["items"]}


def test_the_time_range_bounds_the_search(
    gateway: Gateway, stored: Callable[[str], dict[str, Any]]
) -> None:
    made = gateway.client.post(
        "/api/v1/candidates/timed-1/notes", json={}, headers=gateway.as_("acme-recruiter")
    )
    entry = stored(made.headers["X-Request-Id"])
    at = entry["at"]

    def found(**bounds: datetime) -> bool:
        params = {name: value.isoformat() for name, value in bounds.items()}
        listed = gateway.client.get(
            "/api/v1/audit", params={**params, "limit": 200}, headers=gateway.as_("acme-admin")
        )
        assert listed.status_code == 200, listed.text
        return entry["_id"] in {item["id"] for item in listed.json()["items"]}

    millisecond = timedelta(milliseconds=1)
    assert found(since=at, until=at + millisecond)
    # The same instant in another offset.
    assert found(since=at.astimezone(timezone(timedelta(hours=-5))))
    assert not found(since=at + millisecond)
    assert not found(until=at)


def test_a_time_with_no_utc_equivalent_is_a_validation_problem(gateway: Gateway) -> None:
    response = gateway.client.get(
        "/api/v1/audit",
        params={"since": "0001-01-01T00:00:00+01:00"},
        headers=gateway.as_("acme-admin"),
    )
    assert response.status_code == 422, response.text


def test_a_range_that_ends_before_it_starts_is_a_validation_problem(gateway: Gateway) -> None:
    """Dates typed the wrong way round are said to be, not answered with an empty log."""
    for path in ("/api/v1/audit", "/api/v1/audit/export"):
        response = gateway.client.get(
            path,
            params={"since": "2026-12-10", "until": "2026-12-01"},
            headers=gateway.as_("acme-admin"),
        )
        assert response.status_code == 422, response.text
        [error] = response.json()["errors"]
        assert (error["source"], error["field"]) == ("query", "until"), error
        assert error["detail"] == "`until` must be on or after `since`"


def test_a_malformed_cursor_is_a_problem(gateway: Gateway) -> None:
    response = gateway.client.get(
        "/api/v1/audit", params={"cursor": "%%%"}, headers=gateway.as_("acme-admin")
    )
    assert response.status_code == 400
    assert response.json()["type"].endswith("invalid-cursor")


def test_the_csv_export_neutralises_formulas_and_is_itself_audited(
    gateway: Gateway, stored: Callable[[str], dict[str, Any]]
) -> None:
    made = gateway.client.post(
        "/api/v1/candidates/" + quote("=1+2", safe="") + "/notes",
        json={},
        headers=gateway.as_("acme-formula"),
    )
    assert made.status_code == 201
    stored(made.headers["X-Request-Id"])

    export = gateway.client.get(
        "/api/v1/audit/export",
        params={"format": "csv", "actor": FORMULA_USER},
        headers=gateway.as_("acme-admin"),
    )

    assert export.status_code == 200, export.text
    assert export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert len(rows) == 1
    assert rows[0]["actor_id"] == "'" + FORMULA_USER
    assert rows[0]["resource"] == "candidate_id==1+2"
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row.values())
    audited = stored(export.headers["X-Request-Id"])
    assert (audited["action"], audited["actor_id"]) == ("GET /audit/export", "ada")

    others = gateway.client.get(
        "/api/v1/audit/export",
        params={"format": "csv", "actor": FORMULA_USER},
        headers=gateway.as_("globex-admin"),
    )
    assert list(csv.DictReader(io.StringIO(others.text))) == []


@pytest.mark.parametrize(("who", "user_id"), [("acme-date", DATE_USER), ("acme-zero", ZERO_USER)])
def test_the_csv_export_keeps_what_excel_would_turn_into_a_date_or_number_text(
    gateway: Gateway, stored: Callable[[str], dict[str, Any]], who: str, user_id: str
) -> None:
    made = gateway.client.post("/api/v1/candidates/c-7/notes", json={}, headers=gateway.as_(who))
    assert made.status_code == 201
    assert stored(made.headers["X-Request-Id"])["actor_id"] == user_id  # stored verbatim

    export = gateway.client.get(
        "/api/v1/audit/export",
        params={"format": "csv", "actor": user_id},
        headers=gateway.as_("acme-admin"),
    )

    assert export.status_code == 200, export.text
    [row] = list(csv.DictReader(io.StringIO(export.text)))
    assert row["actor_id"] == "'" + user_id
    assert row["resource"] == "candidate_id=c-7"


def test_the_json_lines_export_holds_the_tenants_entries(
    gateway: Gateway, stored: Callable[[str], dict[str, Any]]
) -> None:
    made = gateway.client.post(
        "/api/v1/candidates/jsonl-1/notes", json={}, headers=gateway.as_("acme-recruiter")
    )
    entry = stored(made.headers["X-Request-Id"])

    export = gateway.client.get(
        "/api/v1/audit/export", params={"format": "jsonl"}, headers=gateway.as_("acme-admin")
    )

    assert export.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in export.text.splitlines()]
    assert entry["_id"] in [line["id"] for line in lines]
    assert {line["tenant_id"] for line in lines} == {entry["tenant_id"]}


def test_writes_go_through_while_the_audit_store_is_unreachable(mongodb_uri: str) -> None:
    """Availability over the log: no request waits for the audit store (docs/security.md)."""
    closed = f"mongodb://127.0.0.1:{free_port()}/"
    for gateway in gateway_on(mongodb_uri, mongodb_operation_timeout_seconds=0.5):
        # The tenants are read once (a gateway that never read them answers 503: security.md
        # "Tenants, users and API keys"); then the audit store alone becomes unreachable.
        assert gateway.client.get(
            "/api/v1/candidates", headers=gateway.as_("acme-admin")
        ).is_success
        unreachable: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            closed, serverSelectionTimeoutMS=500
        )
        log = gateway.client.app.state.container.audit_log  # type: ignore[attr-defined]
        log._collection = unreachable["audit"][AUDIT_LOG]
        started = time.perf_counter()
        response = gateway.client.post(
            "/api/v1/candidates/c-1/notes", json={}, headers=gateway.as_("acme-recruiter")
        )
        assert response.status_code == 201
        assert time.perf_counter() - started < 1.0
        metrics = gateway.client.app.state.platform.registry  # type: ignore[attr-defined]
        assert metrics.get_sample_value("crm_audit_buffer_entries") == 1
        # Reading the log needs the store: a 503 problem, the export too (before it starts).
        for path in ("/api/v1/audit", "/api/v1/audit/export"):
            unreadable = gateway.client.get(path, headers=gateway.as_("acme-admin"))
            assert unreadable.status_code == 503, unreadable.text
            assert unreadable.json()["type"].endswith("audit-log-unavailable")


def test_what_a_service_says_it_changed_is_recorded_and_not_passed_on(
    gateway: Gateway, stored: Callable[[str], dict[str, Any]]
) -> None:
    response = gateway.client.put(
        "/api/v1/settings/retention",
        json={"consent_validity_days": 730},
        headers=gateway.as_("acme-admin"),
    )

    assert response.status_code == 200, response.text
    assert CHANGES_HEADER.lower() not in {name.lower() for name in response.headers}
    entry = stored(response.headers["X-Request-Id"])
    assert entry["action"] == "PUT /settings/retention"
    assert entry["changes"] == RETENTION_CHANGES
    listed = gateway.client.get(
        "/api/v1/audit",
        params={"action": "PUT /settings/retention"},
        headers=gateway.as_("acme-admin"),
    )
    assert listed.json()["items"][0]["changes"] == RETENTION_CHANGES


def test_members_and_keys_created_are_named_and_a_member_change_says_what_changed(
    gateway: Gateway, stored: Callable[[str], dict[str, Any]]
) -> None:
    admin = gateway.as_("acme-admin")
    invited = gateway.client.post(
        "/api/v1/users", headers=admin, json={"email": "nina@acme.example", "roles": ["viewer"]}
    )
    assert invited.status_code == 201, invited.text
    user_id = invited.json()["user_id"]
    key = gateway.client.post(
        "/api/v1/api-keys",
        headers=admin,
        json={"name": "Nightly import", "scopes": ["candidates:read"]},
    )
    assert key.status_code == 201, key.text
    changed = gateway.client.patch(
        f"/api/v1/users/{user_id}", headers=admin, json={"roles": ["recruiter"], "name": "Nina B"}
    )
    assert changed.status_code == 200, changed.text

    assert stored(invited.headers["X-Request-Id"])["resource"] == {"created_id": user_id}
    key_entry = stored(key.headers["X-Request-Id"])
    assert key_entry["resource"] == {"created_id": key.json()["key_id"]}
    assert key.json()["key"] not in json.dumps(key_entry, default=str)
    change = stored(changed.headers["X-Request-Id"])
    assert change["resource"] == {"user_id": user_id}
    # Roles with their values; the name is personal data: only that it changed.
    assert change["changes"] == [
        {"field": "name", "changed": True},
        {"field": "roles", "before": ["viewer"], "after": ["recruiter"]},
    ]
    assert "Nina B" not in json.dumps(change, default=str)


def test_the_csv_export_has_a_bom_a_semicolon_option_names_and_changes(
    gateway: Gateway, stored: Callable[[str], dict[str, Any]]
) -> None:
    admin = gateway.as_("acme-admin")
    key = gateway.client.post(
        "/api/v1/api-keys", headers=admin, json={"name": "Zoë's sync", "scopes": ["settings:write"]}
    ).json()
    used = gateway.client.put(
        "/api/v1/settings/retention",
        json={"consent_validity_days": 730},
        headers={"Authorization": f"Bearer {key['key']}"},
    )
    assert used.status_code == 200, used.text
    stored(used.headers["X-Request-Id"])

    export = gateway.client.get(
        "/api/v1/audit/export",
        params={"format": "csv", "actor": key["key_id"], "separator": "semicolon"},
        headers=admin,
    )

    assert export.status_code == 200, export.text
    assert export.content.startswith("\ufeff".encode())
    assert export.headers["content-type"] == "text/csv; charset=utf-8"
    text = export.content.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("id;at;tenant_id;actor_kind;actor_id;actor_name;")
    [row] = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    assert (row["actor_kind"], row["actor_name"]) == ("api_key", "Zoë's sync")
    assert row["changes"] == "consent_validity_days: 365 -> 730; smtp_password: changed"
