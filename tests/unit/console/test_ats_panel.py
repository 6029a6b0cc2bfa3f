"""The profile's ATS panel: where the candidate was sent, with the ATS's ids, and the "Send to
ATS" form for those who may push, whose refusals show at their field."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from crm_shared import Principal
from unit.console.test_candidates import answer_profile, candidate
from unit.console.test_pages import (
    RITA,
    Api,
    console,
    gateway_headers,
    htmx_headers,
    with_lazy_parts,
)

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
    page = await with_lazy_parts(client, "/console/candidates/c1")
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
    page = await with_lazy_parts(client, "/console/candidates/c1", VIEWER)
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


def application(ats_application_id: str, **fields: object) -> dict[str, object]:
    return {
        "id": f"a-{ats_application_id}",
        "connection_id": "k2",
        "provider": "lever",
        "ats_application_id": ats_application_id,
        "ats_candidate_id": "opp-1",
        "job_name": None,
        "ats_job_id": None,
        "prospect": False,
        "stage": "Screen",
        "status": "active",
        "applied_at": "2026-11-20T00:00:00+00:00",
        **fields,
    }


async def test_an_application_names_its_job_and_says_job_id_when_nobody_named_it(
    console: Console,
) -> None:
    client, api = console
    applications = [
        application("app-1", job_name="Staff Engineer", ats_job_id="post-1"),
        # Lever's webhook names the posting by id: the job list knows it (closed by now).
        application("app-2", ats_job_id="post-2"),
        application("app-3", ats_job_id="post-3"),
        application("app-4", prospect=True),
        application(
            "app-5", job_name="SRE", status="rejected", rejection_reason="Hired someone else"
        ),
    ]
    pushed = {**LINK, "connection_id": "k2", "provider": "lever", "ats_job_id": "post-2"}
    answer_profile(
        api,
        **{
            "/api/v1/ats/applications": applications,
            "/api/v1/candidates/c1": candidate(ats_links=[pushed]),
        },
    )
    api.answer(
        "GET",
        "/api/v1/ats/jobs",
        200,
        [
            {
                **JOBS[0],
                "connection_id": "k2",
                "ats_job_id": "post-2",
                "name": "Data Engineer",
                "provider": "lever",
                "status": "closed",
            }
        ],
    )
    page = await with_lazy_parts(client, "/console/candidates/c1", VIEWER)
    assert page.status_code == 200, page.text
    [table] = re.findall(r'data-testid="applications">.*?</table>', page.text, re.S)
    jobs = [
        " ".join(re.sub(r"<[^>]+>", " ", cell).split())
        for cell in re.findall(r"<tr><td>(.*?)</td>", table, re.S)
    ]
    assert jobs == [
        "Staff Engineer (lever · job post-1)",
        "Data Engineer (lever · job post-2)",
        "Job post-3 (lever)",
        "No job: a prospect (lever)",
        "SRE (lever)",
    ]
    # A rejection says why: what a recruiter reads before calling a silver medallist.
    assert 'rejected <span class="muted">(Hired someone else)</span>' in table
    # Neither the application's own id nor a bare job id stands for the job.
    assert "app-3" not in table
    [links] = re.findall(r'data-testid="ats-links">.*?</table>', page.text, re.S)
    assert "Data Engineer" in links
    # The job list is read once, whatever its status, as a job was named by id alone.
    [listed] = [c for c in api.calls if c.url.path == "/api/v1/ats/jobs"]
    assert "status" not in listed.url.params


async def test_applications_with_named_jobs_cost_no_job_list(console: Console) -> None:
    client, api = console
    answer_profile(
        api,
        **{"/api/v1/ats/applications": [application("app-1", job_name="SRE", ats_job_id="9")]},
    )
    page = await with_lazy_parts(client, "/console/candidates/c1", VIEWER)
    assert "SRE" in page.text
    assert not [c for c in api.calls if c.url.path == "/api/v1/ats/jobs"]


async def test_an_unknown_candidates_panel_says_so_in_place_like_the_others(
    console: Console,
) -> None:
    """A candidate the API does not know (a stale link, a typed id): the ATS panel says so
    inside it, as every other panel does, not a 500 for the recruiter (who is offered the
    form, so the panel also reads the connections and open jobs)."""
    client, api = console
    unknown = "000000000000000000000000"
    api.answer(
        "GET",
        f"/api/v1/candidates/{unknown}",
        404,
        {"type": "about:blank", "title": "Not Found", "status": 404,
         "detail": f"no candidate {unknown}"},
    )  # fmt: skip
    api.answer("GET", "/api/v1/ats/applications", 200, [])
    api.answer("GET", "/api/v1/ats/connections", 200, CONNECTIONS)
    api.answer("GET", "/api/v1/ats/jobs", 200, JOBS)
    # As htmx loads it into the profile, and as a page of its own (the `<noscript>` link).
    for headers in (htmx_headers(), gateway_headers(RITA)):
        answer = await client.get(f"/console/candidates/{unknown}/panels/ats", headers=headers)
        assert answer.status_code == 200, answer.text
        assert f"Not available: no candidate {unknown}" in answer.text
        assert "ats-pushes" not in answer.text


async def test_the_panel_as_a_page_of_its_own_lists_the_applications(console: Console) -> None:
    client, api = console
    answer_ats(api)
    api.answer_with(
        "/api/v1/ats/applications",
        {"candidate_id": "c1"},
        [{"provider": "greenhouse", "connection_id": "k1", "ats_application_id": "2000042",
          "ats_job_id": "77", "job_name": "Data Engineer", "stage": "Offer",
          "status": "active", "applied_at": "2026-11-01T09:00:00+00:00"}],
    )  # fmt: skip
    answer = await client.get("/console/candidates/c1/panels/ats", headers=gateway_headers(RITA))
    assert answer.status_code == 200, answer.text
    assert "<html" in answer.text.lower()
    assert 'data-testid="applications"' in answer.text
    assert "Data Engineer" in answer.text
