"""Schemathesis over every operation of the gateway's combined OpenAPI document.

Against the real stack (all six services, Kafka, SecantusDB), as a recruiter and as an admin:
no response may be a 5xx, have a status or content type the document does not list for its
operation, or a body its schema does not allow. In CI the run is small and reproducible (a
fixed seed, a few examples per operation); `make fuzz-api` runs the same test long (see
docs/security.md), with `CRM_FUZZ_MAX_EXAMPLES`, `CRM_FUZZ_PHASES` and `CRM_FUZZ_REPORT_DIR`.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers import eventually
from integration.flow.conftest import ACME_ADMIN_TOKEN, ACME_TOKEN, Stack

pytestmark = pytest.mark.integration

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
MAX_EXAMPLES = int(os.environ.get("CRM_FUZZ_MAX_EXAMPLES", "3"))
PHASES = os.environ.get("CRM_FUZZ_PHASES", "examples,fuzzing")
SEED = int(os.environ.get("CRM_FUZZ_SEED", "20261202"))
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
# The six services share this test process's event loop and CI's two CPUs with the linters and
# benchmarks: a case arriving while the loop is busy elsewhere may wait past the gateway's 10 s
# for its service (seen: `GET /ats/connections`, a 504 in one CI run). The run looks for
# crashes and answers the document does not allow, so the gateway waits as long as a case may
# (Schemathesis' `--request-timeout` 30 s) less a margin.
GATEWAY_SETTINGS = {"upstream_timeout_seconds": 25.0}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
# One operation of each service: the gateway leaves out of its document a service whose own
# document it could not fetch in time (a loaded machine), and caches only a complete one.
EVERY_SERVICE = (
    "/api/v1/candidates",
    "/api/v1/templates",
    "/api/v1/events",
    "/api/v1/ats/connections",
    "/api/v1/analytics/summary",
)


async def _complete_document(stack: Stack) -> dict[str, Any]:
    document: dict[str, Any] = {}

    async def complete() -> bool:
        document.update((await stack.gateway.get("/openapi.json")).json())
        return all(path in document["paths"] for path in EVERY_SERVICE)

    await eventually(complete, timeout=60, interval=1, message="the document lacks a service")
    return document


async def _run_schemathesis(stack: Stack, token: str, report_dir: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{stack.gateway_url}/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--phases",
        PHASES,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        # One request at a time: the stack shares the event loop with the test.
        "--workers",
        "1",
        "--continue-on-failure",
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--no-color",
        "--header",
        f"Authorization: Bearer {token}",
        "--report",
        "junit",
        "--report-dir",
        str(report_dir),
        env={**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS)},
        # Schemathesis keeps a cache of past crashes in its working directory; in the report
        # directory it neither litters the checkout nor makes one run depend on another.
        cwd=report_dir,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    text = output.decode(errors="replace")
    (report_dir / "output.txt").write_text(text)
    assert process.returncode is not None
    return process.returncode, text


@pytest.mark.parametrize("token", [ACME_TOKEN, ACME_ADMIN_TOKEN], ids=["recruiter", "admin"])
async def test_every_gateway_operation_answers_as_documented(
    stack: Stack, token: str, tmp_path: Path
) -> None:
    # Fetched complete, it is the gateway's cached document that Schemathesis then reads.
    document = await _complete_document(stack)
    operations = sum(
        1 for item in document["paths"].values() for method in item if method in HTTP_METHODS
    )
    role = "admin" if token == ACME_ADMIN_TOKEN else "recruiter"
    configured = os.environ.get("CRM_FUZZ_REPORT_DIR")
    report_dir = Path(configured) / role if configured else tmp_path
    report_dir.mkdir(parents=True, exist_ok=True)

    returncode, output = await _run_schemathesis(stack, token, report_dir)

    # Every operation was exercised, none skipped: a run that tested nothing must not pass.
    tested = re.search(r"Tested: (\d+)", output)
    assert tested is not None, output[-5000:]
    assert int(tested.group(1)) == operations, output[-5000:]
    assert returncode == 0, output[-20000:]
