"""The settings pages' buttons in a browser without script: each is a form that posts
without htmx; a button that asks first with script (`hx-confirm`) asks the same question as a
page of its own, and an answer is a page, never a bare fragment (see `api.deps.asked_first`)."""

from __future__ import annotations

import re

import httpx
import pytest

from crm_console.domain.settings import AskingButton, settings_question
from unit.console.test_pages import Api, gateway_headers
from unit.console.test_settings import ALICE, GREENHOUSE, KEY, LEVER, MEMBERS, Console, sync_run
from unit.console.test_settings_profile import CONTACT, NOTICE

pytestmark = pytest.mark.unit

RITA_MEMBER = MEMBERS["items"][0]
CONFIRMED = '<input type="hidden" name="confirmed" value="1">'
NO_RUNS = {"backfill": None, "reconcile": None}
RUNNING = {
    "type": "urn:problem:sync-running",
    "title": "Conflict",
    "status": 409,
    "detail": "a backfill of this connection is running",
}


def conflict(detail: str) -> dict[str, object]:
    return {"title": "Conflict", "status": 409, "detail": detail}


def posts_without_script(page: str, action: str) -> bool:
    """Whether `page` holds a plain form posting to `action` around a submit button htmx
    posts there too (with script htmx takes the click and the form is not sent)."""
    url = re.escape(action)
    form = rf'<form[^>]*method="post" action="{url}"><button type="submit"[^>]*hx-post="{url}"'
    return re.search(form, page) is not None


def assert_asked(answer: httpx.Response, question: str, back: str) -> None:
    """A page of its own asking `question`, whose form posts the same again, confirmed."""
    assert answer.status_code == 200, answer.text
    assert answer.text.lstrip().startswith("<!doctype html>")
    assert f'data-testid="confirm-question">{question}</p>' in answer.text
    assert CONFIRMED in answer.text
    assert f'<a href="{back}">No, go back</a>' in answer.text


def assert_refused_page(answer: httpx.Response, status: int, detail: str, back: str) -> None:
    """The API's refusal as a page of its own, linking back to the page the button was on."""
    assert answer.status_code == status, answer.text
    assert answer.text.lstrip().startswith("<!doctype html>")
    assert detail in answer.text
    assert f'<a href="{back}">← Back</a>' in answer.text


def sent(api: Api, method: str, path: str) -> list[httpx.Request]:
    return [call for call in api.calls if (call.method, call.url.path) == (method, path)]


def test_each_question_names_what_its_button_acts_on() -> None:
    assert settings_question("remove_member", RITA_MEMBER).text == (
        "Remove rita@acme.example from the organisation?"
    )
    assert settings_question("revoke_api_key", KEY).text.startswith("Revoke Warehouse? ")
    assert settings_question("disconnect_ats", GREENHOUSE).text.startswith(
        "Disconnect Greenhouse EU? "
    )
    assert " tokens from Lever? " in settings_question("remove_ats_tokens", LEVER).text
    # Nothing read to name: the question still reads as one.
    assert settings_question("revoke_api_key", {}).text.startswith("Revoke this key? ")
    assert settings_question("new_ats_secret").text.startswith(
        "Issue a new secret for this connection? "
    )
    assert settings_question("new_ats_secret").confirm_class == "primary"


async def test_a_member_is_removed_without_script_after_asking(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/users", body=MEMBERS)
    page = await client.get("/console/settings/users", headers=gateway_headers(ALICE))
    action = "/console/settings/users/u-rita/remove"
    assert posts_without_script(page.text, action)
    question = settings_question("remove_member", RITA_MEMBER).text
    assert f'hx-confirm="{question}"' in page.text

    # The question names the member as the API has them.
    api.answer("GET", "/api/v1/users/u-rita", body=RITA_MEMBER)
    asked = await client.post(action, headers=gateway_headers(ALICE))
    assert_asked(asked, question, "/console/settings/users")
    assert not sent(api, "DELETE", "/api/v1/users/u-rita")

    api.routes[("DELETE", "/api/v1/users/u-rita")] = httpx.Response(204)
    removed = await client.post(action, data={"confirmed": "1"}, headers=gateway_headers(ALICE))
    assert (removed.status_code, removed.headers["location"]) == (303, "/console/settings/users")
    assert len(sent(api, "DELETE", "/api/v1/users/u-rita")) == 1

    api.answer("DELETE", "/api/v1/users/u-rita", 409, conflict("rita is the last admin"))
    refused = await client.post(action, data={"confirmed": "1"}, headers=gateway_headers(ALICE))
    assert_refused_page(refused, 409, "rita is the last admin", "/console/settings/users")


async def test_an_invitation_is_mailed_again_without_script(console: Console) -> None:
    client, api = console
    pending = {**RITA_MEMBER, "user_id": "u-nina", "email": "nina@acme.example"}
    api.answer("GET", "/api/v1/users", body={"items": [pending | {"status": "invited"}]})
    api.answer_pages("/api/v1/invitation-mails", [])
    page = await client.get("/console/settings/users", headers=gateway_headers(ALICE))
    action = "/console/settings/users/u-nina/invitation"
    # An inline form: the button stays on its line under the mail's state.
    assert f'<form class="action-form" method="post" action="{action}">' in page.text
    assert posts_without_script(page.text, action)

    api.answer("POST", "/api/v1/users/u-nina/invitation", 202, {"user_id": "u-nina"})
    mailed = await client.post(action, headers=gateway_headers(ALICE))
    assert (mailed.status_code, mailed.headers["location"]) == (303, "/console/settings/users")
    assert len(sent(api, "POST", "/api/v1/users/u-nina/invitation")) == 1

    api.answer("POST", "/api/v1/users/u-nina/invitation", 409, conflict("nina signed in"))
    refused = await client.post(action, headers=gateway_headers(ALICE))
    assert_refused_page(refused, 409, "nina signed in", "/console/settings/users")


async def test_roles_are_saved_without_script(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/users", body=MEMBERS)
    api.answer_pages("/api/v1/invitation-mails", [])
    page = await client.get("/console/settings/users", headers=gateway_headers(ALICE))
    action = f"/console/settings/users/{RITA_MEMBER['user_id']}/roles"
    assert f'<form class="member-roles" method="post" action="{action}"' in page.text

    path = f"/api/v1/users/{RITA_MEMBER['user_id']}"
    api.answer("PATCH", path, body=RITA_MEMBER | {"roles": ["recruiter", "marketer"]})
    roles = {"roles": ["recruiter", "marketer"]}
    saved = await client.post(action, data=roles, headers=gateway_headers(ALICE))
    assert (saved.status_code, saved.headers["location"]) == (303, "/console/settings/users")
    assert len(sent(api, "PATCH", path)) == 1

    api.answer("PATCH", path, 409, conflict("the organisation keeps one admin"))
    refused = await client.post(action, data=roles, headers=gateway_headers(ALICE))
    assert_refused_page(refused, 409, "the organisation keeps one admin", "/console/settings/users")


async def test_a_key_is_revoked_without_script_after_asking(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/api-keys", body={"items": [KEY]})
    api.answer("GET", "/api/v1/team", body={"items": []})
    page = await client.get("/console/settings/api-keys", headers=gateway_headers(ALICE))
    action = "/console/settings/api-keys/k1/revoke"
    assert posts_without_script(page.text, action)
    question = settings_question("revoke_api_key", KEY).text
    assert f'hx-confirm="{question}"' in page.text

    # Named from the tenant's list of keys, not from anything posted.
    asked = await client.post(
        action, data={"name": "Something else"}, headers=gateway_headers(ALICE)
    )
    assert_asked(asked, question, "/console/settings/api-keys")
    assert not sent(api, "DELETE", "/api/v1/api-keys/k1")

    # The keys' page itself answers (as it answers every form of its own without script).
    api.routes[("DELETE", "/api/v1/api-keys/k1")] = httpx.Response(204)
    api.answer("GET", "/api/v1/api-keys", body={"items": [KEY | {"revoked_at": "2026-12-03"}]})
    revoked = await client.post(action, data={"confirmed": "1"}, headers=gateway_headers(ALICE))
    assert revoked.status_code == 200
    assert revoked.text.lstrip().startswith("<!doctype html>")
    assert "Revoked" in revoked.text
    assert len(sent(api, "DELETE", "/api/v1/api-keys/k1")) == 1

    api.answer("DELETE", "/api/v1/api-keys/k1", 409, conflict("the key is revoked already"))
    refused = await client.post(action, data={"confirmed": "1"}, headers=gateway_headers(ALICE))
    assert refused.text.lstrip().startswith("<!doctype html>")
    assert "the key is revoked already" in refused.text
    assert '<a href="/console/settings">← Settings</a>' in refused.text


async def test_an_ats_secret_is_renewed_and_a_connection_disconnected_after_asking(
    console: Console,
) -> None:
    client, api = console
    api.answer("GET", "/api/v1/ats/connections", body=[GREENHOUSE])
    api.answer("GET", "/api/v1/ats/connections/c3", body=GREENHOUSE)
    api.answer("GET", "/api/v1/ats/connections/c3/sync", body=NO_RUNS)
    page = await client.get("/console/settings/ats", headers=gateway_headers(ALICE))
    rotate, disconnect = "/console/settings/ats/c3/rotate", "/console/settings/ats/c3/disconnect"
    buttons: list[tuple[AskingButton, str]] = [
        ("new_ats_secret", rotate),
        ("disconnect_ats", disconnect),
    ]
    for button, action in buttons:
        assert posts_without_script(page.text, action)
        question = settings_question(button, GREENHOUSE).text
        assert f'hx-confirm="{question}"' in page.text
        asked = await client.post(action, headers=gateway_headers(ALICE))
        assert_asked(asked, question, "/console/settings/ats")
    assert not [call for call in api.calls if call.method in {"POST", "DELETE"}]

    # The connections' page answers: the new secret is shown there, this once.
    rotated = GREENHOUSE | {"webhook_secret": "whsec_new"}
    api.answer("POST", "/api/v1/ats/connections/c3/rotate-secret", body=rotated)
    renewed = await client.post(rotate, data={"confirmed": "1"}, headers=gateway_headers(ALICE))
    assert renewed.status_code == 200
    assert renewed.text.lstrip().startswith("<!doctype html>")
    assert 'value="whsec_new"' in renewed.text

    api.answer("DELETE", "/api/v1/ats/connections/c3", 409, conflict("a backfill runs"))
    refused = await client.post(disconnect, data={"confirmed": "1"}, headers=gateway_headers(ALICE))
    assert refused.text.lstrip().startswith("<!doctype html>")
    assert "a backfill runs" in refused.text
    assert '<a href="/console/settings">← Settings</a>' in refused.text

    api.routes[("DELETE", "/api/v1/ats/connections/c3")] = httpx.Response(204)
    api.answer("GET", "/api/v1/ats/connections", body=[])
    gone = await client.post(disconnect, data={"confirmed": "1"}, headers=gateway_headers(ALICE))
    assert gone.text.lstrip().startswith("<!doctype html>")
    assert "No ATS connected." in gone.text


@pytest.mark.parametrize("kind", ["backfill", "reconcile"])
async def test_a_run_is_started_without_script(console: Console, kind: str) -> None:
    client, api = console
    api.answer("GET", "/api/v1/ats/connections", body=[GREENHOUSE])
    api.answer("GET", "/api/v1/ats/connections/c3/sync", body=NO_RUNS)
    page = await client.get("/console/settings/ats", headers=gateway_headers(ALICE))
    action = f"/console/settings/ats/c3/{kind}"
    assert posts_without_script(page.text, action)

    api.answer("POST", f"/api/v1/ats/connections/c3/{kind}", 202, sync_run(kind, "running"))
    started = await client.post(action, headers=gateway_headers(ALICE))
    assert (started.status_code, started.headers["location"]) == (303, "/console/settings/ats")
    assert len(sent(api, "POST", f"/api/v1/ats/connections/c3/{kind}")) == 1

    api.answer("POST", f"/api/v1/ats/connections/c3/{kind}", 409, RUNNING)
    refused = await client.post(action, headers=gateway_headers(ALICE))
    assert_refused_page(
        refused, 409, "a backfill of this connection is running", "/console/settings/ats"
    )


async def test_levers_tokens_are_removed_without_script_after_asking(console: Console) -> None:
    client, api = console
    with_tokens = LEVER | {"ats_issued_secrets": 2, "ats_secrets_set_at": "2026-12-04T09:00:00Z"}
    api.answer("GET", "/api/v1/ats/connections", body=[with_tokens])
    api.answer("GET", "/api/v1/ats/connections/c4", body=with_tokens)
    api.answer("GET", "/api/v1/ats/connections/c4/sync", body=NO_RUNS)
    page = await client.get("/console/settings/ats", headers=gateway_headers(ALICE))
    action = "/console/settings/ats/c4/webhook-secrets"
    assert f'method="post" action="{action}"' in page.text
    question = settings_question("remove_ats_tokens", with_tokens).text
    assert f'name="clear" value="1" class="secondary" hx-confirm="{question}"' in page.text

    form = {"secrets": "typed-token", "grace_hours": "24", "clear": "1"}
    asked = await client.post(action, data=form, headers=gateway_headers(ALICE))
    assert_asked(asked, question, "/console/settings/ats")
    assert '<input type="hidden" name="clear" value="1">' in asked.text
    assert "typed-token" not in asked.text  # a token is never shown again
    assert not sent(api, "PUT", "/api/v1/ats/connections/c4/webhook-secrets")

    api.answer("PUT", "/api/v1/ats/connections/c4/webhook-secrets", body=LEVER)
    confirmed = {"grace_hours": "24", "clear": "1", "confirmed": "1"}
    cleared = await client.post(action, data=confirmed, headers=gateway_headers(ALICE))
    assert (cleared.status_code, cleared.headers["location"]) == (303, "/console/settings/ats")
    [put] = sent(api, "PUT", "/api/v1/ats/connections/c4/webhook-secrets")
    assert put.content == b'{"secrets":[],"grace_hours":24}'

    api.answer(
        "PUT",
        "/api/v1/ats/connections/c4/webhook-secrets",
        404,
        {"title": "Not Found", "status": 404, "detail": "no connection c4"},
    )
    refused = await client.post(action, data=confirmed, headers=gateway_headers(ALICE))
    assert_refused_page(refused, 404, "no connection c4", "/console/settings/ats")


async def test_levers_tokens_and_an_api_key_are_saved_without_script(console: Console) -> None:
    """The connection's own forms answer a post without script with the connections' page,
    or a page saying why not: never the connection's card alone."""
    client, api = console
    tokens = "/console/settings/ats/c4/webhook-secrets"
    api.answer("PUT", "/api/v1/ats/connections/c4/webhook-secrets", body=LEVER)
    saved = await client.post(
        tokens, data={"secrets": "tok-1", "grace_hours": "24"}, headers=gateway_headers(ALICE)
    )
    assert (saved.status_code, saved.headers["location"]) == (303, "/console/settings/ats")
    empty = await client.post(
        tokens, data={"secrets": " ", "grace_hours": "24"}, headers=gateway_headers(ALICE)
    )
    assert_refused_page(empty, 422, "paste the signature token", "/console/settings/ats")

    key = "/console/settings/ats/c3/api-key"
    api.answer("PUT", "/api/v1/ats/connections/c3/api-key", body=GREENHOUSE)
    saved = await client.post(key, data={"api_key": "k:s"}, headers=gateway_headers(ALICE))
    assert (saved.status_code, saved.headers["location"]) == (303, "/console/settings/ats")
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
    refused = await client.post(
        key,
        data={"api_key": "k:s", "api_base_url": "https://db.internal"},
        headers=gateway_headers(ALICE),
    )
    assert_refused_page(refused, 422, "not a known ATS API host", "/console/settings/ats")
    assert "k:s" not in refused.text


async def test_a_suppression_is_lifted_without_script_after_asking(console: Console) -> None:
    client, api = console
    entry = {
        "id": "s1",
        "email_sha256": "ab" * 32,
        "reason": "manual",
        "source": "user:alice",
        "candidate_id": None,
        "candidate_name": None,
        "message_id": None,
        "note": None,
        "created_at": "2026-12-01T10:00:00Z",
    }
    api.answer("GET", "/api/v1/suppressions", body={"items": [entry], "next_cursor": None})
    page = await client.get("/console/settings/suppressions", headers=gateway_headers(ALICE))
    action = "/console/settings/suppressions/s1/lift"
    assert posts_without_script(page.text, action)
    question = settings_question("lift_suppression").text
    assert f'hx-confirm="{question}"' in page.text

    asked = await client.post(action, headers=gateway_headers(ALICE))
    assert_asked(asked, question, "/console/settings/suppressions")
    assert not sent(api, "DELETE", "/api/v1/suppressions/s1")

    api.routes[("DELETE", "/api/v1/suppressions/s1")] = httpx.Response(204)
    lifted = await client.post(action, data={"confirmed": "1"}, headers=gateway_headers(ALICE))
    assert (lifted.status_code, lifted.headers["location"]) == (
        303,
        "/console/settings/suppressions",
    )
    assert len(sent(api, "DELETE", "/api/v1/suppressions/s1")) == 1

    api.answer(
        "DELETE",
        "/api/v1/suppressions/s1",
        404,
        {"title": "Not Found", "status": 404, "detail": "no suppression s1"},
    )
    refused = await client.post(action, data={"confirmed": "1"}, headers=gateway_headers(ALICE))
    assert_refused_page(refused, 404, "no suppression s1", "/console/settings/suppressions")


async def test_an_address_refused_without_script_is_a_page_with_the_form(
    console: Console,
) -> None:
    client, api = console
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
        headers=gateway_headers(ALICE),
    )
    assert refused.status_code == 422
    assert refused.text.lstrip().startswith("<!doctype html>")
    assert 'id="e-email"' in refused.text
    assert 'value="nobody"' in refused.text
    assert '<a href="/console/settings/suppressions">← Back</a>' in refused.text


async def test_a_custom_field_is_deleted_without_script_after_asking(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/custom-fields", body=[CONTACT])
    page = await client.get("/console/settings/custom-fields", headers=gateway_headers(ALICE))
    action = "/console/settings/custom-fields/contact_preference/delete"
    # Inline, as the field's edit link beside it.
    assert f'<form class="action-form" method="post" action="{action}">' in page.text
    assert posts_without_script(page.text, action)
    question = settings_question("delete_custom_field", CONTACT).text
    assert f'hx-confirm="{question}"' in page.text

    # Named as the API has the field.
    api.answer("GET", "/api/v1/custom-fields/contact_preference", body=CONTACT)
    asked = await client.post(action, headers=gateway_headers(ALICE))
    assert_asked(asked, question, "/console/settings/custom-fields")
    assert "Préférence de contact" in question
    assert not sent(api, "DELETE", "/api/v1/custom-fields/contact_preference")

    api.routes[("DELETE", "/api/v1/custom-fields/contact_preference")] = httpx.Response(204)
    deleted = await client.post(action, data={"confirmed": "1"}, headers=gateway_headers(ALICE))
    assert (deleted.status_code, deleted.headers["location"]) == (
        303,
        "/console/settings/custom-fields",
    )
    assert len(sent(api, "DELETE", "/api/v1/custom-fields/contact_preference")) == 1

    api.answer(
        "DELETE",
        "/api/v1/custom-fields/contact_preference",
        409,
        conflict("custom field 'contact_preference' is used by segment 'Reachable by phone'"),
    )
    refused = await client.post(action, data={"confirmed": "1"}, headers=gateway_headers(ALICE))
    assert_refused_page(
        refused,
        409,
        "used by segment &#39;Reachable by phone&#39;",
        "/console/settings/custom-fields",
    )


async def test_a_custom_field_is_restored_without_script(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/custom-fields", body=[CONTACT, NOTICE])
    page = await client.get(
        "/console/settings/custom-fields", params={"deleted": "1"}, headers=gateway_headers(ALICE)
    )
    action = "/console/settings/custom-fields/notice_period/restore?deleted=1"
    assert posts_without_script(page.text, action)

    api.answer("POST", "/api/v1/custom-fields/notice_period/restore", body=NOTICE)
    restored = await client.post(action, headers=gateway_headers(ALICE))
    # Back to the list as it was: deleted fields shown.
    assert (restored.status_code, restored.headers["location"]) == (
        303,
        "/console/settings/custom-fields?deleted=1",
    )
    assert len(sent(api, "POST", "/api/v1/custom-fields/notice_period/restore")) == 1

    api.answer("POST", "/api/v1/custom-fields/notice_period/restore", 409, conflict("in use"))
    refused = await client.post(action, headers=gateway_headers(ALICE))
    assert_refused_page(refused, 409, "in use", "/console/settings/custom-fields?deleted=1")
