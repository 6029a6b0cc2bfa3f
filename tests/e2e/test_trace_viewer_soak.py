"""The local trace viewer under real use: the core journey and then a 10,000-row import, every
service a process of its own exporting every span to Zipkin, as `crm-stack up` runs them.

Zipkin once ran out of memory (256 MiB heap, unbounded in-memory storage) after a 1,000-row
import and a short journey, and the services logged hundreds of export timeouts. Afterwards it
must still answer, hold no more spans than its bound, and show the latest traces whole.

This is the `soak` tier (`make test-soak`): minutes long, so not part of `make test`.
"""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from typing import Any

import httpx
import pytest
from conftest import SmtpSink
from journey import JourneyActors, run_core_journey

from e2e.conftest import ProcessStack
from e2e.test_journey_processes import token_for, trace_services
from helpers import eventually

pytestmark = pytest.mark.soak

ROWS = 10_000
FIRST_NAMES = ["Zoë", "José", "Łukasz", "Anaïs", "Søren", "Ngozi", "Jürgen", "Aoife", "Chloé"]
LAST_NAMES = ["Müller", "Núñez", "Kowalczyk", "O'Brien", "Åberg", "Dubois", "Groß", "Okafor"]
SKILLS = ["Python", "Kafka", "Go", "SQL", "React", "Kubernetes", "Rust", "Java"]
MAPPING = {
    "First name": "first_name",
    "Last name": "last_name",
    "Email": "emails",
    "Skills": "skills",
    "Company": "current_company",
}
# The e2e stack's Zipkin: `crm_devstack.infra.Zipkin`'s default bound.
ZIPKIN_MAX_SPANS = 100_000


def export_like_excel(rows: int) -> bytes:
    """A semicolon-separated cp1252 export with a company missing on every third row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(MAPPING)
    for index in range(rows):
        first = FIRST_NAMES[index % len(FIRST_NAMES)]
        last = LAST_NAMES[index % len(LAST_NAMES)]
        writer.writerow(
            [
                first,
                last,
                f"soak.{index}@example.org",
                ", ".join({SKILLS[index % len(SKILLS)], SKILLS[(index * 7) % len(SKILLS)]}),
                "" if index % 3 == 0 else f"Firma {index % 50}",
            ]
        )
    return buffer.getvalue().encode("cp1252", errors="replace")


async def stored_spans(zipkin_url: str) -> int:
    end_ms = int(time.time() * 1000) + 60_000
    total = 0
    async with httpx.AsyncClient(timeout=60) as client:
        services = (await client.get(f"{zipkin_url}/api/v2/services")).json()
        for service in services:
            response = await client.get(
                f"{zipkin_url}/api/v2/traces",
                params={
                    "serviceName": service,
                    "endTs": end_ms,
                    "lookback": 24 * 3600 * 1000,
                    "limit": 1_000_000,
                },
            )
            assert response.status_code == 200, response.text
            traces: list[list[dict[str, Any]]] = json.loads(response.text)
            total += sum(len(trace) for trace in traces)
    return total


@pytest.mark.timeout(2400)
async def test_the_trace_viewer_answers_after_the_journey_and_a_10000_row_import(
    process_stack: ProcessStack, smtp_sink: SmtpSink
) -> None:
    # The journey first: it checks that the other tenant (globex) has no activity at all, and
    # the 10,000 rows go to globex. Its `candidate.created` would otherwise queue behind the
    # import's 10,000 in every consumer (issue 18), past the journey's 30 s per step.
    actors = JourneyActors(
        recruiter=token_for("acme", "recruiter"),
        marketer=token_for("acme", "marketer"),
        coordinator=token_for("acme", "coordinator"),
        admin=token_for("acme", "admin"),
        other_tenant=token_for("globex", "recruiter"),
        gateway_url=process_stack.gateway_url,
    )
    importer = token_for("globex", "recruiter")
    upload_trace = uuid.uuid4().hex

    async def traced(trace_id: str, expected: set[str]) -> bool:
        found, _ = await trace_services(process_stack.zipkin_url, trace_id)
        return found >= expected

    async with httpx.AsyncClient(base_url=process_stack.gateway_url, timeout=60) as gateway:
        result = await run_core_journey(gateway, actors, smtp_sink)
        # Checked now: past its bound the viewer drops the oldest traces, as it should.
        await eventually(
            lambda: traced(
                result.trace_ids["create_candidate"],
                {"gateway", "candidates", "campaigns", "analytics", "events", "ats-sync"},
            ),
            timeout=60,
            interval=1,
            message="the journey's trace is partial",
        )

        job = await gateway.post("/api/v1/imports", headers=importer, json={"mapping": MAPPING})
        assert job.status_code == 201, job.text
        url = f"/api/v1/imports/{job.json()['id']}"
        uploaded = await gateway.put(
            f"{url}/file",
            headers=importer
            | {
                "content-type": "text/csv",
                "traceparent": f"00-{upload_trace}-{uuid.uuid4().hex[:16]}-01",
            },
            content=export_like_excel(ROWS),
        )
        assert uploaded.status_code == 202, uploaded.text
        imported: dict[str, Any] = {}

        async def finished() -> bool:
            imported.update((await gateway.get(url, headers=importer)).json())
            return imported["status"] in ("completed", "failed")

        await eventually(finished, timeout=1800, interval=2, message="the import did not finish")
        assert imported["status"] == "completed", imported
        assert imported["counts"]["created"] == ROWS, imported["counts"]

    await eventually(
        lambda: traced(upload_trace, {"gateway", "candidates"}),
        timeout=60,
        interval=1,
        message="the upload's trace is partial",
    )
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.get(f"{process_stack.zipkin_url}/health")).status_code == 200
    assert 0 < await stored_spans(process_stack.zipkin_url) <= ZIPKIN_MAX_SPANS
