"""Fault test: a campaigns process SIGKILLed mid-broadcast, several times, and restarted.

The service runs as it does in production, a uvicorn process (`crm_campaigns.main:create_app`,
settings from the environment) on the session's Kafka, SecantusDB and SMTP sink. It sends a
300-recipient broadcast at a provider rate of 100 messages a second and is killed with SIGKILL
(no shutdown, nothing flushed) three times, once each after a number of mails reached the sink,
and started again each time. Afterwards:

- the broadcast is `completed`, its messages are all `sent` or `failed`, and the counts add
  up to the audience;
- no recipient got two mails (at most once), and every recipient without a mail is one of the
  `outcome_unknown` messages: those whose SMTP transaction had started when the process died,
  at most one per open connection per kill (dispatchers x pool size x kills);
- every message recorded `sent` reached the sink, and every mail the sink has is either
  recorded `sent` or `outcome_unknown` (a transaction that completed just before the kill);
- `message.sent` on Kafka names exactly the messages recorded sent: their number is the mails
  the sink received minus the outcome-unknown messages that were delivered anyway. Distinct
  message ids are compared, because the outbox relay publishes at least once: a process killed
  between publishing and marking a record published publishes it again after the restart.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from conftest import SmtpSink

from crm_campaigns.config import CampaignsSettings
from crm_campaigns.domain.models import (
    OUTCOME_UNKNOWN,
    Broadcast,
    BroadcastStatus,
    ListAudience,
    MessageStatus,
    Template,
)
from crm_campaigns.repositories.broadcasts import BroadcastRepository
from crm_campaigns.repositories.collections import (
    BROADCASTS,
    MESSAGES,
    RECIPIENTS,
    TEMPLATES,
    ensure_indexes,
)
from crm_devstack.infra import free_ports, http_ok
from crm_devstack.processes import ManagedProcess
from crm_devstack.smtp_sink import read_messages
from crm_shared import Database, create_mongo_client, to_document
from helpers import unique
from internal_keys import INTERNAL_TOKEN_PUBLIC_KEY

pytestmark = pytest.mark.integration

AUDIENCE = 300
DISPATCHERS = 2
POOL_SIZE = 2
# Mails at the sink after which the process is killed: early (the runner is still handing
# batches over), in the middle, and near the end.
KILL_AFTER = (40, 130, 220)


class Campaigns:
    """The campaigns service as a process of its own, restartable on one database."""

    def __init__(self, run_dir: Path, env: dict[str, str]) -> None:
        [port] = free_ports(1)
        self.process = ManagedProcess(
            name="campaigns",
            argv=[
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "crm_campaigns.main:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            run_dir=run_dir,
            env=env,
            ports=(port,),
            readiness=lambda: http_ok(f"http://127.0.0.1:{port}/readyz"),
            ready_timeout=60,
        )

    def start(self) -> None:
        self.process.start()
        self.process.wait_ready()

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to finish anything."""
        pid = self.process.pid
        assert pid is not None, self.process.log_tail()
        os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while self.process.is_running() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not self.process.is_running()

    def stop(self) -> None:
        self.process.stop()


async def seed(database: Database, tenant: str, domain: str) -> str:
    """Recipients, a template and a broadcast to all of them, requested to send; returns its
    id."""
    await ensure_indexes(database)
    candidate_ids = [f"c{index:04d}" for index in range(AUDIENCE)]
    await database[RECIPIENTS].insert_many(
        [
            {
                "tenant_id": tenant,
                "candidate_id": candidate_id,
                "first_name": "Ada",
                "email": f"{candidate_id}@{domain}",
                "marketing_consent": True,
            }
            for candidate_id in candidate_ids
        ]
    )
    template = Template(
        tenant_id=tenant,
        name="Spring hiring",
        subject="{{ candidate.first_name }}, we are hiring",
        html="<p>Hello {{ candidate.first_name }}</p>",
        text="Hello {{ candidate.first_name }}",
        created_by="rita",
    )
    await database[TEMPLATES].insert_one(to_document(template))
    broadcast = Broadcast(
        tenant_id=tenant,
        name="Spring hiring",
        template_id=template.id,
        audience=ListAudience(candidate_ids=candidate_ids),
        status=BroadcastStatus.PREPARING,
        created_by="rita",
    )
    await BroadcastRepository(database, tenant).add(broadcast)
    return broadcast.id


def received(sink: SmtpSink, domain: str) -> Counter[str]:
    """Mails the sink received for the test's recipients, by address."""
    return Counter(
        address
        for message in read_messages(sink.messages_dir)
        for address in message.rcpt_tos
        if address.endswith(f"@{domain}")
    )


async def wait_for(
    condition: Any, timeout: float, what: str, database: Database, broadcast_id: str
) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out waiting for {what}: {await state(database, broadcast_id)}"
            )
        await asyncio.sleep(0.2)


async def state(database: Database, broadcast_id: str) -> str:
    """The broadcast and its messages' statuses, to explain a timeout."""
    broadcast = await database[BROADCASTS].find_one({"_id": broadcast_id})
    messages = (
        await database[MESSAGES]
        .find(
            {"broadcast_id": broadcast_id},
            {"status": 1, "failure_reason": 1, "attempt_started_at": 1, "lease_until": 1},
        )
        .to_list()
    )
    statuses = Counter(
        (m["status"], m.get("failure_reason"), m.get("attempt_started_at") is not None)
        for m in messages
    )
    return f"broadcast {broadcast}, messages {dict(statuses)}"


async def sent_event_ids(
    bootstrap: str, broadcast_id: str, expected: int, timeout: float = 30.0
) -> Counter[str]:
    """The message ids of `message.sent` events of the broadcast, read from the start until
    `expected` distinct ids arrived and then for two quiet seconds more (so an extra event
    would be seen)."""
    consumer = AIOKafkaConsumer(
        "message.sent",
        bootstrap_servers=bootstrap,
        group_id=unique("reader"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: Counter[str] = Counter()
    try:
        deadline = time.monotonic() + timeout
        quiet_until: float | None = None
        while time.monotonic() < deadline:
            got = False
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    data = json.loads(record.value)["data"]
                    if data.get("broadcast_id") == broadcast_id:
                        found[data["message_id"]] += 1
                        got = True
            if len(found) >= expected:
                if quiet_until is None or got:
                    quiet_until = time.monotonic() + 2.0
                elif time.monotonic() >= quiet_until:
                    break
    finally:
        await consumer.stop()
    return found


async def test_killed_mid_broadcast_and_restarted_no_mail_is_lost_or_doubled(
    tmp_path: Path,
    kafka_bootstrap_servers: str,
    mongodb_uri: str,
    smtp_sink: SmtpSink,
) -> None:
    run = unique("faults")
    tenant, domain = unique("tenant"), f"{run}.example"
    settings = CampaignsSettings(mongodb_uri=mongodb_uri, mongodb_database=unique("campaigns"))
    database_name = settings.mongodb_database
    mongo = create_mongo_client(settings)
    database = mongo[database_name]
    broadcast_id = await seed(database, tenant, domain)
    campaigns = Campaigns(
        tmp_path,
        {
            "SERVICE_NAME": "campaigns",
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers,
            "KAFKA_GROUP_PREFIX": run,
            # What is killed here is delivery. A killed member of a consumer group stays in it
            # until its session times out, so each restart's joins waited on the last kill.
            "KAFKA_CONSUMERS_ENABLED": "false",
            "MONGODB_URI": mongodb_uri,
            "MONGODB_DATABASE": database_name,
            "ENVIRONMENT": "development",
            "INTERNAL_TOKEN_PUBLIC_KEY": INTERNAL_TOKEN_PUBLIC_KEY,
            "LINK_SIGNING_SECRET": secrets.token_hex(16),
            "TRACKING_SECRET": secrets.token_hex(16),
            "SMTP_HOST": smtp_sink.host,
            "SMTP_PORT": str(smtp_sink.port),
            "DELIVERY_WORKERS": str(DISPATCHERS),
            "SMTP_POOL_SIZE": str(POOL_SIZE),
            "DELIVERY_BATCH_SIZE": "50",
            "BROADCAST_CHUNK_SIZE": "50",
            # Slow enough to be killed mid-broadcast: 300 mails take about 3 s.
            "PROVIDER_RATE_PER_SECOND": "100",
            "PROVIDER_BURST": "5",
            # Abandoned claims (messages and the runner's) are recovered 3 s after the kill.
            "LEASE_SECONDS": "3",
            "OUTBOX_POLL_INTERVAL_SECONDS": "0.2",
            "LOG_JSON": "false",
            "PYTHONUNBUFFERED": "1",
        },
    )
    try:
        for kill_after in KILL_AFTER:
            campaigns.start()

            async def arrived(kill_after: int = kill_after) -> bool:
                return sum(received(smtp_sink, domain).values()) >= kill_after

            await wait_for(arrived, 60, f"{kill_after} mails", database, broadcast_id)
            campaigns.kill()
            # The kill came mid-broadcast, not after it.
            assert sum(received(smtp_sink, domain).values()) < AUDIENCE
        campaigns.start()

        async def completed() -> bool:
            stored = await database[BROADCASTS].find_one({"_id": broadcast_id})
            return stored is not None and stored["status"] == BroadcastStatus.COMPLETED.value

        await wait_for(completed, 60, "the broadcast to complete", database, broadcast_id)
        messages = await database[MESSAGES].find({"broadcast_id": broadcast_id}).to_list()
        by_status = Counter(m["status"] for m in messages)
        sent = {m["to_email"]: m["_id"] for m in messages if m["status"] == "sent"}
        unknown = {m["to_email"] for m in messages if m.get("failure_reason") == OUTCOME_UNKNOWN}
        mails = received(smtp_sink, domain)

        # Every message has an outcome, and the counts add up to the audience.
        assert len(messages) == AUDIENCE
        assert set(by_status) <= {MessageStatus.SENT.value, MessageStatus.FAILED.value}
        assert by_status[MessageStatus.FAILED.value] == len(unknown)
        assert len(sent) + len(unknown) == AUDIENCE
        repository = BroadcastRepository(database, tenant)
        assert (await repository.tally(broadcast_id)).failure_reasons == (
            {OUTCOME_UNKNOWN: len(unknown)} if unknown else {}
        )
        # At most the transactions in flight at each kill are unknown.
        assert len(unknown) <= DISPATCHERS * POOL_SIZE * len(KILL_AFTER)
        # At most once, and nobody left out but those in flight.
        assert max(mails.values()) == 1
        assert set(sent) <= set(mails)
        assert set(mails) - set(sent) <= unknown
        # message.sent for every message recorded sent, and for nothing else.
        events = await sent_event_ids(kafka_bootstrap_servers, broadcast_id, len(sent))
        assert set(events) == set(sent.values())
        delivered_unknown = len(set(mails) & unknown)
        assert len(events) == sum(mails.values()) - delivered_unknown
    finally:
        campaigns.stop()
        await mongo.close()
