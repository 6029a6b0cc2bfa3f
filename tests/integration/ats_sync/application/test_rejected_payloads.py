"""Rejected ATS payloads against SecantusDB: kept once per connection and body, capped per
connection (the oldest go), cut at 64 KiB, listed newest first page by page, and expired by a
TTL index."""

from __future__ import annotations

import pytest

from crm_ats_sync.application.rejected_payloads import Rejection, keep_rejected, list_rejected
from crm_ats_sync.application.storage import AtsStorage
from crm_ats_sync.domain.rejected_payloads import (
    MAX_BODY_BYTES,
    RETENTION_DAYS,
    PayloadSource,
    rejected_payload,
)
from crm_ats_sync.repositories.rejected_payloads import (
    REJECTED_PAYLOADS,
    RejectedPayloadRepository,
)
from integration.ats_sync.support import connected

pytestmark = pytest.mark.integration


async def test_a_payload_is_kept_once_and_listed_newest_first_page_by_page(
    storage: AtsStorage,
) -> None:
    connection = await connected(storage)
    for n in range(3):
        await keep_rejected(
            storage,
            connection,
            PayloadSource.WEBHOOK,
            [Rejection(f"malformed {n}", f'{{"n": {n}}}'.encode())],
        )
    # The same body again (an ATS retrying what it was answered 422 for) is not kept twice.
    await keep_rejected(
        storage, connection, PayloadSource.WEBHOOK, [Rejection("again", b'{"n": 0}')]
    )

    first, following = await list_rejected(
        storage, connection.tenant_id, connection.id, before_id=None, limit=2
    )
    assert [p.reason for p in first] == ["malformed 2", "malformed 1"]
    assert following == first[-1].id
    rest, end = await list_rejected(
        storage, connection.tenant_id, connection.id, before_id=following, limit=2
    )
    assert ([p.reason for p in rest], end) == (["malformed 0"], None)
    assert (rest[0].body, rest[0].size, rest[0].truncated) == ('{"n": 0}', 8, False)


async def test_a_connection_keeps_its_newest_payloads_up_to_the_cap(storage: AtsStorage) -> None:
    connection = await connected(storage)
    other = await connected(storage)
    repository = RejectedPayloadRepository(storage.database, connection.tenant_id, cap=3)
    for n in range(5):
        await repository.keep(
            [
                rejected_payload(
                    connection.tenant_id,
                    connection.id,
                    PayloadSource.BACKFILL,
                    f"item {n}",
                    f"{n}".encode(),
                    ats_id=str(n),
                )
            ]
        )
    await storage.rejected_payloads(other.tenant_id).keep(
        [rejected_payload(other.tenant_id, other.id, PayloadSource.WEBHOOK, "x", b"x")]
    )

    kept = await repository.of_connection(connection.id, before_id=None, limit=10)
    assert [p.ats_id for p in kept] == ["4", "3", "2"]
    theirs = storage.rejected_payloads(other.tenant_id)
    assert len(await theirs.of_connection(other.id, before_id=None, limit=10)) == 1


async def test_a_large_body_is_cut_and_every_payload_expires(storage: AtsStorage) -> None:
    connection = await connected(storage)
    large = b"\xc3\xa9" * MAX_BODY_BYTES  # "é" twice the cap over
    await keep_rejected(
        storage, connection, PayloadSource.RECONCILE, [Rejection("too odd", large, "a-1")]
    )
    [kept] = await storage.rejected_payloads(connection.tenant_id).of_connection(
        connection.id, before_id=None, limit=10
    )
    assert (kept.size, kept.truncated, kept.source) == (
        2 * MAX_BODY_BYTES,
        True,
        PayloadSource.RECONCILE,
    )
    assert kept.body == "é" * (MAX_BODY_BYTES // 2)
    indexes = await storage.database[REJECTED_PAYLOADS].index_information()
    assert [
        index["expireAfterSeconds"]
        for index in indexes.values()
        if index["key"] == [("received_at", 1)]
    ] == [RETENTION_DAYS * 24 * 3600]
