"""The audit log's rules (what is recorded, as what) and its buffer (bounded, never blocking,
keeping entries while the store is down)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from crm_gateway.application import audit as audit_module
from crm_gateway.application.audit import AuditTrail
from crm_gateway.domain.audit import (
    Actor,
    ActorKind,
    AuditEntry,
    AuditQuery,
    Outcome,
    action_name,
    bounded_resource,
    created_id,
    entry_id,
    is_audited,
    outcome_of,
    path_parameters,
)

pytestmark = pytest.mark.unit

USER = Actor(ActorKind.USER, "rita", "acme")
KEY = Actor(ActorKind.API_KEY, "key-1", "acme")


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(200, "succeeded"), (201, "succeeded"), (304, "succeeded"), (401, "refused"),
     (403, "refused"), (429, "refused"), (404, "refused"), (422, "refused"), (409, "refused"),
     (500, "failed"), (502, "failed"), (504, "failed")],
)  # fmt: skip
def test_the_outcome_follows_the_status(status: int, outcome: str) -> None:
    assert outcome_of(status) == Outcome(outcome)


def test_writes_refusals_key_use_and_exports_are_audited_plain_reads_are_not() -> None:
    assert is_audited("POST", "POST /candidates", 201, USER)
    assert is_audited("DELETE", "DELETE /lists/{list_id}", 404, USER)
    assert is_audited("GET", "GET /candidates", 403, USER)
    assert is_audited("GET", "GET /candidates", 401, Actor.anonymous())
    assert is_audited("GET", "GET /candidates", 200, KEY)
    assert is_audited("GET", "GET /candidates/{candidate_id}/export", 200, USER)
    assert is_audited("GET", "GET /audit/export", 200, USER)
    assert not is_audited("GET", "GET /candidates", 200, USER)
    assert not is_audited("HEAD", "HEAD /candidates", 200, USER)


def test_the_resource_is_the_path_parameters_never_the_rest_of_the_path() -> None:
    template = "/candidates/{candidate_id}/notes/{note_id}"
    assert path_parameters(template, ("candidates", "c-1", "notes", "n-2")) == {
        "candidate_id": "c-1",
        "note_id": "n-2",
    }
    assert path_parameters(template, ("candidates", "c-1")) == {}
    assert action_name("post", "/candidates") == "POST /candidates"
    assert bounded_resource({"id": "x" * 500}) == {"id": "x" * 128}


def test_entry_ids_sort_by_time() -> None:
    earlier = datetime(2026, 1, 1, tzinfo=UTC)
    ids = [entry_id(earlier + timedelta(milliseconds=n)) for n in (0, 1, 1000, 86_400_000)]
    assert ids == sorted(ids)
    assert len(set(entry_id(earlier) for _ in range(100))) == 100


def entry(number: int) -> AuditEntry:
    at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=number)
    return AuditEntry(
        id=entry_id(at), at=at, tenant_id="acme", actor=USER, action="POST /candidates",
        status=201, outcome=Outcome.SUCCEEDED,
    )  # fmt: skip


class FlakyLog:
    """An audit store that refuses writes while `down`, and keeps what it accepted."""

    def __init__(self) -> None:
        self.down = False
        self.stored: list[AuditEntry] = []

    async def append(self, entries: list[AuditEntry]) -> None:
        if self.down:
            raise ConnectionError("audit store unreachable")
        self.stored.extend(entries)

    async def search(self, tenant_id: str, query: AuditQuery, limit: int) -> list[AuditEntry]:
        return []


def trail_over(log: FlakyLog, registry: CollectorRegistry, capacity: int = 5) -> AuditTrail:
    return AuditTrail(
        log, registry, capacity=capacity, batch_size=2, flush_interval_seconds=0.01
    )  # fmt: skip


async def test_entries_wait_in_the_buffer_while_the_store_is_down_then_are_written_in_order() -> (
    None
):
    log, registry = FlakyLog(), CollectorRegistry()
    trail = trail_over(log, registry)
    log.down = True
    trail.start()
    entries = [entry(n) for n in range(4)]
    for each in entries:
        trail.record(each)
    await asyncio.sleep(0.1)
    assert log.stored == []
    assert registry.get_sample_value("crm_audit_buffer_entries") == 4
    assert (registry.get_sample_value("crm_audit_flush_failures_total") or 0) >= 1

    log.down = False
    await trail.stop()

    assert log.stored == entries
    assert registry.get_sample_value("crm_audit_entries_recorded_total") == 4


async def test_a_full_buffer_drops_new_entries_and_counts_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log, registry = FlakyLog(), CollectorRegistry()
    trail = trail_over(log, registry, capacity=3)
    entries = [entry(n) for n in range(5)]
    for each in entries:
        trail.record(each)

    assert registry.get_sample_value("crm_audit_entries_dropped_total") == 2
    assert "2 audit entries dropped" not in caplog.text  # one log line, then rate-limited
    assert "audit entries dropped" in caplog.text
    await trail.flush()
    assert log.stored == entries[:3]


class StuckLog(FlakyLog):
    """An audit store whose write never returns and ignores being cancelled, until the test
    lets it go (so the event loop can close)."""

    def __init__(self) -> None:
        super().__init__()
        self.released = False

    async def append(self, entries: list[AuditEntry]) -> None:
        while not self.released:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0.05)


async def test_stopping_ends_even_when_a_write_never_returns(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(audit_module, "STOP_FLUSH_SECONDS", 0.2)
    log = StuckLog()
    trail = trail_over(log, CollectorRegistry())
    trail.start()
    trail.record(entry(0))
    trail.record(entry(1))  # a full batch: the writer starts its write, which never ends
    await asyncio.sleep(0.05)
    try:
        await asyncio.wait_for(trail.stop(), timeout=5)
        assert "audit entries not written at shutdown: 2" in caplog.text
    finally:
        log.released = True
        await asyncio.sleep(0.1)


def test_recording_costs_microseconds() -> None:
    """The request path only appends to the buffer; no database round trip."""
    import time

    trail = trail_over(FlakyLog(), CollectorRegistry(), capacity=100_000)
    entries = [entry(n) for n in range(10_000)]
    started = time.perf_counter()
    for each in entries:
        trail.record(each)
    per_entry = (time.perf_counter() - started) / len(entries)
    assert per_entry < 50e-6, per_entry


def test_the_trail_starts_again_in_another_event_loop() -> None:
    """A test client (or a server restart in one process) runs each start in a new loop."""
    log = FlakyLog()
    trail = trail_over(log, CollectorRegistry(), capacity=100)

    async def one_run(number: int) -> None:
        trail.start()
        await asyncio.sleep(0.05)  # the writer is waiting for entries now
        trail.record(entry(number))
        trail.record(entry(number + 1))  # a full batch wakes the writer
        for _ in range(100):
            if len(log.stored) >= number + 2:
                break
            await asyncio.sleep(0.01)
        # Written by the running writer, not by the final flush of `stop`.
        assert len(log.stored) == number + 2
        await trail.stop()

    asyncio.run(one_run(0))
    asyncio.run(one_run(2))
    assert [each.at for each in log.stored] == [entry(n).at for n in range(4)]


@pytest.mark.parametrize(
    ("status", "location", "expected"),
    [
        (201, "/api/v1/api-keys/key_7f3a", "key_7f3a"),
        (201, "http://127.0.0.1:8000/api/v1/candidates/merges/m-1/", "m-1"),
        (202, "/api/v1/imports/imp%201", "imp 1"),
        (201, None, None),
        (409, "/api/v1/candidates/c-1", None),
    ],
)
def test_a_creation_names_the_id_of_its_location(
    status: int, location: str | None, expected: str | None
) -> None:
    assert created_id(status, location) == expected
