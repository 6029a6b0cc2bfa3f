"""The mail dispatcher against SecantusDB and real SMTP servers: a message is sent at most once
however often it is claimed, transient errors are retried with backoff, 5xx fails, connections
are reused, and a broadcast whose error rate crosses the threshold pauses itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from conftest import SmtpSink

from crm_campaigns.config import CampaignsSettings
from crm_campaigns.delivery import DeliveryLimits, DueMessageHints, MailDispatcher
from crm_campaigns.domain.models import (
    Broadcast,
    BroadcastStatus,
    ListAudience,
    Message,
    MessageStatus,
    Recipient,
)
from crm_campaigns.domain.policy import SendPolicy
from crm_campaigns.domain.sending import ErrorThreshold
from crm_campaigns.repository import BROADCASTS, MESSAGES, RecipientRepository, ensure_indexes
from crm_campaigns.smtp import SmtpPool, data_section
from crm_devstack.infra import free_ports
from crm_shared import (
    Database,
    MongoClient,
    Outbox,
    Session,
    create_mongo_client,
    in_transaction,
    to_document,
    utc_now,
)
from helpers import unique

pytestmark = pytest.mark.integration


@dataclass
class ScriptedSmtp:
    """An SMTP server that answers DATA with the scripted replies in turn, then 250; it refuses
    the recipients in `refused`, and advertises PIPELINING when `pipelining` is set."""

    pipelining: bool = False
    replies: list[str] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)
    drop_connection_after: int | None = None

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.pipelining:
            return [*responses[:-1], "250-PIPELINING", responses[-1]]
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refused:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.replies:
            return self.replies.pop(0)
        self.accepted.extend(envelope.rcpt_tos)
        if self.drop_connection_after and len(self.accepted) % self.drop_connection_after == 0:
            # Closed right after the 250 goes out: the next message finds the connection dead.
            asyncio.get_running_loop().call_soon(server.transport.close)
        return "250 OK"


@pytest.fixture(params=[True, False], ids=["pipelining", "one-command-at-a-time"])
def scripted(request: pytest.FixtureRequest) -> Iterator[tuple[ScriptedSmtp, int]]:
    """The scripted server, once advertising PIPELINING (the pool pipelines each envelope) and
    once not (the pool speaks through aiosmtplib)."""
    [port] = free_ports(1)
    handler = ScriptedSmtp(pipelining=request.param)
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@dataclass
class Setup:
    mongo: MongoClient
    database: Database
    tenant: str


@pytest.fixture
async def setup(mongodb_uri: str) -> AsyncIterator[Setup]:
    settings = CampaignsSettings(mongodb_uri=mongodb_uri, mongodb_database=unique("delivery"))
    mongo = create_mongo_client(settings)
    database = mongo[settings.mongodb_database]
    await ensure_indexes(database)
    await Outbox(database, "campaigns").ensure_indexes()
    yield Setup(mongo, database, unique("tenant"))
    await mongo.close()


def limits(**overrides: Any) -> DeliveryLimits:
    values: dict[str, Any] = {
        "max_attempts": 3,
        "retry_base": timedelta(milliseconds=10),
        "retry_cap": timedelta(milliseconds=50),
        "provider_rate": 0,
        "provider_burst": 1,
        "tenant_rate": 0,
        "tenant_burst": 1,
        "error_threshold": ErrorThreshold(min_sample=1000, ratio=1.0),
    }
    return DeliveryLimits(**(values | overrides))


def dispatcher(
    setup: Setup,
    transport: SmtpPool,
    hints: DueMessageHints | None = None,
    **overrides: Any,
) -> MailDispatcher:
    return MailDispatcher(
        mongo=setup.mongo,
        database=setup.database,
        outbox=Outbox(setup.database, "campaigns"),
        transport=transport,
        policy=SendPolicy(),
        sender="Talent <talent@example.org>",
        lease=timedelta(seconds=60),
        batch_size=50,
        limits=limits(**overrides),
        hints=hints,
    )


async def queue(setup: Setup, count: int, *, broadcast_id: str | None = None) -> list[str]:
    """Queues `count` messages to consenting recipients; returns their addresses."""
    addresses = []
    run = unique("m")
    for index in range(count):
        candidate_id = f"{run}-{index}"
        address = f"{candidate_id}@example.org"
        addresses.append(address)
        message = Message(
            id=f"{run}-msg-{index}",
            tenant_id=setup.tenant,
            candidate_id=candidate_id,
            template_id="t",
            broadcast_id=broadcast_id,
            to_email=address,
            subject=f"Hello {index}",
            html="<p>hi</p>",
            text="hi",
        )

        async def write(session: Session, message: Message = message) -> None:
            await RecipientRepository(setup.database, setup.tenant).upsert(
                Recipient(
                    candidate_id=message.candidate_id,
                    tenant_id=setup.tenant,
                    email=message.to_email,
                    marketing_consent=True,
                ),
                session=session,
            )
            await setup.database[MESSAGES].insert_one(
                to_document(message)
                | {"next_attempt_at": utc_now(), "lease_owner": None, "lease_until": None},
                session=session,
            )

        await in_transaction(setup.mongo, write)
    return addresses


async def sending_broadcast(setup: Setup, *, materialized: bool = False) -> str:
    """Stores a broadcast that is sending (every message queued when `materialized`)."""
    broadcast = Broadcast(
        id=unique("broadcast"),
        tenant_id=setup.tenant,
        name="Spring hiring",
        template_id="t",
        audience=ListAudience(candidate_ids=["c"]),
        status=BroadcastStatus.SENDING,
        created_by="rita",
    )
    extra = {"materialized": True} if materialized else {}
    await setup.database[BROADCASTS].insert_one(to_document(broadcast) | extra)
    return broadcast.id


async def statuses(setup: Setup) -> dict[str, str]:
    documents = await setup.database[MESSAGES].find({"tenant_id": setup.tenant}).to_list()
    return {d["_id"]: d["status"] for d in documents}


async def drain(worker: MailDispatcher, rounds: int = 20) -> None:
    for _ in range(rounds):
        if not await worker.deliver_batch():
            await asyncio.sleep(0.06)  # longer than the retry cap, so retries come due


async def test_two_workers_claiming_the_same_messages_send_each_exactly_once(
    setup: Setup, smtp_sink: SmtpSink
) -> None:
    addresses = await queue(setup, 30)
    pools = [SmtpPool(smtp_sink.host, smtp_sink.port, 10, 2) for _ in range(2)]
    workers = [dispatcher(setup, pool) for pool in pools]
    await asyncio.gather(*(worker.deliver_batch() for worker in workers))
    await asyncio.gather(*(worker.deliver_batch() for worker in workers))
    assert set((await statuses(setup)).values()) == {MessageStatus.SENT.value}
    assert all(len(smtp_sink.messages_to(address)) == 1 for address in addresses)
    # Redelivering the send command (the message queued again under its id) changes nothing.
    documents = await setup.database[MESSAGES].find({"tenant_id": setup.tenant}).to_list()
    with pytest.raises(Exception, match="duplicate key"):
        await setup.database[MESSAGES].insert_one(documents[0] | {"status": "queued"})
    await drain(workers[0], rounds=2)
    assert all(len(smtp_sink.messages_to(address)) == 1 for address in addresses)
    for pool in pools:
        await pool.close()


async def test_a_claim_abandoned_mid_send_is_not_sent_again(
    setup: Setup, smtp_sink: SmtpSink
) -> None:
    [address] = await queue(setup, 1)
    # A worker claimed the message and died before recording the outcome; its lease expired.
    await setup.database[MESSAGES].update_many(
        {"tenant_id": setup.tenant},
        {
            "$set": {
                "status": MessageStatus.SENDING.value,
                "claim_id": "dead-worker",
                "lease_until": utc_now() - timedelta(seconds=1),
            }
        },
    )
    pool = SmtpPool(smtp_sink.host, smtp_sink.port, 10, 1)
    await drain(dispatcher(setup, pool), rounds=2)
    [document] = await setup.database[MESSAGES].find({"tenant_id": setup.tenant}).to_list()
    assert document["status"] == MessageStatus.FAILED.value
    assert "outcome unknown" in document["last_error"]
    assert smtp_sink.messages_to(address) == []
    await pool.close()


async def test_transient_errors_are_retried_and_5xx_fails_at_once(
    setup: Setup, scripted: tuple[ScriptedSmtp, int]
) -> None:
    handler, port = scripted
    handler.replies = ["451 4.3.0 try again later", "421 4.7.0 busy"]
    [address] = await queue(setup, 1)
    pool = SmtpPool("127.0.0.1", port, 10, 1)
    await drain(dispatcher(setup, pool))
    [document] = await setup.database[MESSAGES].find({"tenant_id": setup.tenant}).to_list()
    assert document["status"] == MessageStatus.SENT.value
    assert document["attempts"] == 2
    assert handler.accepted == [address]

    handler.replies = ["554 5.7.1 rejected"]
    [rejected] = await queue(setup, 1)
    await drain(dispatcher(setup, pool), rounds=3)
    failed = await setup.database[MESSAGES].find_one({"to_email": rejected})
    assert failed is not None
    assert failed["status"] == MessageStatus.FAILED.value
    assert failed["attempts"] == 1
    assert "554" in failed["last_error"]
    await pool.close()


async def test_retries_stop_after_the_maximum_attempts(
    setup: Setup, scripted: tuple[ScriptedSmtp, int]
) -> None:
    handler, port = scripted
    handler.replies = ["450 busy"] * 3
    await queue(setup, 1)
    pool = SmtpPool("127.0.0.1", port, 10, 1)
    await drain(dispatcher(setup, pool))
    [document] = await setup.database[MESSAGES].find({"tenant_id": setup.tenant}).to_list()
    assert (document["status"], document["attempts"]) == (MessageStatus.FAILED.value, 3)
    assert handler.accepted == []
    await pool.close()


async def test_connections_are_reused_and_reopened_after_a_drop(
    setup: Setup, scripted: tuple[ScriptedSmtp, int]
) -> None:
    handler, port = scripted
    addresses = await queue(setup, 12)
    pool = SmtpPool("127.0.0.1", port, 10, 1)
    await drain(dispatcher(setup, pool), rounds=3)
    assert sorted(handler.accepted) == sorted(addresses)
    assert pool.connections_opened == 1

    handler.drop_connection_after = 5
    more = await queue(setup, 12)
    await drain(dispatcher(setup, pool))
    assert set(more) <= set(handler.accepted)
    assert set((await statuses(setup)).values()) == {MessageStatus.SENT.value}
    assert pool.connections_opened > 1
    await pool.close()


async def test_a_broadcast_pauses_itself_when_its_error_rate_crosses_the_threshold(
    setup: Setup, scripted: tuple[ScriptedSmtp, int]
) -> None:
    handler, port = scripted
    handler.replies = ["554 no"] * 100
    broadcast_id = await sending_broadcast(setup)
    await queue(setup, 40, broadcast_id=broadcast_id)
    pool = SmtpPool("127.0.0.1", port, 10, 2)
    worker = dispatcher(setup, pool, error_threshold=ErrorThreshold(min_sample=10, ratio=0.5))
    worker._batch_size = 10
    await drain(worker, rounds=6)
    paused = await setup.database[BROADCASTS].find_one({"_id": broadcast_id})
    assert paused is not None
    assert paused["status"] == BroadcastStatus.PAUSED.value
    assert paused["pause_reason"] == "error_threshold"
    assert paused["stats"]["failed"] == 10
    assert paused["stats"]["errors"] == 10
    counts = list((await statuses(setup)).values())
    assert counts.count(MessageStatus.FAILED.value) == 10
    assert counts.count(MessageStatus.HELD.value) == 30
    await pool.close()


async def test_a_server_that_stops_answering_times_out_and_its_connection_is_replaced(
    scripted: tuple[ScriptedSmtp, int],
) -> None:
    handler, port = scripted
    silent_port = free_ports(1)[0]
    connections = 0

    async def greet_then_go_silent(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        nonlocal connections
        connections += 1
        writer.write(b"220 silent ESMTP\r\n")
        await reader.readline()  # EHLO
        writer.write(b"250-silent\r\n250 PIPELINING\r\n")
        await reader.read()  # MAIL FROM and everything after it go unanswered
        writer.close()

    silent = await asyncio.start_server(greet_then_go_silent, "127.0.0.1", silent_port)
    pool = SmtpPool("127.0.0.1", silent_port, timeout=0.5, size=1)
    try:
        started = asyncio.get_running_loop().time()
        with pytest.raises(TimeoutError):  # an OSError: the dispatcher retries it later
            # Bounded here too, so a pool that hangs fails the timing below, not the whole run.
            await asyncio.wait_for(
                pool.send_raw("talent@example.org", "ada@example.org", b"Subject: hi\r\n\r\nx\r\n"),
                10,
            )
        assert asyncio.get_running_loop().time() - started < 5
        # The stuck connection was dropped: the next send opens a new one.
        with pytest.raises(TimeoutError):
            await pool.send_raw(
                "talent@example.org", "ada@example.org", b"Subject: hi\r\n\r\nx\r\n"
            )
        assert connections == 2
    finally:
        await pool.close()
        silent.close()
    # A healthy server is unaffected by the shorter deadline.
    healthy = SmtpPool("127.0.0.1", port, timeout=0.5, size=1)
    await healthy.send_raw("talent@example.org", "ada@example.org", b"Subject: hi\r\n\r\nx\r\n")
    await healthy.close()
    assert handler.accepted == ["ada@example.org"]


async def test_hinted_messages_are_claimed_by_id_only_while_queued_and_due(
    setup: Setup, smtp_sink: SmtpSink
) -> None:
    hints = DueMessageHints()
    pool = SmtpPool(smtp_sink.host, smtp_sink.port, 10, 2)
    worker = dispatcher(setup, pool, hints)
    # The first batch queries for due messages (there are none); the next ones take hints.
    assert await worker.deliver_batch() == 0
    addresses = await queue(setup, 5)
    documents = await setup.database[MESSAGES].find({"tenant_id": setup.tenant}).to_list()
    ids = sorted(d["_id"] for d in documents)
    later, cancelled, taken, unhinted = ids[1], ids[2], ids[3], ids[4]
    changes = {
        later: {"next_attempt_at": utc_now() + timedelta(hours=1)},
        cancelled: {"status": MessageStatus.CANCELLED.value},
        taken: {"status": MessageStatus.SENDING.value, "claim_id": "another-worker"},
    }
    for message_id, change in changes.items():
        await setup.database[MESSAGES].update_one({"_id": message_id}, {"$set": change})
    hints.add([message_id for message_id in ids if message_id != unhinted])

    assert await worker.deliver_batch() == 1

    sent_to = {address for address in addresses if smtp_sink.messages_to(address)}
    assert sent_to == {f"{ids[0].replace('-msg-', '-')}@example.org"}
    current = await statuses(setup)
    assert current[later] == current[unhinted] == MessageStatus.QUEUED.value
    assert current[cancelled] == MessageStatus.CANCELLED.value
    assert current[taken] == MessageStatus.SENDING.value
    assert len(hints) == 0
    # Without hints the query runs again and finds what was never hinted.
    assert await worker.deliver_batch() == 1
    assert (await statuses(setup))[unhinted] == MessageStatus.SENT.value
    await pool.close()


async def test_a_broadcast_completes_once_its_last_batch_is_sent(
    setup: Setup, smtp_sink: SmtpSink
) -> None:
    broadcast_id = await sending_broadcast(setup, materialized=True)
    # Exactly two full batches: the completion check waits for a batch that is not full.
    await queue(setup, 100, broadcast_id=broadcast_id)
    pool = SmtpPool(smtp_sink.host, smtp_sink.port, 10, 4)
    worker = dispatcher(setup, pool)
    assert await worker.deliver_batch() == 50
    assert await worker.deliver_batch() == 50
    stored = await setup.database[BROADCASTS].find_one({"_id": broadcast_id})
    assert stored is not None
    assert stored["status"] == BroadcastStatus.SENDING.value
    assert await worker.deliver_batch() == 0
    stored = await setup.database[BROADCASTS].find_one({"_id": broadcast_id})
    assert stored is not None
    assert stored["status"] == BroadcastStatus.COMPLETED.value
    await pool.close()


async def test_a_refused_recipient_fails_its_message_and_the_session_carries_on(
    setup: Setup, scripted: tuple[ScriptedSmtp, int]
) -> None:
    handler, port = scripted
    refused, *others = await queue(setup, 3)
    handler.refused = {refused}
    pool = SmtpPool("127.0.0.1", port, 10, 1)
    await drain(dispatcher(setup, pool), rounds=2)
    failed = await setup.database[MESSAGES].find_one({"to_email": refused})
    assert failed is not None
    assert failed["status"] == MessageStatus.FAILED.value
    assert "550" in failed["last_error"]
    assert sorted(handler.accepted) == sorted(others)
    # Refusing one recipient is not a broken connection.
    assert pool.connections_opened == 1
    assert pool.pipelining is handler.pipelining
    await pool.close()


@pytest.mark.parametrize(
    ("content", "stuffed"),
    [
        (
            b"Subject: x\r\n\r\n.leading dot\r\nend",
            b"Subject: x\r\n\r\n..leading dot\r\nend\r\n.\r\n",
        ),
        (b".first\nbare LF\rbare CR\r\n", b"..first\r\nbare LF\r\nbare CR\r\n.\r\n"),
        (b"a line\r\n.\r\nafter a lone dot\r\n", b"a line\r\n..\r\nafter a lone dot\r\n.\r\n"),
    ],
)
async def test_pipelined_content_arrives_exactly_as_written(
    content: bytes, stuffed: bytes, scripted: tuple[ScriptedSmtp, int]
) -> None:
    handler, port = scripted
    assert data_section(content) == stuffed
    received: list[bytes] = []
    original = handler.handle_DATA

    async def keep(server: Any, session: Any, envelope: Any) -> str:
        received.append(envelope.original_content)
        return await original(server, session, envelope)

    handler.handle_DATA = keep  # type: ignore[method-assign]
    pool = SmtpPool("127.0.0.1", port, 10, 1)
    await pool.send_raw("talent@example.org", "ada@example.org", content)
    await pool.close()
    # The server undoes the dot-stuffing: what it stores is the content, line endings made CRLF.
    assert received == [stuffed[: -len(b".\r\n")].replace(b"\r\n..", b"\r\n.").removeprefix(b".")]
    assert handler.accepted == ["ada@example.org"]
