"""Consumer lag and dead-letter depth, as Kafka itself counts them, in metrics and /readyz."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import OffsetAndMetadata
from prometheus_client import CollectorRegistry

from crm_shared.consumer_lag import ConsumerLagSampler
from helpers import unique

pytestmark = pytest.mark.integration


async def test_each_groups_lag_per_partition_and_the_dead_letters_are_sampled(
    kafka_bootstrap_servers: str,
) -> None:
    topic = f"{unique('lagtest').replace('_', '')}.created"
    dead_letters = f"{topic}.dlq"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap_servers)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 2, 1), NewTopic(dead_letters, 1, 1)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap_servers)
    await producer.start()
    for number in range(10):
        await producer.send_and_wait(topic, b"{}", partition=number % 2)
    for _ in range(3):
        await producer.send_and_wait(dead_letters, b"{}")
    await producer.stop()

    # One group has committed 4 of partition 0's 5 records and none of partition 1's; the
    # other has committed nothing at all.
    behind, fresh = unique("behind"), unique("fresh")
    committing = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap_servers, group_id=behind, enable_auto_commit=False
    )
    await committing.start()
    committing.assign([TopicPartition(topic, 0)])
    await committing.commit({TopicPartition(topic, 0): OffsetAndMetadata(4, "")})
    await committing.stop()

    registry = CollectorRegistry()
    sampler = ConsumerLagSampler(
        kafka_bootstrap_servers,
        lambda: [(topic, behind), (topic, fresh)],
        lambda: [dead_letters],
        every_seconds=60,
        client_id="lag-test",
        registry=registry,
    )
    try:
        sample = await sampler.sample()
    finally:
        await sampler.stop()

    assert sample.lag == {
        (behind, topic, 0): 1,
        (behind, topic, 1): 5,
        (fresh, topic, 0): 5,
        (fresh, topic, 1): 5,
    }
    assert sample.dead_letters == {dead_letters: 3}
    assert sample.as_json()["lag"] == {behind: 6, fresh: 10}
    assert sample.as_json()["dead_letters"] == {dead_letters: 3}
    assert (
        registry.get_sample_value(
            "crm_consumer_lag_records", {"group": behind, "topic": topic, "partition": "1"}
        )
        == 5
    )
    assert registry.get_sample_value("crm_dead_letter_records", {"topic": dead_letters}) == 3
