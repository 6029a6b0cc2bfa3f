"""The settings and administration pages rendered in-process against a stand-in API: users and
roles, API keys, the audit log (the real API: tests/e2e/test_console_admin.py)."""

from __future__ import annotations

import copy
import json
import re
from datetime import date
from typing import Any

import httpx
import pytest

from crm_console.domain.policies import (
    policy_form,
    policy_values,
    retention_form,
    retention_values,
)
from crm_console.domain.settings import (
    AuditFilters,
    api_key_form,
    ats_issued_secrets_from_form,
    chosen_roles,
    settings_pages,
)
from crm_shared import Principal
from crm_shared.permissions import permissions_of
from unit.console.test_pages import RITA, Api, gateway_headers, htmx_headers

pytestmark = pytest.mark.unit

ALICE = Principal(tenant_id="acme", user_id="alice", roles=frozenset({"admin"}))
Console = tuple[httpx.AsyncClient, Api]
HTMX = {"hx-request": "true"}
MEMBERS = {
    "items": [
        {
            "user_id": "u-rita",
            "email": "rita@acme.example",
            "name": "Rita",
            "roles": ["recruiter"],
            "status": "active",
        },
        {
            "user_id": "u-alice",
            "email": "alice@acme.example",
            "name": "Alice",
            "roles": ["admin"],
            "status": "active",
        },
    ]
}
KEY = {
    "key_id": "k1",
    "name": "Warehouse",
    "scopes": ["candidates:read"],
    "created_by": "alice",
    "created_at": "2026-12-01T10:00:00Z",
    "expires_at": "2027-03-01T10:00:00Z",
    "revoked_at": None,
    "last_used_at": "2026-12-02T08:00:00Z",
}


def test_settings_pages_show_by_permission() -> None:
    admin = [page.label for page in settings_pages(permissions_of({"admin"}))]
    assert admin == [
        "Users and roles",
        "API keys",
        "Sign-in",
        "Contact policy and quiet hours",
        "Retention",
        "Analytics",
        "Profile settings",
        "Skill vocabulary",
        "Custom fields",
        "Embedding",
        "Suppressions",
        "Inbound mail",
        "ATS connections",
        "Audit log",
    ]
    recruiter = [page.label for page in settings_pages(permissions_of({"recruiter"}))]
    assert recruiter == [
        "Contact policy and quiet hours",
        "Retention",
        "Analytics",
        "Profile settings",
        "Skill vocabulary",
        "Custom fields",
        "Embedding",
        "Suppressions",
        "ATS connections",
    ]
    assert settings_pages([]) == []


def test_roles_and_scopes_are_the_known_ones_in_order() -> None:
    assert chosen_roles(["viewer", "root", "admin"]) == ["admin", "viewer"]
    form = api_key_form(
        {"name": " Warehouse ", "expires_in_days": "30"}, ["events:write", "nope", "audit:read"]
    )
    assert form.valid
    # One the form did not offer is kept, after them, for the gateway to refuse at the field.
    assert form.body == {
        "name": "Warehouse",
        "scopes": ["events:write", "audit:read", "nope"],
        "expires_in_days": 30,
    }
    assert set(api_key_form({"expires_in_days": "x"}, []).errors) == {
        "name",
        "scopes",
        "expires_in_days",
    }


def test_audit_filters_are_whole_utc_days_and_drop_what_cannot_be_read() -> None:
    filters = AuditFilters.from_query(
        {"since": "2026-12-01", "until": "2026-12-02", "outcome": "weird", "action": "POST /users"}
    )
    assert (filters.since, filters.until, filters.outcome) == (
        date(2026, 12, 1),
        date(2026, 12, 2),
        "",
    )
    assert filters.api_filters() == {
        "since": "2026-12-01T00:00:00Z",
        "until": "2026-12-03T00:00:00Z",
        "actor": None,
        "action": "POST /users",
        "outcome": None,
    }
    assert AuditFilters.from_query({"since": "yesterday"}).since is None
    assert filters.page_query() == [
        ("since", "2026-12-01"),
        ("until", "2026-12-02"),
        ("action", "POST /users"),
    ]


async def test_the_settings_index_lists_what_the_person_may_open(console: Console) -> None:
    client, _ = console
    admin = await client.get("/console/settings", headers=gateway_headers(ALICE))
    assert 'href="/console/settings/audit"' in admin.text
    recruiter = await client.get("/console/settings", headers=gateway_headers(RITA))
    assert 'href="/console/settings/retention"' in recruiter.text
    assert 'href="/console/settings/audit"' not in recruiter.text


async def test_users_are_listed_with_their_roles_and_invited(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/users", body=MEMBERS)
    page = await client.get("/console/settings/users", headers=gateway_headers(ALICE))
    assert page.status_code == 200
    assert page.text.index("alice@acme.example") < page.text.index("rita@acme.example")
    assert 'hx-post="/console/settings/users/u-rita/roles"' in page.text
    api.answer("POST", "/api/v1/users", 201, MEMBERS["items"][0])
    invited = await client.post(
        "/console/settings/users",
        data={"email": "new@acme.example", "roles": ["marketer", "viewer"]},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert invited.status_code == 204
    assert invited.headers["hx-redirect"] == "/console/settings/users?invited=new@acme.example"
    assert json.loads(api.calls[-1].content) == {
        "email": "new@acme.example",
        "roles": ["marketer", "viewer"],
    }
    said = await client.get(invited.headers["hx-redirect"], headers=gateway_headers(ALICE))
    # In the form htmx swaps: the answer to the next invitation replaces it.
    form = said.text.split('<form id="invite-form"', 1)[1].split("</form>", 1)[0]
    assert "Invited new@acme.example: they join" in form
    # A refusal without script is a page with the form, not the bare form.
    api.answer(
        "POST",
        "/api/v1/users",
        409,
        {"title": "Conflict", "status": 409, "detail": "new@acme.example is invited already"},
    )
    refused = await client.post(
        "/console/settings/users",
        data={"email": "new@acme.example", "roles": ["viewer"]},
        headers=gateway_headers(ALICE),
    )
    assert refused.status_code == 409
    assert '<main id="main"' in refused.text
    assert "is invited already" in refused.text


async def test_roles_from_the_identity_provider_are_shown_not_offered(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/users", body=MEMBERS)
    api.answer("GET", "/api/v1/sign-in-settings", body={"roles_from_token": True})
    page = await client.get("/console/settings/users", headers=gateway_headers(ALICE))
    assert page.status_code == 200
    assert 'data-testid="roles-from-idp"' in page.text
    assert "managed by your identity provider" in page.text
    assert "/roles" not in page.text
    assert "Save roles" not in page.text
    assert "recruiter <span" in page.text  # the roles in force, as text
    assert "(from the identity provider)" in page.text
    # Somebody invited has not signed in: their roles are the invitation's until they do.
    invited = {**MEMBERS["items"][1], "status": "invited"}
    api.answer("GET", "/api/v1/users", body={**MEMBERS, "items": [MEMBERS["items"][0], invited]})
    api.answer_pages("/api/v1/invitation-mails", [])
    page = await client.get("/console/settings/users", headers=gateway_headers(ALICE))
    assert "(as invited; from the first sign-in the identity provider's roles apply)" in (page.text)
    # Managed in the CRM: each row offers its roles to change.
    api.answer("GET", "/api/v1/sign-in-settings", body={"roles_from_token": False})
    page = await client.get("/console/settings/users", headers=gateway_headers(ALICE))
    assert 'data-testid="roles-from-idp"' not in page.text
    assert 'hx-post="/console/settings/users/u-rita/roles"' in page.text


async def test_a_pending_member_shows_their_invitation_mail_and_may_be_mailed_again(
    console: Console,
) -> None:
    client, api = console
    pending = {
        "user_id": "u-nina",
        "email": "nina@acme.example",
        "name": "",
        "roles": ["viewer"],
        "status": "invited",
    }
    waiting = {**pending, "user_id": "u-omar", "email": "omar@acme.example"}
    api.answer("GET", "/api/v1/users", body={"items": [*MEMBERS["items"], pending, waiting]})
    suppressed = {
        "id": "invitation-mail-inv_2",
        "invitation_id": "inv_2",
        "user_id": "u-nina",
        "status": "suppressed",
        "reason": "hard bounce",
        "attempts": 1,
        "recorded_at": "2026-12-05T09:00:00Z",
    }
    sent_before = suppressed | {"id": "invitation-mail-inv_1", "status": "sent", "reason": None}
    api.answer_pages("/api/v1/invitation-mails", [sent_before, suppressed])
    page = await client.get("/console/settings/users", headers=gateway_headers(ALICE))
    assert page.status_code == 200, page.text
    # One request for every pending member, none for the active ones.
    [asked] = [c for c in api.calls if c.url.path == "/api/v1/invitation-mails"]
    assert asked.url.params.get_list("user_id") == ["u-nina", "u-omar"]
    # The latest invitation's mail (the last listed), and none yet for the other.
    assert "Invitation not mailed: hard bounce" in page.text
    assert "Invitation mail on its way" in page.text
    assert 'hx-post="/console/settings/users/u-nina/invitation"' in page.text
    assert 'hx-post="/console/settings/users/u-rita/invitation"' not in page.text

    api.answer(
        "POST",
        "/api/v1/users/u-nina/invitation",
        202,
        {"user_id": "u-nina", "invitation_id": "inv_3", "invited_at": "2026-12-05T10:00:00Z"},
    )
    api.answer("GET", "/api/v1/users/u-nina", body=pending)
    row = await client.post(
        "/console/settings/users/u-nina/invitation", headers={**gateway_headers(ALICE), **HTMX}
    )
    assert row.status_code == 200
    assert row.text.lstrip().startswith('<tr id="member-u-nina"')
    assert "Invitation mailed again" in row.text

    signed_in = {
        "type": "not-invited",
        "title": "Conflict",
        "status": 409,
        "detail": "user u-nina has signed in already: there is no invitation to mail again",
    }
    api.answer("POST", "/api/v1/users/u-nina/invitation", 409, signed_in)
    api.answer("GET", "/api/v1/users/u-nina", body={**pending, "status": "active"})
    refused = await client.post(
        "/console/settings/users/u-nina/invitation", headers={**gateway_headers(ALICE), **HTMX}
    )
    assert refused.status_code == 200
    assert "has signed in already" in refused.text
    assert "Mail the invitation again" not in refused.text


async def test_a_key_revoked_with_its_removed_creator_says_so(console: Console) -> None:
    client, api = console
    revoked = KEY | {"revoked_at": "2026-12-03T09:00:00Z", "revoked_reason": "creator_removed"}
    api.answer("GET", "/api/v1/api-keys", body={"items": [revoked]})
    api.answer("GET", "/api/v1/team", body={"items": []})
    page = await client.get("/console/settings/api-keys", headers=gateway_headers(ALICE))
    assert page.status_code == 200, page.text
    assert 'data-testid="revoked-reason"' in page.text
    assert "creator was removed" in page.text


async def test_an_invitation_the_api_refuses_shows_why(console: Console) -> None:
    client, api = console
    api.answer(
        "POST",
        "/api/v1/users",
        409,
        {"title": "Conflict", "status": 409, "detail": "x@acme.example is a member already"},
    )
    answer = await client.post(
        "/console/settings/users",
        data={"email": "x@acme.example", "roles": "viewer"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert answer.status_code == 409
    assert "is a member already" in answer.text
    assert 'value="x@acme.example"' in answer.text


async def test_the_last_admin_refusal_shows_in_the_members_row(console: Console) -> None:
    client, api = console
    last_admin = {
        "type": "last-admin",
        "title": "Conflict",
        "status": 409,
        "detail": "demoting u-alice would leave this tenant without an active admin",
    }
    api.answer("PATCH", "/api/v1/users/u-alice", 409, last_admin)
    api.answer("DELETE", "/api/v1/users/u-alice", 409, last_admin)
    api.answer("GET", "/api/v1/users/u-alice", body=MEMBERS["items"][1])
    row = await client.post(
        "/console/settings/users/u-alice/roles",
        data={"roles": "viewer"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    # Swapped into the row (not as an error page): the message sits by the roles' controls.
    assert row.status_code == 200
    assert row.text.lstrip().startswith('<tr id="member-u-alice"')
    assert "without an active admin" in row.text
    assert 'value="admin" checked' in row.text
    assert json.loads(api.calls[0].content) == {"roles": ["viewer"]}
    removal = await client.post(
        "/console/settings/users/u-alice/remove", headers={**gateway_headers(ALICE), **HTMX}
    )
    assert removal.status_code == 200
    assert 'data-testid="member-problem"' in removal.text


async def test_a_removed_member_leaves_the_table(console: Console) -> None:
    client, api = console
    api.routes[("DELETE", "/api/v1/users/u-rita")] = httpx.Response(204)
    answer = await client.post(
        "/console/settings/users/u-rita/remove", headers={**gateway_headers(ALICE), **HTMX}
    )
    assert (answer.status_code, answer.text) == (200, "")


async def test_a_new_api_key_is_shown_once_and_not_cached(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/api-keys", body={"items": [KEY]})
    page = await client.get("/console/settings/api-keys", headers=gateway_headers(ALICE))
    assert "Warehouse" in page.text
    assert "Never" not in page.text
    api.answer("POST", "/api/v1/api-keys", 201, KEY | {"key": "crm_secret_value"})
    created = await client.post(
        "/console/settings/api-keys",
        data={"name": "Warehouse", "scopes": ["candidates:read"], "expires_in_days": "30"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert created.status_code == 200
    assert 'value="crm_secret_value"' in created.text
    assert "shown this once" in created.text
    assert created.headers["cache-control"] == "no-store"
    again = await client.get("/console/settings/api-keys", headers=gateway_headers(ALICE))
    assert "crm_secret_value" not in again.text


async def test_a_key_without_scopes_is_not_asked_for(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/api-keys", body={"items": []})
    answer = await client.post(
        "/console/settings/api-keys",
        data={"name": "Nothing", "expires_in_days": "30"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert answer.status_code == 422
    assert 'id="e-scopes">choose at least one permission<' in answer.text
    # Only scopes that grant something are offered: nothing writes analytics or the audit log.
    assert 'value="analytics:read"' in answer.text
    assert 'value="candidates:write"' in answer.text
    assert 'value="analytics:write"' not in answer.text
    assert 'value="audit:write"' not in answer.text
    # The keys and the members who made them are read; nothing is sent.
    assert sorted((call.method, call.url.path) for call in api.calls) == [
        ("GET", "/api/v1/api-keys"),
        ("GET", "/api/v1/team"),
    ]


async def test_a_scope_the_form_did_not_offer_is_sent_and_refused_at_the_field(
    console: Console,
) -> None:
    """A scope box added with the browser's tools: the gateway says why at the scopes, and no
    key is made with less than was asked."""
    client, api = console
    api.answer("GET", "/api/v1/api-keys", body={"items": []})
    api.answer(
        "POST",
        "/api/v1/api-keys",
        422,
        {
            "type": "https://errors.example/validation-error",
            "title": "Request validation failed",
            "status": 422,
            "detail": "invalid request: not permissions: payroll:write",
            "errors": [
                {
                    "field": "scopes.1",
                    "detail": "payroll:write is no permission (`<family>:<read|write>`)",
                }
            ],
        },
    )
    answer = await client.post(
        "/console/settings/api-keys",
        data={
            "name": "Payroll",
            "scopes": ["payroll:write", "events:read"],
            "expires_in_days": "30",
        },
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert answer.status_code == 422
    [sent] = [call for call in api.calls if call.method == "POST"]
    assert json.loads(sent.content)["scopes"] == ["events:read", "payroll:write"]
    assert 'id="e-scopes">payroll:write is no permission' in answer.text
    assert 'aria-describedby="e-scopes"' in answer.text
    assert "shown this once" not in answer.text


async def test_revoking_a_key_refreshes_the_list(console: Console) -> None:
    client, api = console
    api.routes[("DELETE", "/api/v1/api-keys/k1")] = httpx.Response(204)
    api.answer(
        "GET", "/api/v1/api-keys", body={"items": [KEY | {"revoked_at": "2026-12-03T09:00"}]}
    )
    answer = await client.post(
        "/console/settings/api-keys/k1/revoke", headers={**gateway_headers(ALICE), **HTMX}
    )
    assert answer.status_code == 200
    assert "Revoked" in answer.text
    assert api.calls[0].method == "DELETE"
    assert sorted(call.url.path for call in api.calls[1:]) == ["/api/v1/api-keys", "/api/v1/team"]


async def test_the_audit_log_filters_pages_and_exports(console: Console) -> None:
    client, api = console
    api.answer(
        "GET",
        "/api/v1/audit",
        body={
            "items": [
                {
                    "id": "a1",
                    "at": "2026-12-03T09:00:00Z",
                    "tenant_id": "acme",
                    "actor_kind": "user",
                    "actor_id": "alice",
                    "action": "POST /users",
                    "resource": {},
                    "status": 201,
                    "outcome": "succeeded",
                    "request_id": None,
                    "trace_id": None,
                    "client_address": None,
                    "reason": None,
                }
            ],
            "next_cursor": "older",
        },
    )
    results = await client.get(
        "/console/settings/audit",
        params={"action": "POST /users", "since": "2026-12-01"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert results.status_code == 200
    assert "<code>POST /users</code>" in results.text
    assert "cursor=older" in results.text
    assert 'href="/console/settings/audit/export?since=2026-12-01&amp;action=POST+%2Fusers"' in (
        results.text
    )
    [call] = [call for call in api.calls if call.url.path == "/api/v1/audit"]
    assert call.url.params["since"] == "2026-12-01T00:00:00Z"
    assert call.url.params["action"] == "POST /users"
    assert "until" not in call.url.params

    # Days typed the wrong way round are said so, not "No entries match" (and not asked).
    reversed_days = await client.get(
        "/console/settings/audit",
        params={"since": "2026-12-10", "until": "2026-12-01"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert reversed_days.status_code == 200
    assert "The “To” day is before the “From” day" in reversed_days.text
    assert "No entries match" not in reversed_days.text
    assert len([call for call in api.calls if call.url.path == "/api/v1/audit"]) == 1

    api.routes[("GET", "/api/v1/audit/export")] = httpx.Response(
        200,
        content=b"id,at\na1,2026\n",
        headers={
            "content-type": "text/csv",
            "content-disposition": 'attachment; filename="audit-log.csv"',
        },
    )
    export = await client.get(
        "/console/settings/audit/export",
        params={"action": "POST /users"},
        headers=gateway_headers(ALICE),
    )
    assert export.status_code == 200
    assert export.content == b"id,at\na1,2026\n"
    assert export.headers["content-disposition"] == 'attachment; filename="audit-log.csv"'
    assert api.calls[-1].url.params["format"] == "csv"


async def test_the_audit_log_filters_by_a_name_as_the_page_shows_who(console: Console) -> None:
    """The page names people; the API filters by id: a name typed is read as its person."""
    client, api = console
    team = [{"user_id": "u-zoe", "name": "Zoë Núñez"}, {"user_id": "u-rita", "name": "Rita"}]
    api.answer("GET", "/api/v1/team", body={"items": team})
    entry: dict[str, object] = {"id": "a1", "at": "2026-12-03T09:00:00Z", "actor_id": "u-zoe"}
    entry |= {"actor_kind": "user", "action": "POST /users", "resource": {}, "status": 201}
    entry["outcome"] = "succeeded"
    api.answer("GET", "/api/v1/audit", body={"items": [entry], "next_cursor": None})
    page = await client.get(
        "/console/settings/audit", params={"actor": "zoe nunez"}, headers=gateway_headers(ALICE)
    )
    assert page.status_code == 200
    [call] = [call for call in api.calls if call.url.path == "/api/v1/audit"]
    assert call.url.params["actor"] == "u-zoe"
    assert 'value="zoe nunez"' in page.text  # the filter shows what was typed
    # Who is a link to their entries.
    assert 'href="/console/settings/audit?actor=u-zoe">' in page.text
    # An id, or a name nobody has, goes to the API as typed.
    await client.get(
        "/console/settings/audit", params={"actor": "key_123"}, headers=gateway_headers(ALICE)
    )
    assert api.calls[-1].url.params["actor"] == "key_123"


def test_the_contact_policy_form_is_the_apis_policy() -> None:
    values = policy_values(
        {
            "frequency_cap": {"max_messages": 2, "period_days": 7},
            "quiet_hours": None,
            "on_limit": "skip",
            "default_time_zone": "Europe/Berlin",
            "soft_bounce_limit": 3,
        }
    )
    assert (values["cap_on"], values["quiet_on"], values["quiet_start"]) == ("on", "", "21:00")
    form = policy_form(values | {"quiet_on": "on", "quiet_start": "22:00", "quiet_end": "07:30"})
    assert form.valid
    assert form.body == {
        "frequency_cap": {"max_messages": 2, "period_days": 7},
        "quiet_hours": {"start": "22:00", "end": "07:30"},
        "on_limit": "skip",
        "default_time_zone": "Europe/Berlin",
        "soft_bounce_limit": 3,
    }
    off = policy_form(values | {"cap_on": "", "max_messages": "lots"})
    assert off.valid
    assert off.body["frequency_cap"] is None
    broken = policy_form(values | {"max_messages": "lots", "default_time_zone": "Atlantis/Main"})
    assert set(broken.errors) == {"max_messages", "default_time_zone"}
    retention = retention_form(retention_values({}) | {"on_lapse": "burn"})
    assert set(retention.errors) == {"on_lapse"}
    assert retention_form(retention_values({})).body == {
        "consent_validity_days": 730,
        "re_permission_days_before": 30,
        "on_lapse": "archive",
    }


async def test_the_contact_policy_is_saved_and_its_refusal_shown_by_the_fields(
    console: Console,
) -> None:
    client, api = console
    policy = {
        "frequency_cap": None,
        "quiet_hours": {"start": "21:00:00", "end": "08:00:00"},
        "on_limit": "defer",
        "default_time_zone": "UTC",
        "soft_bounce_limit": 3,
        "outcomes": {"defer.quiet_hours": 4},
    }
    api.answer("GET", "/api/v1/settings/contact-policy", body=policy)
    page = await client.get("/console/settings/contact-policy", headers=gateway_headers(ALICE))
    assert page.status_code == 200
    assert 'name="quiet_on" value="on" checked' in page.text
    assert "defer: quiet hours" in page.text
    read_only = await client.get("/console/settings/contact-policy", headers=gateway_headers(RITA))
    assert "Save policy" not in read_only.text
    assert "disabled" in read_only.text

    api.answer(
        "PUT",
        "/api/v1/settings/contact-policy",
        422,
        {
            "title": "Request validation failed",
            "status": 422,
            "detail": "invalid request: quiet_hours",
            "errors": [
                {
                    "field": "body.quiet_hours",
                    "detail": "quiet hours need different start and end times",
                }
            ],
        },
    )
    form = {
        "quiet_on": "on",
        "quiet_start": "21:00",
        "quiet_end": "21:00",
        "on_limit": "defer",
        "default_time_zone": "UTC",
        "soft_bounce_limit": "3",
        "max_messages": "3",
        "period_days": "7",
    }
    refused = await client.post(
        "/console/settings/contact-policy", data=form, headers={**gateway_headers(ALICE), **HTMX}
    )
    assert refused.status_code == 422
    assert 'id="e-quiet_hours">quiet hours need different start and end times<' in refused.text
    assert json.loads(api.calls[-1].content)["frequency_cap"] is None

    # Each refused part of the cap at its own field, not the first one at the fieldset.
    api.answer(
        "PUT",
        "/api/v1/settings/contact-policy",
        422,
        {
            "title": "Request validation failed",
            "status": 422,
            "detail": "invalid request",
            "errors": [
                {
                    "field": "body.frequency_cap.max_messages",
                    "detail": "Input should be greater than or equal to 1",
                },
                {
                    "field": "body.frequency_cap.period_days",
                    "detail": "Input should be less than or equal to 90",
                },
            ],
        },
    )
    capped = await client.post(
        "/console/settings/contact-policy",
        data=form | {"cap_on": "on", "max_messages": "0", "period_days": "500"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert capped.status_code == 422
    assert 'id="e-max_messages">' in capped.text
    assert 'id="e-period_days">' in capped.text
    assert 'id="e-frequency_cap"' not in capped.text

    release = {"status": "running", "held": 12, "examined": 5, "released": 4}
    api.answer("PUT", "/api/v1/settings/contact-policy", body=policy | {"release": release})
    saved = await client.post(
        "/console/settings/contact-policy",
        data=form | {"quiet_end": "08:00"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert saved.status_code == 200
    assert "Saved" in saved.text
    # What the change does to mail the old policy held, where the admin looks.
    assert "Re-evaluating the 12 mails the old policy held: 5 looked at, 4 go out sooner" in (
        saved.text
    )


def _input(page: str, name: str) -> str:
    """The one <input> tag of the field `name`."""
    [tag] = re.findall(rf'<input id="f-{name}"[^>]*>', page)
    return str(tag)


def _note(page: str, testid: str) -> str:
    [tag] = re.findall(rf'<p [^>]*data-testid="{testid}"[^>]*>', page)
    return str(tag)


async def test_quiet_hours_left_unticked_are_said_to_be_off_and_count_for_nothing(
    console: Console,
) -> None:
    # Before: the times stayed editable while the box was unticked, and what was typed there
    # was dropped on saving ("Saved", quiet_hours still null, the defaults shown again). The
    # page says they are off, and its script disables them while the box is unticked; the
    # server does not (until 2026-12-07 it did, and without script ticking the box left them
    # disabled, so a cap or quiet hours could not be set at all).
    client, api = console
    policy = {
        "frequency_cap": {"max_messages": 2, "period_days": 7},
        "quiet_hours": None,
        "on_limit": "defer",
        "default_time_zone": "UTC",
        "soft_bounce_limit": 3,
    }
    api.answer("GET", "/api/v1/settings/contact-policy", body=policy)
    page = (
        await client.get("/console/settings/contact-policy", headers=gateway_headers(ALICE))
    ).text
    for name in ("quiet_start", "quiet_end"):
        assert " disabled" not in _input(page, name), name
        assert 'data-enables="quiet-times"' in page
    assert "hidden" not in _note(page, "quiet-off")
    assert "Quiet hours are off: marketing mail goes out at any hour." in page
    # The box names the part it switches on, which holds both times (console.js enables them).
    assert 'name="quiet_on" value="on" data-enables="quiet-times"' in page
    times = page.split('id="quiet-times"', 1)[1].split('data-testid="quiet-off"', 1)[0]
    assert 'id="f-quiet_start"' in times
    assert 'id="f-quiet_end"' in times
    # The cap is on: its numbers are editable, and nothing says it is off.
    for name in ("max_messages", "period_days"):
        assert "disabled" not in _input(page, name), name
    assert " hidden" in _note(page, "cap-off")

    # Saved as a browser sends it: the disabled times are not in the form.
    api.answer("PUT", "/api/v1/settings/contact-policy", body=policy)
    form = {
        "cap_on": "on",
        "max_messages": "2",
        "period_days": "7",
        "on_limit": "defer",
        "default_time_zone": "UTC",
        "soft_bounce_limit": "3",
    }
    saved = await client.post(
        "/console/settings/contact-policy", data=form, headers={**gateway_headers(ALICE), **HTMX}
    )
    assert saved.status_code == 200
    assert json.loads(api.calls[-1].content)["quiet_hours"] is None
    assert "Quiet hours are off" in saved.text
    # Not disabled by the server: without script, ticking the box must leave them typeable
    # (the page's script disables them while the box is unticked).
    assert " disabled" not in _input(saved.text, "quiet_start")
    # Shown again after a refusal elsewhere, the times are the defaults, not empty.
    refused = await client.post(
        "/console/settings/contact-policy",
        data=form | {"default_time_zone": "Atlantis/Main"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert refused.status_code == 422
    assert 'value="21:00"' in _input(refused.text, "quiet_start")
    assert 'value="08:00"' in _input(refused.text, "quiet_end")

    # Unticked, typed times count for nothing.
    unticked = await client.post(
        "/console/settings/contact-policy",
        data=form | {"quiet_start": "22:00", "quiet_end": "07:00"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert unticked.status_code == 200
    assert json.loads(api.calls[-1].content)["quiet_hours"] is None

    # Ticked, the times are editable and sent.
    ticked = await client.post(
        "/console/settings/contact-policy",
        data=form | {"quiet_on": "on", "quiet_start": "22:00", "quiet_end": "07:00"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert ticked.status_code == 200
    assert json.loads(api.calls[-1].content)["quiet_hours"] == {"start": "22:00", "end": "07:00"}


async def test_retention_is_saved(console: Console) -> None:
    client, api = console
    api.answer(
        "PUT",
        "/api/v1/settings/retention",
        body={"consent_validity_days": 365, "re_permission_days_before": 14, "on_lapse": "purge"},
    )
    saved = await client.post(
        "/console/settings/retention",
        data={
            "consent_validity_days": "365",
            "re_permission_days_before": "14",
            "on_lapse": "purge",
        },
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert saved.status_code == 200
    assert 'value="365"' in saved.text
    assert '<option value="purge" selected>' in saved.text
    assert json.loads(api.calls[-1].content) == {
        "consent_validity_days": 365,
        "re_permission_days_before": 14,
        "on_lapse": "purge",
    }


async def test_an_ats_connection_shows_its_secret_once_and_disconnects(console: Console) -> None:
    client, api = console
    connection = {
        "id": "c1",
        "provider": "greenhouse",
        "name": "Greenhouse EU",
        "webhook_url": "https://crm.example/public/v1/ats/greenhouse/c1/webhooks",
        "created_at": "2026-12-01T10:00:00Z",
        "secret_rotated_at": None,
        "previous_secret_until": None,
    }
    api.answer("GET", "/api/v1/ats/connections", body=[connection])
    api.answer("POST", "/api/v1/ats/connections", 201, connection | {"webhook_secret": "whsec_1"})
    created = await client.post(
        "/console/settings/ats",
        data={"provider": "greenhouse", "name": "Greenhouse EU"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert created.status_code == 200
    assert 'value="whsec_1"' in created.text
    assert "ats-first-backfill" not in created.text  # no API key: nothing to import with
    assert created.headers["cache-control"] == "no-store"
    assert json.loads(api.calls[0].content) == {"provider": "greenhouse", "name": "Greenhouse EU"}
    listed = await client.get("/console/settings/ats", headers=gateway_headers(RITA))
    assert "Greenhouse EU" in listed.text
    assert "whsec_1" not in listed.text
    assert "Disconnect" not in listed.text  # a recruiter reads ATS connections, changes none
    api.routes[("DELETE", "/api/v1/ats/connections/c1")] = httpx.Response(204)
    api.answer("GET", "/api/v1/ats/connections", body=[])
    gone = await client.post(
        "/console/settings/ats/c1/disconnect", headers={**gateway_headers(ALICE), **HTMX}
    )
    assert "No ATS connected." in gone.text


async def test_an_ats_api_key_is_sent_once_and_never_echoed(console: Console) -> None:
    client, api = console
    connection = {
        "id": "c2",
        "provider": "workable",
        "name": "Workable",
        "webhook_url": "https://crm.example/public/v1/ats/workable/c2/webhooks",
        "created_at": "2026-12-01T10:00:00Z",
        "api_connected": True,
    }
    api.answer("GET", "/api/v1/ats/connections", body=[connection])
    first_backfill = {"id": "r1", "kind": "backfill", "state": "running"}
    api.answer(
        "POST",
        "/api/v1/ats/connections",
        201,
        connection | {"webhook_secret": "whsec_2", "backfill": first_backfill},
    )
    created = await client.post(
        "/console/settings/ats",
        data={
            "provider": "workable",
            "name": "Workable",
            "api_key": " tok-secret ",
            "api_base_url": "https://acme.workable.com/spi/v3",
        },
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert json.loads(api.calls[0].content) == {
        "provider": "workable",
        "name": "Workable",
        "api_key": "tok-secret",
        "api_base_url": "https://acme.workable.com/spi/v3",
    }
    assert "tok-secret" not in created.text
    assert "Key set" in created.text
    # Connecting with a key started the first backfill: the page says where it shows.
    assert "The import of its history (backfill) has started" in created.text
    # A browser must not offer a saved password for it (axe checks the attribute's value).
    assert 'id="f-api_key" name="api_key" type="password"' in created.text
    assert " autocomplete=new-password " in created.text
    assert '<option value="lever"' in created.text


GREENHOUSE = {
    "id": "c3",
    "provider": "greenhouse",
    "name": "Greenhouse EU",
    "webhook_url": "https://crm.example/public/v1/ats/greenhouse/c3/webhooks",
    "created_at": "2026-12-01T10:00:00Z",
    "api_connected": True,
    "health": {
        "webhooks": {
            "last_received_at": "2026-12-03T09:15:00Z",
            "last_refused_at": "2026-12-02T08:00:00Z",
            "last_refusal_reason": "bad_signature",
            "last_refusal_detail": "the signature does not match",
            "counts_24h": {"accepted": 12, "refused": 1},
        },
        "api": {
            "breaker": "open",
            "consecutive_failures": 5,
            "retry_at": "2026-12-03T09:20:00Z",
            "last_failure_at": "2026-12-03T09:19:00Z",
            "last_error": "GET /v3/applications answered 401",
        },
    },
}


def sync_run(kind: str, state: str, **counts: int) -> dict[str, object]:
    return {
        "id": f"run-{kind}",
        "connection_id": "c3",
        "kind": kind,
        "state": state,
        "updated_after": None,
        "phase": "applications",
        "counts": {"pages": 1} | counts,
        "errors": [
            {"at": "2026-12-03T09:10:00Z", "reason": "not stored: no stage", "ats_id": "a-7"}
        ],
        "started_at": "2026-12-03T09:00:00Z",
        "finished_at": None if state == "running" else "2026-12-03T09:12:00Z",
        "requested_by": "alice",
    }


async def test_an_ats_connection_shows_its_health_and_last_runs(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/ats/connections", body=[GREENHOUSE])
    api.answer(
        "GET",
        "/api/v1/ats/connections/c3/sync",
        body={
            "backfill": sync_run("backfill", "succeeded", applications_seen=40),
            "reconcile": None,
        },
    )
    page = await client.get("/console/settings/ats", headers=gateway_headers(RITA))
    assert page.status_code == 200
    text = page.text
    assert "12 accepted, 1 refused" in text
    assert "bad signature (the signature does not match)" in text
    assert "Paused after repeated failures" in text
    assert "GET /v3/applications answered 401" in text
    assert "40 applications seen" in text
    assert "not stored: no stage (ATS id a-7)" in text
    assert "Last reconciliation:</strong>\n    none yet" in text
    assert 'hx-trigger="every 2s"' not in text  # nothing runs: nothing to ask again
    # A recruiter reads them and starts or changes nothing.
    assert "Start backfill" not in text
    assert 'name="api_key"' not in text


async def test_an_ats_api_failing_below_the_breaker_threshold_reads_as_failing(
    console: Console,
) -> None:
    client, api = console
    connection = copy.deepcopy(GREENHOUSE)
    health: Any = connection["health"]
    health["api"] |= {"breaker": "closed", "consecutive_failures": 3, "retry_at": None}
    api.answer("GET", "/api/v1/ats/connections", body=[connection])
    api.answer("GET", "/api/v1/ats/connections/c3/sync", body={"backfill": None, "reconcile": None})
    page = await client.get("/console/settings/ats", headers=gateway_headers(RITA))
    assert page.status_code == 200
    assert "Failing, still tried · 3 failures in a row" in page.text
    assert "Answering" not in page.text


async def test_an_admin_starts_a_backfill_and_its_progress_is_asked_for_while_it_runs(
    console: Console,
) -> None:
    client, api = console
    api.answer("GET", "/api/v1/ats/connections/c3", body=GREENHOUSE)
    api.answer("POST", "/api/v1/ats/connections/c3/backfill", 202, sync_run("backfill", "running"))
    api.answer(
        "GET",
        "/api/v1/ats/connections/c3/sync",
        body={"backfill": sync_run("backfill", "running", applications_seen=7), "reconcile": None},
    )
    started = await client.post(
        "/console/settings/ats/c3/backfill", headers={**gateway_headers(ALICE), **HTMX}
    )
    assert started.status_code == 200
    assert [(c.method, c.url.path) for c in api.calls][:1] == [
        ("POST", "/api/v1/ats/connections/c3/backfill")
    ]
    assert 'hx-get="/console/settings/ats/c3/sync" hx-trigger="every 2s"' in started.text
    assert "7 applications seen" in started.text
    assert "Running" in started.text

    api.answer(
        "GET",
        "/api/v1/ats/connections/c3/sync",
        body={
            "backfill": sync_run("backfill", "succeeded", applications_seen=40),
            "reconcile": None,
        },
    )
    done = await client.get(
        "/console/settings/ats/c3/sync", headers={**gateway_headers(RITA), **HTMX}
    )
    assert "40 applications seen" in done.text
    assert "every 2s" not in done.text  # finished: the asking stops


async def test_a_refused_reconcile_shows_the_apis_reason(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/ats/connections/c3", body=GREENHOUSE)
    api.answer(
        "GET",
        "/api/v1/ats/connections/c3/sync",
        body={"backfill": sync_run("backfill", "succeeded"), "reconcile": None},
    )
    api.answer(
        "POST",
        "/api/v1/ats/connections/c3/reconcile",
        409,
        {
            "type": "urn:problem:sync-running",
            "title": "Conflict",
            "status": 409,
            "detail": "a backfill of this connection is running",
        },
    )
    refused = await client.post(
        "/console/settings/ats/c3/reconcile", headers={**gateway_headers(ALICE), **HTMX}
    )
    assert "409 · Conflict</strong>: a backfill of this connection is running" in refused.text


async def test_an_admin_sets_a_connections_api_key_which_is_never_echoed(
    console: Console,
) -> None:
    client, api = console
    webhooks_only = GREENHOUSE | {"api_connected": False}
    api.answer("GET", "/api/v1/ats/connections", body=[webhooks_only])
    api.answer("GET", "/api/v1/ats/connections/c3/sync", body={"backfill": None, "reconcile": None})
    page = await client.get("/console/settings/ats", headers=gateway_headers(ALICE))
    assert "Set an API key" in page.text
    assert "Start backfill" not in page.text  # nothing to read the history with yet
    # A browser must not offer a saved password for it (axe checks the attribute's value).
    assert 'id="key-c3" name="api_key" type="password" autocomplete="new-password"' in page.text

    api.answer(
        "PUT",
        "/api/v1/ats/connections/c3/api-key",
        422,
        {
            "type": "urn:problem:validation-error",
            "title": "Unprocessable Content",
            "status": 422,
            "detail": "the API key may not be sent there",
            "errors": [{"field": "api_base_url", "detail": "not a known ATS API host"}],
        },
    )
    api.answer("GET", "/api/v1/ats/connections/c3", body=webhooks_only)
    refused = await client.post(
        "/console/settings/ats/c3/api-key",
        data={"api_key": "client:secret-1", "api_base_url": "https://db.internal"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert refused.status_code == 422
    assert 'id="key-url-e-c3">not a known ATS API host' in refused.text
    assert 'value="https://db.internal"' in refused.text
    assert "secret-1" not in refused.text

    api.answer("PUT", "/api/v1/ats/connections/c3/api-key", body=GREENHOUSE)
    api.answer("GET", "/api/v1/ats/connections/c3", body=GREENHOUSE)
    saved = await client.post(
        "/console/settings/ats/c3/api-key",
        data={"api_key": " client:secret-2 ", "api_base_url": ""},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert saved.status_code == 200
    put = [c for c in api.calls if c.method == "PUT"][-1]
    assert json.loads(put.content) == {"api_key": "client:secret-2", "api_base_url": None}
    assert "API key saved" in saved.text
    assert "secret-2" not in saved.text
    assert "Start backfill" in saved.text


async def test_suppressions_are_found_added_and_lifted(console: Console) -> None:
    client, api = console
    entry = {
        "id": "s1",
        "email_sha256": "ab" * 32,
        "reason": "manual",
        "source": "user:alice",
        "candidate_id": "c-ayse",
        "candidate_name": "Ayşe Kaya",
        "message_id": None,
        "note": "asked by phone",
        "created_at": "2026-12-01T10:00:00Z",
    }
    nobody = {**entry, "id": "s2", "candidate_id": None, "candidate_name": None}
    api.answer("GET", "/api/v1/suppressions", body={"items": [entry, nobody], "next_cursor": "n2"})
    page = await client.get(
        "/console/settings/suppressions",
        params={"email": "zoe@example.org", "reason": "manual"},
        headers=gateway_headers(ALICE),
    )
    assert page.status_code == 200
    assert "asked by phone" in page.text
    # Added by hand: by whom, named when the team is known (else the id stays).
    assert 'By hand, <span class="person" title="alice">' in page.text
    assert "user:alice" not in page.text
    assert "email=zoe%40example.org&amp;reason=manual&amp;cursor=n2" in page.text
    # Who: the candidate's name, linked to their profile, from the list's own answer.
    assert (
        '<a href="/console/candidates/c-ayse" data-testid="suppressed-who">Ayşe Kaya</a>'
        in page.text
    )
    assert "Names no candidate" in page.text
    # The export beside it, with the same filters, in both kinds.
    assert (
        'href="/console/settings/suppressions.csv?email=zoe%40example.org&amp;reason=manual"'
        in page.text
    )
    assert "separator=semicolon" in page.text
    assert "CSV for Excel (;)" in page.text
    [call] = [c for c in api.calls if c.url.path == "/api/v1/suppressions"]
    assert (call.url.params["email"], call.url.params["reason"]) == ("zoe@example.org", "manual")

    api.answer(
        "POST",
        "/api/v1/suppressions",
        422,
        {
            "title": "Request validation failed",
            "status": 422,
            "detail": "invalid request: email",
            "errors": [{"field": "body.email", "detail": "not an e-mail address"}],
        },
    )
    refused = await client.post(
        "/console/settings/suppressions",
        data={"email": "nobody", "reason": "manual", "note": ""},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert refused.status_code == 422
    assert "<html" not in refused.text
    assert "Enter an e-mail address (name@example.org)." in refused.text
    assert 'id="e-email"' in refused.text
    api.answer("POST", "/api/v1/suppressions", 201, entry)
    added = await client.post(
        "/console/settings/suppressions",
        data={"email": "zoe@example.org", "reason": "unsubscribed", "note": ""},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert added.headers["hx-redirect"] == (
        "/console/settings/suppressions?email=zoe%40example.org&added=1"
    )
    assert json.loads(api.calls[-1].content) == {
        "email": "zoe@example.org",
        "reason": "unsubscribed",
        "note": None,
    }
    api.routes[("DELETE", "/api/v1/suppressions/s1")] = httpx.Response(204)
    lifted = await client.post(
        "/console/settings/suppressions/s1/lift", headers={**gateway_headers(ALICE), **HTMX}
    )
    assert (lifted.status_code, lifted.text) == (200, "")


async def test_a_candidates_suppressions_are_listed_by_the_profiles_link(
    console: Console,
) -> None:
    client, api = console
    api.answer("GET", "/api/v1/suppressions", body={"items": [], "next_cursor": None})
    page = await client.get(
        "/console/settings/suppressions",
        params={"candidate_id": "c-ayse"},
        headers=gateway_headers(RITA),
    )
    assert page.status_code == 200
    [call] = [c for c in api.calls if c.url.path == "/api/v1/suppressions"]
    assert call.url.params["candidate_id"] == "c-ayse"
    assert 'data-testid="suppressions-of-candidate"' in page.text
    assert '<input type="hidden" name="candidate_id" value="c-ayse">' in page.text
    assert "suppressions.csv?candidate_id=c-ayse" in page.text
    assert "No suppressions match." in page.text


async def test_the_suppression_export_passes_filters_and_separator_through(
    console: Console,
) -> None:
    client, api = console
    api.routes[("GET", "/api/v1/suppressions.csv")] = httpx.Response(
        200,
        content="\ufeffid;listed_at\r\ns1;2026-12-01\r\n".encode(),
        headers={
            "content-type": "text/csv; charset=utf-8",
            "content-disposition": 'attachment; filename="suppressions.csv"',
        },
    )
    for asked, sent in ((None, None), ("semicolon", "semicolon")):
        api.calls.clear()
        query = {"reason": "complained", "candidate_id": "c1", "cursor": "n2"}
        download = await client.get(
            "/console/settings/suppressions.csv",
            params={**query, **({"separator": asked} if asked else {})},
            headers=gateway_headers(RITA),
        )
        assert download.status_code == 200, download.text
        assert download.headers["content-disposition"] == 'attachment; filename="suppressions.csv"'
        assert download.headers["cache-control"] == "no-store"
        [call] = api.calls
        assert dict(call.url.params) == {
            "reason": "complained",
            "candidate_id": "c1",
            **({"separator": sent} if sent else {}),
        }


async def test_inbound_mail_urls_are_shown_with_where_each_goes(console: Console) -> None:
    client, api = console
    base = "https://crm.example/public/v1/mail/tok"
    urls = {
        "dsn_url": f"{base}/bounces",
        "postmark_bounce_url": f"{base}/postmark/bounces",
        "postmark_inbound_url": f"{base}/postmark/inbound",
        "ses_url": f"{base}/ses",
        "replies_url": f"{base}/replies",
    }
    api.answer("GET", "/api/v1/settings/inbound-mail", body=urls)
    page = await client.get("/console/settings/inbound-mail", headers=gateway_headers(ALICE))
    assert page.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store"
    for key, url in urls.items():
        assert f'data-testid="inbound-{key}">{url}</code>' in page.text
    assert "tick Bounce and Spam Complaint" in page.text
    assert "inbound webhook" in page.text
    assert "subscribe this URL (HTTPS)" in page.text
    assert "RFC 3464" in page.text
    assert "POST the raw, full MIME message" in page.text
    index = await client.get("/console/settings", headers=gateway_headers(ALICE))
    assert 'href="/console/settings/inbound-mail"' in index.text
    # Not an admin: the API refuses, and the index does not offer the page.
    api.answer(
        "GET",
        "/api/v1/settings/inbound-mail",
        403,
        {"title": "Forbidden", "status": 403, "detail": "needs settings:write"},
    )
    refused = await client.get("/console/settings/inbound-mail", headers=gateway_headers(RITA))
    assert refused.status_code == 403
    assert base not in refused.text
    index = await client.get("/console/settings", headers=gateway_headers(RITA))
    assert "inbound-mail" not in index.text


async def test_sign_in_settings_show_the_provider_and_save_admission(console: Console) -> None:
    client, api = console
    settings = {
        "issuer": "https://id.acme.example/realms/acme",
        "audience": "crm",
        "roles_claim": "realm_access.roles",
        "role_mapping": {"crm-admin": "admin"},
        "user_claim": "sub",
        "email_claim": "email",
        "name_claim": "name",
        "tenant_claim": None,
        "email_domains": ["acme.example"],
        "jit_provisioning": False,
        "default_role": "viewer",
        "roles_from_token": False,
    }
    api.answer("GET", "/api/v1/sign-in-settings", body=settings)
    page = await client.get("/console/settings/sign-in", headers=gateway_headers(ALICE))
    assert page.status_code == 200
    assert "https://id.acme.example/realms/acme" in page.text
    assert "<code>crm-admin</code> → admin" in page.text
    assert ">acme.example</textarea>" in page.text
    api.answer(
        "PUT",
        "/api/v1/sign-in-settings/admission",
        body=settings | {"email_domains": ["acme.example", "acme.io"], "jit_provisioning": True},
    )
    saved = await client.post(
        "/console/settings/sign-in/admission",
        data={
            "email_domains": "Acme.example, acme.io\n",
            "jit_provisioning": "on",
            "default_role": "recruiter",
        },
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert saved.status_code == 200
    assert "Saved" in saved.text
    assert json.loads(api.calls[-1].content) == {
        "email_domains": ["acme.example", "acme.io"],
        "jit_provisioning": True,
        "default_role": "recruiter",
        "roles_from_token": False,
    }


RISKY_ADMISSION_WARNING = {
    "code": "anyone-joins-as-admin",
    "detail": "Anyone with a verified address at the identity provider, from any e-mail domain, "
    "joins on first sign-in as admin, with admin-level permissions (users:write).",
    "fields": ["email_domains", "default_role", "jit_provisioning"],
}


async def test_the_admission_page_shows_the_warnings_of_risky_settings(console: Console) -> None:
    """Anyone from any domain joining as an admin is saved, and the page says what it risks,
    on reading the settings and on saving them."""
    client, api = console
    risky: dict[str, Any] = {
        "issuer": None,
        "audience": None,
        "roles_claim": "realm_access.roles",
        "role_mapping": {},
        "user_claim": "sub",
        "email_claim": "email",
        "name_claim": "name",
        "tenant_claim": None,
        "email_domains": [],
        "jit_provisioning": True,
        "default_role": "admin",
        "roles_from_token": False,
        "warnings": [RISKY_ADMISSION_WARNING],
    }
    api.answer("GET", "/api/v1/sign-in-settings", body=risky)
    page = await client.get("/console/settings/sign-in", headers=gateway_headers(ALICE))
    assert page.status_code == 200
    assert 'data-testid="admission-warning"' in page.text
    assert "from any e-mail domain" in page.text
    api.answer("PUT", "/api/v1/sign-in-settings/admission", body=risky)
    saved = await client.post(
        "/console/settings/sign-in/admission",
        data={"email_domains": "", "jit_provisioning": "on", "default_role": "admin"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert saved.status_code == 200
    assert "Saved" in saved.text
    assert 'data-testid="admission-warning"' in saved.text
    api.answer("GET", "/api/v1/sign-in-settings", body=risky | {"warnings": []})
    calm = await client.get("/console/settings/sign-in", headers=gateway_headers(ALICE))
    assert "admission-warning" not in calm.text


async def test_the_admission_page_warns_of_webmail_joining_with_a_lesser_role(
    console: Console,
) -> None:
    """Anyone with a Gmail address joining as a recruiter is the gateway's second warning;
    the page says it above the form as it says the admin one."""
    client, api = console
    webmail = {
        "code": "anyone-joins-from-webmail",
        "detail": "Anyone with an address at gmail.com (a public webmail provider anyone can "
        "sign up at) joins on first sign-in as recruiter and can read candidates and their "
        "personal data.",
        "fields": ["email_domains", "jit_provisioning"],
    }
    settings: dict[str, Any] = {
        "issuer": None,
        "audience": None,
        "roles_claim": "realm_access.roles",
        "role_mapping": {},
        "user_claim": "sub",
        "email_claim": "email",
        "name_claim": "name",
        "tenant_claim": None,
        "email_domains": ["gmail.com"],
        "jit_provisioning": True,
        "default_role": "recruiter",
        "roles_from_token": False,
        "warnings": [webmail],
    }
    api.answer("GET", "/api/v1/sign-in-settings", body=settings)
    page = await client.get("/console/settings/sign-in", headers=gateway_headers(ALICE))
    assert page.status_code == 200
    assert 'data-testid="admission-warning"><strong>Check this:</strong> Anyone with an ' in (
        page.text
    )
    assert "joins on first sign-in as recruiter and can read candidates" in page.text
    api.answer("PUT", "/api/v1/sign-in-settings/admission", body=settings)
    saved = await client.post(
        "/console/settings/sign-in/admission",
        data={"email_domains": "gmail.com", "jit_provisioning": "on", "default_role": "recruiter"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert saved.status_code == 200
    assert "as recruiter and can read candidates" in saved.text


async def test_the_admission_page_names_a_public_domain_and_a_malformed_one(
    console: Console,
) -> None:
    """The gateway's warning about a webmail domain shows as any other, and a refused domain's
    message names the entry and the form wanted, not "not in the expected format"."""
    client, api = console
    webmail = RISKY_ADMISSION_WARNING | {
        "detail": "Anyone with an address at gmail.com (a public webmail provider anyone can "
        "sign up at) joins on first sign-in as admin, with admin-level permissions."
    }
    api.answer(
        "PUT",
        "/api/v1/sign-in-settings/admission",
        body={"email_domains": ["gmail.com"], "warnings": [webmail]},
    )
    saved = await client.post(
        "/console/settings/sign-in/admission",
        data={"email_domains": "gmail.com", "jit_provisioning": "on", "default_role": "admin"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert 'data-testid="admission-warning"' in saved.text
    assert "gmail.com (a public webmail provider" in saved.text
    detail = (
        "Value error, `@acme.example` is not an e-mail domain: give the part after the `@` "
        "alone, like `acme.com` (no `@`, address, `https://` or path)"
    )
    api.answer(
        "PUT",
        "/api/v1/sign-in-settings/admission",
        422,
        {
            "type": "urn:recruitcrm:problem:validation-error",
            "title": "Request validation failed",
            "status": 422,
            "detail": "invalid request: body.email_domains.0",
            "errors": [{"field": "email_domains.0", "source": "body", "detail": detail}],
        },
    )
    refused = await client.post(
        "/console/settings/sign-in/admission",
        data={"email_domains": "@acme.example", "default_role": "viewer"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert 'id="e-email_domains">`@acme.example` is not an e-mail domain' in refused.text
    assert "expected format" not in refused.text


LEVER = {
    "id": "c4",
    "provider": "lever",
    "name": "Lever",
    "webhook_url": "https://crm.example/public/v1/ats/lever/c4/webhooks",
    "created_at": "2026-12-01T10:00:00Z",
    "api_connected": False,
    "ats_issued_secrets": 0,
}


def test_lever_tokens_are_one_per_line_with_hours_of_grace() -> None:
    given = ats_issued_secrets_from_form({"secrets": " tok-a \n\n tok-b\r\n", "grace_hours": ""})
    assert (given.secrets, given.grace_hours, given.problem) == (("tok-a", "tok-b"), 24, None)
    cleared = ats_issued_secrets_from_form({"secrets": "ignored", "clear": "1", "grace_hours": "0"})
    assert (cleared.secrets, cleared.grace_hours, cleared.problem) == ((), 0, None)
    empty = ats_issued_secrets_from_form({"secrets": " \n", "grace_hours": "a day"})
    assert empty.problem is not None
    assert set(empty.problem.field_errors) == {"secrets", "grace_hours"}
    many = ats_issued_secrets_from_form({"secrets": "\n".join(f"t{n}" for n in range(11))})
    assert many.problem is not None
    assert many.problem.field_errors == {"secrets": "at most 10 tokens"}


async def test_an_admin_sets_levers_tokens_and_they_are_never_echoed(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/ats/connections", body=[LEVER])
    page = await client.get("/console/settings/ats", headers=gateway_headers(ALICE))
    assert 'data-testid="ats-issued-secrets"' in page.text
    assert "None set" in page.text
    assert "Remove tokens" not in page.text

    set_now = LEVER | {"ats_issued_secrets": 2, "ats_secrets_set_at": "2026-12-04T09:00:00Z"}
    api.answer("PUT", "/api/v1/ats/connections/c4/webhook-secrets", body=set_now)
    api.answer("GET", "/api/v1/ats/connections/c4", body=set_now)
    api.answer("GET", "/api/v1/ats/connections/c4/sync", body={"backfill": None, "reconcile": None})
    saved = await client.post(
        "/console/settings/ats/c4/webhook-secrets",
        data={"secrets": "lever-token-1\nlever-token-2", "grace_hours": "12"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert saved.status_code == 200, saved.text
    [put] = [c for c in api.calls if c.method == "PUT"]
    assert json.loads(put.content) == {
        "secrets": ["lever-token-1", "lever-token-2"],
        "grace_hours": 12,
    }
    assert "Tokens saved" in saved.text
    assert "lever-token" not in saved.text
    assert '<strong data-testid="ats-secrets-state">2 tokens set' in saved.text
    assert 'name="clear" value="1"' in saved.text

    api.answer("PUT", "/api/v1/ats/connections/c4/webhook-secrets", body=LEVER)
    api.answer("GET", "/api/v1/ats/connections/c4", body=LEVER)
    cleared = await client.post(
        "/console/settings/ats/c4/webhook-secrets",
        data={"secrets": "", "grace_hours": "24", "clear": "1"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert json.loads([c for c in api.calls if c.method == "PUT"][-1].content) == {
        "secrets": [],
        "grace_hours": 24,
    }
    assert "Tokens removed" in cleared.text


async def test_a_token_form_the_api_refuses_shows_why_at_the_field(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/ats/connections/c4", body=LEVER)
    api.answer("GET", "/api/v1/ats/connections/c4/sync", body={"backfill": None, "reconcile": None})
    empty = await client.post(
        "/console/settings/ats/c4/webhook-secrets",
        data={"secrets": "  ", "grace_hours": "24"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert empty.status_code == 422
    assert "paste the signature token of each webhook" in empty.text
    assert not [c for c in api.calls if c.method == "PUT"]
    api.answer(
        "PUT",
        "/api/v1/ats/connections/c4/webhook-secrets",
        422,
        {
            "type": "urn:problem-type:validation-error",
            "status": 422,
            "title": "Unprocessable Content",
            "detail": "invalid request: grace_hours",
            "errors": [{"field": "body.grace_hours", "detail": "must be at most 720"}],
        },
    )
    refused = await client.post(
        "/console/settings/ats/c4/webhook-secrets",
        data={"secrets": "tok", "grace_hours": "9999"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert refused.status_code == 422
    assert 'id="grace-e-c4">' in refused.text
    assert 'value="9999"' in refused.text


async def test_only_a_lever_connection_offers_tokens(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/ats/connections", body=[GREENHOUSE])
    api.answer("GET", "/api/v1/ats/connections/c3/sync", body={"backfill": None, "reconcile": None})
    page = await client.get("/console/settings/ats", headers=gateway_headers(ALICE))
    assert page.status_code == 200
    assert "ats-issued-secrets" not in page.text


async def test_an_admin_reads_what_the_ats_sent_that_was_rejected_page_by_page(
    console: Console,
) -> None:
    client, api = console
    api.answer("GET", "/api/v1/ats/connections", body=[LEVER])
    page = await client.get("/console/settings/ats", headers=gateway_headers(ALICE))
    assert 'hx-get="/console/settings/ats/c4/rejected"' in page.text
    reader = await client.get("/console/settings/ats", headers=gateway_headers(RITA))
    assert "/rejected" not in reader.text

    rejected = {
        "id": "p1",
        "connection_id": "c4",
        "source": "webhook",
        "reason": "no candidate e-mail",
        "ats_id": "opp-9",
        "received_at": "2026-12-04T09:00:00Z",
        "body": '{"event": "candidateStageChange", "name": "<Zoë>"}',
        "size": 52,
        "truncated": False,
    }
    api.routes[("GET", "/api/v1/ats/connections/c4/rejected-payloads")] = httpx.Response(
        200,
        json=[rejected],
        headers={"Link": '<?limit=10&cursor=cDE>; rel="next"'},
    )
    shown = await client.get("/console/settings/ats/c4/rejected", headers=htmx_headers(ALICE))
    assert shown.status_code == 200, shown.text
    assert "Webhook (answered 422) · ATS id <code>opp-9</code>: no candidate e-mail" in shown.text
    assert "&lt;Zoë&gt;" in shown.text
    assert 'hx-get="/console/settings/ats/c4/rejected?cursor=cDE"' in shown.text
    assert api.calls[-1].url.params["limit"] == "10"

    api.routes[("GET", "/api/v1/ats/connections/c4/rejected-payloads")] = httpx.Response(
        200, json=[]
    )
    last = await client.get(
        "/console/settings/ats/c4/rejected?cursor=cDE", headers=htmx_headers(ALICE)
    )
    assert api.calls[-1].url.params["cursor"] == "cDE"
    assert "Nothing was rejected" in last.text
    assert "Older ones" not in last.text


def ats_application(number: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": f"a{number}",
        "connection_id": "c4",
        "provider": "lever",
        "ats_application_id": f"app-{number}",
        "ats_candidate_id": f"opp-{number}",
        "candidate_id": f"cand{number}",
        "email": f"person{number}@example.org",
        "job_name": None,
        "applied_at": "2026-12-01T09:00:00Z",
        "stage": "Phone screen",
        "status": "active",
        "received_at": "2026-12-01T09:00:05Z",
        "updated_at": None,
        "rejection_reason": None,
        "ats_job_id": None,
        "prospect": False,
        **fields,
    }


async def test_a_connections_applications_are_listed_by_status_a_page_at_a_time(
    console: Console,
) -> None:
    """Anyone who sees the connection sees what its ATS reported: who (linked to the profile),
    the job by name (the job list read once for a job named by id alone), stage and status."""
    client, api = console
    api.answer("GET", "/api/v1/ats/connections", body=[LEVER])
    page = await client.get("/console/settings/ats", headers=gateway_headers(RITA))
    assert 'hx-get="/console/settings/ats/c4/applications"' in page.text

    api.routes[("GET", "/api/v1/ats/applications")] = httpx.Response(
        200,
        json=[
            ats_application(1, ats_job_id="j-7"),
            ats_application(2, job_name="Nurse (Lyon)", ats_job_id="j-8"),
            ats_application(
                3,
                candidate_id=None,
                email="zoë@example.org",
                status="rejected",
                rejection_reason="Withdrew",
            ),
        ],
        headers={"Link": '<?connection_id=c4&limit=50&cursor=cXY>; rel="next"'},
    )
    api.answer(
        "GET",
        "/api/v1/ats/jobs",
        body=[{"connection_id": "c4", "ats_job_id": "j-7", "name": "Data engineer"}],
    )
    shown = await client.get("/console/settings/ats/c4/applications", headers=htmx_headers(RITA))
    assert shown.status_code == 200, shown.text
    assert '<a href="/console/candidates/cand1">person1@example.org</a>' in shown.text
    assert "Data engineer <span" in shown.text
    assert "Nurse (Lyon) <span" in shown.text
    assert 'zoë@example.org <span class="muted">(no candidate yet)</span>' in shown.text
    assert 'Rejected <span class="muted">(Withdrew)</span>' in shown.text
    listed = next(c for c in api.calls if c.url.path == "/api/v1/ats/applications")
    assert dict(listed.url.params) == {"connection_id": "c4", "limit": "50"}
    [jobs] = [c for c in api.calls if c.url.path == "/api/v1/ats/jobs"]
    assert jobs.url.params["connection_id"] == "c4"
    assert 'hx-get="/console/settings/ats/c4/applications?cursor=cXY"' in shown.text

    # One status, and its next page, keep the filter.
    api.calls.clear()
    api.routes[("GET", "/api/v1/ats/applications")] = httpx.Response(200, json=[])
    hired = await client.get(
        "/console/settings/ats/c4/applications?status=hired&cursor=cXY",
        headers=htmx_headers(RITA),
    )
    assert "No hired applications." in hired.text
    assert 'href="/console/settings/ats/c4/applications?status=hired" hx-get' in hired.text
    assert 'aria-current="true">Hired</a>' in hired.text
    [listed] = api.calls
    assert dict(listed.url.params) == {
        "connection_id": "c4",
        "status": "hired",
        "limit": "50",
        "cursor": "cXY",
    }
    unknown = await client.get(
        "/console/settings/ats/c4/applications?status=lost", headers=htmx_headers(RITA)
    )
    assert unknown.status_code == 422
    # Opened without script (a new tab), a page of its own, never a bare fragment.
    tab = await client.get(
        "/console/settings/ats/c4/applications?status=hired&cursor=cXY",
        headers=gateway_headers(RITA),
    )
    assert "<title>ATS applications" in tab.text
    assert '<a href="/console/settings/ats">← Back</a>' in tab.text
    assert "No hired applications." in tab.text
