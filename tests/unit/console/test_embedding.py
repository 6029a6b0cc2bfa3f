"""An event's registration form embedded in a careers site: the framed page and its headers,
the snippet on the event page, the careers site's script and the settings naming the sites."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from crm_console.domain.embedding import (
    EMBED_HEIGHT_MESSAGE,
    embed_frame_code,
    embed_script_code,
    embedding_form,
    origin_errors,
)
from unit.console.test_events import (
    ALICE,
    EVENT,
    HTMX,
    PUBLIC_EVENT,
    REGISTRATIONS,
    VIC,
    Console,
)
from unit.console.test_pages import gateway_headers

pytestmark = pytest.mark.unit

CAREERS = "https://careers.example.com"
REGISTERED = {
    "id": "c0ffee123456",
    "event_id": "ev1",
    "code": "K7QX2MPA",
    "status": "registered",
    "registered_at": "x",
}


def frame_ancestors(response: httpx.Response) -> str:
    [directive] = [
        part.strip()
        for part in response.headers["content-security-policy"].split(";")
        if part.strip().startswith("frame-ancestors")
    ]
    return directive


async def test_the_embed_page_may_be_framed_by_the_tenants_sites_alone(console: Console) -> None:
    client, api = console
    api.answer("GET", "/public/v1/events/ev1", body=PUBLIC_EVENT | {"embedding_origins": [CAREERS]})
    page = await client.get("/console/public/events/ev1/embed")
    assert page.status_code == 200
    assert frame_ancestors(page) == f"frame-ancestors {CAREERS}"
    assert "x-frame-options" not in page.headers
    # The rest of the console's policy holds in the frame.
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "form-action 'self'" in page.headers["content-security-policy"]
    # The form without the console's header, posting back to the embed route.
    assert 'class="top-bar"' not in page.text
    assert "Backend meetup" in page.text
    assert 'hx-post="/console/public/events/ev1/embed"' in page.text
    assert 'action="/console/public/events/ev1/embed"' in page.text
    assert 'name="website"' in page.text  # the honeypot
    assert "/console/static/embed-frame.js" in page.text

    # The hosted page and every other page still refuse any frame.
    hosted = await client.get("/console/public/events/ev1")
    assert frame_ancestors(hosted) == "frame-ancestors 'none'"
    assert hosted.headers["x-frame-options"] == "DENY"
    assert 'action="/console/public/events/ev1"' in hosted.text


async def test_without_sites_or_with_a_bad_one_the_embed_page_refuses_framing(
    console: Console,
) -> None:
    client, api = console
    api.answer("GET", "/public/v1/events/ev1", body=PUBLIC_EVENT)
    page = await client.get("/console/public/events/ev1/embed")
    assert frame_ancestors(page) == "frame-ancestors 'none'"
    assert page.headers["x-frame-options"] == "DENY"
    # A stored value that is not a site origin never reaches the header.
    api.answer(
        "GET",
        "/public/v1/events/ev1",
        body=PUBLIC_EVENT | {"embedding_origins": ["https://x.example.com; script-src *"]},
    )
    page = await client.get("/console/public/events/ev1/embed")
    assert frame_ancestors(page) == "frame-ancestors 'none'"


async def test_the_framed_form_registers_without_cookie_or_csrf_token(console: Console) -> None:
    client, api = console
    api.answer("GET", "/public/v1/events/ev1", body=PUBLIC_EVENT | {"embedding_origins": [CAREERS]})
    api.answer("POST", "/public/v1/events/ev1/registrations", 201, REGISTERED)
    person = {"first_name": "Zoë", "last_name": "Å", "email": "zoe@example.org"}
    done = await client.post(
        "/console/public/events/ev1/embed",
        data=person,
        headers={**HTMX, "x-forwarded-for": "203.0.113.9"},
    )
    assert done.status_code == 200
    assert 'data-testid="registration-code">K7QX2MPA<' in done.text
    [sent] = api.calls
    assert "cookie" not in sent.headers
    assert "x-csrf-token" not in sent.headers
    assert sent.headers["x-forwarded-for"] == "203.0.113.9"
    assert json.loads(sent.content) == person | {"answers": {}}

    # Sent without script: a whole page, still framed by the tenant's sites alone.
    page = await client.post("/console/public/events/ev1/embed", data=person)
    assert page.status_code == 200
    assert 'data-testid="registration-code">K7QX2MPA<' in page.text
    assert 'class="top-bar"' not in page.text
    assert frame_ancestors(page) == f"frame-ancestors {CAREERS}"


async def test_a_framed_registration_refused_shows_why_by_the_field_in_the_frame(
    console: Console,
) -> None:
    client, api = console
    api.answer("GET", "/public/v1/events/ev1", body=PUBLIC_EVENT | {"embedding_origins": [CAREERS]})
    api.answer(
        "POST",
        "/public/v1/events/ev1/registrations",
        422,
        {
            "title": "Request validation failed",
            "status": 422,
            "detail": "invalid request: email",
            "errors": [{"field": "body.email", "detail": "not an e-mail address"}],
        },
    )
    answer = await client.post(
        "/console/public/events/ev1/embed",
        data={"first_name": "A", "last_name": "B", "email": "nope"},
    )
    assert answer.status_code == 422
    assert 'id="e-email">Enter an e-mail address (name@example.org).<' in answer.text
    assert 'class="top-bar"' not in answer.text
    assert frame_ancestors(answer) == f"frame-ancestors {CAREERS}"


async def test_the_careers_sites_script_is_served_to_anyone(console: Console) -> None:
    client, _ = console
    script = await client.get("/console/public/embed.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    # What the frame sends and the script takes are the same message.
    assert f'"{EMBED_HEIGHT_MESSAGE}"' in script.text
    assert "event.origin !== embedded.origin" in script.text
    assert "event.source !== embedded.frame.contentWindow" in script.text
    frame_script = await client.get("/console/static/embed-frame.js")
    assert f'"{EMBED_HEIGHT_MESSAGE}"' in frame_script.text


async def test_the_event_page_offers_the_snippet_and_says_where_it_may_show(
    console: Console,
) -> None:
    client, api = console
    api.answer("GET", "/api/v1/events/ev1", body=EVENT)
    api.answer_pages("/api/v1/events/ev1/registrations", REGISTRATIONS)
    api.answer("GET", "/api/v1/settings/event-embedding", body={"site_origins": []})
    page = await client.get("/console/events/ev1", headers=gateway_headers(VIC))
    assert "Embed on your site" in page.text
    assert (
        "&lt;script src=&#34;/console/public/embed.js&#34; data-event=&#34;ev1&#34; async&gt;"
        in page.text
    )
    assert "No site may show this form yet" in page.text
    assert "/console/public/events/ev1/embed" in page.text

    api.answer("GET", "/api/v1/settings/event-embedding", body={"site_origins": [CAREERS]})
    page = await client.get("/console/events/ev1", headers=gateway_headers(VIC))
    assert f"Allowed on {CAREERS}" in page.text
    assert "No site may show" not in page.text


def test_the_snippets_name_the_event_and_escape_its_name() -> None:
    assert embed_script_code("ev1") == (
        '<script src="/console/public/embed.js" data-event="ev1" async></script>'
    )
    frame = embed_frame_code("ev1", 'Fika & "code" <night>')
    assert 'src="/console/public/events/ev1/embed"' in frame
    assert 'title="Register: Fika &amp; &quot;code&quot; &lt;night>"' in frame


async def test_an_admin_names_the_sites_and_sees_each_refusal_by_what_was_typed(
    console: Console,
) -> None:
    client, api = console
    api.answer("GET", "/api/v1/settings/event-embedding", body={"site_origins": [CAREERS]})
    page = await client.get("/console/settings/embedding", headers=gateway_headers(ALICE))
    assert page.status_code == 200
    assert re.search(r"<textarea[^>]*name=\"site_origins\"[^>]*>" + re.escape(CAREERS), page.text)
    assert "Save sites" in page.text
    viewer_page = await client.get("/console/settings/embedding", headers=gateway_headers(VIC))
    assert "Save sites" not in viewer_page.text

    api.answer(
        "PUT",
        "/api/v1/settings/event-embedding",
        422,
        {
            "title": "Request validation failed",
            "status": 422,
            "detail": "invalid request: site_origins.1",
            "errors": [
                {
                    "field": "site_origins.1",
                    "detail": "Value error, 'https://jobs.example.com/x' has a path",
                }
            ],
        },
    )
    refused = await client.post(
        "/console/settings/embedding",
        data={"site_origins": f"{CAREERS}\n\n  https://jobs.example.com/x \n"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert refused.status_code == 422
    assert "https://jobs.example.com/x: &#39;https://jobs.example.com/x&#39; has a path" in (
        refused.text
    )
    assert json.loads(api.calls[-1].content) == {
        "site_origins": [CAREERS, "https://jobs.example.com/x"]
    }

    api.answer("PUT", "/api/v1/settings/event-embedding", body={"site_origins": [CAREERS]})
    saved = await client.post(
        "/console/settings/embedding",
        data={"site_origins": CAREERS},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert saved.status_code == 200
    assert "these sites may show the forms" in saved.text


def test_the_settings_form_reads_one_site_a_line() -> None:
    form = embedding_form({"site_origins": " https://a.example.com \r\n\r\nhttps://b.example\n"})
    assert form.origins == ["https://a.example.com", "https://b.example"]
    assert origin_errors(form, {"site_origins.1": "Value error, bad"}) == ["https://b.example: bad"]
    assert origin_errors(form, {"site_origins": "at most 20"}) == ["at most 20"]
