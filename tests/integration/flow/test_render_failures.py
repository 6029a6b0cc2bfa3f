"""Mail that cannot be rendered, through the gateway on the real broker, database and SMTP sink:
optional fields behave as users expect, preview says what a send would, and a message that
cannot be rendered fails visibly (on the message, the enrolment, the sequence's states and the
broadcast's progress) while everyone else's mail goes out."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from conftest import SmtpSink

from helpers import eventually, unique
from integration.flow.conftest import ACME_TOKEN, Stack
from integration.flow.sequencing import (
    create_candidate,
    create_sequence,
    create_template,
    enrol,
    enrolment_of,
    mails_to,
)

pytestmark = pytest.mark.integration

# The demo's own template, which used to stall every enrolment of a candidate without a company.
DEMO_GREETING = (
    "<p>Hi {{ candidate.first_name | default('there') }},"
    "{% if candidate.current_company %} we loved your work at "
    "{{ candidate.current_company }}.{% endif %} From {{ sender.name }}</p>"
)
# `+` on a field without a value cannot be rendered: the mail of such a candidate fails.
COMPANY_TEAM = "<p>Hello</p>\n<p>Greetings to the {{ candidate.current_company + ' team' }}</p>"


def body_text(mail: Any) -> str:
    """The HTML part of a received mail, decoded."""
    part = mail.parsed().get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


async def template_of(stack: Stack, html: str) -> str:
    response = await stack.gateway.post(
        "/api/v1/templates",
        headers=stack.as_(ACME_TOKEN),
        json={"name": unique("template"), "subject": "Hi", "html": html, "text": "Hi"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def preview(stack: Stack, template_id: str, candidate_id: str) -> httpx.Response:
    return await stack.gateway.post(
        f"/api/v1/templates/{template_id}/preview",
        headers=stack.as_(ACME_TOKEN),
        json={"candidate_id": candidate_id},
    )


async def people(stack: Stack) -> tuple[tuple[str, str], tuple[str, str]]:
    """Two consenting candidates known to campaigns: one with a company, one without."""
    known = await create_template(stack, ACME_TOKEN)
    employed = await create_candidate(stack, ACME_TOKEN, known, current_company="Société Générale")
    between_jobs = await create_candidate(stack, ACME_TOKEN, known, first_name="Zoë")
    return employed, between_jobs


async def test_optional_fields_render_empty_and_preview_matches_the_send(
    stack: Stack, smtp_sink: SmtpSink
) -> None:
    (employed_id, _), (between_id, between_email) = await people(stack)
    greeting = await template_of(stack, DEMO_GREETING)

    for candidate_id in (employed_id, between_id):
        response = await preview(stack, greeting, candidate_id)
        assert response.status_code == 200, response.text
    employed_html = (await preview(stack, greeting, employed_id)).json()["html"]
    assert "we loved your work at Société Générale." in employed_html
    shown = (await preview(stack, greeting, between_id)).json()
    assert "<p>Hi Zoë, From Talent Team</p>" in shown["html"]
    assert "Unsubscribe" in shown["html"]  # the footer a send adds

    sequence = await create_sequence(
        stack,
        ACME_TOKEN,
        trigger={"type": "manual"},
        steps=[{"type": "send", "template_id": greeting}],
    )
    await enrol(stack, ACME_TOKEN, sequence["id"], between_id)
    [mail] = await mails_to(smtp_sink, between_email, 1)
    assert "Hi Zoë, From Talent Team" in body_text(mail)
    await enrolment_of(
        stack,
        ACME_TOKEN,
        sequence["id"],
        between_id,
        lambda e: e["status"] == "completed",
        "the enrolment of a candidate without a company did not complete",
    )


async def test_a_mail_that_cannot_be_rendered_fails_its_enrolment_visibly(
    stack: Stack, smtp_sink: SmtpSink
) -> None:
    (employed_id, employed_email), (between_id, _) = await people(stack)
    team = await template_of(stack, COMPANY_TEAM)

    refused = await preview(stack, team, between_id)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert "html, line 2 (candidate.current_company)" in refused.json()["detail"]
    assert refused.json()["errors"][0]["field"] == "html"

    sequence = await create_sequence(
        stack,
        ACME_TOKEN,
        trigger={"type": "manual"},
        steps=[
            {"type": "send", "template_id": team},
            {"type": "wait", "days": 1},
        ],
    )
    await enrol(stack, ACME_TOKEN, sequence["id"], employed_id, between_id)
    [mail] = await mails_to(smtp_sink, employed_email, 1)
    assert "Greetings to the Société Générale team" in body_text(mail)

    failed = await enrolment_of(
        stack,
        ACME_TOKEN,
        sequence["id"],
        between_id,
        lambda e: e["status"] == "failed",
        "the enrolment whose mail cannot be rendered did not fail",
    )
    assert failed["state"] == "failed"
    assert failed["step_index"] == 0
    assert failed["failure_reason"].startswith("step 0 (send): template ")
    assert "candidate.current_company" in failed["failure_reason"]
    waiting = await enrolment_of(
        stack,
        ACME_TOKEN,
        sequence["id"],
        employed_id,
        lambda e: e["state"] == "waiting",
        "the other enrolment did not move on to its wait",
    )
    assert waiting["status"] == "active"

    states = await stack.gateway.get(
        f"/api/v1/sequences/{sequence['id']}/enrolment-states", headers=stack.as_(ACME_TOKEN)
    )
    assert states.status_code == 200, states.text
    assert states.json()["states"] == {
        "active": 0,
        "waiting": 1,
        "paused": 0,
        "failed": 1,
        "completed": 0,
        "exited": 0,
    }
    assert states.json()["failure_reasons"] == {failed["failure_reason"]: 1}
    only_failed = await stack.gateway.get(
        f"/api/v1/sequences/{sequence['id']}/enrolments?state=failed",
        headers=stack.as_(ACME_TOKEN),
    )
    assert [e["candidate_id"] for e in only_failed.json()["items"]] == [between_id]

    messages = await failed_messages(stack, between_id)
    assert [m["failure_reason"] for m in messages] == ["render_failed"]
    assert "candidate.current_company" in messages[0]["last_error"]

    # A retry runs the step again: still unrenderable, so it fails again with a message of its
    # own; an enrolment that is not failed cannot be retried.
    retried = await stack.gateway.post(
        f"/api/v1/sequences/{sequence['id']}/enrolments/{between_id}/retry",
        headers=stack.as_(ACME_TOKEN),
    )
    assert retried.status_code == 200, retried.text

    async def failed_twice() -> bool:
        return len(await failed_messages(stack, between_id)) == 2

    await eventually(failed_twice, message="the retried step did not run")
    not_failed = await stack.gateway.post(
        f"/api/v1/sequences/{sequence['id']}/enrolments/{employed_id}/retry",
        headers=stack.as_(ACME_TOKEN),
    )
    assert not_failed.status_code == 409, not_failed.text


async def failed_messages(stack: Stack, candidate_id: str) -> list[dict[str, Any]]:
    page = await stack.gateway.get("/api/v1/messages?limit=200", headers=stack.as_(ACME_TOKEN))
    assert page.status_code == 200, page.text
    return [
        m
        for m in page.json()["items"]
        if m["candidate_id"] == candidate_id and m["status"] == "failed"
    ]


async def test_a_broadcast_sends_to_everyone_it_can_and_counts_the_rest_as_failed(
    stack: Stack, smtp_sink: SmtpSink
) -> None:
    (employed_id, employed_email), (between_id, _) = await people(stack)
    team = await template_of(stack, COMPANY_TEAM)
    headers = stack.as_(ACME_TOKEN)
    created = await stack.gateway.post(
        "/api/v1/broadcasts",
        headers=headers,
        json={
            "name": unique("broadcast"),
            "template_id": team,
            "audience": {"type": "list", "candidate_ids": [between_id, employed_id]},
        },
    )
    assert created.status_code == 201, created.text
    broadcast_id = created.json()["id"]
    sent = await stack.gateway.post(f"/api/v1/broadcasts/{broadcast_id}/send", headers=headers)
    assert sent.status_code == 202, sent.text

    [mail] = await mails_to(smtp_sink, employed_email, 1)
    assert "Société Générale team" in body_text(mail)
    latest: dict[str, Any] = {}

    async def completed() -> bool:
        nonlocal latest
        latest = (
            await stack.gateway.get(f"/api/v1/broadcasts/{broadcast_id}", headers=headers)
        ).json()
        return bool(latest["status"] == "completed")

    await eventually(completed, message="the broadcast did not complete")
    progress = latest["progress"]
    assert progress["audience_size"] == 2
    assert (progress["sent"], progress["failed"]) == (1, 1)
    assert progress["failed_reasons"] == {"render_failed": 1}
    [failure] = await failed_messages(stack, between_id)
    assert failure["broadcast_id"] == broadcast_id
    # The broadcast's failures, as its page lists them: through the gateway, by filter.
    listed = await stack.gateway.get(
        f"/api/v1/messages?broadcast_id={broadcast_id}&status=failed", headers=headers
    )
    assert listed.status_code == 200, listed.text
    assert [(m["id"], m["candidate_id"]) for m in listed.json()["items"]] == [
        (failure["id"], between_id)
    ]


async def test_an_editor_previews_a_draft_and_learns_the_line_of_each_problem(
    stack: Stack,
) -> None:
    (_, _), (between_id, _) = await people(stack)
    draft = {
        "candidate_id": between_id,
        "subject": "Hi {{ candidate.first_name }}",
        "html": "<p>Hello</p>\n<p>{{ candidate.first_name | upper }}</p>",
        "text": "Hello",
    }
    shown = await stack.gateway.post(
        "/api/v1/templates/preview", headers=stack.as_(ACME_TOKEN), json=draft
    )
    assert shown.status_code == 200, shown.text
    assert shown.json()["subject"] == "Hi Zoë"
    assert "<p>ZOË</p>" in shown.json()["html"]

    broken = {**draft, "html": "<p>Hello</p>\n<p>{{ candidate.salary }}</p>\n{% if %}"}
    refused = await stack.gateway.post(
        "/api/v1/templates/preview", headers=stack.as_(ACME_TOKEN), json=broken
    )
    assert refused.status_code == 422, refused.text
    [error] = refused.json()["errors"]
    assert (error["field"], error["line"]) == ("html", 3)  # the syntax error comes first
    unknown = {**draft, "html": "<p>Hello</p>\n<p>{{ candidate.salary }}</p>"}
    refused = await stack.gateway.post(
        "/api/v1/templates/preview", headers=stack.as_(ACME_TOKEN), json=unknown
    )
    assert refused.json()["errors"] == [
        {
            "field": "html",
            "pointer": "#/html",
            "source": "body",
            "detail": "unknown merge field candidate.salary",
            "line": 2,
        }
    ]
    unrenderable = {**draft, "html": COMPANY_TEAM}
    refused = await stack.gateway.post(
        "/api/v1/templates/preview", headers=stack.as_(ACME_TOKEN), json=unrenderable
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["line"] == 2

    catalogue = await stack.gateway.get(
        "/api/v1/templates/merge-fields", headers=stack.as_(ACME_TOKEN)
    )
    assert catalogue.status_code == 200, catalogue.text
    names = [field["name"] for field in catalogue.json()["fields"]]
    assert names[0] == "candidate.first_name"
    assert "unsubscribe_url" in names
    assert "default" in catalogue.json()["filters"]
