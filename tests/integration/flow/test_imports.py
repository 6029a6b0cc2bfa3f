"""CSV imports through the gateway on the real broker and database: mapping, validation report,
dedupe within the file and against existing candidates, progress, resume, tenant isolation."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pymongo import AsyncMongoClient

from crm_candidates.domain.models import CandidateImport, ImportStatus
from crm_candidates.repositories.collections import IMPORTS_COLLECTION
from crm_candidates.repositories.imports import ImportRepository
from crm_shared import LocalUploadStore, UploadMissingError, utc_now
from helpers import eventually, read_events, unique
from integration.flow.conftest import ACME_ADMIN_TOKEN, ACME_TOKEN, GLOBEX_TOKEN, Stack

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
    metrics_before = await import_metrics(stack)
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
        "created": 3,
        "merged": 2,
        "failed": 2,
        "with_warnings": 1,
    }
    assert result["started_at"] is not None
    assert result["started_at"] <= result["finished_at"]
    assert result["chunks_done"] == result["chunks_total"] == 1
    # The candidates service's /metrics counted the same rows, and the import's end.
    metrics_after = await import_metrics(stack)
    assert {name: metrics_after[name] - metrics_before.get(name, 0) for name in metrics_after} == {
        ("crm_import_rows_total", "created"): 3,
        ("crm_import_rows_total", "merged"): 2,
        ("crm_import_rows_total", "failed"): 2,
        ("crm_imports_finished_total", "completed"): 1,
        ("crm_imports_finished_total", "failed"): 0,
    }

    imported = await stack.gateway.get(
        "/api/v1/candidates", params={"tag": tag, "sort": "name"}, headers=auth
    )
    people = {c["last_name"]: c for c in imported.json()["items"]}
    assert set(people) == {"Hopper", "Lovelace", "Phone", "Person"}
    # Its only fault was an optional value: imported without it, with a warning.
    assert people["Phone"]["phones"] == []
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
    # The person on file that a row merged into is tagged like the new ones, so a segment on
    # the import's tag holds everyone on the list.
    assert {m["id"] for m in members.json()["items"]} == {
        ada["id"],
        people["Hopper"]["id"],
        people["Phone"]["id"],
        known.json()["id"],
    }
    again = await stack.gateway.get(f"/api/v1/candidates/{known.json()['id']}", headers=auth)
    assert again.json()["emails"] == [f"{tag}-known@x.org", f"{tag}-known@work.org"]
    assert again.json()["tags"] == [tag]
    # The record's other values are not the row's to overwrite.
    assert again.json()["first_name"] == "Known"
    # Which row merged into which record: Ada's second line into her first, Known into theirs.
    merged_page = await stack.gateway.get(
        f"/api/v1/imports/{job['id']}/merged-rows", params={"limit": 1}, headers=auth
    )
    assert merged_page.status_code == 200, merged_page.text
    rest = await stack.gateway.get(
        f"/api/v1/imports/{job['id']}/merged-rows",
        params={"cursor": merged_page.json()["next_cursor"]},
        headers=auth,
    )
    assert rest.json()["next_cursor"] is None
    assert merged_page.json()["items"] + rest.json()["items"] == [
        {"row": 2, "candidate_id": ada["id"], "first_name": "Ada", "last_name": "Lovelace"},
        {
            "row": 3,
            "candidate_id": known.json()["id"],
            "first_name": "Known",
            "last_name": "Person",
        },
    ]

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
    assert [(e["row"], e["field"], e["column"], e["severity"]) for e in errors] == [
        (4, "emails.0", "E-mail", "error"),
        (5, "first_name", "First", "error"),
        # Row 6 is blank: skipped, still counted (Grace's quoted line break is one row).
        (8, "phones.0", "Phone", "warning"),
    ]
    assert all(error["message"] for error in errors)
    # In words, not the model library's "Field required".
    assert errors[1]["message"] == "required, and the row has no value for it"
    # A warning names the record its row became; a refused row's error names none.
    assert [e["candidate_id"] for e in errors] == [None, None, people["Phone"]["id"]]

    created = await read_events(
        kafka_bootstrap_servers,
        "candidate.created",
        where=lambda e: tag in e["data"]["tags"],
        count=3,
    )
    assert {e["subject"] for e in created} == {
        ada["id"],
        people["Hopper"]["id"],
        people["Phone"]["id"],
    }
    [updated] = await read_events(
        kafka_bootstrap_servers,
        "candidate.updated",
        where=lambda e: e["subject"] == known.json()["id"],
        count=1,
    )
    assert f"{tag}-known@work.org" in updated["data"]["emails"]
    assert updated["data"]["tags"] == [tag]

    # Erasing a person takes their rows' warnings (which may quote their values) from the report.
    erased = await stack.gateway.post(
        f"/api/v1/candidates/{people['Phone']['id']}/erasure", headers=stack.as_(ACME_ADMIN_TOKEN)
    )
    assert erased.status_code == 200, erased.text
    report = await stack.gateway.get(f"/api/v1/imports/{job['id']}/errors", headers=auth)
    assert [(e["row"], e["field"]) for e in report.json()["items"]] == [
        (4, "emails.0"),
        (5, "first_name"),
    ]
    # The merged rows name each record as it is stored when the report is read.
    renamed = await stack.gateway.patch(
        f"/api/v1/candidates/{known.json()['id']}", json={"first_name": "Kim"}, headers=auth
    )
    assert renamed.status_code == 200, renamed.text
    merged_now = await stack.gateway.get(f"/api/v1/imports/{job['id']}/merged-rows", headers=auth)
    assert [(m["row"], m["first_name"]) for m in merged_now.json()["items"]] == [
        (2, "Ada"),
        (3, "Kim"),
    ]


async def test_an_imports_tags_reach_every_row_s_candidate_new_or_on_file(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    """A fair's list tagged "Messe": everyone on it ends up tagged, whether the row created a
    record or merged into one (on file, or made by an earlier row), through the same change
    path as any tagging; no tag is removed or doubled."""
    auth = stack.as_(ACME_TOKEN)
    tag = unique("messe")

    async def person(name: str, tags: list[str]) -> dict[str, Any]:
        created = await stack.gateway.post(
            "/api/v1/candidates",
            json={
                "first_name": name,
                "last_name": "Known",
                "emails": [f"{tag}-{name}@x.org"],
                "tags": tags,
            },
            headers=auth,
        )
        assert created.status_code == 201, created.text
        # As stored (the database keeps milliseconds), to compare `updated_at` with later.
        stored = await stack.gateway.get(f"/api/v1/candidates/{created.json()['id']}", headers=auth)
        found: dict[str, Any] = stored.json()
        return found

    bare = await person("bare", ["alumni"])  # only the tags are new: no identifier to add
    grows = await person("grows", [])  # gains a phone and the tags
    holds = await person("holds", [tag.upper(), "Stand B"])  # has both already, spelled apart
    segment = await stack.gateway.post(
        "/api/v1/segments",
        json={"name": tag, "rule": {"all": [{"field": "tags", "op": "equals", "value": tag}]}},
        headers=auth,
    )
    assert segment.status_code == 201, segment.text
    segment_id = segment.json()["id"]

    async def segment_ready() -> bool:
        found = await stack.gateway.get(f"/api/v1/segments/{segment_id}", headers=auth)
        return bool(found.json()["status"] == "ready")

    # Evaluated before the import, so the people on file enter it through the import's change.
    await eventually(segment_ready, message="the segment's first evaluation did not finish")
    job = await start_import(stack, ACME_TOKEN, tags=[tag, "stand b"])
    header = ",".join(MAPPING)
    text = (
        f"{header}\n"
        f"Other,Name,{tag}-bare@x.org,,,,\n"
        f"Grows,Known,{tag}-grows@x.org,,+49 30 1234567,,\n"
        f"Holds,Known,{tag}-holds@x.org,,,,\n"
        f"New,Person,{tag}-new@x.org,,,,\n"
        f"New,Person,{tag}-new@x.org,{tag}-new@work.org,,,\n"
    )
    assert (await upload(stack, ACME_TOKEN, job["id"], text)).status_code == 202
    result = await finished(stack, ACME_TOKEN, job["id"])
    assert result["status"] == "completed", result
    assert (result["counts"]["created"], result["counts"]["merged"]) == (1, 4)

    async def now(candidate: dict[str, Any]) -> dict[str, Any]:
        response = await stack.gateway.get(f"/api/v1/candidates/{candidate['id']}", headers=auth)
        found: dict[str, Any] = response.json()
        return found

    bare_now, grows_now, holds_now = await now(bare), await now(grows), await now(holds)
    assert bare_now["tags"] == ["alumni", tag, "stand b"]
    assert bare_now["first_name"] == "bare"  # the row's name does not overwrite the record's
    assert grows_now["tags"] == [tag, "stand b"]
    assert grows_now["phones"] == ["+49301234567"]
    assert holds_now["tags"] == [tag.upper(), "Stand B"]

    # A change like any other: a new revision for the changed, none for the unchanged.
    def changed_at(candidate: dict[str, Any]) -> datetime:
        return datetime.fromisoformat(candidate["updated_at"])

    assert changed_at(bare_now) > changed_at(bare)
    assert changed_at(grows_now) > changed_at(grows)
    assert changed_at(holds_now) == changed_at(holds)
    listed = await stack.gateway.get("/api/v1/candidates", params={"tag": tag}, headers=auth)
    [new] = [c for c in listed.json()["items"] if c["last_name"] == "Person"]
    assert new["tags"] == [tag, "stand b"]
    assert new["emails"] == [f"{tag}-new@x.org", f"{tag}-new@work.org"]

    members = await stack.gateway.get(f"/api/v1/segments/{segment_id}/members", headers=auth)
    imported_ids = {bare["id"], grows["id"], new["id"]}
    assert imported_ids <= {m["id"] for m in members.json()["items"]}
    updated = await read_events(
        kafka_bootstrap_servers,
        "candidate.updated",
        where=lambda e: e["subject"] in {bare["id"], grows["id"]} and tag in e["data"]["tags"],
        count=2,
    )
    assert {e["subject"] for e in updated} == {bare["id"], grows["id"]}
    entered = await read_events(
        kafka_bootstrap_servers,
        "segment.entered",
        where=lambda e: e["data"]["segment_id"] == segment_id and e["subject"] in imported_ids,
        count=3,
    )
    assert {e["subject"] for e in entered} == imported_ids
    timeline = await stack.gateway.get(f"/api/v1/candidates/{bare['id']}/timeline", headers=auth)
    assert any(
        entry["type"] == "segment.entered" and entry["data"]["segment_id"] == segment_id
        for entry in timeline.json()["items"]
    )


async def test_a_shared_phone_alone_does_not_fold_another_person_into_a_record(
    stack: Stack,
) -> None:
    """A family's or an office's number: a row found only by it, with another name and e-mail,
    is a person of its own (the number left out with a warning), while the same person with a
    new address still merges."""
    auth = stack.as_(ACME_TOKEN)
    tag = unique("shared")
    # Numbers of this test alone: the stack is shared with other tests.
    digits = "2" + str(int(tag.rsplit("_", 1)[1], 16))[-6:].rjust(6, "1")
    known = await stack.gateway.post(
        "/api/v1/candidates",
        json={
            "first_name": "José",
            "last_name": "Müller",
            "emails": [f"{tag}-jose@example.de"],
            "phones": [f"+49 30 {digits}"],
        },
        headers=auth,
    )
    assert known.status_code == 201, known.text
    job = await start_import(stack, ACME_TOKEN, default_region="DE")
    header = ",".join(MAPPING)
    text = (
        f"{header}\n"
        f"Jürgen,Groß,{tag}-juergen@example.de,,030 {digits},,\n"
        f"Jose,Mueller,{tag}-jose@work.example,,030 {digits},,\n"
        f"Ana,Núñez,{tag}-ana@example.es,,+34 61{digits},,\n"
        f"Zoë,Ødegård,{tag}-zoe@example.no,,+34 61{digits},,\n"
    )
    assert (await upload(stack, ACME_TOKEN, job["id"], text)).status_code == 202
    result = await finished(stack, ACME_TOKEN, job["id"])
    assert result["status"] == "completed", result
    assert (result["counts"]["created"], result["counts"]["merged"]) == (3, 1)

    merged = await stack.gateway.get(f"/api/v1/imports/{job['id']}/merged-rows", headers=auth)
    assert [(m["row"], m["candidate_id"]) for m in merged.json()["items"]] == [
        (2, known.json()["id"])
    ]
    jose = await stack.gateway.get(f"/api/v1/candidates/{known.json()['id']}", headers=auth)
    assert jose.json()["emails"] == [f"{tag}-jose@example.de", f"{tag}-jose@work.example"]

    async def person(email: str) -> dict[str, Any]:
        found = await stack.gateway.get("/api/v1/candidates", params={"email": email}, headers=auth)
        [candidate] = found.json()["items"]
        return dict(candidate)

    juergen = await person(f"{tag}-juergen@example.de")
    assert (juergen["first_name"], juergen["phones"]) == ("Jürgen", [])
    zoe = await person(f"{tag}-zoe@example.no")
    assert zoe["phones"] == []
    assert (await person(f"{tag}-ana@example.es"))["phones"] == [f"+3461{digits}"]
    report = await stack.gateway.get(f"/api/v1/imports/{job['id']}/errors", headers=auth)
    warnings = [(e["row"], e["field"], e["severity"]) for e in report.json()["items"]]
    assert warnings == [(1, "phones", "warning"), (4, "phones", "warning")]
    assert "another candidate" in report.json()["items"][0]["message"]
    assert report.json()["items"][0]["candidate_id"] == juergen["id"]


async def test_a_single_name_column_is_split_into_first_and_last_name(stack: Stack) -> None:
    """An export with the whole name in one column ("Name"), as many ATS and event tools
    write it: suggested as such, and each name split where a person would split it."""
    auth = stack.as_(ACME_TOKEN)
    tag = unique("fullname")
    text = (
        "Name;E-Mail\r\n"
        f"Ana María de la Cruz;{tag}-ana@example.es\r\n"
        f"Ødegård, Zoë;{tag}-zoe@example.no\r\n"
        f"Madonna;{tag}-m@example.org\r\n"
    )
    preview = await stack.gateway.post(
        "/api/v1/imports/preview",
        content=text.encode(),
        headers=auth | {"content-type": "text/csv"},
    )
    assert preview.status_code == 200, preview.text
    assert [c["suggested_field"] for c in preview.json()["columns"]] == ["full_name", "emails"]
    job = await start_import(
        stack, ACME_TOKEN, mapping={"Name": "full_name", "E-Mail": "emails"}, tags=[tag]
    )
    assert (await upload(stack, ACME_TOKEN, job["id"], text)).status_code == 202
    result = await finished(stack, ACME_TOKEN, job["id"])
    assert (result["status"], result["counts"]["created"]) == ("completed", 3), result
    found = await stack.gateway.get("/api/v1/candidates", params={"tag": tag}, headers=auth)
    assert sorted((c["first_name"], c["last_name"]) for c in found.json()["items"]) == [
        ("Ana María", "de la Cruz"),
        ("Madonna", ""),
        ("Zoë", "Ødegård"),
    ]


async def test_an_import_does_not_bring_back_a_person_erased_at_their_request(
    stack: Stack,
) -> None:
    """An old export still holding an erased person: their row is refused (by the address's
    digest in the tombstone), nothing of it is kept in the report, and the rest is imported."""
    auth = stack.as_(ACME_TOKEN)
    tag = unique("erased")
    lukasz = await stack.gateway.post(
        "/api/v1/candidates",
        json={"first_name": "Łukasz", "last_name": "Żółć", "emails": [f"{tag}-lz@example.pl"]},
        headers=auth,
    )
    assert lukasz.status_code == 201, lukasz.text
    erased = await stack.gateway.post(
        f"/api/v1/candidates/{lukasz.json()['id']}/erasure", headers=stack.as_(ACME_ADMIN_TOKEN)
    )
    assert erased.status_code == 200, erased.text
    job = await start_import(stack, ACME_TOKEN, tags=[tag])
    text = (
        f"{','.join(MAPPING)}\n"
        f"Łukasz,Żółć,{tag}-new@example.pl,{tag.upper()}-LZ@example.pl,12abc,,\n"
        f"Ana,Núñez,{tag}-ana@example.es,,,,\n"
    )
    assert (await upload(stack, ACME_TOKEN, job["id"], text)).status_code == 202
    result = await finished(stack, ACME_TOKEN, job["id"])
    assert result["status"] == "completed", result
    counts = result["counts"]
    assert (counts["created"], counts["failed"], counts["with_warnings"]) == (1, 1, 0), counts
    report = await stack.gateway.get(f"/api/v1/imports/{job['id']}/errors", headers=auth)
    [refused] = report.json()["items"]
    assert (refused["row"], refused["field"], refused["severity"]) == (1, "emails", "error")
    assert "erased at their request" in refused["message"]
    assert tag not in str(refused)
    found = await stack.gateway.get("/api/v1/candidates", params={"tag": tag}, headers=auth)
    assert [c["first_name"] for c in found.json()["items"]] == ["Ana"]


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
    assert (
        await stack.gateway.get(
            f"/api/v1/imports/{acme_job['id']}/merged-rows", headers=stack.as_(GLOBEX_TOKEN)
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


async def test_an_interrupted_import_is_resumed_from_its_next_chunk(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that died mid-import left it `running` with a lapsed lease: it is resumed."""
    monkeypatch.setattr("crm_candidates.application.imports.IMPORT_CHUNK_ROWS", 4)
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
        lines = ["First,Last,E-mail"] + [
            f"P{seq}{n},{tag},{tag}-{seq}-{n}@x.org" for seq in range(3) for n in range(4)
        ]
        await upload_store(stack).put(stack.acme, job.id, pieces("\n".join(lines).encode()))
        # The file was uploaded and its first chunk done before the crash; the lease of the
        # dead process lapsed.
        await database[IMPORTS_COLLECTION].update_one(
            {"_id": job.id},
            {
                "$set": {
                    "status": ImportStatus.RUNNING.value,
                    "uploading": False,
                    "chunks_total": 3,
                    "encoding": "utf-8",
                    "delimiter": ",",
                    "next_chunk": 1,
                    "counts.rows_read": 12,
                    "counts.rows_processed": 4,
                    "lease_owner": "a-dead-process",
                    "lease_until": utc_now() - timedelta(seconds=1),
                }
            },
        )
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
        # The finished import's file is gone from the upload store.
        with pytest.raises(UploadMissingError):
            await anext(upload_store(stack).read(stack.acme, job.id))
    finally:
        await mongo.close()


async def import_metrics(stack: Stack) -> dict[tuple[str, str], float]:
    """The import counters the candidates service exposes, by (name, outcome or status)."""
    async with httpx.AsyncClient(base_url=stack.candidates_url) as client:
        exposed = (await client.get("/metrics")).text
    return {
        (sample.name, sample.labels.get("outcome") or sample.labels["status"]): sample.value
        for family in text_string_to_metric_families(exposed)
        for sample in family.samples
        if sample.name in ("crm_import_rows_total", "crm_imports_finished_total")
    }


def upload_store(stack: Stack) -> LocalUploadStore:
    """The upload store the candidates service of the stack uses."""
    return LocalUploadStore(stack.settings["candidates"].upload_dir)


async def pieces(data: bytes, size: int = 4096) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def upload_bytes(stack: Stack, import_id: str, data: bytes, content_type: str) -> Any:
    return await stack.gateway.put(
        f"/api/v1/imports/{import_id}/file",
        content=data,
        headers=stack.as_(ACME_TOKEN) | {"content-type": content_type},
    )


async def test_files_as_excel_writes_them_are_read_in_their_encoding_and_delimiter(
    stack: Stack,
) -> None:
    auth = stack.as_(ACME_TOKEN)
    tag = unique("excel")
    header = list(MAPPING)
    files = {
        # "CSV" on a German Windows: Windows-1252, semicolons, CRLF.
        "de": (";".join(header) + "\r\n" + f"Zoë;Müller;{tag}-zoe@x.org;;;;Straße AG\r\n").encode(
            "cp1252"
        ),
        # "CSV" on a Polish Windows: Windows-1250, semicolons, CRLF.
        "pl": (
            ";".join(header)
            + "\r\n"
            + f"Łukasz;Żółkiewski;{tag}-zolkiewski@x.org;;;;Łódź Sp. z o.o.\r\n"
        ).encode("cp1250"),
        # "CSV" on a Hungarian Windows: Windows-1250 too, read right by its words' letters.
        "hu": (
            ";".join(header) + "\r\n" + f"Győző;Erdős;{tag}-erdos@x.org;;;;Szűcs és Török Kft.\r\n"
        ).encode("cp1250"),
        # "Unicode text": UTF-16 with BOM, tabs.
        "unicode": (
            "\t".join(header) + "\r\n" + f"Łukasz\tNowak\t{tag}-lukasz@x.org\t\t\t\t\r\n"
        ).encode("utf-16"),
        # UTF-8 with a line separator inside an unquoted cell: one row, not two.
        "u2028": (
            ",".join(header) + "\n" + f"Ana,Lin\u2028e,{tag}-ana@x.org,,,,Co\u2029rp\n"
        ).encode(),
    }
    expected = {
        "de": ("windows-1252", ";"),
        "pl": ("windows-1250", ";"),
        "hu": ("windows-1250", ";"),
        "unicode": ("utf-16", "\t"),
        "u2028": ("utf-8", ","),
    }
    for name, data in files.items():
        job = await start_import(stack, ACME_TOKEN, tags=[tag])
        uploaded = await upload_bytes(stack, job["id"], data, "text/csv")
        assert uploaded.status_code == 202, (name, uploaded.text)
        result = await finished(stack, ACME_TOKEN, job["id"])
        assert result["status"] == "completed", (name, result)
        assert (result["encoding"], result["delimiter"]) == expected[name]
        assert result["encoding_note"] is None, name
        assert result["counts"]["rows_read"] == 1, name
        assert result["counts"]["created"] == 1, name
    listed = await stack.gateway.get(
        "/api/v1/candidates", params={"tag": tag, "sort": "name"}, headers=auth
    )
    people = {c["last_name"]: c for c in listed.json()["items"]}
    assert set(people) == {"Müller", "Żółkiewski", "Erdős", "Nowak", "Lin\u2028e"}
    assert people["Erdős"]["first_name"] == "Győző"
    assert people["Erdős"]["current_company"] == "Szűcs és Török Kft."
    assert people["Żółkiewski"]["first_name"] == "Łukasz"
    assert people["Żółkiewski"]["current_company"] == "Łódź Sp. z o.o."
    assert people["Müller"]["first_name"] == "Zoë"
    assert people["Müller"]["current_company"] == "Straße AG"
    assert people["Nowak"]["first_name"] == "Łukasz"

    # Named on the import (or as the upload's charset), they are not guessed.
    named = await start_import(stack, ACME_TOKEN, tags=[tag], delimiter="|", encoding="latin1")
    assert (named["delimiter"], named["encoding"]) == ("|", "iso-8859-1")
    data = ("|".join(header) + "\n" + f"Renée|Dupont|{tag}-renee@x.org||||\n").encode("latin-1")
    assert (await upload_bytes(stack, named["id"], data, "text/csv")).status_code == 202
    assert (await finished(stack, ACME_TOKEN, named["id"]))["counts"]["created"] == 1
    charset = await start_import(stack, ACME_TOKEN, tags=[tag])
    data = (",".join(header) + "\n" + f"Åsa,Berg,{tag}-asa@x.org,,,,\n").encode("iso-8859-15")
    sent = await upload_bytes(stack, charset["id"], data, "text/csv; charset=ISO-8859-15")
    assert sent.status_code == 202, sent.text
    assert sent.json()["encoding"] == "iso-8859-15"
    central = await start_import(stack, ACME_TOKEN, tags=[tag], encoding="windows-1250")
    assert central["encoding"] == "windows-1250"
    data = (",".join(header) + "\n" + f"Jiří,Dvořák,{tag}-jiri@x.org,,,,\n").encode("cp1250")
    assert (await upload_bytes(stack, central["id"], data, "text/csv")).status_code == 202
    assert (await finished(stack, ACME_TOKEN, central["id"]))["counts"]["created"] == 1
    bad = await stack.gateway.post(
        "/api/v1/imports", json={"mapping": MAPPING, "encoding": "klingon"}, headers=auth
    )
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["encoding"]
    # Bytes that read as plausibly in two code pages: the import says which it assumed.
    short = (";".join(header) + "\r\n" + f"Győző;Erdős;{tag}-gyozo@x.org;;;;\r\n").encode("cp1250")
    preview = await stack.gateway.post(
        "/api/v1/imports/preview", content=short, headers=auth | {"content-type": "text/csv"}
    )
    assert preview.status_code == 200, preview.text
    assert (preview.json()["encoding"], preview.json()["encoding_alternative"]) == (
        "windows-1252",
        "windows-1250",
    )
    unsure = await start_import(stack, ACME_TOKEN, tags=[tag])
    assert (await upload_bytes(stack, unsure["id"], short, "text/csv")).status_code == 202
    result = await finished(stack, ACME_TOKEN, unsure["id"])
    assert result["encoding"] == "windows-1252"
    assert result["encoding_note"] == preview.json()["encoding_note"]
    assert "'Gyõzõ' would be 'Győző' in windows-1250" in result["encoding_note"]
    unknown_charset = await start_import(stack, ACME_TOKEN)
    refused = await upload_bytes(stack, unknown_charset["id"], b"x", "text/csv; charset=klingon")
    assert refused.status_code == 415


async def test_hostile_files_fail_cleanly_with_the_reason(stack: Stack) -> None:
    auth = stack.as_(ACME_TOKEN)
    header = ",".join(MAPPING)
    # No line end at all and a giant field (the csv module's field limit was a 500).
    for data in (b"x" * 300_000, (header + "\n" + "y" * 200_000).encode()):
        job = await start_import(stack, ACME_TOKEN)
        response = await upload_bytes(stack, job["id"], data, "text/csv")
        assert response.status_code == 422, response.text
        assert "longer than 65,536 characters" in response.json()["detail"]
        failed = (await stack.gateway.get(f"/api/v1/imports/{job['id']}", headers=auth)).json()
        assert failed["status"] == "failed"
        assert "longer than 65,536 characters" in failed["error"]
        assert "interrupted" not in failed["error"]

    # An Excel workbook picked instead of its CSV is refused saying so.
    job = await start_import(stack, ACME_TOKEN)
    xlsx = b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 22 + b"[Content_Types].xml xl/workbook.xml"
    response = await upload_bytes(stack, job["id"], xlsx, "text/csv")
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [
        {
            "field": "file",
            "pointer": "",
            "source": "body",
            "detail": "This is an Excel workbook (.xlsx); save it as CSV (UTF-8) and upload that",
        }
    ]

    # A 5,200-character first name refuses the row, naming the field and the limit.
    tag = unique("long")
    job = await start_import(stack, ACME_TOKEN, tags=[tag])
    text = f"{header}\n{'A' * 5200},Long,{tag}@x.org,,,,{'C' * 400}\n"
    assert (await upload(stack, ACME_TOKEN, job["id"], text)).status_code == 202
    result = await finished(stack, ACME_TOKEN, job["id"])
    assert result["counts"]["failed"] == 1
    errors = (await stack.gateway.get(f"/api/v1/imports/{job['id']}/errors", headers=auth)).json()[
        "items"
    ]
    assert [(e["field"], e["severity"]) for e in errors] == [
        ("first_name", "error"),
        ("current_company", "warning"),
    ]
    assert "200" in errors[0]["message"]


async def test_imports_are_listed_newest_first_with_their_progress(stack: Stack) -> None:
    auth = stack.as_(GLOBEX_TOKEN)
    made = [(await start_import(stack, GLOBEX_TOKEN))["id"] for _ in range(3)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = await stack.gateway.get("/api/v1/imports", params=params, headers=auth)
        assert page.status_code == 200, page.text
        seen += [job["id"] for job in page.json()["items"]]
        assert all("counts" in job and "status" in job for job in page.json()["items"])
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen[:3] == list(reversed(made))
    assert len(seen) == len(set(seen))
    acme = await stack.gateway.get("/api/v1/imports", headers=stack.as_(ACME_TOKEN))
    assert not set(made) & {job["id"] for job in acme.json()["items"]}
    misspelt = await stack.gateway.get("/api/v1/imports", params={"page": 2}, headers=auth)
    assert misspelt.status_code == 422


async def test_an_upload_whose_process_died_is_failed_with_the_reason(stack: Stack) -> None:
    """A process killed mid-upload leaves the import `queued` and `uploading`: it is failed."""
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        stack.settings["candidates"].mongodb_uri
    )
    try:
        database = mongo[stack.candidates_database]
        imports = ImportRepository(database, stack.acme)
        job = CandidateImport(
            tenant_id=stack.acme, mapping=[("E-mail", "emails")], created_by="rita"
        )
        await imports.add(job)
        assert await imports.start_upload(job.id)
        await upload_store(stack).put(stack.acme, job.id, pieces(b"E-mail\na@x.org\n"))
        # The process died an hour ago, after storing what it had received.
        await database[IMPORTS_COLLECTION].update_one(
            {"_id": job.id}, {"$set": {"upload_seen_at": utc_now() - timedelta(hours=1)}}
        )
        result = await finished(stack, ACME_TOKEN, job.id)
        assert result["status"] == "failed"
        assert "upload was interrupted" in result["error"]

        async def file_deleted() -> bool:
            try:
                await anext(upload_store(stack).read(stack.acme, job.id))
            except UploadMissingError:
                return True
            return False

        await eventually(file_deleted)
    finally:
        await mongo.close()


async def test_the_report_as_csv_keeps_formulas_dates_and_numbers_text_data_verbatim(
    stack: Stack,
) -> None:
    auth = stack.as_(ACME_TOKEN)
    tag = unique("formula")
    # Column names Excel would read as a formula, a date (`1-9`) and a number (`007`).
    mapping = {"007": "first_name", "Last": "last_name", "1-9": "emails", "=Phone": "phones"}
    response = await stack.gateway.post(
        "/api/v1/imports",
        json={"mapping": mapping, "tags": [tag], "default_region": "US"},
        headers=auth,
    )
    job = response.json()
    text = (
        f"007,Last,1-9,=Phone\n=1+1,@Lovelace,{tag}-a@x.org,-12\nBob,Bad,not-an-email,+CALL\n"
        # A blank line and a row of separators only, skipped but counted as Excel counts them.
        f",Nameless,{tag}-c@x.org,\n\n,,,\nCarla,Lisboa,{tag}-d@x.org,21 123 4567\n"
    )
    assert (await upload(stack, ACME_TOKEN, job["id"], text)).status_code == 202
    result = await finished(stack, ACME_TOKEN, job["id"])
    assert result["counts"]["created"] == 2
    # Stored as given: only what is written out as CSV is neutralised.
    [imported] = [
        c
        for c in (
            await stack.gateway.get("/api/v1/candidates", params={"tag": tag}, headers=auth)
        ).json()["items"]
        if c["first_name"] != "Carla"
    ]
    assert (imported["first_name"], imported["last_name"]) == ("=1+1", "@Lovelace")
    as_json = (await stack.gateway.get(f"/api/v1/imports/{job['id']}/errors", headers=auth)).json()[
        "items"
    ]
    assert {e["column"] for e in as_json} == {"=Phone", "1-9", "007"}
    # A number without country code, read in the region the import names: not a valid US
    # number, so left out, and the report says so.
    [lisbon] = [e for e in as_json if e["row"] == 6]
    assert (lisbon["value"], lisbon["assumed_region"], lisbon["severity"]) == (
        "21 123 4567",
        "US",
        "warning",
    )
    assert "not a valid US number" in lisbon["message"]
    assert "left out" in lisbon["message"]

    report = await stack.gateway.get(f"/api/v1/imports/{job['id']}/errors.csv", headers=auth)
    assert report.status_code == 200, report.text
    assert report.headers["content-type"].startswith("text/csv")
    assert report.headers["content-disposition"] == (
        f'attachment; filename="import-{job["id"]}-report.csv"'
    )
    rows = list(csv.reader(io.StringIO(report.content.decode("utf-8-sig"))))
    assert rows[0] == [
        "row",
        "column",
        "field",
        "severity",
        "message",
        "value",
        "assumed_region",
        "spreadsheet_row",
    ]
    # The row as a spreadsheet numbers it: the header is row 1, so the first row is row 2;
    # the blank rows count (Carla is on the file's 7th line).
    assert [row[7] for row in rows[1:]] == ["2", "3", "3", "4", "7"]
    assert [row[:4] for row in rows[1:]] == [
        ["1", "'=Phone", "phones.0", "warning"],
        ["2", "'1-9", "emails.0", "error"],
        ["2", "'=Phone", "phones.0", "warning"],
        ["3", "'007", "first_name", "error"],
        ["6", "'=Phone", "phones.0", "warning"],
    ]
    # The number as typed, kept text for Excel (which would drop a leading 0 or the spaces).
    assert rows[5][5:7] == ["'21 123 4567", "US"]
    dangerous = [cell for row in rows for cell in row if cell[:1] in ("=", "+", "-", "@")]
    assert dangerous == []
    # For Excel where the decimal mark is a comma: `;` between cells, a name of its own.
    european = await stack.gateway.get(
        f"/api/v1/imports/{job['id']}/errors.csv", params={"separator": "semicolon"}, headers=auth
    )
    assert european.headers["content-disposition"] == (
        f'attachment; filename="import-{job["id"]}-report-semicolon.csv"'
    )
    lines = european.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "row;column;field;severity;message;value;assumed_region;spreadsheet_row"
    missing = await stack.gateway.get("/api/v1/imports/nope/errors.csv", headers=auth)
    assert missing.status_code == 404


async def test_yes_no_words_and_dates_are_read_as_a_spreadsheet_writes_them(
    stack: Stack,
) -> None:
    admin = stack.as_(ACME_ADMIN_TOKEN)
    for definition in (
        {"key": "relocate", "label": "Relocate", "type": "boolean"},
        {"key": "start_date", "label": "Start", "type": "date"},
        {"key": "available_from", "label": "Available from", "type": "date"},
    ):
        created = await stack.gateway.post("/api/v1/custom-fields", json=definition, headers=admin)
        assert created.status_code == 201, created.text
    auth = stack.as_(ACME_TOKEN)
    tag = unique("spreadsheet")
    mapping = {
        "Vorname": "first_name",
        "Nachname": "last_name",
        "E-Mail": "emails",
        "Marketing consent (yes/no)": "marketing_consent",
        "Umzug": "custom_fields.relocate",
        "Start": "custom_fields.start_date",
        "Beginn": "custom_fields.available_from",
    }
    response = await stack.gateway.post(
        "/api/v1/imports", json={"mapping": mapping, "tags": [tag]}, headers=auth
    )
    assert response.status_code == 201, response.text
    job = response.json()
    # `Start` shows it is day-first by its last row; `Beginn` never tells, and the import
    # names no region.
    text = (
        "Vorname;Nachname;E-Mail;Marketing consent (yes/no);Umzug;Start;Beginn\r\n"
        f"Ada;Ja;{tag}-ja@x.org;ja;Nein;03/04/2025;\r\n"
        f"Bea;Vielleicht;{tag}-vv@x.org;vielleicht;JA;;\r\n"
        f"Cy;Ambiguous;{tag}-am@x.org;nein;;;01.02.2025\r\n"
        f"Di;Serial;{tag}-se@x.org;NEIN;;46022;\r\n"
        f"Ed;Unambiguous;{tag}-un@x.org;Oui;;31/12/2025;\r\n"
    )
    uploaded = await upload(stack, ACME_TOKEN, job["id"], text)
    assert uploaded.status_code == 202, uploaded.text
    done = await finished(stack, ACME_TOKEN, job["id"])
    assert done["status"] == "completed", done
    assert done["counts"]["created"] == 5
    assert done["counts"]["with_warnings"] == 2
    # What decided a date column's order, as the import shows it (`Beginn` showed none).
    assert done["date_columns"] == [
        {"column": "Start", "day_first_example": "31/12/2025", "month_first_example": None}
    ]
    report = (await stack.gateway.get(f"/api/v1/imports/{job['id']}/errors", headers=auth)).json()[
        "items"
    ]
    assert [(e["row"], e["column"], e["field"], e["severity"]) for e in report] == [
        (2, "Marketing consent (yes/no)", "marketing_consent", "warning"),
        (3, "Beginn", "custom_fields.available_from", "warning"),
    ]
    assert report[0]["message"] == "`vielleicht` is not yes or no"
    assert "no date in column `Beginn` has a day above 12" in report[1]["message"]
    listed = await stack.gateway.get(
        "/api/v1/candidates", params={"tag": tag, "sort": "name"}, headers=auth
    )
    people = {c["last_name"]: c for c in listed.json()["items"]}
    assert people["Ja"]["marketing_consent"] is True
    assert people["Ja"]["custom_fields"] == {"relocate": False, "start_date": "2025-04-03"}
    assert people["Vielleicht"]["marketing_consent"] is False
    assert people["Vielleicht"]["custom_fields"] == {"relocate": True}
    assert people["Ambiguous"]["custom_fields"] == {}
    assert people["Serial"]["custom_fields"] == {"start_date": "2025-12-31"}
    assert people["Unambiguous"]["marketing_consent"] is True
    assert people["Unambiguous"]["custom_fields"] == {"start_date": "2025-12-31"}
    # The consent column is a grant in the ledger, lapsing after the tenant's validity.
    consents = await stack.gateway.get(
        f"/api/v1/candidates/{people['Ja']['id']}/consents", headers=auth
    )
    [grant] = consents.json()["history"]
    assert (grant["status"], grant["source"], grant["expires_at"] is not None) == (
        "granted",
        "import",
        True,
    )
    consents = await stack.gateway.get(
        f"/api/v1/candidates/{people['Vielleicht']['id']}/consents", headers=auth
    )
    assert consents.json()["history"] == []
