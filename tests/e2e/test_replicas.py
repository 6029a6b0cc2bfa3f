"""Scale-out on one machine: the e2e tier runs two processes of every service (as
`crm-stack up --replicas 2` does). Each consumer group's partitions are shared between the two
replicas of its service, and a broadcast sent through the second gateway reaches each
recipient exactly once, with exact counts in its progress and in analytics; and no process
logged the addresses or names it was asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import yaml
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import KafkaError
from conftest import SmtpSink
from opentelemetry.instrumentation.utils import suppress_instrumentation
from pymongo import AsyncMongoClient

from crm_devstack.stack import DEV_TOKENS, replica_name, service_module
from e2e.conftest import E2E_REPLICAS, ProcessStack
from helpers import eventually, unique

pytestmark = pytest.mark.e2e

CONSUMERS = (
    Path(__file__).parents[2] / "deploy" / "helm" / "recruitcrm" / "files" / "consumers.yaml"
)
RECIPIENTS = 12


def admin() -> dict[str, str]:
    [token] = [
        t for t, who in DEV_TOKENS.items() if who["tenant_id"] == "acme" and "admin" in who["roles"]
    ]
    return {"Authorization": f"Bearer {token}"}


def assignments(description: Any) -> dict[str, dict[str, list[tuple[str, int]]]]:
    """Group id -> member id -> the (topic, partition) pairs it was assigned."""
    groups: dict[str, dict[str, list[tuple[str, int]]]] = {}
    for response in description:
        for group in response.groups:
            group_id, members = group[1], group[5]
            groups[group_id] = {
                member[0]: [
                    (topic, partition)
                    for topic, partitions in ConsumerProtocolMemberAssignment.decode(
                        member[-1]
                    ).assignment
                    for partition in partitions
                ]
                if member[-1]
                else []
                for member in members
            }
    return groups


async def test_both_replicas_of_a_service_share_each_of_its_consumer_groups(
    process_stack: ProcessStack,
) -> None:
    assert E2E_REPLICAS == 2
    inventory: dict[str, list[dict[str, Any]]] = yaml.safe_load(CONSUMERS.read_text())
    expected = {
        f"{process_stack.config.kafka_group_prefix}.{service}.{entry['group']}": entry
        for service, entries in inventory.items()
        for entry in entries
    }
    admin = AIOKafkaAdminClient(bootstrap_servers=process_stack.config.bootstrap_servers)
    await admin.start()
    unsettled: list[str] = []
    try:

        async def shared() -> bool:
            unsettled.clear()
            for group_id, entry in expected.items():
                try:
                    # One group a request: aiokafka failed to parse Kafka 4.4's answer about
                    # all of them at once.
                    groups = assignments(await admin.describe_consumer_groups([group_id]))
                except KafkaError as error:
                    unsettled.append(f"{group_id}: {error!r}")
                    continue
                members = groups.get(group_id, {})
                held = [pair for pairs in members.values() for pair in pairs]
                every = {(entry["topic"], p) for p in range(entry["partitions"])}
                if (
                    len(members) != E2E_REPLICAS
                    or sorted(held) != sorted(every)  # each partition once, none left out
                    or not all(members.values())  # both replicas consume
                ):
                    unsettled.append(f"{group_id}: {members}")
            return not unsettled

        await eventually(shared, timeout=120, interval=2, message="groups not shared")
    except AssertionError:
        raise AssertionError(f"not shared by both replicas: {unsettled[:5]}") from None
    finally:
        await admin.close()
    # Every replica is its own process, listening on its own port.
    names = {replica_name(service, 1) for service in process_stack.config.service_ports}
    assert names == {f"{service}-2" for service in process_stack.config.service_ports}


async def test_a_broadcast_through_the_second_gateway_reaches_each_recipient_once(
    process_stack: ProcessStack, smtp_sink: SmtpSink, mongodb_uri: str
) -> None:
    first_gateway, second_gateway = (
        f"http://127.0.0.1:{port}" for port in process_stack.config.replica_ports("gateway")
    )
    headers = admin()
    tag = unique("scaled")
    emails = [f"{tag}-{n}@example.org" for n in range(RECIPIENTS)]
    with suppress_instrumentation():
        async with (
            httpx.AsyncClient(base_url=first_gateway, headers=headers, timeout=30) as first,
            httpx.AsyncClient(base_url=second_gateway, headers=headers, timeout=30) as second,
        ):
            for n, email in enumerate(emails):
                # Half the people through each gateway replica.
                created = await (first if n % 2 else second).post(
                    "/api/v1/candidates",
                    json={
                        "first_name": f"Zoë {n}",
                        "last_name": "Ångström",
                        "emails": [email],
                        "tags": [tag],
                        "marketing_consent": True,
                    },
                )
                assert created.status_code == 201, created.text
            segment = await second.post(
                "/api/v1/segments",
                json={
                    "name": tag,
                    "rule": {"all": [{"field": "tags", "op": "equals", "value": tag}]},
                },
            )
            assert segment.status_code == 201, segment.text
            segment_id = segment.json()["id"]
            await projected_in_campaigns(mongodb_uri, segment_id)
            template = await second.post(
                "/api/v1/templates",
                json={
                    "name": unique("template"),
                    "subject": "Hello {{ candidate.first_name }}",
                    "html": "<p>Hi {{ candidate.first_name }}</p>",
                    "text": "Hi {{ candidate.first_name }}",
                },
            )
            assert template.status_code == 201, template.text
            broadcast = await second.post(
                "/api/v1/broadcasts",
                json={
                    "name": tag,
                    "template_id": template.json()["id"],
                    "audience": {"type": "segment", "segment_id": segment_id},
                },
            )
            assert broadcast.status_code == 201, broadcast.text
            broadcast_id = broadcast.json()["id"]
            sent = await second.post(f"/api/v1/broadcasts/{broadcast_id}/send")
            assert sent.status_code == 202, sent.text

            progress: dict[str, Any] = {}

            async def completed() -> bool:
                nonlocal progress
                found = (await first.get(f"/api/v1/broadcasts/{broadcast_id}")).json()
                progress = found["progress"]
                return bool(found["status"] == "completed")

            await eventually(completed, timeout=90, message="the broadcast did not complete")
            assert (progress["audience_size"], progress["sent"], progress["failed"]) == (
                RECIPIENTS,
                RECIPIENTS,
                0,
            )

            async def all_delivered() -> bool:
                return all(smtp_sink.messages_to(email) for email in emails)

            await eventually(all_delivered, timeout=60, message="not every mail arrived")
            # Each exactly once, though two campaigns processes prepared and sent.
            assert {email: len(smtp_sink.messages_to(email)) for email in emails} == dict.fromkeys(
                emails, 1
            )
            report: dict[str, Any] = {}

            async def counted() -> bool:
                nonlocal report
                report = (await second.get(f"/api/v1/analytics/broadcasts/{broadcast_id}")).json()
                return bool(report.get("totals", {}).get("sent") == RECIPIENTS)

            await eventually(counted, timeout=90, message=f"analytics did not count: {report}")

            # Searched for by address and name through both gateways: every process logs the
            # requests (uvicorn's access log, httpx's client log), and none logs whom they
            # were about.
            for gateway in (first, second):
                found = await gateway.get("/api/v1/candidates", params={"email": emails[0]})
                assert len(found.json()["items"]) == 1, found.text
                searched = await gateway.get("/api/v1/candidates", params={"q": "Ångström"})
                assert searched.status_code == 200, searched.text
    logs = sorted((process_stack.config.run_dir / "logs").glob("*.log"))
    assert len(logs) >= 2 * len(process_stack.config.service_ports)
    for log in logs:
        text = log.read_text(errors="replace")
        leaked = [
            shown for shown in (tag, quote(tag), "Ångström", quote("Ångström")) if shown in text
        ]
        assert not leaked, f"{log.name} shows {leaked}"


async def projected_in_campaigns(mongodb_uri: str, segment_id: str) -> None:
    """Waits until campaigns holds every member of the segment (its audience)."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    try:
        members = client[service_module("campaigns")]["segment_members"]

        async def projected() -> bool:
            return await members.count_documents({"segment_id": segment_id}) == RECIPIENTS

        await eventually(projected, timeout=90, message="segment members not in campaigns")
    finally:
        await client.close()
