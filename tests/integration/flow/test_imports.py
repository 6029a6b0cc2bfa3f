"""CSV imports through the gateway on the real broker and database: mapping, validation report,
dedupe within the file and against existing candidates, progress, resume, tenant isolation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from crm_candidates.domain.models import CandidateImport, ImportStatus
from crm_candidates.repository import IMPORTS_COLLECTION, ImportRepository
from crm_shared import utc_now
from helpers import eventually, read_events, unique
from integration.flow.conftest import ACME_TOKEN, GLOBEX_TOKEN, Stack

pytestmark = pytest.mark.integration

MAPPING = {
    "First": "first_name",
    "Last": "last_name",
    "E-mail": "emails",
    "Work e-mail": "emails",
    "Phone": "phones",
    "Skills": "skills",
    "Company": "current_company",
}


async def start_import(stack: Stack, token: str, **fields: Any) -> dict[str, Any]:
    response = await stack.gateway.post(
        "/api/v1/imports", json={"mapping": MAPPING} | fields, headers=stack.as_(token)
    )
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/api/v1/imports/{response.json()['id']}"
    job: dict[str, Any] = response.json()
    return job


async def upload(stack: Stack, token: str, import_id: str, text: str) -> Any:
    return await stack.gateway.put(
        f"/api/v1/imports/{import_id}/file",
        content=text.encode(),
        headers=stack.as_(token) | {"content-type": "text/csv"},
    )


async def finished(stack: Stack, token: str, import_id: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    async def done() -> bool:
        response = await stack.gateway.get(f"/api/v1/imports/{import_id}", headers=stack.as_(token))
        found.update(response.json())
        return found["status"] in ("completed", "failed")

    await eventually(done, timeout=60, message="the import did not finish")
    return found


async def test_import_maps_validates_dedupes_and_reports(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    auth = stack.as_(ACME_TOKEN)
    tag = unique("imp")
    known = await stack.gateway.post(
        "/api/v1/candidates",
        json={"first_name": "Known", "last_name": "Person", "emails": [f"{tag}-known@x.org"]},
        headers=auth,
    )
    assert known.status_code == 201
    segment = await stack.gateway.post(
        "/api/v1/segments",
        json={"name": tag, "rule": {"all": [{"field": "tags", "op": "equals", "value": tag}]}},
        headers=auth,
    )
    assert segment.status_code == 201, segment.text
    job = await start_import(stack, ACME_TOKEN, tags=[tag], source="referral")
    assert job["status"] == "awaiting_file"
    csv_text = (
        "\ufeffFirst,Last,E-mail,Work e-mail,Phone,Skills,Company,Ignored\r\n"
        f"Ada,Lovelace,{tag}-ada@x.org,,+44 20 7946 0001,python; Maths,Engines,x\r\n"
        f"ADA,Lovelace,{tag.upper()}-ADA@X.ORG,{tag}-ada@work.org,,,,\r\n"
        f"Known,Person,{tag}-known@x.org,{tag}-known@work.org,,,,\r\n"
        "Bad,Row,not-an-email,,,,,\r\n"
        f",Nameless,{tag}-nameless@x.org,,,,,\r\n"
        "\r\n"
        f'Grace,Hopper,{tag}-grace@x.org,,,"cobol, compilers","Navy\nResearch, ""Lab""",\r\n'
        f"Short,Phone,{tag}-short@x.org,,12,,,\r\n"
    )
    uploaded = await upload(stack, ACME_TOKEN, job["id"], csv_text)
    assert uploaded.status_code == 202, uploaded.text
    assert uploaded.json()["counts"]["rows_read"] == 7
    result = await finished(stack, ACME_TOKEN, job["id"])
    assert result["status"] == "completed", result
    assert result["counts"] == {
        "rows_read": 7,
        "rows_processed": 7,
        "created": 2,
        "merged": 2,
        "failed": 3,
    }
    assert result["chunks_done"] == result["chunks_total"] == 1

    imported = await stack.gateway.get(
        "/api/v1/candidates", params={"tag": tag, "sort": "name"}, headers=auth
    )
    people = {c["last_name"]: c for c in imported.json()["items"]}
    assert set(people) == {"Hopper", "Lovelace"}
    ada = people["Lovelace"]
    assert ada["emails"] == [f"{tag}-ada@x.org", f"{tag}-ada@work.org"]
    assert ada["phones"] == ["+442079460001"]
    assert ada["skills"] == ["python", "maths"]
    assert ada["source"] == "referral"
    # One record across two lines (a quoted line break), spacing normalised like any profile.
    assert people["Hopper"]["current_company"] == 'Navy Research, "Lab"'
    assert people["Hopper"]["skills"] == ["cobol", "compilers"]
    members = await stack.gateway.get(
        f"/api/v1/segments/{segment.json()['id']}/members", headers=auth
    )
    assert {m["id"] for m in members.json()["items"]} == {ada["id"], people["Hopper"]["id"]}
    again = await stack.gateway.get(f"/api/v1/candidates/{known.json()['id']}", headers=auth)
    assert again.json()["emails"] == [f"{tag}-known@x.org", f"{tag}-known@work.org"]
    assert tag not in again.json()["tags"]  # a known person only gains identifiers

    first_page = await stack.gateway.get(
        f"/api/v1/imports/{job['id']}/errors", params={"limit": 2}, headers=auth
    )
    assert first_page.status_code == 200
    second_page = await stack.gateway.get(
        f"/api/v1/imports/{job['id']}/errors",
        params={"limit": 2, "cursor": first_page.json()["next_cursor"]},
        headers=auth,
    )
    assert second_page.json()["next_cursor"] is None
    errors = first_page.json()["items"] + second_page.json()["items"]
    assert [(e["row"], e["field"], e["column"]) for e in errors] == [
        (4, "emails.0", "E-mail"),
        (5, "first_name", "First"),
        (7, "phones.0", "Phone"),
    ]
    assert all(error["message"] for error in errors)

    created = await read_events(
        kafka_bootstrap_servers,
        "candidate.created",
        where=lambda e: tag in e["data"]["tags"],
        count=2,
    )
    assert {e["subject"] for e in created} == {ada["id"], people["Hopper"]["id"]}
    [updated] = await read_events(
        kafka_bootstrap_servers,
        "candidate.updated",
        where=lambda e: e["subject"] == known.json()["id"],
        count=1,
    )
    assert f"{tag}-known@work.org" in updated["data"]["emails"]


async def test_imports_are_confined_to_their_tenant(stack: Stack) -> None:
    tag = unique("isolated")
    await stack.gateway.post(
        "/api/v1/candidates",
        json={"first_name": "Acme", "last_name": "Only", "emails": [f"{tag}@x.org"]},
        headers=stack.as_(ACME_TOKEN),
    )
    acme_job = await start_import(stack, ACME_TOKEN)
    assert (
        await stack.gateway.get(
            f"/api/v1/imports/{acme_job['id']}", headers=stack.as_(GLOBEX_TOKEN)
        )
    ).status_code == 404
    stolen = await upload(stack, GLOBEX_TOKEN, acme_job["id"], "First,Last,E-mail\n")
    assert stolen.status_code == 404

    # The same address in another tenant's file is a new person there, never Acme's record.
    globex_job = await start_import(stack, GLOBEX_TOKEN, tags=[tag])
    mapping_header = ",".join(MAPPING)
    text = f"{mapping_header}\nGlobex,Person,{tag}@x.org,,,,\n"
    assert (await upload(stack, GLOBEX_TOKEN, globex_job["id"], text)).status_code == 202
    result = await finished(stack, GLOBEX_TOKEN, globex_job["id"])
    assert result["counts"]["created"] == 1
    assert result["counts"]["merged"] == 0
    acme_view = await stack.gateway.get(
        "/api/v1/candidates", params={"q": "Globex"}, headers=stack.as_(ACME_TOKEN)
    )
    assert acme_view.json()["items"] == []


async def test_bad_imports_are_refused_with_the_reason(stack: Stack) -> None:
    auth = stack.as_(ACME_TOKEN)
    bad_mapping = await stack.gateway.post(
        "/api/v1/imports",
        json={"mapping": {"Name": "first_name", "Salary": "salary"}},
        headers=auth,
    )
    assert bad_mapping.status_code == 422
    assert bad_mapping.headers["content-type"] == "application/problem+json"
    fields = {error["field"] for error in bad_mapping.json()["errors"]}
    assert fields == {"mapping.Salary", "mapping"}

    job = await start_import(stack, ACME_TOKEN)
    not_csv = await stack.gateway.put(
        f"/api/v1/imports/{job['id']}/file", json={"rows": []}, headers=auth
    )
    assert not_csv.status_code == 415
    missing_column = await upload(stack, ACME_TOKEN, job["id"], "First,Last\nA,B\n")
    assert missing_column.status_code == 422
    assert "E-mail" in missing_column.json()["detail"]
    failed = await stack.gateway.get(f"/api/v1/imports/{job['id']}", headers=auth)
    assert failed.json()["status"] == "failed"
    twice = await upload(stack, ACME_TOKEN, job["id"], ",".join(MAPPING) + "\n")
    assert twice.status_code == 409

    unclosed = await start_import(stack, ACME_TOKEN)
    broken = await upload(
        stack, ACME_TOKEN, unclosed["id"], ",".join(MAPPING) + '\nA,"B,c@x.org,,,,\n'
    )
    assert broken.status_code == 422
    assert "never closed" in broken.json()["detail"]


async def test_an_interrupted_import_is_resumed_from_its_next_chunk(stack: Stack) -> None:
    """A process that died mid-import left it `running` with a lapsed lease: it is resumed."""
    tag = unique("resume")
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        stack.settings["candidates"].mongodb_uri
    )
    try:
        database = mongo[stack.candidates_database]
        imports = ImportRepository(database, stack.acme)
        job = CandidateImport(
            tenant_id=stack.acme,
            mapping=[("First", "first_name"), ("Last", "last_name"), ("E-mail", "emails")],
            tags=[tag],
            created_by="rita",
        )
        await imports.add(job)
        assert await imports.start_upload(job.id)
        for seq in range(3):
            rows = [[f"P{seq}{n}", tag, f"{tag}-{seq}-{n}@x.org"] for n in range(4)]
            await imports.add_chunk(job.id, seq, seq * 4 + 1, rows)
        await imports.finish_upload(job.id, 3)
        # The first chunk was done before the crash; the lease of the dead process lapsed.
        await database[IMPORTS_COLLECTION].update_one(
            {"_id": job.id},
            {
                "$set": {
                    "status": ImportStatus.RUNNING.value,
                    "next_chunk": 1,
                    "counts.rows_processed": 4,
                    "lease_owner": "a-dead-process",
                    "lease_until": utc_now() - timedelta(seconds=1),
                }
            },
        )
        await database["candidate_import_chunks"].delete_one({"import_id": job.id, "seq": 0})
        result = await finished(stack, ACME_TOKEN, job.id)
        assert result["status"] == "completed"
        assert result["counts"]["rows_processed"] == 12
        assert result["counts"]["created"] == 8
        listed = await stack.gateway.get(
            "/api/v1/candidates", params={"tag": tag, "limit": 50}, headers=stack.as_(ACME_TOKEN)
        )
        assert sorted(c["first_name"] for c in listed.json()["items"]) == [
            f"P{seq}{n}" for seq in (1, 2) for n in range(4)
        ]
    finally:
        await mongo.close()
