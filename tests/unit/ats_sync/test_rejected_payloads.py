"""What is kept of a payload the CRM could not map: the record mapped on its own, its body
capped, its JSON written whatever it holds."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from crm_ats_sync.domain.changes import map_records
from crm_ats_sync.domain.rejected_payloads import (
    MAX_BODY_BYTES,
    MAX_REASON_CHARS,
    PayloadSource,
    as_json_bytes,
    rejected_payload,
)
from crm_ats_sync.domain.workable import snapshot

pytestmark = pytest.mark.unit


def test_each_record_is_mapped_on_its_own_and_the_unmappable_ones_say_why() -> None:
    records = [{"id": "a", "n": 1}, {"id": 7}, "not a record", {"id": "b", "n": 2}]
    mapped, rejected = map_records(records, lambda r: r["n"], what="candidate")
    assert mapped == [1, 2]
    assert [(r.ats_id, r.payload) for r in rejected] == [("7", {"id": 7}), (None, "not a record")]
    assert rejected[0].reason == "candidate not mapped: 'n'"
    assert rejected[1].reason.startswith("candidate not mapped: ")


def test_a_payload_function_says_what_is_kept_and_the_record_is_kept_if_it_fails() -> None:
    _, rejected = map_records(
        [{"id": 1}, 5],
        lambda r: r["missing"],
        what="application",
        payload=lambda r: {"application": r, "candidate": r["id"]},
    )
    assert [r.payload for r in rejected] == [{"application": {"id": 1}, "candidate": 1}, 5]


def test_a_payload_is_capped_and_its_digest_is_of_the_whole() -> None:
    body = b"x" * (MAX_BODY_BYTES + 10)
    kept = rejected_payload("t", "c", PayloadSource.WEBHOOK, "r" * 5000, body)
    assert (len(kept.body), kept.size, kept.truncated) == (MAX_BODY_BYTES, len(body), True)
    assert len(kept.reason) == MAX_REASON_CHARS
    shorter = rejected_payload("t", "c", PayloadSource.WEBHOOK, "r", body[:-1])
    assert shorter.digest != kept.digest
    assert rejected_payload("t", "c", PayloadSource.WEBHOOK, "r", b"\xff{}").body == "\ufffd{}"


def test_a_record_or_a_snapshot_is_kept_as_json() -> None:
    assert json.loads(as_json_bytes({"at": datetime(2026, 1, 2, tzinfo=UTC), "é": 1})) == {
        "at": "2026-01-02 00:00:00+00:00",
        "é": 1,
    }
    mapped = snapshot({"id": "c1", "email": "a@example.org", "stage": "Applied"})
    assert mapped.source == {"id": "c1", "email": "a@example.org", "stage": "Applied"}
    written = json.loads(as_json_bytes(mapped))
    assert written["ats_application_id"] == "c1"
    assert "source" not in written
