"""The mail dispatcher against SecantusDB and real SMTP servers: a message is sent at most once
however often it is claimed, transient errors are retried with backoff, 5xx fails, connections
are reused, and a broadcast whose error rate crosses the threshold pauses itself."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from conftest import SmtpSink
from prometheus_client import CollectorRegistry

from crm_campaigns.adapters.smtp import SmtpPool, data_section
from crm_campaigns.application.broadcast_controls import (
    cancel_broadcast,
    hold_broadcast,
    resume_broadcast,
)
from crm_campaigns.application.delivery import (
    DeliveryJournal,
    DeliveryLimits,
    MailDispatcher,
    SendingRates,
)
from crm_campaigns.application.delivery_metrics import BroadcastGauges, DeliveryMetrics
from crm_campaigns.application.handoff import BatchHandoff, DueMessageHints
from crm_campaigns.config import CampaignsSettings
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
from crm_campaigns.publishers import message_sent_envelope
from crm_campaigns.repositories.broadcasts import BroadcastRepository
from crm_campaigns.repositories.collections import BROADCASTS, MESSAGES, ensure_indexes
from crm_campaigns.repositories.leases import claim_next
from crm_campaigns.repositories.recipients import RecipientRepository
from crm_devstack.infra import free_ports
from crm_devstack.smtp_sink import read_messages
from crm_shared import (
    Database,
    MongoClient,
    Outbox,
    Session,
    Wakeup,
    create_mongo_client,
    in_transaction,
    to_document,
    utc_now,
)
from helpers import eventually, unique

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
    handoff: BatchHandoff | None = None,
    rates: SendingRates | None = None,
    journal: DeliveryJournal | None = None,
    metrics: DeliveryMetrics | None = None,
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
        handoff=handoff,
        rates=rates,
        journal=journal,
        metrics=metrics,
    )


async def queue(setup: Setup, count: int, *, broadcast_id: str | None = None) -> list[str]:
    """Queues `count` messages to consenting recipients; returns their addresses."""
    addresses, documents = await rendered(setup, count, broadcast_id=broadcast_id)
    await setup.database[MESSAGES].insert_many(documents)
    return addresses


async def rendered(
    setup: Setup, count: int, *, broadcast_id: str | None = None
) -> tuple[list[str], list[dict[str, Any]]]:
    """`count` messages to consenting recipients, as the broadcast runner renders them, not
    stored (their recipients are); returns their addresses and documents."""
    addresses = []
    documents = []
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

        await in_transaction(setup.mongo, write)
        documents.append(
            to_document(message)
            | {"next_attempt_at": utc_now(), "lease_owner": None, "lease_until": None}
        )
    return addresses, documents


async def sending_broadcast(
    setup: Setup, *, materialized: bool = False, status: BroadcastStatus = BroadcastStatus.SENDING
) -> str:
    """Stores a broadcast that is sending (every message queued when `materialized`), or in
    `status`."""
    broadcast = Broadcast(
        id=unique("broadcast"),
        tenant_id=setup.tenant,
        name="Spring hiring",
        template_id="t",
        audience=ListAudience(candidate_ids=["c"]),
        status=status,
        created_by="rita",
    )
    extra = {"materialized": True} if materialized else {}
    await setup.database[BROADCASTS].insert_one(to_document(broadcast) | extra)
    return broadcast.id


async def statuses(setup: Setup) -> dict[str, str]:
    documents = await setup.database[MESSAGES].find({"tenant_id": setup.tenant}).to_list()
    return {d["_id"]: d["status"] for d in documents}


async def offered(handoff: BatchHandoff, wakeup: Wakeup) -> None:
    """Waits until the runner's side has offered a batch (it wakes the dispatchers)."""
    await wakeup.wait(5)
    assert len(handoff) == 1


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


async def test_four_dispatchers_together_hold_the_provider_limit(
    setup: Setup, scripted: tuple[ScriptedSmtp, int]
) -> None:
    handler, port = scripted
    rate, burst, count = 40.0, 4, 48
    addresses = await queue(setup, count)
    process_limits = limits(provider_rate=rate, provider_burst=burst)
    rates = SendingRates(process_limits)
    pools = [SmtpPool("127.0.0.1", port, 10, 4) for _ in range(4)]
    workers = [dispatcher(setup, pool, rates=rates, provider_rate=rate) for pool in pools]
    for worker in workers:
        worker._batch_size = count // 4  # each claims a quarter
    claimed = [0] * len(workers)

    async def work(number: int) -> None:
        while len(handler.accepted) < count:
            batch = await workers[number].deliver_batch()
            claimed[number] += batch
            if not batch:
                await asyncio.sleep(0.01)

    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.wait_for(asyncio.gather(*(work(n) for n in range(len(workers)))), 30)
    elapsed = loop.time() - started
    assert sum(claimed) == count
    assert sum(1 for n in claimed if n) > 1  # the dispatchers sent side by side
    assert sorted(handler.accepted) == sorted(addresses)
    # The burst goes at once, the rest at the rate: for the process, not for each dispatcher
    # (four buckets of their own would have sent it all in a quarter of the time).
    assert elapsed >= (count - burst) / rate * 0.95
    for pool in pools:
        await pool.close()


async def test_an_abandoned_claim_requeues_the_untried_and_fails_only_the_started(
    setup: Setup, smtp_sink: SmtpSink
) -> None:
    broadcast_id = await sending_broadcast(setup, materialized=True)
    started, *untried = await queue(setup, 3, broadcast_id=broadcast_id)
    # A worker claimed three messages, started the SMTP transaction of one and died; its lease
    # expired.
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
    await setup.database[MESSAGES].update_one(
        {"tenant_id": setup.tenant, "to_email": started},
        {"$set": {"attempt_started_at": utc_now() - timedelta(seconds=2)}},
    )
    pool = SmtpPool(smtp_sink.host, smtp_sink.port, 10, 1)
    await drain(dispatcher(setup, pool), rounds=2)
    documents = await setup.database[MESSAGES].find({"tenant_id": setup.tenant}).to_list()
    by_address = {d["to_email"]: d for d in documents}
    # The one whose transaction had started may have arrived: it is not sent again.
    assert by_address[started]["status"] == MessageStatus.FAILED.value
    assert by_address[started]["failure_reason"] == "outcome_unknown"
    assert "outcome unknown" in by_address[started]["last_error"]
    assert smtp_sink.messages_to(started) == []
    # The ones never attempted went back to the queue and out, once each, with their event.
    assert [by_address[a]["status"] for a in untried] == [MessageStatus.SENT.value] * 2
    assert all(len(smtp_sink.messages_to(address)) == 1 for address in untried)
    assert await sent_events(setup) == sorted(by_address[a]["_id"] for a in untried)
    # And the broadcast, with nothing left to send, completes and shows why one failed.
    stored = await setup.database[BROADCASTS].find_one({"_id": broadcast_id})
    assert stored is not None
    assert stored["status"] == BroadcastStatus.COMPLETED.value
    repository = BroadcastRepository(setup.database, setup.tenant)
    assert (await repository.tally(broadcast_id)).failure_reasons == {"outcome_unknown": 1}
    await pool.close()


async def test_a_started_message_whose_event_was_staged_is_recovered_as_sent(
    setup: Setup,
) -> None:
    # The worker died after the server took both messages and it staged one's `message.sent`,
    # before it wrote either message.
    staged, unstaged = await queue(setup, 2)
    await setup.database[MESSAGES].update_many(
        {"tenant_id": setup.tenant},
        {
            "$set": {
                "status": MessageStatus.SENDING.value,
                "claim_id": "dead-worker",
                "lease_until": utc_now() - timedelta(seconds=1),
                "attempt_started_at": utc_now() - timedelta(seconds=2),
            }
        },
    )
    document = await setup.database[MESSAGES].find_one({"to_email": staged})
    assert document is not None
    outbox = Outbox(setup.database, "campaigns")

    async def stage(session: Session) -> None:
        message = Message.model_validate(document | {"id": document["_id"]})
        await outbox.add_many([message_sent_envelope(outbox, message)], session=session)

    await in_transaction(setup.mongo, stage)
    pool = SmtpPool("127.0.0.1", 9, 1, 1)  # never used: nothing is queued again
    await dispatcher(setup, pool).deliver_batch()
    by_address = {
        d["to_email"]: d
        for d in await setup.database[MESSAGES].find({"tenant_id": setup.tenant}).to_list()
    }
    assert by_address[staged]["status"] == MessageStatus.SENT.value
    assert by_address[unstaged]["status"] == MessageStatus.FAILED.value
    assert by_address[unstaged]["failure_reason"] == "outcome_unknown"
    assert await sent_events(setup) == [document["_id"]]  # staged once, not again
    await pool.close()


async def test_a_broadcast_left_sending_by_a_dead_process_is_completed(setup: Setup) -> None:
    # Every message has its outcome, but the process died before it checked completion: no
    # dispatcher of the restarted process sent for it.
    broadcast_id = await sending_broadcast(setup, materialized=True)
    await queue(setup, 2, broadcast_id=broadcast_id)
    await setup.database[MESSAGES].update_many(
        {"tenant_id": setup.tenant}, {"$set": {"status": MessageStatus.SENT.value}}
    )
    pool = SmtpPool("127.0.0.1", 9, 1, 1)  # never used: nothing is due
    assert await dispatcher(setup, pool).deliver_batch() == 0
    stored = await setup.database[BROADCASTS].find_one({"_id": broadcast_id})
    assert stored is not None
    assert stored["status"] == BroadcastStatus.COMPLETED.value
    await pool.close()


@dataclass
class WatchingTransport:
    """A transport that, as each transaction starts, looks at what the database says: the
    message must be marked started, and at most `size` messages started without an outcome."""

    database: Database
    size: int
    delivered: list[str] = field(default_factory=list)
    most_started: int = 0
    unmarked: list[str] = field(default_factory=list)

    async def send(self, message: Any) -> None:
        raise AssertionError("the dispatcher sends through send_raw")

    async def send_raw(self, sender: str, recipient: str, content: bytes) -> None:
        started = (
            await self.database[MESSAGES]
            .find(
                {"status": MessageStatus.SENDING.value, "attempt_started_at": {"$ne": None}},
                {"to_email": 1},
            )
            .to_list()
        )
        if recipient not in {d["to_email"] for d in started}:
            self.unmarked.append(recipient)
        self.most_started = max(self.most_started, len(started))
        await asyncio.sleep(0.005)
        self.delivered.append(recipient)

    async def close(self) -> None:
        return None


async def test_each_transaction_is_marked_before_it_starts_and_outcomes_recorded_as_it_goes(
    setup: Setup,
) -> None:
    addresses = await queue(setup, 40)
    transport = WatchingTransport(setup.database, size=4)
    # Two dispatchers sharing the process's journal, as `create_app` builds them.
    worker = dispatcher(setup, transport)  # type: ignore[arg-type]
    other = dispatcher(setup, transport, journal=worker._journal)  # type: ignore[arg-type]
    for each in (worker, other):
        each._batch_size = 20
    await asyncio.gather(drain(worker, rounds=3), drain(other, rounds=3))
    assert sorted(transport.delivered) == sorted(addresses)
    assert transport.unmarked == []
    # Never more started without a recorded outcome than there are connections (2 x 4): only
    # those could be "outcome unknown" after a crash, not the whole claimed batch.
    assert 0 < transport.most_started <= 8
    assert set((await statuses(setup)).values()) == {MessageStatus.SENT.value}
    assert len(await sent_events(setup)) == 40


async def sent_events(setup: Setup) -> list[str]:
    """The message ids of the `message.sent` events staged in the outbox, sorted."""
    records = (
        await Outbox(setup.database, "campaigns")
        .records.find({"tenant_id": setup.tenant, "topic": "message.sent"})
        .to_list()
    )
    return sorted(json.loads(r["value"])["data"]["message_id"] for r in records)


async def test_transient_errors_are_retried_and_5xx_fails_at_once(
    setup: Setup, scripted: tuple[ScriptedSmtp, int]
) -> None:
    handler, port = scripted
    handler.replies = ["451 4.3.0 try again later", "421 4.7.0 busy"]
    [address] = await queue(setup, 1)
    pool = SmtpPool("127.0.0.1", port, 10, 1)
    registry = CollectorRegistry()
    metrics = DeliveryMetrics(registry, provider_rate=0)
    await drain(dispatcher(setup, pool, metrics=metrics))
    [document] = await setup.database[MESSAGES].find({"tenant_id": setup.tenant}).to_list()
    assert document["status"] == MessageStatus.SENT.value
    assert document["attempts"] == 2
    assert handler.accepted == [address]

    handler.replies = ["554 5.7.1 rejected"]
    [rejected] = await queue(setup, 1)
    await drain(dispatcher(setup, pool, metrics=metrics), rounds=3)
    failed = await setup.database[MESSAGES].find_one({"to_email": rejected})
    assert failed is not None
    assert failed["status"] == MessageStatus.FAILED.value
    assert failed["attempts"] == 1
    assert "554" in failed["last_error"]
    # Each SMTP transaction is counted once, by how it ended.
    assert smtp_outcomes(registry) == {"sent": 1, "deferred": 2, "failed": 1}
    await pool.close()


def smtp_outcomes(registry: CollectorRegistry) -> dict[str, int]:
    return {
        outcome: int(
            registry.get_sample_value("crm_smtp_messages_total", {"outcome": outcome}) or 0
        )
        for outcome in ("sent", "deferred", "failed")
    }


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
    registry = CollectorRegistry()
    worker = dispatcher(
        setup,
        pool,
        metrics=DeliveryMetrics(registry, provider_rate=0),
        error_threshold=ErrorThreshold(min_sample=10, ratio=0.5),
    )
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
    assert registry.get_sample_value("crm_broadcast_messages_total", {"outcome": "failed"}) == 10
    assert registry.get_sample_value("crm_broadcast_messages_total", {"outcome": "sent"}) == 0
    # The sampled figures: one paused broadcast, none sending.
    gauges = BroadcastGauges(setup.database, registry)
    await gauges.sample()
    assert registry.get_sample_value("crm_broadcasts_open", {"status": "paused"}) == 1
    assert registry.get_sample_value("crm_broadcasts_open", {"status": "sending"}) == 0
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
    await setup.database[BROADCASTS].update_one({"_id": broadcast_id}, {"$set": {"queued": 100}})
    pool = SmtpPool(smtp_sink.host, smtp_sink.port, 10, 4)
    worker = dispatcher(setup, pool)
    registry = CollectorRegistry()
    gauges = BroadcastGauges(setup.database, registry)
    assert await worker.deliver_batch() == 50
    await gauges.sample()
    assert registry.get_sample_value("crm_broadcasts_open", {"status": "sending"}) == 1
    assert registry.get_sample_value("crm_broadcast_messages_remaining") == 50
    assert await worker.deliver_batch() == 50
    stored = await setup.database[BROADCASTS].find_one({"_id": broadcast_id})
    assert stored is not None
    assert stored["status"] == BroadcastStatus.SENDING.value
    assert await worker.deliver_batch() == 0
    stored = await setup.database[BROADCASTS].find_one({"_id": broadcast_id})
    assert stored is not None
    assert stored["status"] == BroadcastStatus.COMPLETED.value
    await gauges.sample()
    assert registry.get_sample_value("crm_broadcasts_open", {"status": "sending"}) == 0
    assert registry.get_sample_value("crm_broadcast_messages_remaining") == 0
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


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelining", "one-at-a-time"])
async def test_a_non_ascii_domain_is_sent_encoded_and_a_utf8_local_part_fails_by_name(
    setup: Setup, pipelining: bool
) -> None:
    """A server without SMTPUTF8: `jose@müller-bau.de` goes as `jose@xn--mller-bau-q9a.de`;
    `josé@müller-bau.de` has no ASCII form and fails, its reason recorded, on either session."""
    [port] = free_ports(1)
    handler = ScriptedSmtp(pipelining=pipelining)
    controller = Controller(handler, hostname="127.0.0.1", port=port, enable_SMTPUTF8=False)
    controller.start()
    try:
        idn, utf8, plain = await queue(setup, 3)
        for old, new in ((idn, "jose@müller-bau.de"), (utf8, "josé@müller-bau.de")):
            await setup.database[MESSAGES].update_one(
                {"to_email": old}, {"$set": {"to_email": new}}
            )
        pool = SmtpPool("127.0.0.1", port, 10, 1)
        await drain(dispatcher(setup, pool), rounds=2)
        assert sorted(handler.accepted) == sorted([plain, "jose@xn--mller-bau-q9a.de"])
        failed = await setup.database[MESSAGES].find_one({"to_email": "josé@müller-bau.de"})
        assert failed is not None
        assert failed["status"] == MessageStatus.FAILED.value
        assert failed["attempts"] == 1  # permanent: not retried
        assert "553" in failed["last_error"]
        assert "SMTPUTF8" in failed["last_error"]
        assert pool.connections_opened == 1
        await pool.close()
    finally:
        controller.stop()


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


async def test_a_handed_batch_is_inserted_as_the_dispatchers_claim_and_sent_once(
    setup: Setup, smtp_sink: SmtpSink
) -> None:
    broadcast_id = await sending_broadcast(setup, status=BroadcastStatus.PREPARING)
    addresses, documents = await rendered(setup, 5, broadcast_id=broadcast_id)
    # An earlier, interrupted run inserted (and sent) the first one already.
    earlier = documents[0] | {"status": MessageStatus.SENT.value}
    await setup.database[MESSAGES].insert_one(earlier)
    wakeup = Wakeup()
    handoff = BatchHandoff(batch_size=50, wakeup=wakeup)
    pool = SmtpPool(smtp_sink.host, smtp_sink.port, 10, 2)
    worker = dispatcher(setup, pool, handoff=handoff)
    assert await worker.deliver_batch() == 0  # the interval's first batch is the due query's

    offering = asyncio.create_task(
        handoff.hand(setup.tenant, broadcast_id, BroadcastStatus.PREPARING, documents)
    )
    await offered(handoff, wakeup)
    assert await worker.deliver_batch() == 4
    [outcome], not_taken = await offering
    assert (await outcome, not_taken) == (4, [])

    assert smtp_sink.messages_to(addresses[0]) == []
    assert all(len(smtp_sink.messages_to(address)) == 1 for address in addresses[1:])
    stored = await setup.database[MESSAGES].find({"tenant_id": setup.tenant}).to_list()
    assert {d["status"] for d in stored} == {MessageStatus.SENT.value}
    assert {d["_id"] for d in stored} == {d["_id"] for d in documents}
    # The claim id the insert carried is the one the outcome was recorded under.
    assert len({d.get("claim_id") for d in stored if d["_id"] != earlier["_id"]}) == 1
    await pool.close()


async def test_a_handed_batch_of_a_broadcast_paused_meanwhile_is_not_inserted(
    setup: Setup, smtp_sink: SmtpSink
) -> None:
    broadcast_id = await sending_broadcast(setup, status=BroadcastStatus.PAUSED)
    addresses, documents = await rendered(setup, 3, broadcast_id=broadcast_id)
    wakeup = Wakeup()
    handoff = BatchHandoff(batch_size=50, wakeup=wakeup, query_interval=3600)
    pool = SmtpPool(smtp_sink.host, smtp_sink.port, 10, 2)
    worker = dispatcher(setup, pool, handoff=handoff)
    await worker.deliver_batch()
    offering = asyncio.create_task(
        handoff.hand(setup.tenant, broadcast_id, BroadcastStatus.PREPARING, documents)
    )
    await offered(handoff, wakeup)
    assert await worker.deliver_batch() == 0
    [outcome], _ = await offering
    assert await outcome is None
    assert await setup.database[MESSAGES].count_documents({"tenant_id": setup.tenant}) == 0
    assert all(smtp_sink.messages_to(address) == [] for address in addresses)
    await pool.close()


@pytest.mark.parametrize("stop", ["pause", "cancel"])
async def test_a_batch_being_sent_stops_at_a_pause_or_cancel(
    setup: Setup, smtp_sink: SmtpSink, stop: str
) -> None:
    # A claimed batch is in the dispatcher's hands, not in the queue: stopping the broadcast
    # must stop what of it has not started, not only what is still queued.
    broadcast_id = await sending_broadcast(setup)
    addresses = await queue(setup, 30, broadcast_id=broadcast_id)
    pool = SmtpPool(smtp_sink.host, smtp_sink.port, 10, 1)
    # 10 mails a second: the batch of 30 takes 3 s to send, time enough to stop it midway
    # even on a loaded machine.
    worker = dispatcher(setup, pool, provider_rate=10, provider_burst=1)
    sending = asyncio.create_task(worker.deliver_batch())

    def delivered() -> int:
        # One read of the session's sink per look, which holds every earlier test's mail too.
        wanted = set(addresses)
        return sum(
            len(wanted.intersection(message.rcpt_tos))
            for message in read_messages(smtp_sink.messages_dir)
        )

    async def under_way() -> bool:
        return delivered() >= 3

    await eventually(under_way, timeout=10, interval=0.02, message="no mail went out")
    broadcasts = BroadcastRepository(setup.database, setup.tenant)
    if stop == "pause":
        assert await hold_broadcast(setup.database, setup.tenant, broadcast_id, reason="paused")
    else:
        broadcast = await broadcasts.get(broadcast_id)
        assert broadcast is not None
        assert await cancel_broadcast(broadcasts, broadcast)
    assert await sending == 30
    sent_at_stop = delivered()
    # Had the stop not reached the batch in hand, all 30 would have gone out.
    assert sent_at_stop < 30
    by_status = Counter((await statuses(setup)).values())
    stopped = MessageStatus.HELD if stop == "pause" else MessageStatus.CANCELLED
    assert by_status == {MessageStatus.SENT.value: sent_at_stop, stopped.value: 30 - sent_at_stop}
    if stop == "pause":
        # Resumed, the held rest goes out: everyone gets exactly one mail.
        paused = await broadcasts.get(broadcast_id)
        assert paused is not None
        assert await resume_broadcast(setup.mongo, broadcasts, paused)
        await drain(worker, rounds=5)
        assert all(len(smtp_sink.messages_to(address)) == 1 for address in addresses)
    await pool.close()


async def test_what_no_dispatcher_takes_in_time_is_given_back_to_be_queued(
    setup: Setup,
) -> None:
    _, documents = await rendered(setup, 5)
    wakeup = Wakeup()
    handoff = BatchHandoff(batch_size=2, wakeup=wakeup, wait=0.05)
    outcomes, not_taken = await handoff.hand(
        setup.tenant, "b", BroadcastStatus.PREPARING, documents
    )
    assert (outcomes, not_taken) == ([], documents)
    assert len(handoff) == 0
    # The dispatchers were woken for the offer.
    await asyncio.wait_for(wakeup.wait(5), 1)


async def test_while_batches_are_handed_the_due_query_still_runs_once_per_interval(
    setup: Setup, smtp_sink: SmtpSink
) -> None:
    broadcast_id = await sending_broadcast(setup, status=BroadcastStatus.PREPARING)
    [retry] = await queue(setup, 1)  # a queued message only the due query finds
    addresses, documents = await rendered(setup, 4, broadcast_id=broadcast_id)
    wakeup = Wakeup()
    handoff = BatchHandoff(batch_size=2, wakeup=wakeup, query_interval=3600)
    pool = SmtpPool(smtp_sink.host, smtp_sink.port, 10, 2)
    worker = dispatcher(setup, pool, handoff=handoff)
    offering = asyncio.create_task(
        handoff.hand(setup.tenant, broadcast_id, BroadcastStatus.PREPARING, documents)
    )
    await offered(handoff, wakeup)
    # The interval's first batch is the query's, although a handed batch waits.
    assert await worker.deliver_batch() == 1
    assert len(smtp_sink.messages_to(retry)) == 1
    assert len(handoff) == 1
    assert await worker.deliver_batch() == 2
    await offered(handoff, wakeup)
    assert await worker.deliver_batch() == 2
    outcomes, not_taken = await offering
    assert ([await outcome for outcome in outcomes], not_taken) == ([2, 2], [])
    assert all(len(smtp_sink.messages_to(address)) == 1 for address in addresses)
    await pool.close()


async def test_a_run_queues_what_no_dispatcher_takes_and_dispatchers_wait_for_its_offers(
    setup: Setup, smtp_sink: SmtpSink
) -> None:
    [retry] = await queue(setup, 1)
    _, documents = await rendered(setup, 3)
    queued: list[tuple[str, list[dict[str, Any]]]] = []

    async def store(tenant_id: str, rest: list[dict[str, Any]]) -> None:
        queued.append((tenant_id, rest))

    wakeup = Wakeup()
    handoff = BatchHandoff(batch_size=2, wakeup=wakeup, wait=0.05, query_interval=3600)
    pool = SmtpPool(smtp_sink.host, smtp_sink.port, 10, 2)
    worker = dispatcher(setup, pool, handoff=handoff)
    assert await worker.deliver_batch() == 1  # the interval's due query
    assert len(smtp_sink.messages_to(retry)) == 1
    [waiting] = await queue(setup, 1)
    async with handoff.run(store) as handing:
        # Between offers the dispatchers neither query nor claim: the runner wakes them.
        assert await worker.deliver_batch() == 0
        assert smtp_sink.messages_to(waiting) == []
        await handing.offer(setup.tenant, "b", BroadcastStatus.PREPARING, documents)
        assert await handing.all_went_in()
    # Nobody took the first batch in time: all three were given back to be queued.
    assert queued == [(setup.tenant, documents)]
    assert not handoff.handing
    await pool.close()


async def test_a_broadcast_lease_is_renewed_only_by_its_owner_while_in_the_expected_status(
    setup: Setup,
) -> None:
    broadcast_id = await sending_broadcast(setup, status=BroadcastStatus.PREPARING)
    claimed = await claim_next(
        setup.database,
        BROADCASTS,
        {"_id": broadcast_id},
        owner="runner-a",
        lease=timedelta(seconds=1),
        order_by="created_at",
    )
    assert claimed is not None
    repository = BroadcastRepository(setup.database, setup.tenant)
    lease = timedelta(minutes=5)
    assert await repository.renew_lease(broadcast_id, BroadcastStatus.PREPARING, "runner-a", lease)
    stored = await setup.database[BROADCASTS].find_one({"_id": broadcast_id})
    assert stored is not None
    assert stored["lease_until"] > claimed["lease_until"] + timedelta(minutes=4)
    assert not await repository.renew_lease(
        broadcast_id, BroadcastStatus.PREPARING, "runner-b", lease
    )
    assert not await repository.renew_lease(
        broadcast_id, BroadcastStatus.SENDING, "runner-a", lease
    )
