"""The profile's ATS panel: where the candidate was sent, with the ATS's ids, and the "Send to
ATS" form for those who may push, whose refusals show at their field."""

from __future__ import annotations

import json

import httpx
import pytest

from crm_shared import Principal
from unit.console.test_candidates import answer_profile, candidate
from unit.console.test_pages import Api, console, gateway_headers, htmx_headers

pytestmark = pytest.mark.unit

__all__ = ["console"]

Console = tuple[httpx.AsyncClient, Api]
VIEWER = Principal(tenant_id="acme", user_id="vic", roles=frozenset({"viewer"}))
LINK = {
    "provider": "greenhouse",
    "connection_id": "k1",
    "candidate_id": "c1",
    "ats_candidate_id": "1000042",
    "ats_application_id": "2000042",
    "ats_job_id": None,
    "linked_at": "2026-12-04T09:00:00+00:00",
}
CONNECTIONS = [{"id": "k1", "name": "Acme Greenhouse", "provider": "greenhouse"}]
JOBS = [{"id": "j", "connection_id": "k1", "ats_job_id": "77", "name": "Data Engineer",
         "provider": "greenhouse", "status": "open"}]  # fmt: skip


def answer_ats(api: Api) -> None:
    answer_profile(api, **{"/api/v1/candidates/c1": candidate(ats_links=[LINK])})
    api.answer("GET", "/api/v1/ats/connections", 200, CONNECTIONS)
    api.answer("GET", "/api/v1/ats/jobs", 200, JOBS)


async def test_the_panel_lists_the_ats_ids_and_offers_the_form(console: Console) -> None:
    client, api = console
    answer_ats(api)
    page = await client.get("/console/candidates/c1", headers=gateway_headers())
    assert page.status_code == 200, page.text
    assert 'data-testid="ats-links"' in page.text
    assert "1000042" in page.text
    assert "2000042" in page.text
    assert 'hx-post="/console/candidates/c1/ats-pushes"' in page.text
    assert '<option value="k1">Acme Greenhouse (greenhouse)</option>' in page.text
    assert '<option value="77">Data Engineer (greenhouse)</option>' in page.text


async def test_a_reader_sees_the_ids_but_no_form_and_costs_no_extra_calls(
    console: Console,
) -> None:
    client, api = console
    answer_ats(api)
    page = await client.get("/console/candidates/c1", headers=gateway_headers(VIEWER))
    assert page.status_code == 200, page.text
    assert "1000042" in page.text
    assert "ats-pushes" not in page.text
    assert not [c for c in api.calls if c.url.path.startswith("/api/v1/ats/connections")]


async def test_sending_posts_the_push_and_shows_the_answer(console: Console) -> None:
    client, api = console
    answer_ats(api)
    api.answer(
        "POST",
        "/api/v1/ats/connections/k1/pushes",
        201,
        {"id": "p1", "state": "done", "ats_candidate_id": "1000042", "ats_application_id": None},
    )
    sent = await client.post(
        "/console/candidates/c1/ats-pushes",
        data={"connection_id": "k1", "ats_job_id": ""},
        headers=htmx_headers(),
    )
    assert sent.status_code == 200, sent.text
    assert 'data-testid="ats-pushed"' in sent.text
    assert "1000042" in sent.text
    [call] = [c for c in api.calls if c.method == "POST"]
    assert json.loads(call.content) == {"candidate_id": "c1"}


async def test_refusals_show_at_their_field(console: Console) -> None:
    client, api = console
    answer_ats(api)
    api.answer(
        "POST",
        "/api/v1/ats/connections/k1/pushes",
        409,
        {
            "status": 409,
            "type": "urn:problem:consent-required",
            "detail": "candidate c1 has no granted `data_processing` consent",
            "errors": [{"field": "candidate_id", "detail": "no granted consent"}],
        },
    )
    refused = await client.post(
        "/console/candidates/c1/ats-pushes",
        data={"connection_id": "k1", "ats_job_id": "77"},
        headers=htmx_headers(),
    )
    assert refused.status_code == 409
    assert 'id="e-ats-candidate" role="alert">no granted consent' in refused.text
    assert '<option value="77" selected>' in refused.text

    api.answer(
        "POST",
        "/api/v1/ats/connections/k1/pushes",
        422,
        {"status": 422, "errors": [{"field": "ats_job_id", "detail": "not an open job"}]},
    )
    refused = await client.post(
        "/console/candidates/c1/ats-pushes",
        data={"connection_id": "k1", "ats_job_id": "77"},
        headers=htmx_headers(),
    )
    assert refused.status_code == 422
    assert 'id="e-ats-ats_job_id">not an open job' in refused.text

    missing = await client.post(
        "/console/candidates/c1/ats-pushes", data={"ats_job_id": ""}, headers=htmx_headers()
    )
    assert missing.status_code == 422
    assert 'id="e-ats-connection_id">Choose the ATS' in missing.text
